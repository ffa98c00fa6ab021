"""`python bench/hostile_cpu.py [--repeat 15] [--max-body-bytes 1048576] [--max-fields 1000] [--max-json-fields 5000]`

CPU amplification: what the worst request a stranger can send under the size limit costs the ingress,
as a multiple of a typical delivery, measured in one run. Each request goes through the whole ingress
path in this process (the app factory production uses, Flask's WSGI stack, bridge.body, parsing,
the field cap, the adapter and person detection, the envelope schema, the Redis claim on a real
redis-server); CPU is this process's `time.process_time()` per request (the median of --repeat),
so Redis's own work is not counted and a busy machine distorts little.

Hostile bodies, each just under max_body_bytes (1 MiB by default):
    form-max-fields     urlencoded, exactly max_fields fields, values padded to the size limit
    form-emailish       urlencoded, max_fields fields all named like email/phone/name, values
                        that look like addresses (the keys and values person detection looks at)
    multipart-max       multipart, max_fields parts, padded
    json-max-keys       JSON object, max_json_fields keys named like person fields, padded
    json-nested-events  JSON, a list of small objects up to max_json_fields keys and items
    json-one-value      JSON, one 1 MiB text value under `message`
    form-over-cap       urlencoded, 100k fields under 1 MiB: refused (413) before parsing
    json-over-cap       JSON, 100k array items under 1 MiB: refused (413) after parsing
The typical ones: a Zapier-style JSON delivery (8 fields) and a website form (8 fields).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from bench.common import API_KEY, TEAM, TOKEN, start_redis, stop_all, workdir  # noqa: E402
from bench.report import machine, machine_line, print_table, write_json  # noqa: E402

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def typical_json(tag: str, **_: Any) -> tuple[str, bytes, str]:
    return "zap", json.dumps({"email": f"ada-{tag}@example.com", "first_name": "Ada", "last_name": "Lovelace",
                              "company": "Analytical Engines", "lead_source": "Webinar", "score": 91,
                              "phone": "+44 20 7946 0958", "message": "Please call me back about pricing."}
                             ).encode(), JSON


def typical_form(tag: str, **_: Any) -> tuple[str, bytes, str]:
    return "web", urlencode({"email": f"ada-{tag}@example.com", "name": "Ada Lovelace", "company": "AE",
                             "phone": "+44 20 7946 0958", "plan": "pro", "seats": "40", "utm_source": "ads",
                             "message": "Please call me back about pricing."}).encode(), FORM


def _pad(n_fields: int, budget: int, overhead: int) -> int:
    return max(1, (budget - overhead) // n_fields)


def form_max_fields(tag: str, *, limit: int, cap: int) -> tuple[str, bytes, str]:
    width = _pad(cap, limit, 40 + cap * 8)
    pairs = [("email", f"h-{tag}@example.com")] + [(f"f{i}", "x" * width) for i in range(cap - 1)]
    return "web", urlencode(pairs).encode()[:limit], FORM


def form_emailish(tag: str, *, limit: int, cap: int) -> tuple[str, bytes, str]:
    names = ["email", "e_mail_address", "your_email", "phone", "mobile", "first_name", "last_name", "full_name"]
    width = _pad(cap, limit, cap * 40)
    pairs = [(f"{names[i % len(names)]}_{i}", f"{'a' * width}{i}@{tag}.example.com") for i in range(cap)]
    return "web", urlencode(pairs).encode()[:limit], FORM


def multipart_max(tag: str, *, limit: int, cap: int) -> tuple[str, bytes, str]:
    width = _pad(cap, limit, cap * 90)
    parts = [b'--zz\r\nContent-Disposition: form-data; name="email"\r\n\r\nh-%s@example.com\r\n' % tag.encode()]
    parts += [b'--zz\r\nContent-Disposition: form-data; name="email_%d"\r\n\r\n%s\r\n' % (i, b"x" * width)
              for i in range(cap - 1)]
    return "web", b"".join(parts) + b"--zz--\r\n", "multipart/form-data; boundary=zz"


def json_max_keys(tag: str, *, limit: int, cap: int, json_cap: int) -> tuple[str, bytes, str]:
    cap = json_cap
    width = _pad(cap, limit, cap * 50)
    body = {"email": f"h-{tag}@example.com"}
    body.update({f"email_address_{i}": f"{'b' * width}@x.example.com" for i in range(cap - 1)})
    return "zap", json.dumps(body).encode(), JSON


def json_one_value(tag: str, *, limit: int, cap: int) -> tuple[str, bytes, str]:
    return "zap", json.dumps({"email": f"h-{tag}@example.com", "message": "word " * ((limit - 200) // 5)}
                             ).encode(), JSON


def form_over_cap(tag: str, *, limit: int, cap: int) -> tuple[str, bytes, str]:
    n = min(100_000, limit // 8)
    return "web", ("email=h-%s%%40example.com&" % tag + "&".join(f"f{i}=" for i in range(n))).encode()[:limit], FORM


def json_nested_events(tag: str, *, limit: int, cap: int, json_cap: int) -> tuple[str, bytes, str]:
    n = (json_cap - 10) // 5  # a HubSpot-style batch: small objects of four keys each, in a list
    events = [{"objectId": i, "propertyName": "email", "propertyValue": f"p{i}@x.example.com",
               "subscriptionType": "contact.propertyChange"} for i in range(n)]
    return "zap", json.dumps({"email": f"h-{tag}@example.com", "events": events}).encode(), JSON


def json_over_cap(tag: str, *, limit: int, cap: int) -> tuple[str, bytes, str]:
    n = min(100_000, (limit - 100) // 3)
    return "zap", json.dumps({"email": f"h-{tag}@example.com", "list": [1] * n}, separators=(",", ":")
                             ).encode(), JSON


CASES: list[tuple[str, Callable[..., tuple[str, bytes, str]], tuple[int, ...]]] = [
    ("typical-json", typical_json, (202,)),
    ("typical-form", typical_form, (202,)),
    ("form-max-fields", form_max_fields, (202,)),
    ("form-emailish", form_emailish, (202, 422)),  # 422: the detected address is over 320 characters
    ("multipart-max", multipart_max, (202,)),
    ("json-max-keys", json_max_keys, (202,)),
    ("json-nested-events", json_nested_events, (202,)),
    ("json-one-value", json_one_value, (202,)),
    ("form-over-cap", form_over_cap, (413,)),
    ("json-over-cap", json_over_cap, (413,)),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    ap.add_argument("--max-fields", type=int, default=1000)
    ap.add_argument("--max-json-fields", type=int, default=5000)
    args = ap.parse_args()
    m = machine()

    redis_server = start_redis(aof=False)
    cfg = {"redis_url": redis_server.url, "key_prefix": "hostile:", "queue": "hostile",
           "max_body_bytes": args.max_body_bytes, "max_fields": args.max_fields,
           "max_json_fields": args.max_json_fields,
           "cstar": {"api_url": "http://127.0.0.1:9", "team_id": TEAM, "api_key": API_KEY},
           "sources": {"zap": {"adapter": "json", "verify": {"scheme": "token", "secret": TOKEN}},
                       "web": {"adapter": "form", "verify": {"scheme": "token", "secret": TOKEN}}},
           "rules": [str(Path(__file__).with_name("rules.yaml"))]}
    path = workdir() / "hostile.yaml"
    path.write_text(yaml.safe_dump(cfg))
    from bridge import create_app
    from workers.config import load_config

    client = create_app(load_config(path, env={})).test_client()
    rows: list[dict[str, Any]] = []
    try:
        results: dict[str, dict[str, Any]] = {}
        for name, build, ok in CASES:
            samples = []
            size = 0
            for i in range(args.repeat + 2):  # two warm-ups
                kw = {"json_cap": args.max_json_fields} if "json_cap" in build.__code__.co_varnames else {}
                source, body, ctype = build(uuid.uuid4().hex[:10], limit=args.max_body_bytes,
                                            cap=args.max_fields, **kw)
                assert len(body) <= args.max_body_bytes, (name, len(body))
                size = len(body)
                t0 = time.process_time()
                resp = client.post(f"/hooks/{source}", data=body, content_type=ctype,
                                   headers={"X-Bridge-Token": TOKEN})
                spent = time.process_time() - t0
                assert resp.status_code in ok, (name, resp.status_code, resp.get_data(as_text=True)[:300])
                if i >= 2:
                    samples.append(spent)
            results[name] = {"bytes": size, "status": ok[0], "cpu_ms": statistics.median(samples) * 1000,
                             "cpu_ms_max": max(samples) * 1000}
        base = results["typical-json"]["cpu_ms"]
        for name, r in results.items():
            r["ratio"] = r["cpu_ms"] / base
            rows.append({"request": name, **r})
        print(machine_line(m))
        print_table(f"CPU per request, max_body_bytes {args.max_body_bytes:,}, max_fields {args.max_fields}, "
                    f"max_json_fields {args.max_json_fields}, "
                    f"median of {args.repeat}",
                    [("request", "request", ""), ("bytes", "bytes", ","), ("status", "status", "d"),
                     ("CPU ms (median)", "cpu_ms", ".2f"), ("max", "cpu_ms_max", ".2f"),
                     ("× typical JSON", "ratio", ".1f")], rows)
        worst = max((r for r in rows if not r["request"].startswith("typical")), key=lambda r: r["ratio"])
        print(f"\nworst request under the size limit: {worst['request']}, {worst['ratio']:.1f}× a typical delivery")
        write_json("hostile_cpu", vars(args), results, m)
    finally:
        stop_all()


if __name__ == "__main__":
    main()

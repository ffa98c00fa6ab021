"""Console pages that act or compute: dead letters and replay, the rules, and "try a change".
Each calls the function the admin API and the CLI call (workers.replay, rules_overview, try_rules)."""

from __future__ import annotations

import json
from typing import Any

from flask import redirect, render_template, request, url_for

from bridge.console.overview import rules_overview
from bridge.console.trial import MAX_COMPARE, evaluation_event, try_rules
from bridge.console.views import bp, page_error, state
from bridge.events_query import find_events
from workers.replay import dead_event_ids, replay


@bp.get("/dead")
def dead() -> Any:
    """Dead letters with their reason and last error, oldest first."""
    st = state()
    letters = {d["event_id"]: d for d in st.store.dead_letters(1000)}
    rows = [r for r in find_events(st.store, {"status": "dead", "limit": 1000}).events]
    for r in rows:
        d = letters.get(r["id"], {})
        r["dead_at"] = d.get("at")
        r["last_error"] = _error_text(d.get("error"))
    rows.sort(key=lambda r: r.get("dead_at") or "")
    return render_template("console/dead.html", rows=rows)


def _error_text(raw: Any) -> str:
    try:
        err = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return str(raw)
    if not isinstance(err, dict):
        return "" if err is None else str(err)
    parts = [str(err[k]) for k in ("status", "code", "message", "error") if err.get(k) not in (None, "")]
    return " · ".join(parts)


@bp.post("/replay")
def replay_selected() -> Any:
    """Replay one event, a selection, or every dead letter; then watch them finish."""
    st = state()
    ids = dead_event_ids(st.store) if request.form.get("all") else request.form.getlist("ids")
    ids = [i for i in dict.fromkeys(ids) if i]
    if not ids:
        return page_error(400, "Nothing to replay", "Select at least one event (or use “Replay all”).")
    results = replay(st.store, st.enqueue, ids)
    return render_template("console/replayed.html", results=results)


@bp.get("/rules")
def rules() -> Any:
    """Loaded rule files, fingerprint, lint status, and match counts over recent events."""
    st = state()
    return render_template("console/rules.html", o=rules_overview(st.config, st.store))


@bp.route("/try", methods=["GET", "POST"])
def try_change() -> Any:
    """Edit a rule file, evaluate it on one event and on the last N stored events (nothing is sent)."""
    st = state()
    paths = st.config.rule_paths()
    files = [str(p) for p in paths]
    form = {"file": request.values.get("file") or (files[0] if files else ""),
            "event_id": request.values.get("event_id", "").strip(), "event_json": request.form.get("event_json", ""),
            "last": request.form.get("last", "100")}
    if request.method == "GET":
        form["rules"] = _file_text(paths, form["file"])
        return render_template("console/try.html", files=files, form=form, out=None, problem=None)
    form["rules"] = request.form.get("rules", "")
    event, problem = _chosen_event(form)
    try:
        last = max(0, min(int(form["last"] or 0), MAX_COMPARE))
    except ValueError:
        last, problem = 0, problem or f"“last N events” must be a whole number from 0 to {MAX_COMPARE}"
    if problem:
        return render_template("console/try.html", files=files, form=form, out=None, problem=problem), 400
    out = try_rules(paths, st.store, edits={form["file"]: form["rules"]}, event=event, last=last)
    return render_template("console/try.html", files=files, form=form, out=out, problem=None)


def _file_text(paths: list[Any], name: str) -> str:
    for p in paths:
        if str(p) == name:
            return p.read_text(encoding="utf-8")
    return ""


def _chosen_event(form: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    if form["event_id"]:
        stored = state().store.load(form["event_id"])
        if stored is None:
            return None, f"no stored event {form['event_id']!r}"
        return evaluation_event(stored), None
    if form["event_json"].strip():
        try:
            pasted = json.loads(form["event_json"])
        except ValueError as exc:
            return None, f"the pasted event is not JSON: {exc}"
        if not isinstance(pasted, dict):
            return None, "the pasted event must be a JSON object ({source, type, data} or a bare payload)"
        return evaluation_event(pasted if "data" in pasted else {"data": pasted}), None
    return None, None


@bp.get("/events/<event_id>/try")
def try_event(event_id: str) -> Any:
    return redirect(url_for("console.try_change", event_id=event_id))

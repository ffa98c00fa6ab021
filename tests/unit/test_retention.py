"""Per-source retention and personal data (pure parts): the policy, redaction by path and by value."""

from __future__ import annotations

import pytest

from workers.errors import ConfigError
from workers.logsafe import exception_summary
from workers.retention import MASK, Policy, parse_policy, redact_data, redact_event, scrub


def test_a_policy_reads_durations_and_paths() -> None:
    policy = parse_policy("tf", {"retention": "7d", "pii": {"redact": ["data.phone", "data.fields.message"],
                                                             "drop_raw_body": True}})
    assert policy == Policy(7 * 86400, (("phone",), ("fields", "message")), True)
    assert parse_policy("tf", {"retention": 3600}).retention == 3600
    assert parse_policy("tf", {"retention": "90m"}).retention == 5400
    assert not parse_policy("tf", {}).active


@pytest.mark.parametrize("options, named", [
    ({"retention": "soon"}, "sources.tf.retention"),
    ({"retention": 10}, "sources.tf.retention"),
    ({"retention": True}, "sources.tf.retention"),
    ({"pii": {"redact": ["phone"]}}, "sources.tf.pii.redact"),
    ({"pii": {"redact": ["data..x"]}}, "sources.tf.pii.redact"),
    ({"pii": {"drop_raw_body": "yes"}}, "sources.tf.pii.drop_raw_body"),
    ({"pii": {"erase": ["data.x"]}}, "sources.tf.pii"),
])
def test_a_bad_policy_names_the_option(options: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_policy("tf", options)


def test_redaction_masks_the_path_and_finds_the_value_everywhere_else() -> None:
    policy = parse_policy("tf", {"pii": {"redact": ["data.phone", "data.fields.message", "data.answers.text"]}})
    data = {"email": "a@b.test", "phone": 5550100, "fields": {"message": "my private question", "plan": "pro"},
            "answers": [{"text": "one answer"}, {"text": "two"}]}
    masked, values = redact_data(data, policy)
    assert masked == {"email": "a@b.test", "phone": MASK, "fields": {"message": MASK, "plan": "pro"},
                      "answers": [{"text": MASK}, {"text": MASK}]}
    assert set(values) == {"5550100", "my private question", "one answer", "two"}
    trace = [{"rule": "r", "value": "Question: my private question", "seen": 5550100, "short": "two",
              "other": "two words"}]
    assert scrub(trace, values) == [{"rule": "r", "value": f"Question: {MASK}", "seen": MASK, "short": MASK,
                                     "other": "two words"}]  # a short value only where it is the whole text


def test_an_event_is_shown_redacted_with_its_raw_body() -> None:
    policy = parse_policy("tf", {"pii": {"redact": ["data.message"]}})
    ev = {"data": {"message": "ünïcode secret"}, "raw_body": '{"message": "\\u00fcn\\u00efcode secret"}',
          "changes": [{"change": {"update": {"notes": "said: ünïcode secret"}}}]}
    shown = redact_event(ev, policy)
    assert "secret" not in repr(shown)
    dropped = redact_event(ev, parse_policy("tf", {"pii": {"drop_raw_body": True}}))
    assert dropped["raw_body"] == "" and dropped["data"] == ev["data"]


def test_a_log_summary_of_an_exception_never_carries_its_message() -> None:
    try:
        int("the customer's secret answer")
    except ValueError as exc:
        line = exception_summary(exc)
    assert line.startswith("ValueError at ") and "secret" not in line

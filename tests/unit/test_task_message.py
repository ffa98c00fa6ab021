"""The ingress's hand-built task message equals the one Celery builds (a real worker consuming it is
covered by tests/faults/test_applied_once.py::test_atomic_claim_has_no_in_flight_window)."""

from __future__ import annotations

import base64
import json

from celery import Celery

from workers.enqueue import TaskMessages


def test_template_message_equals_celerys_own_for_any_event_id():
    app = Celery("t", broker="redis://127.0.0.1:1/0", set_as_current=False)
    messages = TaskMessages(app, "q1")
    for eid in ("evt_0123456789abcdef0123456789abcdef", "evt_ffffffffffffffffffffffffffffffff"):
        fast = json.loads(messages.build(eid))
        ref = json.loads(messages.build_with_celery(eid, delivery_tag=fast["properties"]["delivery_tag"]))
        assert fast == ref
        assert json.loads(base64.b64decode(fast["body"]))[0] == [eid]
        assert fast["headers"]["id"] == eid and fast["properties"]["delivery_info"]["routing_key"] == "q1"


def test_each_message_gets_its_own_delivery_tag():
    messages = TaskMessages(Celery("t", broker="redis://127.0.0.1:1/0", set_as_current=False), "q")
    tags = {json.loads(messages.build("evt_" + "a" * 32))["properties"]["delivery_tag"] for _ in range(5)}
    assert len(tags) == 5

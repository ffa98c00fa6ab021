"""The adapter contract: a provider payload in, the normalized `data` the rules read out.

An adapter is a pure function of the parsed body and the request headers. It never does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from bridge.errors import PayloadInvalid
from bridge.inbound import Headers

FORM_SUBMITTED = "form.submitted"


@dataclass(frozen=True)
class AdaptedEvent:
    """The provider-independent event: its type, normalized data and the delivery id."""

    type: str
    data: Mapping[str, Any]
    delivery_id: str | None = None
    # True when the provider sent an event type this adapter does not handle: the ingress answers
    # 200 and records it as ignored, so the provider stops retrying.
    ignored: bool = False
    ignored_reason: str | None = None
    # The provider's time of the event (ISO 8601 text, or Unix seconds/milliseconds as a number) and
    # its tie-break for events of the same instant: per customer, overwritten fields follow this order
    # (rules.ordering). None: arrival order. `entity`: the provider's id of the thing the event is about.
    occurred_at: Any = None
    order_tie: str = ""
    entity: str | None = None


AdaptFn = Callable[[Any, Headers, Mapping[str, Any]], AdaptedEvent]


@dataclass(frozen=True)
class Adapter:
    """A registered adapter: its name, the function, and the event types it handles."""

    name: str
    adapt: AdaptFn                       # (payload, headers, source options) -> AdaptedEvent
    event_types: tuple[str, ...] = (FORM_SUBMITTED,)
    # Content types this adapter accepts after parsing ("json", "form").
    accepts: tuple[str, ...] = ("json", "form")
    # The 2xx an accepted delivery gets; Webflow retries anything but exactly 200.
    success_status: int = 202
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def require_mapping(payload: Any, what: str = "the body") -> Mapping[str, Any]:
    """Adapters expect an object; anything else is the sender's mistake (422)."""
    if not isinstance(payload, Mapping):
        got = type(payload).__name__
        raise PayloadInvalid({"_body": [f"{what} must be a JSON object or form fields, got {got}"]})
    return payload

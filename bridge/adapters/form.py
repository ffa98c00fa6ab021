"""`form`: any HTML form posted as x-www-form-urlencoded or multipart/form-data.

Every field becomes `fields[slug(name)]` (a repeated key stays a list; `tags[]` becomes `tags`);
email, name and phone are recognised from the field names. Uploaded files are not kept. A field named
`idempotency_key` is the delivery id.
"""

from __future__ import annotations

from typing import Any, Mapping

from bridge.adapters.base import FORM_SUBMITTED, Adapter, AdaptedEvent, require_mapping
from bridge.adapters.common import flat_answers, form_data, text
from bridge.inbound import Headers


def adapt_form(payload: Any, headers: Headers, options: Mapping[str, Any]) -> AdaptedEvent:
    """Form fields -> a `form.submitted` event."""
    body = require_mapping(payload)
    values = {k: v for k, v in body.items() if k != "idempotency_key"}
    data = form_data(flat_answers(values), options=options)
    return AdaptedEvent(type=FORM_SUBMITTED, data=data, delivery_id=text(body.get("idempotency_key")))


ADAPTER = Adapter(name="form", adapt=adapt_form, accepts=("form",),
                  description="Generic HTML form (urlencoded or multipart)")

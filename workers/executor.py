"""Apply one event: evaluate the rules, then change each planned customer exactly once.

Per customer in the plan (under that customer's lock):

    completion record?  -> already applied by an earlier delivery: skip
    resolve the id      -> email->id cache, else find_by_email, else create (when the rule allows)
    read current state  -> only when the change needs it (tags or notes)
    one POST or PATCH   -> only what changes; notes carry a marker so a repeat never appends twice
    verify tags         -> from the write's answer; repair once if another writer clobbered them
    completion record   -> a redelivered task will not apply it again

Everything here is plain Python given a `WorkerContext`; the Celery task is a thin shell around
`process_event`. Errors propagate as the typed errors of `workers.errors` and are turned into a
retry, a dead letter or a result by `workers.outcome`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from rules import CustomerPlan, compute_change, evaluate
from workers.errors import ApiConflict, ApiNotFound, ApiServerError

log = logging.getLogger("cstar_bridge.executor")


@dataclass
class StepResult:
    """What happened to one customer of the plan (stored as the completion record)."""

    email: str
    customer_id: str | None
    action: str                       # created | updated | unchanged | skipped
    change: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"email": self.email, "customer_id": self.customer_id, "action": self.action,
                "change": self.change, "reason": self.reason, "repaired": self.repaired}


class CustomerIds:
    """The email -> customer id cache in Redis (saves a search per event for known customers)."""

    def __init__(self, client: Any, *, prefix: str, team: str, ttl: int = 86400) -> None:
        self.client = client
        self.prefix = f"{prefix}cid:{team}:"
        self.ttl = ttl

    def get(self, key: str) -> str | None:
        v = self.client.get(self.prefix + key)
        return v.decode() if isinstance(v, bytes) else v

    def set(self, key: str, customer_id: str) -> None:
        self.client.set(self.prefix + key, customer_id, ex=self.ttl)

    def forget(self, key: str) -> None:
        self.client.delete(self.prefix + key)


def note_marker(event_id: str, index: int) -> str:
    return f"{event_id}:{index}"


def evaluate_event(ctx: Any, event: Mapping[str, Any]) -> Any:
    """Evaluate the rules on one snapshot; fetch the customers first when a rule reads `customer`."""
    evaluation = evaluate(ctx.ruleset, event)
    if not ctx.ruleset.needs_customer or not evaluation.plans:
        return evaluation
    customers: dict[str, Any] = {}
    for plan in evaluation.plans:
        cid = ctx.ids.get(plan.key)
        found = ctx.client.get_customer(cid) if cid else ctx.client.find_by_email(plan.email)
        if found:
            if not cid:
                ctx.ids.set(plan.key, found["id"])
                found = ctx.client.get_customer(found["id"])
            customers[plan.key] = found
    return evaluate(ctx.ruleset, event, customers)


def apply_plan(ctx: Any, event_id: str, index: int, plan: CustomerPlan) -> StepResult:
    """Apply one customer's part of the plan, at most once (the caller holds the customer's lock)."""
    marker = note_marker(event_id, index)
    cid = ctx.ids.get(plan.key)
    if cid is None:
        found = ctx.client.find_by_email(plan.email)
        if found:
            cid = found["id"]
            ctx.ids.set(plan.key, cid)
    if cid is None:
        if not plan.create:
            return StepResult(plan.email, None, "skipped", reason="no customer with this email and create: false")
        created = _create(ctx, plan, marker)
        if created is not None:
            return created
        cid = ctx.ids.get(plan.key)  # a 409: someone else created it; _create adopted its id
    try:
        return _update(ctx, plan, str(cid), marker)
    except ApiNotFound:
        # Deleted behind our back (or a stale cache): resolve again once.
        ctx.ids.forget(plan.key)
        found = ctx.client.find_by_email(plan.email)
        if found:
            ctx.ids.set(plan.key, found["id"])
            return _update(ctx, plan, found["id"], marker)
        if not plan.create:
            return StepResult(plan.email, None, "skipped", reason="customer no longer exists and create: false")
        created = _create(ctx, plan, marker)
        if created is None:
            raise
        return created


def _create(ctx: Any, plan: CustomerPlan, marker: str) -> StepResult | None:
    """POST the customer (plus a PATCH for what POST cannot set); None when it already existed (409)."""
    change = compute_change(plan, None, exists=False, note_marker=marker)
    assert change.create is not None
    try:
        created = ctx.client.create_customer(change.create)
    except ApiConflict:
        found = ctx.client.find_by_email(plan.email)
        if not found:
            # 409 but the search cannot see it yet: transient, try again later.
            raise ApiServerError("the API said the email exists but search does not find it yet",
                                 status=409, code="CONFLICT") from None
        ctx.ids.set(plan.key, found["id"])
        return None
    cid = created["id"]
    ctx.ids.set(plan.key, cid)
    if change.update:
        ctx.client.update_customer(cid, change.update)
    return StepResult(plan.email, cid, "created", change=change.to_dict())


def _update(ctx: Any, plan: CustomerPlan, cid: str, marker: str) -> StepResult:
    current = ctx.client.get_customer(cid) if plan.needs_read else None
    change = compute_change(plan, current, exists=True, note_marker=marker)
    if not change.update:
        return StepResult(plan.email, cid, "unchanged", change=change.to_dict())
    answer = ctx.client.update_customer(cid, change.update)
    repaired = False
    if change.tags_changed and ctx.verify_tags:
        repaired = _verify_tags(ctx, cid, change.update["tags"], answer)
    return StepResult(plan.email, cid, "updated", change=change.to_dict(), repaired=repaired)


def _verify_tags(ctx: Any, cid: str, sent: list[str], answer: Mapping[str, Any]) -> bool:
    """Read the customer back after a tag write; re-add ours once if a concurrent writer clobbered them.

    The per-customer lock already serializes our own writers; this catches writers outside the
    bridge (or a lock lease that expired under a long pause) at the cost of one GET.
    """
    tags = ctx.client.get_customer(cid).get("tags") or []
    have = {t.lower() for t in tags}
    missing = [t for t in sent if t.lower() not in have]
    if not missing:
        return False
    log.warning("tags clobbered on %s, repairing (%d missing)", cid, len(missing))
    ctx.client.update_customer(cid, {"tags": list(tags) + missing})
    return True


CallCounter = Callable[[], list[dict[str, Any]]]

"""Apply one customer's part of a plan exactly once (the caller holds that customer's lock).

    resolve the id      -> email->id cache; on a miss, POST first (a new person costs one call) and
                           search only after a 409, or search first while most recent misses were
                           people who already exist (an import of known customers); `create: false`
                           never creates
    read current state  -> only when the change needs it (tags or notes), or the rules read it
    one POST or PATCH   -> only what changes; notes carry a marker so a repeat never appends twice
    verify tags         -> optional: read back and repair once if a writer outside the bridge clobbered them

A 409 on create adopts the customer someone else created; a 404 on update (deleted, or a stale
cache) resolves again once. Errors propagate as the typed errors of `workers.errors`; the pipeline
turns them into a retry or a dead letter.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from rules import CustomerPlan, compute_change
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
    before: dict[str, Any] | None = None  # the fields the change touches, as read (None: not read)

    def to_dict(self) -> dict[str, Any]:
        return {"email": self.email, "customer_id": self.customer_id, "action": self.action,
                "change": self.change, "reason": self.reason, "repaired": self.repaired, "before": self.before}


def _before(current: Mapping[str, Any] | None, change: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The customer's values of the fields a change sends, for people to compare (the console)."""
    if current is None or not change:
        return None
    return {k: current.get(k) for k in change if k in current}


@dataclass(frozen=True)
class Resolved:
    """A customer as found under its lock: its id (None: no such customer) and, if read, its state."""

    cid: str | None
    current: Mapping[str, Any] | None = None


# The cached id, or (nil, how many of the recent misses existed, how many there are): one round trip.
_LOOKUP = """
local id = redis.call('GET', KEYS[1])
if id then return id end
local recent = redis.call('LRANGE', KEYS[2], 0, -1)
local existed = 0
for _, seen in ipairs(recent) do if seen == '1' then existed = existed + 1 end end
return {existed, #recent}
"""


class CustomerIds:
    """The email -> customer id cache in Redis (saves a search per event for known customers), and
    what the team's recent misses turned out to be: people who existed already, or new ones.

    That history decides how a miss starts: with the POST (a new person costs one call) unless most
    recent misses existed (each of those costs a 409), as in an import of known customers; then with
    the search. It is shared by every worker and kept across restarts, and read and written in the
    round trips the cache makes anyway.
    """

    MISS_WINDOW = 10      # recent misses remembered
    EXISTING_SHARE = 0.5  # search first once at least this share of them existed

    def __init__(self, client: Any, *, prefix: str, team: str, ttl: int = 86400) -> None:
        self.client = client
        self.prefix = f"{prefix}cid:{team}:"
        self.misses_key = f"{prefix}cid-misses:{team}"
        self.ttl = ttl
        self._lookup = client.register_script(_LOOKUP)

    def lookup(self, key: str) -> tuple[str | None, bool]:
        """The cached id, and for a miss whether to create first (True) or search first."""
        found = self._lookup(keys=[self.prefix + key, self.misses_key])
        if not isinstance(found, list):
            return (found.decode() if isinstance(found, bytes) else found), False
        return None, self.create_first(found[0], found[1])

    def create_first(self, existed: Any, seen: Any) -> bool:
        """Whether a miss starts with the POST, given how many of the `seen` recent misses `existed`."""
        return not int(seen) or int(existed) < self.EXISTING_SHARE * int(seen)

    def get(self, key: str) -> str | None:
        v = self.client.get(self.prefix + key)
        return v.decode() if isinstance(v, bytes) else v

    def set(self, key: str, customer_id: str, *, existed: bool | None = None) -> None:
        """Cache the id; `existed` records what a miss turned out to be (None: not a miss)."""
        if existed is None:
            self.client.set(self.prefix + key, customer_id, ex=self.ttl)
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.prefix + key, customer_id, ex=self.ttl)
        pipe.lpush(self.misses_key, "1" if existed else "0")
        pipe.ltrim(self.misses_key, 0, self.MISS_WINDOW - 1)
        pipe.expire(self.misses_key, self.ttl)
        pipe.execute()

    def forget(self, key: str) -> None:
        self.client.delete(self.prefix + key)


def note_marker(event_id: str, customer_key: str) -> str:
    """Stable per event and customer, whatever order the plans come in."""
    return f"{event_id}:{hashlib.sha1(customer_key.encode()).hexdigest()[:8]}"


def resolve(ctx: Any, key: str, email: str, *, read: bool, miss: bool = False) -> Resolved:
    """Find the customer's id (cache, else search) and, when `read`, its current state; `miss`: a
    customer found by search is recorded as a miss that existed."""
    cid = ctx.ids.get(key)
    if cid is None:
        return _search(ctx, key, email, read=read, miss=miss)
    return _state(ctx, key, email, cid, read=read)


def _search(ctx: Any, key: str, email: str, *, read: bool, miss: bool = False) -> Resolved:
    """The customer by search (the cache did not know it), remembered in the cache."""
    found = ctx.client.find_by_email(email)
    if found is None:
        return Resolved(None)
    cid = str(found["id"])
    ctx.ids.set(key, cid, existed=True if miss else None)
    return _state(ctx, key, email, cid, read=read)


def _state(ctx: Any, key: str, email: str, cid: str, *, read: bool) -> Resolved:
    if not read:
        return Resolved(cid)
    try:
        return Resolved(cid, ctx.client.get_customer(cid))
    except ApiNotFound:  # a stale cache entry: the customer was deleted, or merged
        ctx.ids.forget(key)
        found = ctx.client.find_by_email(email)
        if found is None:
            return Resolved(None)
        ctx.ids.set(key, str(found["id"]))
        return Resolved(str(found["id"]), ctx.client.get_customer(str(found["id"])))


def apply_plan(ctx: Any, marker: str | None, plan: CustomerPlan, resolved: Resolved | None = None, *,
               lookup: tuple[str | None, bool] | None = None) -> StepResult:
    """Apply one customer's plan; `resolved` when the caller already found (and maybe read) it,
    `lookup` when it already looked the id up (`CustomerIds.lookup`, read with the caller's own step).

    A customer the cache does not know is created first when the rule allows it (one call for a new
    person; a 409 means it exists: search, then update), or searched first while most recent misses
    existed. Applied once either way: a repeated POST for a customer an earlier attempt created gets
    the 409, and the update finds that attempt's note marker.
    """
    miss = False
    if resolved is None:
        cid, create_first = lookup if lookup is not None else ctx.ids.lookup(plan.key)
        miss = cid is None
        if cid is not None:
            resolved = _state(ctx, plan.key, plan.email, cid, read=plan.needs_read)
        elif plan.create and create_first:
            created = _create(ctx, plan, marker, miss=True)
            if created is not None:
                return created
            resolved = _adopt(ctx, plan, miss=True)
        else:
            resolved = _search(ctx, plan.key, plan.email, read=plan.needs_read, miss=True)
    if resolved.cid is None:
        if not plan.create:
            return StepResult(plan.email, None, "skipped", reason="no customer with this email and create: false")
        created = _create(ctx, plan, marker, miss=miss)
        if created is not None:
            return created
        resolved = _adopt(ctx, plan)
    return _update_again_if_gone(ctx, plan, resolved, marker)


def _adopt(ctx: Any, plan: CustomerPlan, *, miss: bool = False) -> Resolved:
    """The customer a 409 said exists (created by someone else, or by an earlier attempt of ours)."""
    resolved = resolve(ctx, plan.key, plan.email, read=plan.needs_read, miss=miss)
    if resolved.cid is None:
        raise ApiServerError("the API said the email exists but search does not find it yet",
                             status=409, code="CONFLICT")
    return resolved


def _update_again_if_gone(ctx: Any, plan: CustomerPlan, resolved: Resolved, marker: str | None) -> StepResult:
    """Update the customer; if it was deleted meanwhile, resolve once more (or create, if allowed)."""
    try:
        return _update(ctx, plan, resolved, marker)
    except ApiNotFound:
        ctx.ids.forget(plan.key)  # deleted behind our back: resolve again, once
        again = resolve(ctx, plan.key, plan.email, read=plan.needs_read)
        if again.cid is not None:
            return _update(ctx, plan, again, marker)
        if not plan.create:
            return StepResult(plan.email, None, "skipped", reason="customer no longer exists and create: false")
        created = _create(ctx, plan, marker)
        if created is None:
            raise
        return created


def _create(ctx: Any, plan: CustomerPlan, marker: str | None, *, miss: bool = False) -> StepResult | None:
    """POST the customer (plus a PATCH for what POST cannot set); None when it already existed (409).
    `miss`: a created customer is recorded as a miss that was new."""
    change = compute_change(plan, None, exists=False, note_marker=marker)
    assert change.create is not None
    try:
        created = ctx.client.create_customer(change.create)
    except ApiConflict:
        return None
    cid = str(created["id"])
    ctx.ids.set(plan.key, cid, existed=False if miss else None)
    if change.update:
        ctx.client.update_customer(cid, change.update)
    return StepResult(plan.email, cid, "created", change=change.to_dict())


def _update(ctx: Any, plan: CustomerPlan, resolved: Resolved, marker: str | None) -> StepResult:
    assert resolved.cid is not None
    cid = resolved.cid
    current = resolved.current
    if current is None and plan.needs_read:
        current = ctx.client.get_customer(cid)
    change = compute_change(plan, current, exists=True, note_marker=marker)
    if not change.update:
        return StepResult(plan.email, cid, "unchanged", change=change.to_dict())
    ctx.client.update_customer(cid, change.update)
    repaired = False
    if change.tags_changed and ctx.verify_tags:
        repaired = _verify_tags(ctx, cid, change.update["tags"])
    return StepResult(plan.email, cid, "updated", change=change.to_dict(), repaired=repaired,
                      before=_before(current, change.update))


def _verify_tags(ctx: Any, cid: str, sent: list[str]) -> bool:
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


def apply_combined(ctx: Any, items: list[tuple[str | None, CustomerPlan]], resolved: Resolved
                   ) -> tuple[list[StepResult], Resolved | None]:
    """Apply several plans for one customer with one read and one PATCH (see workers.coalesce).

    Also returns the customer as it is after the write (known without another read while the lock
    is held), or None when it is not known.
    """
    from workers.coalesce import combine

    first_marker, first = items[0]
    if resolved.cid is None:  # not there yet: the first plan creates it (or skips), the rest follow it
        results = [apply_plan(ctx, first_marker, first, resolved)]
        if len(items) > 1:
            more, _ = apply_combined(ctx, items[1:], resolve(ctx, first.key, first.email, read=True))
            results += more
        return results, None
    cid = resolved.cid
    current = resolved.current
    if current is None and any(plan.needs_read for _, plan in items):
        current = ctx.client.get_customer(cid)
    body, changes, after = combine(current, items)
    if body:
        try:
            ctx.client.update_customer(cid, body)
        except ApiNotFound:
            ctx.ids.forget(first.key)
            raise ApiServerError("the customer vanished during a combined update; retrying",
                                 status=404, code="RESOURCE_MISSING") from None
    results = [StepResult(plan.email, cid, "updated" if change.update else "unchanged", change=change.to_dict(),
                          before=_before(current, change.update))
               for (_, plan), change in zip(items, changes)]
    return results, (Resolved(cid, after) if after is not None else None)

"""One event from start to outcome: guards, evaluation, per-customer steps, retry or dead letter.

Returns an `Outcome`; the Celery task only turns `retry_in` into `self.retry(countdown=…)`.
"""

from __future__ import annotations

import json
import logging
import random
import time
import traceback
from dataclasses import dataclass
from typing import Any

import redis

from rules import evaluate
from rules.ordering import Mark, annotate_trace
from workers import strict_json
from workers.coalesce import LINGER_MAX, ROUND_SPACING, ParkedPlan
from workers.event_steps import Finish, Taken
from workers.errors import ApiError, PermanentApiError, RateLimited, TransientApiError
from workers.executor import Resolved, apply_combined, apply_plan, note_marker, resolve
from workers.locks import CustomerBusy
from workers.ordering import event_mark
from workers.ratelimit import RateLimitWait
from workers.logsafe import exception_summary
from workers.retention import apply_after_processing, policy_for
from workers.store import TERMINAL
from workers.stored_trace import rules_event, trace_fields
from workers.timing import backoff, max_countdown

log = logging.getLogger("cstar_bridge.pipeline")

_DRAIN_ROUNDS = 25     # writes one lock holder makes for parked plans before it lets go
_PARKED_FALLBACK = 3.0  # if the lock holder misses a parked plan, the event runs itself after this
UNEXPECTED_RETRIES = 2  # an exception nobody foresaw is a bug, not a transient error: retried this often
# The same input fails the same way (a bad value, text that cannot be encoded, recursion): dead-letter
# at once. Redis and network trouble (OSError, RedisError) are transient and retried with backoff.
DETERMINISTIC_ERRORS = (ValueError, ArithmeticError, RecursionError, MemoryError)  # UnicodeError is a ValueError
INFRASTRUCTURE_ERRORS = (redis.RedisError, OSError)


@dataclass(frozen=True)
class Outcome:
    status: str                  # done | ignored | dead | retry | missing
    retry_in: float | None = None
    reason: str | None = None


def process_event(ctx: Any, event_id: str, *, attempt: int) -> Outcome:
    """Process one stored event; safe to call any number of times for the same id. `ctx` is this
    task's own context (workers.runtime.TaskContext: its call log and locks are this event's)."""
    store = ctx.store
    # One round trip: load the event and, unless it is terminal, count this delivery (poison guard)
    # and mark it as being processed by this process. The payload is decoded only once counted.
    begun = ctx.steps.begin(event_id, attempt, time.time() + ctx.config.worker.reconcile_after)
    ev = begun.event
    if ev is None:
        log.warning("event %s not found (expired or released)", event_id)
        return Outcome("missing")
    if ev.get("status") in TERMINAL:
        return Outcome(ev["status"])
    deliveries = begun.deliveries
    if deliveries > ctx.config.worker.max_deliveries:
        reason = (f"delivered {deliveries - 1} times without finishing (the worker died each time); "
                  "parked as poison")
        store.dead_letter(event_id, reason=reason, error=None, attempts=int(ev.get("attempts") or 0))
        return Outcome("dead", reason=reason)

    failures = int(ev.get("failures") or 0)
    try:
        data = strict_json.decode_data(ev.get("data") or "{}", max_body_bytes=ctx.config.max_body_bytes)
    except strict_json.JsonRefused as exc:
        return _poison(ctx, event_id, f"the stored event data cannot be decoded: {exc.reason}", exc, failures)
    event = rules_event(event_id, ev, data)
    try:
        _apply(ctx, event_id, event, ev)
    except Parked as parked:
        return parked.outcome
    except CustomerBusy as exc:
        return _retry(ctx, event_id, random.uniform(0.5, 2.0), reason=str(exc), failures=failures)
    except RateLimitWait as exc:
        return _rate_wait(ctx, ev, event_id, exc.wait, failures)
    except RateLimited as exc:
        return _rate_wait(ctx, ev, event_id, exc.retry_after or 60.0, failures)
    except TransientApiError as exc:
        return _transient(ctx, event_id, failures + 1, exc.to_dict(), str(exc), retry_after=exc.retry_after)
    except PermanentApiError as exc:
        store.dead_letter(event_id, reason=f"the API refused the change: {exc.message}", error=exc.to_dict(),
                          attempts=failures + 1, calls=ctx.calls)
        return Outcome("dead", reason=exc.message)
    except INFRASTRUCTURE_ERRORS as exc:  # Redis or the network went away mid-event: retry with backoff
        log.warning("event %s: %s: %s", event_id, type(exc).__name__, exc)
        return _transient(ctx, event_id, failures + 1, _error(exc), f"{type(exc).__name__}: {exc}")
    except DETERMINISTIC_ERRORS as exc:  # the same input fails the same way: no retry can help
        log.warning("event %s is poison: %s (the reason is stored with the event)", event_id, exception_summary(exc))
        return _poison(ctx, event_id, f"{type(exc).__name__}: {exc}", exc, failures)
    except Exception as exc:  # a bug: retry a couple of times (in case it was a fluke), then park it
        log.error("event %s failed unexpectedly: %s (the message is stored with the event)", event_id,
                  exception_summary(exc))
        return _unexpected(ctx, ev, event_id, exc, failures)
    apply_after_processing(store, event_id, policy_for(ctx.config, ev.get("source")))
    return Outcome("done")


def _done(ctx: Any, event_id: str, ev: dict[str, Any], evaluation: Any, steps: list[dict[str, Any]],
          finish: Finish) -> None:
    """Store the outcome, with `finish`'s completion record and hold, in one round trip (under the
    customers' locks when there are any: the record is there before the next holder looks)."""
    outcome = {"matched": list(evaluation.matched), "steps": steps, "calls": ctx.calls,
               "rules_fingerprint": ctx.ruleset.fingerprint}
    fields = {"matched": list(evaluation.matched), **_trace(ctx, evaluation, steps, ev),
              "changes": steps, "calls": ctx.calls, "outcome": outcome, "finished_at": _iso()}
    ctx.steps.end(event_id, finish, **fields)


class Parked(Exception):
    """This event's plan waits in the customer's inbox for the worker holding the lock."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def _apply(ctx: Any, event_id: str, event: dict[str, Any], ev: dict[str, Any]) -> None:
    """Evaluate on a snapshot taken under the customers' locks, apply each customer's plan once, and
    store the outcome before the locks are let go.

    The first evaluation (without customer state) names every customer the event can touch; their
    locks are taken in sorted order; customers whose state a rule reads are resolved and read under
    the lock; the rules run again on that snapshot, and the plan is applied with the same snapshot
    (no second read). A customer whose completion record exists is skipped. An event for one busy
    customer whose plan does not depend on that customer's state is parked (see workers.coalesce).
    """
    base = evaluate(ctx.ruleset, event)
    keys = sorted({p.key for p in base.plans} | set(base.customers_to_read))
    if not keys:
        _done(ctx, event_id, ev, base, [], Finish())
        return
    todo = [k for k in keys if f"step:{k}" not in ev]
    parkable = ctx.coalesce and len(todo) == 1 and len(base.plans) == 1 and not base.customers_to_read
    mark = event_mark(event_id, ev)
    try:
        if parkable and todo == keys and ctx.locks.enabled:
            # The usual case, one customer: its lock and the reads under it in one round trip.
            token = ctx.locks.new_token()
            try:
                taken = ctx.steps.take(event_id, keys, customer=keys[0],
                                       lock=(ctx.locks.name(keys[0]), token, ctx.locks.lease))
            except BaseException:  # the script may have taken the lock before the error: give it back
                ctx.locks.release(keys[0], token)
                raise
            if not taken.busy:
                with ctx.locks.taken(keys[0], token) as lock:
                    finish = Finish(lock=(lock.name, token))
                    evaluation, steps = _apply_locked(ctx, event_id, event, keys, base, mark, finish, taken)
                    _done(ctx, event_id, ev, evaluation, steps, finish)   # releases the lock too
                    ctx.locks.let_go(lock)
                return
        with ctx.locks.hold_all(todo, wait=0.0 if parkable else None):
            finish = Finish()
            evaluation, steps = _apply_locked(ctx, event_id, event, keys, base, mark, finish)
            _done(ctx, event_id, ev, evaluation, steps, finish)
    except CustomerBusy:
        if not parkable:
            raise
        # Reschedule first, then park: the holder's "done" must come after our "parked", never before.
        ctx.store.update(event_id, matched=list(base.matched), **_trace(ctx, base, [], ev))
        outcome = _retry(ctx, event_id, _PARKED_FALLBACK, failures=int(ev.get("failures") or 0), status="parked",
                         reason="parked: another worker is updating this customer")
        ctx.inbox.park(base.plans[0].key, ParkedPlan(event_id, base.plans[0], event_mark(event_id, ev)))
        raise Parked(outcome) from None


def _apply_locked(ctx: Any, event_id: str, event: dict[str, Any], keys: list[str], base: Any,
                  mark: Mark | None, finish: Finish, taken: Taken | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """Apply each customer's plan not applied yet; a single customer's completion record may be left
    to `finish`. `taken`: what was read when the lock was taken (else it is read now)."""
    single = ctx.coalesce and not base.customers_to_read and len(keys) == 1
    if taken is None:
        # Re-read the completion records under the lock (a concurrent delivery may have just written
        # one), and for a single customer what its step needs, in one round trip.
        taken = ctx.steps.take(event_id, keys, customer=keys[0] if single else None)
    steps: dict[str, Any] = {k: s for k, s in zip(keys, taken.steps) if s is not None}
    evaluation = base
    resolved: dict[str, Resolved] = {}
    if base.customers_to_read:
        for key in base.customers_to_read:
            if key not in steps:
                resolved[key] = resolve(ctx, key, key, read=True)
        evaluation = evaluate(ctx.ruleset, event, {k: r.current for k, r in resolved.items() if r.current})
    for plan in evaluation.plans:
        if plan.key in steps:
            continue
        marker = note_marker(event_id, plan.key) if ctx.config.worker.note_markers else None
        if ctx.coalesce and not evaluation.customers_to_read:
            result = _apply_with_parked(ctx, event_id, marker, plan, resolved.get(plan.key), mark,
                                        taken if taken.customer else None, finish if single else None)
        else:
            ordered = ctx.order.in_turn(plan.key, [(plan, mark)])[0]
            result = apply_plan(ctx, marker, ordered.plan, resolved.get(plan.key)).to_dict()
            result = ctx.order.record(event_id, plan.key, result, ordered)
        steps[plan.key] = result
    return evaluation, [steps[p.key] for p in evaluation.plans if p.key in steps]


def _apply_with_parked(ctx: Any, event_id: str, marker: str | None, plan: Any, resolved: Resolved | None,
                       mark: Mark | None, taken: Taken | None = None,
                       finish: Finish | None = None) -> dict[str, Any]:
    """Apply this event's plan together with whatever other events parked for the customer, and keep
    draining while the lock is ours: a burst ends in a few writes. After the first write the state is
    known (we hold the lock and just wrote it), so later rounds cost one PATCH each, no read. Each
    plan loses the writes a newer event already made (rules.ordering), judged in turn. While a burst is
    under way the holder lingers between writes so that each carries several plans (workers.coalesce).

    `taken`: the customer's part read by `take` (burst mark, parked plans, marks, cached id), used
    by the first round instead of reading them again. `finish`: when the hold ends after the first
    write with nothing parked, our completion record and the hold are left to it (the event's last
    round trip writes them); otherwise they are written here."""
    own: dict[str, Any] | None = None
    state = resolved
    # Written a moment ago: more events may be on their way.
    linger = taken.burst_expected if taken is not None else ctx.inbox.burst_expected(plan.key)
    burst = quiet = False
    linger_until = time.monotonic() + ctx.config.worker.task_soft_time_limit / 4  # well inside the time limit
    for _ in range(_DRAIN_ROUNDS):
        drained = taken.parked if taken is not None else ctx.inbox.drain(plan.key)
        parked = _unapplied(ctx, plan.key, drained, event_id)
        mine = [] if own is not None else [(marker, plan, mark)]
        todo = mine + [(note_marker(p.event_id, plan.key) if ctx.config.worker.note_markers else None, p.plan,
                        p.mark) for p in parked]
        if not todo:
            break
        ordered = ctx.order.in_turn(plan.key, [(p, m) for _, p, m in todo], taken.marks if taken else None)
        items: list[tuple[str | None, Any]] = [(m, o.plan) for (m, _, _), o in zip(todo, ordered)]
        if own is None and not parked:
            lookup = taken.lookup if taken is not None else None
            results, state = [apply_plan(ctx, marker, items[0][1], resolved, lookup=lookup)], None
        else:
            if state is None or state.cid is None or state.current is None:
                state = resolve(ctx, plan.key, plan.email, read=True)
            results, state = apply_combined(ctx, items, state)
        taken = None  # later rounds read for themselves
        written = time.monotonic()
        burst = burst or bool(parked)
        last = not (burst or linger) or written > linger_until
        if own is None:
            first, first_order = results.pop(0).to_dict(), ordered.pop(0)
            if finish is not None and last and not parked:   # the event's last round trip records it
                finish.customer_key, finish.result, finish.ordered = plan.key, first, first_order
                finish.hold = "burst" if burst else "one"
                own, _ = ctx.order.marks_for(first, first_order)
                return own
            own = ctx.order.record(event_id, plan.key, first, first_order)
        for p, result, o in zip(parked, results, ordered):
            step = ctx.order.record(p.event_id, plan.key, result.to_dict(), o)
            ctx.store.finish(p.event_id, "done", changes=[step], calls=[], coalesced_into=event_id,
                             finished_at=_iso(), **_parked_trace(ctx, p.event_id, step))
            apply_after_processing(ctx.store, p.event_id, _parked_policy(ctx, p.event_id))
        if last:
            break
        # A burst is under way: wait for the next plan to park, then let a few more park before writing.
        if not ctx.inbox.waiting(plan.key, written + LINGER_MAX):
            quiet = not burst
            break
        time.sleep(max(0.0, written + ROUND_SPACING - time.monotonic()))
    ctx.inbox.note_hold(plan.key, burst=burst, quiet=quiet)
    assert own is not None
    return own


def _parked_policy(ctx: Any, event_id: str) -> Any:
    """The retention policy of a parked event's source (workers.retention)."""
    source = ctx.store.r.hget(ctx.store.event_key(event_id), "source")
    return policy_for(ctx.config, source.decode() if isinstance(source, bytes) else source)


def _parked_trace(ctx: Any, event_id: str, step: dict[str, Any]) -> dict[str, Any]:
    """A parked event's stored trace with its stale writes' verdicts added (nothing to change otherwise; a
    trace kept as verdicts gets them from the event's changes when it is worded)."""
    if not step.get("stale"):
        return {}
    raw = ctx.store.r.hget(ctx.store.event_key(event_id), "trace")
    try:
        trace = json.loads(raw) if raw else []
    except ValueError:
        return {}
    if not isinstance(trace, list):
        return {}
    return {"trace": json.dumps(annotate_trace(trace, [step]), separators=(",", ":"), default=str)}


def _unapplied(ctx: Any, key: str, parked: list[Any], own_event_id: str) -> list[Any]:
    """Parked plans not applied yet: each event once (a fallback retry may have parked it twice), not
    our own, and without a completion record for this customer."""
    unique = list({p.event_id: p for p in parked if p.event_id != own_event_id}.values())
    if not unique:
        return []
    pipe = ctx.store.r.pipeline(transaction=False)
    for p in unique:
        pipe.hexists(ctx.store.event_key(p.event_id), f"step:{key}")
    return [p for p, done in zip(unique, pipe.execute()) if not done]


def _retry(ctx: Any, event_id: str, countdown: float, *, reason: str, failures: int,
           status: str = "retrying") -> Outcome:
    countdown = min(countdown, max_countdown(ctx.config))
    ctx.store.reschedule(event_id, time.time() + countdown + ctx.config.worker.reconcile_after,
                         status=status, retry_reason=reason, failures=str(failures))
    return Outcome("retry", retry_in=countdown, reason=reason)


def _rate_wait(ctx: Any, ev: dict[str, Any], event_id: str, wait: float, failures: int) -> Outcome:
    """Wait out the API's window; not a failure, but bounded by a deadline from acceptance."""
    accepted = float(ev.get("accepted_at") or time.time())
    if time.time() + wait > accepted + ctx.config.worker.rate_limit_deadline:
        reason = f"still rate limited {ctx.config.worker.rate_limit_deadline} s after it was accepted"
        ctx.store.dead_letter(event_id, reason=reason, error={"error": "RateLimited", "retry_after": wait},
                              attempts=failures, calls=ctx.calls)
        return Outcome("dead", reason=reason)
    return _retry(ctx, event_id, wait * random.uniform(1.0, 1.1), reason="rate limited", failures=failures)


def _transient(ctx: Any, event_id: str, failures: int, error: dict[str, Any], reason: str,
               retry_after: float | None = None) -> Outcome:
    if failures > ctx.config.worker.max_retries:
        ctx.store.dead_letter(event_id, reason=f"gave up after {failures} attempts: {reason}", error=error,
                              attempts=failures, calls=ctx.calls)
        return Outcome("dead", reason=reason)
    delay = max(backoff(ctx.config, failures), retry_after or 0.0)
    ctx.store.update(event_id, last_error=error)
    return _retry(ctx, event_id, delay, reason=reason, failures=failures)


def _error(exc: BaseException) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc)[:2000], "traceback": traceback.format_exc(limit=8)}


def _poison(ctx: Any, event_id: str, reason: str, exc: BaseException, failures: int) -> Outcome:
    """A deterministic failure: dead-lettered on this attempt, with its reason and traceback."""
    reason = reason if len(reason) <= 500 else reason[:500] + "…"
    ctx.store.dead_letter(event_id, reason=f"cannot be processed: {reason}", error=_error(exc),
                          attempts=failures + 1, calls=ctx.calls)
    return Outcome("dead", reason=reason)


def _unexpected(ctx: Any, ev: dict[str, Any], event_id: str, exc: Exception, failures: int) -> Outcome:
    """An exception nobody foresaw: at most UNEXPECTED_RETRIES retries, then a dead letter with the traceback."""
    count = int(ev.get("unexpected_errors") or 0) + 1
    reason = f"{type(exc).__name__}: {exc}"[:500]
    if count > UNEXPECTED_RETRIES:
        ctx.store.dead_letter(event_id, reason=f"failed {count} times with an unexpected error: {reason}",
                              error=_error(exc), attempts=failures + 1, calls=ctx.calls, unexpected_errors=str(count))
        return Outcome("dead", reason=reason)
    ctx.store.update(event_id, last_error=_error(exc), unexpected_errors=str(count))
    return _retry(ctx, event_id, backoff(ctx.config, count), reason=reason, failures=failures)


def _trace(ctx: Any, evaluation: Any, steps: list[dict[str, Any]], ev: dict[str, Any]) -> dict[str, Any]:
    """The hash fields that keep an evaluation's trace: its verdicts, worded when read (workers.stored_trace)."""
    if ctx.kept is not None:  # the rule set that words them, kept first (at most once an hour per process)
        ctx.kept.keep(ctx.ruleset)
    return trace_fields(evaluation, steps, ev, policy_for(ctx.config, ev.get("source")), ctx.config.trace_max_bytes)


def _iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


__all__ = ["Outcome", "process_event", "backoff", "max_countdown", "ApiError"]

"""Promise 3 when a lock holder is slow: a customer's lock cannot expire under its holder.

One worker process may hold a customer for a long burst: while events for that customer keep
arriving, it applies the plans the others park, one rate-limited write per round. Here the lease
(8 s) is shorter than that burst (events arriving for ~16 s, one API call a second): the watchdog
renews the lease while it is held, so no second worker can take the customer and write from a state
that misses the holder's tags. The negative control turns renewal (and the write fence) off and
must see tags lost. Two workers started with the production command, default `worker:` settings
except the lease.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.batch import scaled, scaled_timeout, lost_tags

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow]

LEASE = 8
EMAILS = ["slow@lease.test", "slow2@lease.test"]


def _run(make_stack, *, renewal: bool) -> dict[str, list[str]]:
    stack = make_stack(default_worker=True, worker={"lock_lease": LEASE, "lock_renewal": renewal},
                       cstar={"rate_limit_per_minute": 60})
    stack.start_worker()
    stack.start_worker()
    expected = {e: {"lead"} for e in EMAILS}
    ids = []
    n = scaled(48)
    for i in range(n):   # a steady trickle for two customers, ~2.5 lease lengths long
        email = EMAILS[i % len(EMAILS)]
        ids.append(stack.accepted_id(stack.post(body={"email": email, "tag": f"tag{i}"})))
        expected[email].add(f"tag{i}")
        time.sleep(2.5 * LEASE / n)
    stack.wait_for(ids, timeout=scaled_timeout(300))
    return lost_tags(stack, {email: expected[email] for email in EMAILS})


def test_a_lock_held_past_its_lease_is_renewed_and_no_tag_is_lost(make_stack):
    lost = _run(make_stack, renewal=True)
    assert lost == {}, f"lost tag updates: {lost}"


def test_negative_control_without_renewal_a_lease_shorter_than_the_burst_loses_tags(make_stack):
    lost = _run(make_stack, renewal=False)
    assert lost, "no tag lost without lease renewal: the test could not see a lock expiring under its holder"

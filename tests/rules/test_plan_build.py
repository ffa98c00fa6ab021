"""`PlanBuilder.build` sets the frozen plan's fields directly (not through the dataclass's __init__):
it must set every field, and give the very plan the constructor gives."""

from __future__ import annotations

import dataclasses

from rules.plan import CustomerPlan, PlanBuilder


def test_a_built_plan_has_every_field_and_equals_the_constructed_one() -> None:
    builder = PlanBuilder("Ana@Example.com", "ana@example.com")
    builder.add_rule("first", True, "Ana", arrival=True)
    builder.add_tags(["Lead", "vip"], "first")
    builder.remove_tags(["churned"], "first")
    builder.set_metadata({"plan": "pro", "seats": 3}, "first")
    builder.remove_metadata(["trial"], "first")
    builder.add_note("hello", "first")
    builder.set_status("active", "first")
    plan = builder.build()
    names = {f.name for f in dataclasses.fields(CustomerPlan)}
    assert set(vars(plan)) == names
    assert plan == CustomerPlan(**{name: getattr(plan, name) for name in names})
    assert plan.arrival == frozenset({"status", "metadata.plan", "metadata.seats", "metadata.trial"})
    try:
        plan.name = "changed"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a built plan must stay frozen")

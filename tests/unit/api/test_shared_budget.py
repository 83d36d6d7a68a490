"""The slot arithmetic of the shared rate budget: no window ever holds more than the target of a limit."""

from __future__ import annotations

import bisect
import math
import random

import pytest

from airflow_assets.api.pacing import RateLimits
from airflow_assets.api.shared_budget import SLOTS_PER_WINDOW, SlotPlan
from airflow_assets.exceptions import AssetsConfigError

# What the tasks of a site use: the default target, 0.5 s slots, a quarter of a second of skew each way.
PRODUCTION = SlotPlan(
    window_seconds=60.0, target_fraction=RateLimits().target_fraction, slot_seconds=0.5, skew_seconds=0.25
)
COMPRESSED = SlotPlan(window_seconds=2.0, target_fraction=0.8, slot_seconds=0.1, skew_seconds=0.05)
LIMITS = (1, 3, 7, 60, 500, 1000, 2000, 10_000)
# Slot numbers of today's clock (seconds since 1970 / 0.5 s): float arithmetic must hold there too.
TODAY = 3_560_000_000


@pytest.mark.parametrize("plan", [PRODUCTION, COMPRESSED], ids=["60s-window", "2s-window"])
@pytest.mark.parametrize("limit", LIMITS)
def test_no_run_of_slots_touching_one_window_admits_more_than_the_target(plan: SlotPlan, limit: int) -> None:
    span = plan.slots_touching_a_window
    capacities = [plan.capacity(limit, slot) for slot in range(TODAY, TODAY + 4 * span)]
    worst = max(sum(capacities[start : start + span]) for start in range(len(capacities) - span))

    assert worst <= max(1, math.floor(limit * plan.target_fraction))
    assert all(capacity >= 0 for capacity in capacities)


@pytest.mark.parametrize("limit", [500, 1000, 2000])
def test_a_lone_task_may_take_nearly_the_whole_target(limit: int) -> None:
    # Work-conserving: one task leasing every call of every slot gets what the limit allows, less the
    # slot or so of headroom at each edge of the window.
    per_window = sum(PRODUCTION.capacity(limit, slot) for slot in range(TODAY, TODAY + SLOTS_PER_WINDOW))

    assert per_window <= limit * PRODUCTION.target_fraction
    assert per_window >= 0.97 * limit * PRODUCTION.target_fraction


@pytest.mark.parametrize(
    ("plan", "limit"), [(COMPRESSED, 60), (PRODUCTION, 1000)], ids=["2s-window", "default-target"]
)
def test_calls_sent_anywhere_in_their_slot_give_or_take_the_skew_never_fill_a_window(
    plan: SlotPlan, limit: int
) -> None:
    # The property the server sees: arrival times, each somewhere in its slot shifted by up to the skew
    # either way (clock differences, sleeping, network), counted over every sliding window.
    draw = random.Random(18)
    arrivals: list[float] = []
    for slot in range(1000, 1400):
        start = plan.start_of(slot)
        for _ in range(plan.capacity(limit, slot)):
            offset = draw.choice([0.0, plan.slot_seconds, draw.uniform(0, plan.slot_seconds)])
            skew = draw.choice(
                [-plan.skew_seconds, plan.skew_seconds, draw.uniform(-1, 1) * plan.skew_seconds]
            )
            arrivals.append(start + offset + skew)
    arrivals.sort()
    busiest = max(
        bisect.bisect_right(arrivals, moment + plan.window_seconds) - index
        for index, moment in enumerate(arrivals)
    )

    assert busiest <= limit * plan.target_fraction < limit  # no 429 from a sliding-window server
    assert busiest >= 0.8 * limit * plan.target_fraction  # and the budget was actually used


def test_slots_follow_the_shared_clock() -> None:
    assert PRODUCTION.slot_of(PRODUCTION.start_of(TODAY)) == TODAY
    assert PRODUCTION.slot_of(PRODUCTION.start_of(TODAY) + 0.499) == TODAY
    assert PRODUCTION.slot_of(PRODUCTION.start_of(TODAY) + 0.5) == TODAY + 1


def test_a_lease_is_a_fraction_of_a_slot() -> None:
    # About 8 calls per half-second slot at 1000/min: leases of 3, so a task that stops strands few.
    assert PRODUCTION.batch(1000) == 3
    assert PRODUCTION.batch(1) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slot_seconds", 0.0, "slot_seconds must be > 0"),
        ("slot_seconds", 120.0, "must not exceed the window"),
        ("skew_seconds", -1.0, "skew_seconds must be >= 0"),
        ("window_seconds", float("nan"), "window_seconds must be > 0"),
    ],
)
def test_a_plan_that_cannot_hold_says_which_value(field: str, value: float, message: str) -> None:
    values = {"window_seconds": 60.0, "target_fraction": 0.95, "slot_seconds": 0.5, "skew_seconds": 0.25}
    with pytest.raises(AssetsConfigError, match=message):
        SlotPlan(**{**values, field: value})  # type: ignore[arg-type]

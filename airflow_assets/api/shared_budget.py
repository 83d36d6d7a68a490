"""One rate budget per site shared by every process: time slots whose calls are leased in batches.

Time is cut into short slots (a second or less) on one clock every process agrees on. Each slot of a site's
endpoint class may admit a fixed number of calls, so that no sliding window of the limit ever holds more than
the target fraction of it. A process leases a batch of calls of the current slot (or the next one with room)
from the :class:`SharedBudget` (kept in the backup store, which every worker reaches) and spends it locally;
what it does not spend before its slot ends expires with the slot, so a task killed holding a batch costs at
most that slot's share. A lone process may take every slot's calls: the budget is work-conserving.

The api layer defines the interface and the arithmetic; ``airflow_assets.store.rate_budget`` implements the
budget over MongoDB (api never imports store).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from airflow_assets.exceptions import AssetsConfigError

# Slots per window of the limit: finer slots waste less of the budget at the window's edges (one slot's
# worth), coarser ones cost fewer store round trips. 120 slots of 0.5 s over Atlassian's 60 s window.
SLOTS_PER_WINDOW = 120
# Slots ahead a process may lease from when the current one is full (it then waits for that slot to begin).
LOOKAHEAD_SLOTS = 4
# A lease takes about a quarter of a slot's calls: a few store round trips per slot, and a process that
# stops spending strands at most a quarter of a slot.
BATCHES_PER_SLOT = 4


@runtime_checkable
class SharedBudget(Protocol):
    """The store-side counter of a site's calls per endpoint class and time slot (shared by processes)."""

    #: Length of one slot in seconds (None: the window of the limits / ``SLOTS_PER_WINDOW``).
    slot_seconds: float | None
    #: How far apart two processes' views of the shared clock, and their requests' arrival times at the
    #: server, may be (None: half a slot).
    skew_seconds: float | None

    def now(self) -> float:
        """Return the shared clock in seconds (the same for every process, e.g. the database server's)."""
        ...

    def take(self, site: str, rate_class: str, slot: int, wanted: int, capacity: int) -> int:
        """Lease up to ``wanted`` calls of ``slot`` whose total may not pass ``capacity``; return how many."""
        ...


@dataclass(frozen=True)
class SlotPlan:
    """The slot arithmetic: how many calls each slot may admit so no window exceeds the target.

    :param window_seconds: the sliding window of the limits.
    :param target_fraction: the fraction of each limit aimed at.
    :param slot_seconds: the length of one slot.
    :param skew_seconds: how much earlier or later than its slot a leased call may reach the server (clock
        differences between processes, sleeping and network jitter).
    """

    window_seconds: float
    target_fraction: float
    slot_seconds: float
    skew_seconds: float

    def __post_init__(self) -> None:
        for name in ("window_seconds", "slot_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise AssetsConfigError(f"shared budget: {name} must be > 0, got {value!r}")
        if not (math.isfinite(self.skew_seconds) and self.skew_seconds >= 0):
            raise AssetsConfigError(f"shared budget: skew_seconds must be >= 0, got {self.skew_seconds!r}")
        if self.slot_seconds > self.window_seconds:
            raise AssetsConfigError(
                f"shared budget: slot_seconds ({self.slot_seconds}) must not exceed the window "
                f"({self.window_seconds} s)"
            )

    @property
    def slots_touching_a_window(self) -> int:
        """Return how many slots' calls may land in one window.

        A window of ``W`` seconds overlaps at most ``W / S + 1`` slots of ``S`` seconds, and calls may arrive
        up to ``skew`` before or after their slot, which widens it by ``2 * skew / S`` slots.
        """
        return math.ceil(
            self.window_seconds / self.slot_seconds + 1 + 2 * self.skew_seconds / self.slot_seconds
        )

    def allowed(self, limit: int) -> int:
        """Return the calls one window may receive: the target fraction of ``limit`` (at least one)."""
        return max(1, math.floor(limit * self.target_fraction))

    def rate(self, limit: int) -> float:
        """Return the mean calls per slot for a limit of ``limit`` calls per window."""
        return self.allowed(limit) / self.slots_touching_a_window

    def capacity(self, limit: int, slot: int) -> int:
        """Return the calls slot number ``slot`` may admit.

        Whole numbers whose running sum is ``floor(allowed * k / m)`` (``m`` slots touching a window, in
        integers, so exact at any slot number): any ``m`` consecutive slots admit at most ``allowed``.
        """
        allowed, touching = self.allowed(limit), self.slots_touching_a_window
        return (allowed * (slot + 1)) // touching - (allowed * slot) // touching

    def slot_of(self, moment: float) -> int:
        """Return the slot number of a moment of the shared clock."""
        return math.floor(moment / self.slot_seconds)

    def start_of(self, slot: int) -> float:
        """Return when ``slot`` begins on the shared clock."""
        return slot * self.slot_seconds

    def batch(self, limit: int) -> int:
        """Return how many calls one lease asks for."""
        return max(1, math.ceil(self.rate(limit) / BATCHES_PER_SLOT))


def slot_plan(budget: SharedBudget, *, window_seconds: float, target_fraction: float) -> SlotPlan:
    """Return the slot plan of ``budget`` for limits over ``window_seconds``."""
    slot = budget.slot_seconds or window_seconds / SLOTS_PER_WINDOW
    skew = budget.skew_seconds if budget.skew_seconds is not None else slot / 2
    return SlotPlan(
        window_seconds=window_seconds, target_fraction=target_fraction, slot_seconds=slot, skew_seconds=skew
    )


class BudgetGate:
    """One process's leases of one site's endpoint class: threads take single calls from them.

    :param budget: the shared budget.
    :param site: the site key.
    :param rate_class: the endpoint rate class (or ``"*"``, every call).
    :param limit: the calls per window of that class.
    :param plan: the slot arithmetic.
    """

    def __init__(
        self, budget: SharedBudget, *, site: str, rate_class: str, limit: int, plan: SlotPlan
    ) -> None:
        self._budget = budget
        self.site = site
        self.rate_class = rate_class
        self.limit = limit
        self.plan = plan
        self._batch = plan.batch(limit)
        self._lock = threading.Lock()
        self._slot = -1
        self._left = 0
        # Every slot up to this one is known to be full (a slot's count only grows): no need to ask again.
        self._full_through = -1

    def __repr__(self) -> str:
        return f"BudgetGate(site={self.site!r}, rate_class={self.rate_class!r}, limit={self.limit})"

    def permit(self, *, earliest: int, latest: int) -> int | None:
        """Take one call of a slot in ``[earliest, latest]``; return that slot, or None if all are full.

        A lease of an earlier slot than ``earliest`` has expired: its calls are dropped, never spent late.
        """
        with self._lock:
            if earliest <= self._slot <= latest and self._left > 0:
                self._left -= 1
                return self._slot
            for slot in range(max(earliest, self._full_through + 1), latest + 1):
                capacity = self.plan.capacity(self.limit, slot)
                got = 0
                if capacity > 0:
                    wanted = min(self._batch, capacity)
                    got = self._budget.take(self.site, self.rate_class, slot, wanted, capacity)
                if got > 0:
                    self._slot, self._left = slot, got - 1
                    return slot
                self._full_through = max(self._full_through, slot)
            return None


class SharedPacing:
    """Admit one call at a time through the gates of its class and of every call (``"*"``), if any.

    :param budget: the shared budget.
    :param plan: the slot arithmetic.
    :param sleep: how to wait (tests pass a fake).
    """

    def __init__(
        self, budget: SharedBudget, plan: SlotPlan, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.budget = budget
        self.plan = plan
        self._sleep = sleep

    def acquire(self, gate: BudgetGate, total: BudgetGate | None) -> float:
        """Block until a call of ``gate``'s class (and of ``total``) may be sent; return the seconds waited.

        The call's class lease and its overall lease must be of the same slot: when the overall budget of
        the class's slot is spent, the class call is dropped (it expires unused, never sent late) and the
        next slot is tried.
        """
        waited = 0.0
        while True:
            now = self.budget.now()
            current = self.plan.slot_of(now)
            slot = gate.permit(earliest=current, latest=current + LOOKAHEAD_SLOTS)
            if slot is not None and (total is None or total.permit(earliest=slot, latest=slot) is not None):
                delay = self.plan.start_of(slot) - self.budget.now()
                if delay > 0:
                    self._sleep(delay)
                    waited += delay
                return waited
            # Every slot in reach is full: wait for the next one to begin, then look again.
            delay = max(self.plan.start_of(current + 1) - self.budget.now(), self.plan.slot_seconds / 10)
            self._sleep(delay)
            waited += delay

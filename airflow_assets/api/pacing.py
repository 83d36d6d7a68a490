"""Client-side pacing: one evenly spaced token bucket per site and endpoint class, shared by the process."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from airflow_assets.exceptions import AssetsConfigError

log = logging.getLogger(__name__)

# Per API key and minute, from the Assets OpenAPI description; every other endpoint: 1000/min each.
DEFAULT_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "POST object/aql": 1000,
        "POST object/aql/totalcount": 500,
        "GET object/{id}": 2000,
        "POST object/create": 2000,
        "GET objectconnectedtickets/{id}/tickets": 2000,
        "GET objecttype/{id}/attributes": 2000,
    }
)
TOTAL_CLASS = "*"


@dataclass(frozen=True)
class RateLimits:
    """Per-endpoint request budgets over a sliding window (defaults: Atlassian's documented figures).

    :param limits: requests per window by rate class (``"POST object/aql"``, ``"GET object/{id}"``, ...).
    :param default_limit: requests per window of every class not in ``limits``.
    :param total_limit: requests per window over all classes together (None: no overall cap).
    :param window_seconds: the sliding window the limits apply to.
    :param target_fraction: aim at this fraction of each limit. The shared budget already allows for clock
        skew and the slots at a window's edges, so 2 % is left for what neither counts (a connection whose
        API token other clients share lowers its ``rate_limit_scale`` instead).
    :param enabled: pace at all (a 429 still pauses its class when off).
    """

    limits: Mapping[str, int] = field(default_factory=lambda: DEFAULT_LIMITS)
    default_limit: int = 1000
    total_limit: int | None = 10_000
    window_seconds: float = 60.0
    target_fraction: float = 0.98
    enabled: bool = True

    def __post_init__(self) -> None:
        for rate_class, limit in self.limits.items():
            _check_limit(f"limits[{rate_class!r}]", limit)
        _check_limit("default_limit", self.default_limit)
        if self.total_limit is not None:
            _check_limit("total_limit", self.total_limit)
        if not _positive(self.window_seconds):
            raise AssetsConfigError(f"limits.window_seconds must be > 0, got {self.window_seconds!r}")
        if not _positive(self.target_fraction) or self.target_fraction > 1:
            raise AssetsConfigError(f"limits.target_fraction must be in (0, 1], got {self.target_fraction!r}")
        # A private copy, so changing the caller's dict later cannot change this policy. A plain dict (not a
        # mapping proxy) keeps the policy deep-copyable, as Airflow does with operator arguments.
        object.__setattr__(self, "limits", dict(self.limits))

    def limit_for(self, rate_class: str) -> int:
        """Return the requests per window allowed for ``rate_class``."""
        if rate_class == TOTAL_CLASS and self.total_limit is not None:
            return self.total_limit
        return self.limits.get(rate_class, self.default_limit)

    def spacing(self, rate_class: str, budget_share: float) -> tuple[float, int]:
        """Return (seconds between requests, burst size) for this class and share of its budget.

        A bucket refilling ``r`` per second with ``b`` tokens admits at most ``b + r * W`` requests in any
        window ``W``; ``r`` is the target fraction of the share and ``b`` half of the remaining headroom, so
        the other half absorbs scheduling jitter and nothing ever reaches the limit.
        """
        if not self.enabled:
            return 0.0, 1
        allowed = self.limit_for(rate_class) * budget_share
        per_window = allowed * self.target_fraction
        burst = max(1, math.floor(allowed * (1 - self.target_fraction) / 2))
        return self.window_seconds / per_window, burst


class Pacer:
    """An evenly spaced token bucket (GCRA) that threads reserve slots from, pausable after a 429.

    :param interval: seconds between two requests at the steady rate.
    :param burst: requests that may go back to back after an idle period.
    """

    def __init__(
        self,
        *,
        interval: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.interval = interval
        self.burst = burst
        # Theoretical arrival time of the next request at the steady rate.
        self._tat = clock()
        self._paused_until = 0.0
        self._pause_epoch = 0

    def __repr__(self) -> str:
        return f"Pacer(interval={self.interval:.4f}, burst={self.burst})"

    def acquire(self) -> float:
        """Block until this thread may send one request; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                tolerance = (self.burst - 1) * self.interval
                slot = max(now, self._paused_until, self._tat - tolerance)
                self._tat = max(self._tat, slot) + self.interval
                epoch = self._pause_epoch
            if slot > now:
                self._sleep(slot - now)
                waited += slot - now
            with self._lock:
                # A pause announced while we slept covers us too, unless our slot is already past it.
                if self._pause_epoch == epoch or slot >= self._paused_until:
                    return waited

    def pause(self, seconds: float) -> None:
        """Hold every request of this class for ``seconds`` (the server said it is over its limit)."""
        with self._lock:
            until = self._clock() + seconds
            if until > self._paused_until:
                self._paused_until = until
                self._pause_epoch += 1
                self._tat = max(self._tat, until)

    def tighten(self, interval: float, burst: int) -> None:
        """Adopt a stricter pace if the given one is stricter (another client of the site asked for less)."""
        with self._lock:
            self.interval = max(self.interval, interval)
            self.burst = min(self.burst, burst)


class PacerRegistry:
    """The pacers of one process, keyed by site and rate class, so every client of a site shares them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pacers: dict[tuple[str, str], Pacer] = {}

    def pacer(self, site: str, rate_class: str, *, interval: float, burst: int) -> Pacer:
        """Return the shared pacer of ``rate_class`` on ``site``, created on first use.

        Clients of one site that ask for different paces share the strictest of them: the process never
        sends more than any of its clients was allowed.
        """
        with self._lock:
            pacer = self._pacers.get((site, rate_class))
            if pacer is None:
                pacer = self._pacers[(site, rate_class)] = Pacer(interval=interval, burst=burst)
            elif interval > pacer.interval or burst < pacer.burst:
                log.info("pacing of %s on %s tightened to one request per %.3f s", rate_class, site, interval)
                pacer.tighten(interval, burst)
            return pacer


DEFAULT_REGISTRY = PacerRegistry()


def _check_limit(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AssetsConfigError(f"limits.{name} must be an integer >= 1, got {value!r}")


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )

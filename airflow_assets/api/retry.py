"""The client's one retry policy: what is retried, how long to wait, and how Retry-After is read."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from airflow_assets.exceptions import AssetsConfigError, JiraAssetsError


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client retries (defaults follow Atlassian's advice).

    429 and 503 are always retried, waiting for ``Retry-After`` when the server sends it; other 5xx,
    connection failures, timeouts and unreadable answers are retried for idempotent calls only.

    :param max_attempts: attempts per call, the first included (1 disables retries).
    :param initial_wait: backoff before the second attempt, in seconds.
    :param max_wait: ceiling of one backoff wait, in seconds.
    :param multiplier: growth of the backoff per attempt.
    :param jitter: the backoff is multiplied by a random factor in this range.
    :param max_retry_after: ceiling for a server-sent ``Retry-After`` / ``X-RateLimit-Reset``, in seconds
        (absurd values have stalled public clients for hours).
    """

    max_attempts: int = 5
    initial_wait: float = 5.0
    max_wait: float = 30.0
    multiplier: float = 2.0
    jitter: tuple[float, float] = (0.7, 1.3)
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise AssetsConfigError(f"retry.max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        for name in ("initial_wait", "max_wait", "max_retry_after"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise AssetsConfigError(f"retry.{name} must be a number of seconds >= 0, got {value!r}")
        if not _is_number(self.multiplier) or self.multiplier < 1:
            raise AssetsConfigError(f"retry.multiplier must be >= 1, got {self.multiplier!r}")
        low, high = self.jitter
        if not (_is_number(low) and _is_number(high) and 0 < low <= high):
            raise AssetsConfigError(
                f"retry.jitter must be (low, high) with 0 < low <= high, got {self.jitter!r}"
            )

    def backoff(self, attempt: int) -> float:
        """Return the jittered exponential wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_wait, self.initial_wait * self.multiplier ** max(0, attempt - 1))
        return min(self.max_wait, base * random.uniform(*self.jitter))

    def server_wait(self, headers: Mapping[str, str], *, now: float | None = None) -> float | None:
        """Return the capped wait the server asked for, or None when it did not say (or said nonsense)."""
        wait = parse_retry_after(headers.get("Retry-After"), now=now)
        if wait is None:
            wait = parse_retry_after(headers.get("Beta-Retry-After"), now=now)
        if wait is None:
            wait = parse_reset_time(headers.get("X-RateLimit-Reset"), now=now)
            if wait is not None and wait > 0:
                # The reset instant has minute precision and our clock may lag the server's.
                wait += RESET_TIME_MARGIN
        # "Retry now" (0, a past date, a past reset) is no hint: backing off keeps every attempt from
        # being spent within milliseconds.
        return None if wait is None or wait <= 0 else min(wait, self.max_retry_after)


RESET_TIME_MARGIN = 1.0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` value: integer (or decimal) seconds, or an HTTP date; None when unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_reset_time(value: str | None, *, now: float | None = None) -> float | None:
    """Read ``X-RateLimit-Reset`` (an ISO 8601 instant such as ``2026-03-26T16:00Z``) as seconds from now."""
    if not value or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryableFailure(Exception):
    """An attempt failed in a way the policy retries; carries the error to raise if retries run out.

    :param error: the typed error describing this attempt's failure.
    :param server_wait: seconds the server asked to wait (429/503 with ``Retry-After``), if any.
    :param refused: the server refused the request without processing it (429/503), so the class is paused.
    :param ambiguous: the request may have been processed (e.g. the answer was lost).
    """

    def __init__(
        self,
        error: JiraAssetsError,
        *,
        server_wait: float | None = None,
        refused: bool = False,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.server_wait = server_wait
        self.refused = refused
        self.ambiguous = ambiguous


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

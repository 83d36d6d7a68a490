"""Log the progress of a long step: ``done / total``, rate and ETA, at most every so many seconds."""

from __future__ import annotations

import logging
import time


class ProgressLog:
    """Log ``done / total``, rate and ETA at most every ``interval`` seconds.

    :param log: where to log.
    :param what: what is counted ("objects", "history calls"...).
    :param total: how many are expected (None when unknown).
    :param interval: seconds between lines.
    """

    def __init__(self, log: logging.Logger, what: str, total: int | None, *, interval: float = 15.0) -> None:
        self.log = log
        self.what = what
        self.total = total
        self.interval = interval
        self.done = 0
        self._started = time.monotonic()
        self._last = self._started

    def add(self, count: int = 1) -> None:
        """Count ``count`` more done; log when the interval has passed."""
        self.done += count
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.log.info("%s", self.line())

    def line(self) -> str:
        """Return the progress as one line."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self.done / elapsed * 60
        if self.total:
            left = max(self.total - self.done, 0)
            eta = f", ETA {_duration(left / rate * 60)}" if rate > 0 else ""
            share = f" ({self.done / self.total:.0%})"
            return f"{self.what}: {self.done}/{self.total}{share}, {rate:,.0f}/min{eta}"
        return f"{self.what}: {self.done}, {rate:,.0f}/min"

    @property
    def elapsed(self) -> float:
        """Return seconds since the start."""
        return time.monotonic() - self._started


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"

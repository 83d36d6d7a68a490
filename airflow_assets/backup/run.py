"""What a backup step knows of the Airflow run it belongs to, and the rule for runs of past dates."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import pendulum
from croniter import croniter

from airflow_assets.exceptions import JiraAssetsError

BACKFILL = "backfill"


class PastRunSkipped(JiraAssetsError):
    """A run of a past date that takes no real snapshot: its snapshot is reconstructed instead."""


@dataclass(frozen=True)
class BackupRun:
    """The DAG run a backup step belongs to (plain values: no Airflow import here).

    :param dag_id: the DAG.
    :param run_id: the DAG run id (part of the snapshot id).
    :param run_type: Airflow's run type (``scheduled``, ``manual``, ``backfill``...).
    :param logical_date: the run's logical date.
    :param data_interval_start: start of the run's data interval.
    :param data_interval_end: end of the run's data interval.
    :param started_at: when the run's first step started.
    """

    dag_id: str
    run_id: str
    run_type: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    started_at: datetime

    def manifest_fields(self) -> dict[str, Any]:
        """Return what a snapshot manifest records of its run."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "run_type": self.run_type,
            "logical_date": self.logical_date,
            "data_interval_start": self.data_interval_start,
            "data_interval_end": self.data_interval_end,
            "started_at": self.started_at,
        }

    @property
    def moment(self) -> datetime | None:
        """Return the moment the run stands for: the end of its data interval (UTC), if it has one."""
        end = self.data_interval_end or self.logical_date
        return end.astimezone(UTC) if end is not None else None

    def past_moment(self, *, schedule: str, timezone: str, now: datetime | None = None) -> datetime | None:
        """Return the moment a run of a past date stands for, or None for a run of the present.

        A backfill run, or any run whose data interval ended more than one schedule period ago, is of a
        past date: its snapshot must hold the schema as it was at the end of its data interval (with a
        ``CronTriggerTimetable``, its logical date), which a backfill reconstructs from history.
        """
        moment = self.moment
        if moment is None:
            return None
        current = now or datetime.now(UTC)
        if moment >= current:
            return None
        if self.run_type == BACKFILL:
            return moment
        following = croniter(schedule, moment.astimezone(_zone(timezone))).get_next(datetime)
        return moment if following < current else None


def _zone(name: str) -> tzinfo:
    return pendulum.timezone(name)


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

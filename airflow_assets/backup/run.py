"""What a backup step knows of the Airflow run it belongs to, and the rule for runs of past dates."""

from __future__ import annotations

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

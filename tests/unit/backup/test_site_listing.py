"""A site of every schema backs up the present: a late scheduled run is moved to now, a backfill refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_assets.backup.run import BackupRun
from airflow_assets.backup.site_listing import list_site_schemas, of_the_present
from airflow_assets.exceptions import AssetsConfigError

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _run(run_type: str, end: datetime) -> BackupRun:
    return BackupRun("jira_assets_backup_prod", f"{run_type}__x", run_type, end, end, end, NOW)


def test_a_scheduled_run_started_two_days_late_backs_up_now_under_its_own_ids() -> None:
    late = _run("scheduled", NOW - timedelta(days=2))

    present = of_the_present(late, schedule="0 2 * * *", timezone="UTC", now=NOW)

    assert (present.dag_id, present.run_id, present.run_type) == (late.dag_id, late.run_id, "scheduled")
    assert present.moment == NOW
    assert present.past_moment(schedule="0 2 * * *", timezone="UTC", now=NOW) is None


def test_a_run_on_time_is_kept_as_it_is() -> None:
    on_time = _run("scheduled", NOW - timedelta(minutes=3))

    assert of_the_present(on_time, schedule="*/15 * * * *", timezone="UTC", now=NOW) is on_time


class _Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was used: a backfill must be refused before any call")


def test_a_backfill_of_a_site_of_every_schema_is_refused_before_any_call() -> None:
    with pytest.raises(AssetsConfigError, match="list it by name in a site of its own"):
        list_site_schemas(
            _Untouchable(),  # type: ignore[arg-type]
            _Untouchable(),  # type: ignore[arg-type]
            site="prod",
            run=_run("backfill", NOW - timedelta(days=3)),
        )

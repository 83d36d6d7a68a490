"""Runs for past dates are refused before anything is written: a backup only knows the schema as it is now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_assets.backup.run import BackupRun, PastRunSkipped

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _run(run_type: str, end: datetime | None) -> BackupRun:
    return BackupRun("dag", f"{run_type}__x", run_type, end, end, end, NOW)


def test_a_backfill_run_is_skipped_whatever_its_date() -> None:
    with pytest.raises(PastRunSkipped, match="backfill"):
        _run("backfill", NOW).check_not_past(schedule="0 2 * * *", timezone="UTC", now=NOW)


@pytest.mark.parametrize(
    ("end", "skipped"),
    [
        (NOW, False),  # a manual run now
        (None, False),  # a manual run without a logical date
        (datetime(2026, 11, 30, 2, 0, tzinfo=UTC), False),  # today's 02:00 run, started late at 09:00
        (datetime(2026, 11, 29, 2, 0, tzinfo=UTC), True),  # yesterday's: the 30th's run was due since
        (NOW - timedelta(days=3), True),
    ],
)
def test_a_run_more_than_one_period_late_is_skipped(end: datetime | None, skipped: bool) -> None:
    run = _run("scheduled", end)
    if skipped:
        with pytest.raises(PastRunSkipped, match="more than one schedule period"):
            run.check_not_past(schedule="0 2 * * *", timezone="UTC", now=NOW)
    else:
        run.check_not_past(schedule="0 2 * * *", timezone="UTC", now=NOW)


def test_the_schedule_is_read_in_its_time_zone() -> None:
    # 02:00 in Berlin is 01:00 UTC in winter: yesterday's 01:00 UTC run is late once today's has passed.
    run = _run("scheduled", datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    with pytest.raises(PastRunSkipped):
        run.check_not_past(schedule="0 2 * * *", timezone="Europe/Berlin", now=NOW)
    run.check_not_past(
        schedule="0 2 * * *", timezone="Europe/Berlin", now=datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    )

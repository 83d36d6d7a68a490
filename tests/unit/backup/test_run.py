"""Which runs stand for a past moment (their snapshot is reconstructed) and which back up the present."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_assets.backup.run import BackupRun

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _run(run_type: str, end: datetime | None) -> BackupRun:
    return BackupRun("dag", f"{run_type}__x", run_type, end, end, end, NOW)


def test_a_backfill_run_stands_for_the_end_of_its_data_interval() -> None:
    yesterday = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert _run("backfill", yesterday).past_moment(schedule="0 2 * * *", timezone="UTC", now=NOW) == yesterday
    # Even a backfill run of an hour ago: it asked for that moment, not for now.
    hour_ago = NOW - timedelta(hours=1)
    assert _run("backfill", hour_ago).past_moment(schedule="0 2 * * *", timezone="UTC", now=NOW) == hour_ago


@pytest.mark.parametrize(
    ("end", "past"),
    [
        (NOW, False),  # a manual run now
        (None, False),  # a manual run without a logical date
        (datetime(2026, 11, 30, 2, 0, tzinfo=UTC), False),  # today's 02:00 run, started late at 09:00
        (datetime(2026, 11, 29, 2, 0, tzinfo=UTC), True),  # yesterday's: the 30th's run was due since
        (NOW - timedelta(days=3), True),
    ],
)
def test_a_run_more_than_one_period_late_stands_for_its_date(end: datetime | None, past: bool) -> None:
    moment = _run("scheduled", end).past_moment(schedule="0 2 * * *", timezone="UTC", now=NOW)
    assert moment == (end if past else None)


def test_the_schedule_is_read_in_its_time_zone() -> None:
    # 02:00 in Berlin is 01:00 UTC in winter: yesterday's 01:00 UTC run is late once today's has passed.
    run = _run("scheduled", datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    assert run.past_moment(schedule="0 2 * * *", timezone="Europe/Berlin", now=NOW) is not None
    later_that_night = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    assert run.past_moment(schedule="0 2 * * *", timezone="Europe/Berlin", now=later_that_night) is None

"""Retention selection: restic's keep-last/daily/weekly/monthly rules over hand-made snapshot dates."""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_assets.config.storage import RetentionPolicy
from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.store.retention import (
    RetentionDecision,
    RetentionPolicyError,
    SnapshotRef,
    check_policy,
    select,
)


def refs(*moments: datetime) -> list[SnapshotRef]:
    """Snapshots taken at ``moments`` (oldest first), with ids ``s1``, ``s2``... and matching seqs."""
    return [SnapshotRef(f"s{seq}", moment, seq) for seq, moment in enumerate(moments, start=1)]


def day(year: int, month: int, dom: int, hour: int = 2, minute: int = 0) -> datetime:
    return datetime(year, month, dom, hour, minute, tzinfo=UTC)


def kept(decision: RetentionDecision) -> dict[str, tuple[str, ...]]:
    return {entry.snapshot_id: entry.rules for entry in decision.keep}


def test_an_empty_policy_is_refused_because_it_would_forget_everything() -> None:
    with pytest.raises(RetentionPolicyError, match="forget every snapshot") as raised:
        select(refs(day(2024, 1, 1)), RetentionPolicy())

    assert isinstance(raised.value, AssetsConfigError)
    assert isinstance(raised.value, ValueError)
    assert str(pickle.loads(pickle.dumps(raised.value))) == str(raised.value)
    # Refused before looking at any snapshot: an empty store is no excuse.
    with pytest.raises(RetentionPolicyError):
        select([], RetentionPolicy())


def test_a_negative_count_is_refused_naming_the_rule() -> None:
    @dataclass(frozen=True)
    class Counts:
        keep_last: int = 0
        keep_daily: int = 0
        keep_weekly: int = -1
        keep_monthly: int = 3

    with pytest.raises(RetentionPolicyError, match="keep_weekly must be 0 or more, got -1"):
        check_policy(Counts())


def test_keep_last_keeps_the_newest_n_whatever_their_dates() -> None:
    snapshots = refs(
        day(2024, 1, 1), day(2024, 1, 1, 3), day(2024, 1, 1, 4), day(2024, 3, 9), day(2024, 3, 9, 5)
    )

    decision = select(snapshots, RetentionPolicy(keep_last=3))

    assert kept(decision) == {"s5": ("last",), "s4": ("last",), "s3": ("last",)}
    assert decision.forgotten_ids == ("s2", "s1")


def test_keep_daily_keeps_the_newest_of_each_day_that_has_snapshots_skipping_gaps() -> None:
    snapshots = refs(
        day(2024, 5, 1, 2),
        day(2024, 5, 1, 14),  # newest of May 1
        day(2024, 5, 2, 2),  # only one on May 2
        # no snapshots from May 3 to May 8: the gap costs no daily slot
        day(2024, 5, 9, 2),
        day(2024, 5, 9, 8),
        day(2024, 5, 9, 23, 59),  # newest of May 9
        day(2024, 5, 12, 0, 0),  # only one on May 12
    )

    decision = select(snapshots, RetentionPolicy(keep_daily=3))

    assert kept(decision) == {"s7": ("daily",), "s6": ("daily",), "s3": ("daily",)}
    assert decision.forgotten_ids == ("s5", "s4", "s2", "s1")


def test_keep_daily_counts_days_in_utc() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    snapshots = [
        SnapshotRef("late-june-3", datetime(2024, 6, 3, 22, 0, tzinfo=UTC), 1),
        # 00:30 on June 4 in Berlin is 22:30 on June 3 in UTC: the same day as the one before.
        SnapshotRef("berlin-june-4", datetime(2024, 6, 4, 0, 30, tzinfo=berlin_summer), 2),
        # Naive datetimes (pymongo's default) are UTC.
        SnapshotRef("naive-june-4", datetime(2024, 6, 4, 1, 0), 3),
    ]

    decision = select(snapshots, RetentionPolicy(keep_daily=5))

    assert kept(decision) == {"naive-june-4": ("daily",), "berlin-june-4": ("daily",)}
    assert decision.forgotten_ids == ("late-june-3",)


def test_keep_weekly_uses_iso_weeks_monday_to_sunday() -> None:
    snapshots = refs(
        day(2024, 3, 4),  # Monday, 2024-W10
        day(2024, 3, 10, 23, 59),  # Sunday, 2024-W10: newest of that week
        day(2024, 3, 11, 0, 0),  # Monday, 2024-W11
        day(2024, 3, 13),  # Wednesday, 2024-W11: newest of that week
        # nothing in W12 and W13
        day(2024, 3, 31),  # Sunday, 2024-W13
    )

    decision = select(snapshots, RetentionPolicy(keep_weekly=3))

    assert kept(decision) == {"s5": ("weekly",), "s4": ("weekly",), "s2": ("weekly",)}
    assert decision.forgotten_ids == ("s3", "s1")


def test_iso_weeks_cross_the_year_boundary() -> None:
    snapshots = refs(
        day(2020, 12, 28),  # Monday, 2020-W53
        day(2021, 1, 3),  # Sunday, still 2020-W53
        day(2024, 12, 29),  # Sunday, 2024-W52
        day(2024, 12, 30),  # Monday, already 2025-W01
        day(2025, 1, 2),  # Thursday, 2025-W01
    )

    weekly = select(snapshots, RetentionPolicy(keep_weekly=10))
    monthly = select(snapshots, RetentionPolicy(keep_monthly=10))

    # 2024-12-30 and 2025-01-02 share ISO week 2025-W01; 2020-12-28 and 2021-01-03 share 2020-W53.
    assert kept(weekly) == {"s5": ("weekly",), "s3": ("weekly",), "s2": ("weekly",)}
    # By calendar month they part: December 2024 and January 2025, December 2020 and January 2021.
    assert kept(monthly) == {"s5": ("monthly",), "s4": ("monthly",), "s2": ("monthly",), "s1": ("monthly",)}


def test_keep_monthly_keeps_the_newest_of_each_month_with_snapshots() -> None:
    snapshots = refs(
        day(2023, 11, 15),
        day(2024, 1, 1, 0, 0),
        day(2024, 1, 31, 23, 59),  # newest of January
        day(2024, 2, 1, 0, 0),  # February, one minute later
        day(2024, 2, 29),  # leap day: newest of February
        day(2024, 4, 2),  # March has no snapshot
    )

    decision = select(snapshots, RetentionPolicy(keep_monthly=3))

    assert kept(decision) == {"s6": ("monthly",), "s5": ("monthly",), "s3": ("monthly",)}
    assert decision.forgotten_ids == ("s4", "s2", "s1")


def test_rules_are_or_combined_and_each_kept_snapshot_names_its_rules() -> None:
    # One snapshot a day at 02:00 for 70 days, from Monday 2024-01-01.
    start = day(2024, 1, 1)
    snapshots = refs(*(start + timedelta(days=offset) for offset in range(70)))
    policy = RetentionPolicy(keep_last=2, keep_daily=4, keep_weekly=3, keep_monthly=3)

    decision = select(snapshots, policy)

    # s70 is Sunday 2024-03-10 (week 10); the newest of week 9 is Sunday 2024-03-03 (s63) and of week 8
    # Sunday 2024-02-25 (s56); the newest of February is 2024-02-29 (s60) and of January 2024-01-31 (s31).
    assert kept(decision) == {
        "s70": ("last", "daily", "weekly", "monthly"),
        "s69": ("last", "daily"),
        "s68": ("daily",),
        "s67": ("daily",),
        "s63": ("weekly",),
        "s60": ("monthly",),
        "s56": ("weekly",),
        "s31": ("monthly",),
    }
    assert len(decision.forget) == 70 - 8
    assert set(decision.kept_ids).isdisjoint(decision.forgotten_ids)


def test_the_result_does_not_depend_on_input_order_and_accepts_tuples() -> None:
    moments = [day(2024, 2, 1) + timedelta(hours=7 * offset) for offset in range(40)]
    ordered = refs(*moments)
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    as_tuples = [(ref.snapshot_id, ref.started_at, ref.seq) for ref in shuffled]
    policy = RetentionPolicy(keep_last=3, keep_daily=5, keep_weekly=2)

    assert select(shuffled, policy) == select(ordered, policy) == select(as_tuples, policy)


def test_equal_start_times_are_ordered_by_sequence_number() -> None:
    same = day(2024, 7, 1)
    snapshots = [SnapshotRef("later-seq", same, 8), SnapshotRef("earlier-seq", same, 7)]

    decision = select(snapshots, RetentionPolicy(keep_last=1))

    assert decision.kept_ids == ("later-seq",)
    assert decision.forgotten_ids == ("earlier-seq",)


def test_fewer_snapshots_than_slots_keeps_them_all_and_nothing_keeps_nothing() -> None:
    snapshots = refs(day(2024, 1, 1), day(2024, 1, 2))

    assert select(snapshots, RetentionPolicy(keep_daily=30)).forgotten_ids == ()
    assert select([], RetentionPolicy(keep_last=1)) == RetentionDecision(keep=(), forget=())


def test_the_decision_is_immutable() -> None:
    decision = select(refs(day(2024, 1, 1)), RetentionPolicy(keep_last=1))

    with pytest.raises(AttributeError):
        decision.keep = ()  # type: ignore[misc]

"""Which snapshots a retention policy keeps: restic's ``forget`` rules, as a pure function (no database).

The rules are ``keep_last`` (the N newest snapshots), ``keep_daily``, ``keep_weekly`` and ``keep_monthly``
(the newest snapshot of each of the N most recent days, ISO weeks or calendar months *that have
snapshots*; a gap of a week costs no daily slot). They are OR-combined: a snapshot is kept when any rule
keeps it, and each kept snapshot says which rules keep it. Days, weeks and months are counted in UTC.
A policy that keeps nothing is refused: it would forget every snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from airflow_assets.exceptions import AssetsConfigError

LAST = "last"
DAILY = "daily"
WEEKLY = "weekly"
MONTHLY = "monthly"
# The rule names in the order a report lists them.
RULES = (LAST, DAILY, WEEKLY, MONTHLY)


class RetentionPolicyError(AssetsConfigError):
    """The retention policy cannot be applied (it keeps nothing, or a count is negative)."""


class RetentionRules(Protocol):
    """The counts of a retention policy (:class:`airflow_assets.config.storage.RetentionPolicy` has them)."""

    @property
    def keep_last(self) -> int: ...

    @property
    def keep_daily(self) -> int: ...

    @property
    def keep_weekly(self) -> int: ...

    @property
    def keep_monthly(self) -> int: ...


@dataclass(frozen=True)
class SnapshotRef:
    """One complete snapshot as the policy sees it.

    :param snapshot_id: the manifest's id.
    :param started_at: when its run started (naive values are taken as UTC, as pymongo returns them).
    :param seq: its sequence number in the schema (breaks ties between equal start times).
    """

    snapshot_id: str
    started_at: datetime
    seq: int


@dataclass(frozen=True)
class KeptSnapshot:
    """A snapshot the policy keeps, and the rules that keep it (``last``, ``daily``, ``weekly``, ``monthly``).

    :param snapshot: the snapshot.
    :param rules: every rule that keeps it, in :data:`RULES` order.
    """

    snapshot: SnapshotRef
    rules: tuple[str, ...]

    @property
    def snapshot_id(self) -> str:
        """Return the kept snapshot's id."""
        return self.snapshot.snapshot_id


@dataclass(frozen=True)
class RetentionDecision:
    """What a policy does to one schema's snapshots; both lists newest first.

    :param keep: the snapshots kept, each with its rules.
    :param forget: the snapshots no rule keeps.
    """

    keep: tuple[KeptSnapshot, ...]
    forget: tuple[SnapshotRef, ...]

    @property
    def kept_ids(self) -> tuple[str, ...]:
        """Return the ids of the kept snapshots, newest first."""
        return tuple(kept.snapshot_id for kept in self.keep)

    @property
    def forgotten_ids(self) -> tuple[str, ...]:
        """Return the ids of the forgotten snapshots, newest first."""
        return tuple(snapshot.snapshot_id for snapshot in self.forget)


def check_policy(policy: RetentionRules) -> None:
    """Refuse a policy that keeps nothing or has a negative count.

    :param policy: the retention policy.
    :raises RetentionPolicyError: saying which count is wrong, or that the policy would forget everything.
    """
    for rule in RULES:
        count = _count(policy, rule)
        if count < 0:
            raise RetentionPolicyError(f"retention keep_{rule} must be 0 or more, got {count}")
    if not any(_count(policy, rule) for rule in RULES):
        raise RetentionPolicyError(
            "the retention policy keeps nothing (keep_last, keep_daily, keep_weekly and keep_monthly are all "
            "0): it would forget every snapshot; set at least one of them, e.g. keep_daily: 7"
        )


def utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; a naive value is taken to be UTC already (pymongo's default)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _day(moment: datetime) -> Hashable:
    return moment.date()


def _iso_week(moment: datetime) -> Hashable:
    year, week, _ = moment.isocalendar()
    return (year, week)


def _month(moment: datetime) -> Hashable:
    return (moment.year, moment.month)


_BUCKETS: dict[str, Callable[[datetime], Hashable]] = {DAILY: _day, WEEKLY: _iso_week, MONTHLY: _month}


def select(
    snapshots: Iterable[SnapshotRef | tuple[str, datetime, int]], policy: RetentionRules
) -> RetentionDecision:
    """Decide which snapshots ``policy`` keeps.

    :param snapshots: one schema's complete snapshots, as :class:`SnapshotRef` or
        ``(snapshot_id, started_at, seq)`` tuples, in any order.
    :param policy: the retention policy.
    :raises RetentionPolicyError: the policy keeps nothing.
    """
    check_policy(policy)
    refs = [item if isinstance(item, SnapshotRef) else SnapshotRef(*item) for item in snapshots]
    newest_first = sorted(refs, key=lambda ref: (utc(ref.started_at), ref.seq), reverse=True)
    left = {rule: _count(policy, rule) for rule in RULES}
    last_bucket: dict[str, Hashable] = {}
    keep: list[KeptSnapshot] = []
    forget: list[SnapshotRef] = []
    for ref in newest_first:
        moment = utc(ref.started_at)
        rules: list[str] = []
        for rule in RULES:
            if left[rule] <= 0:
                continue
            # keep_last: every snapshot is its own bucket. The others: the newest of each period.
            bucket: Hashable = (ref.seq, ref.snapshot_id) if rule == LAST else _BUCKETS[rule](moment)
            if rule in last_bucket and last_bucket[rule] == bucket:
                continue
            last_bucket[rule] = bucket
            left[rule] -= 1
            rules.append(rule)
        if rules:
            keep.append(KeptSnapshot(ref, tuple(rules)))
        else:
            forget.append(ref)
    return RetentionDecision(keep=tuple(keep), forget=tuple(forget))


def _count(policy: RetentionRules, rule: str) -> int:
    return int(getattr(policy, f"keep_{rule}"))

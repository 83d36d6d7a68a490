"""Check the snapshots a restore reads before it writes anything: sound, counted right, authenticated.

The plan step runs the check of ``snapshots verify`` (:mod:`airflow_assets.store.check`) on each source
snapshot: every version exists and hashes to its name, the manifest's counts match what the snapshot
holds, and its root digest matches. A damaged snapshot is refused by default, with its problems named;
with ``accept_damaged`` the restore goes on with what is sound, every read leaves the damaged items out
(:meth:`~airflow_assets.store.versions.VersionStore.contents`), and the plan and report list them. Either
way, the damaged items are marked so that the next backup of the schema reads them again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pymongo.database import Database

from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.store.check import SnapshotCheck, SnapshotChecker
from airflow_assets.store.repair import damaged_items, mark_for_reread
from airflow_assets.store.snapshots import Snapshot
from airflow_assets.store.versions import DamagedContentError

log = logging.getLogger(__name__)

# Problems quoted in an error or a warning; the rest are counted.
QUOTED = 10


class DamagedSnapshotError(AssetsConfigError):
    """A source snapshot is damaged: the restore is refused before any write (unless ``accept_damaged``)."""


@dataclass
class SourceIntegrity:
    """What the check of each source snapshot found."""

    checks: list[SnapshotCheck] = field(default_factory=list)

    @property
    def damaged(self) -> list[SnapshotCheck]:
        """Return the checks that found problems."""
        return [check for check in self.checks if not check.sound]

    def lines(self) -> list[str]:
        """Return one line per damaged snapshot and the first problems of each."""
        lines = []
        for check in self.damaged:
            count = len(check.problems)
            lines.append(f"snapshot {check.snapshot_id} ({check.schema_key}) is damaged: {count} problems")
            lines.extend(f"  {problem.describe()}" for problem in check.problems[:QUOTED])
            if len(check.problems) > QUOTED:
                lines.append(
                    f"  ... and {len(check.problems) - QUOTED} more (`airflow-assets snapshots verify`)"
                )
        return lines


def check_sources(
    db: Database, snapshots: Sequence[Snapshot], *, key: bytes | None, accept_damaged: bool
) -> SourceIntegrity:
    """Check every source snapshot; refuse damaged ones unless ``accept_damaged``.

    :raises DamagedSnapshotError: a snapshot is damaged and damage is not accepted.
    """
    checker = SnapshotChecker(db, key=key)
    result = SourceIntegrity([checker.check(snapshot) for snapshot in snapshots])
    for check, snapshot in zip(result.checks, snapshots, strict=True):
        if check.sound:
            continue
        damaged = damaged_items([check])
        if damaged and not snapshot.reconstructed:
            marked = mark_for_reread(snapshot.versions(db), damaged).items
            log.warning(
                "%s items of %s are marked to be read again by the next backup", marked, snapshot.schema_key
            )
    if result.damaged and not accept_damaged:
        raise DamagedSnapshotError(
            "the restore is refused before any write: "
            + "; ".join(result.lines()[: QUOTED + 1])
            + ". Restore another snapshot (`airflow-assets snapshots list`), or set accept_damaged: true to "
            "restore what is sound and report the rest"
        )
    return result


class DamageLog:
    """Collects the items a restore with ``accept_damaged`` left out (a read's ``on_damage``)."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def __call__(self, error: DamagedContentError) -> None:
        self.items.setdefault(f"{error.kind} {error.item_id}", error.problem)

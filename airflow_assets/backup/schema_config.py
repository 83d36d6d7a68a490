"""First step of a backup run: find the schema, open the run's snapshot, store the schema's configuration."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.rotation import ROLLING, SWEEP_MODES, SweepSlice, next_slice
from airflow_assets.backup.run import BackupRun, PastRunSkipped
from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.model import normalize as norm
from airflow_assets.store import Item, SchemaLease, SnapshotStore, VersionStore, ensure_indexes
from airflow_assets.store.layout import CONFIG_KINDS
from airflow_assets.store.snapshots import (
    COMPLETE,
    FAILED,
    FULL,
    INCREMENTAL,
    RUN_BACKFILL_BASE,
    RUN_REAL,
    RUNNING,
    Snapshot,
    snapshot_id_for,
)
from airflow_assets.store.versions import CONFIG_GROUP

log = logging.getLogger(__name__)

INCLUDE_KEYS = ("history", "comments", "connected_tickets")


@dataclass(frozen=True)
class BackupTarget:
    """Which schema a backup DAG protects, and how.

    :param site: the config's site name.
    :param schema_key: the schema key as configured (the schema is stored under its id).
    :param include: what besides config and objects is backed up (``history``, ``comments``,
        ``connected_tickets``).
    :param full_sweep_every: N: every object's activity is re-read once every N runs (``sweep``).
    :param schedule: the DAG's cron schedule (runs of past dates are refused by it).
    :param timezone: the schedule's time zone.
    :param sweep: ``rolling`` (each run re-reads 1/N of the objects, in a fixed rotation) or ``full``
        (every Nth run re-reads all of them).
    """

    site: str
    schema_key: str
    include: Mapping[str, bool]
    full_sweep_every: int
    schedule: str
    timezone: str
    sweep: str = ROLLING

    def as_dict(self) -> dict[str, Any]:
        """Return the target as JSON-compatible values (an operator argument)."""
        return {
            "site": self.site,
            "schema_key": self.schema_key,
            "include": {name: bool(self.include.get(name)) for name in INCLUDE_KEYS},
            "full_sweep_every": self.full_sweep_every,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "sweep": self.sweep,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackupTarget:
        """Build from :meth:`as_dict`'s values (other keys, such as a DAG id beside them, are ignored).

        :raises AssetsConfigError: a field is missing or of the wrong type, named.
        """
        try:
            target = cls(
                site=str(data["site"]),
                schema_key=str(data["schema_key"]),
                include={name: bool(dict(data["include"]).get(name)) for name in INCLUDE_KEYS},
                full_sweep_every=int(data["full_sweep_every"]),
                schedule=str(data["schedule"]),
                timezone=str(data["timezone"]),
                # A target serialized before the setting existed sweeps as the default does.
                sweep=str(data.get("sweep") or ROLLING),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise AssetsConfigError(
                f"a backup target needs site, schema_key, include, full_sweep_every, schedule and timezone; "
                f"{dict(data)!r} does not give them ({type(error).__name__}: {error}): re-parse the DAG file"
            ) from None
        if target.sweep not in SWEEP_MODES:
            raise AssetsConfigError(
                f"a backup target's sweep is one of {', '.join(SWEEP_MODES)}, not {target.sweep!r}: "
                "re-parse the DAG file"
            )
        return target


def backup_target_key(site: str, schema_key: str) -> str:
    """Return the name of a schema among the backup targets a restore knows: ``<site>/<schema key>``."""
    return f"{site}/{schema_key}"


@dataclass(frozen=True)
class ConfigSummary:
    """What export_config did (the task's XCom)."""

    snapshot_id: str
    schema_id: str
    schema_key: str
    seq: int
    kind: str
    reason: str
    already_complete: bool
    object_types: int
    attributes: int
    new_versions: int
    removed_object_types: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-compatible values."""
        return asdict(self)


def choose_kind(
    snapshots: SnapshotStore, workspace_id: str, schema_id: str, target: BackupTarget
) -> tuple[str, int | None, str]:
    """Decide whether the next run is a full sweep or incremental; return (kind, base seq, reason)."""
    kind, base_seq, reason, _ = choose_sweep(snapshots, workspace_id, schema_id, target)
    return kind, base_seq, reason


def choose_sweep(
    snapshots: SnapshotStore, workspace_id: str, schema_id: str, target: BackupTarget
) -> tuple[str, int | None, str, SweepSlice | None]:
    """Decide the next run's kind and, for a rolling incremental, the slice it sweeps.

    Return (kind, base seq, reason, slice). The first run, and a run after ``include`` gained a part, are
    full sweeps in either mode. A rolling run sweeps the slice after the one its base (the last complete
    snapshot) swept, so the rotation advances by complete runs only: a failed run's slice is swept again.
    """
    since_full = 0
    base: Snapshot | None = None
    for snapshot in snapshots.complete_before(workspace_id, schema_id, 1 << 62):
        base = base or snapshot
        if snapshot.kind == FULL or target.sweep == ROLLING:
            break  # a rolling run needs only its base (its full sweep may be forgotten by retention)
        since_full += 1
    else:
        if base is None:
            return FULL, None, "first snapshot of this schema", None
        return FULL, base.seq, "no complete full sweep yet", None
    assert base is not None
    newly = [name for name in INCLUDE_KEYS if target.include.get(name) and not base.include.get(name)]
    if newly:
        return FULL, base.seq, f"newly included since the last snapshot: {', '.join(newly)}", None
    if target.sweep == ROLLING:
        swept = next_slice(SweepSlice.from_manifest(base.document), target.full_sweep_every)
        return (
            INCREMENTAL,
            base.seq,
            f"changes since snapshot seq {base.seq}, and rolling sweep slice {swept.label}",
            swept,
        )
    if since_full + 1 >= target.full_sweep_every:
        return FULL, base.seq, f"every {target.full_sweep_every}th run is a full sweep", None
    return INCREMENTAL, base.seq, f"changes since snapshot seq {base.seq}", None


def export_config(
    client: AssetsClient, db: Database, target: BackupTarget, run: BackupRun, *, taken_for: str | None = None
) -> ConfigSummary:
    """Open the run's snapshot and store the schema's configuration into it.

    A run of a past date (:meth:`~airflow_assets.backup.run.BackupRun.past_moment`) takes no real snapshot
    when one taken after that moment exists or is being taken (:class:`PastRunSkipped`: its snapshot is
    reconstructed by the ``reconstruct_past`` step); otherwise it takes one first, now, as the base to
    rewind. A retry finds the manifest the first try created; a run whose snapshot is complete already
    writes nothing.

    :param taken_for: why the run takes the snapshot, kept in its manifest (``taken_for``; e.g. the
        rollback it was taken before). A run of a past date notes that it is the base of backfill runs.
    """
    moment = run.past_moment(schedule=target.schedule, timezone=target.timezone)
    ensure_indexes(db)
    schema = client.object_schema_by_key(target.schema_key)
    workspace_id = client.workspace_id
    schema_id = norm.as_id(schema.get("id"), what=f"the id of schema {target.schema_key}")
    snapshots = SnapshotStore(db)
    snapshot_id = snapshot_id_for(workspace_id, schema_id, run.run_id)
    extra: dict[str, Any] = {"taken_for": taken_for} if taken_for else {}
    if moment is not None:
        snapshot_id, extra = _past_run_base(snapshots, workspace_id, schema_id, run, moment)
    kind, base_seq, reason, swept = choose_sweep(snapshots, workspace_id, schema_id, target)
    if swept is not None:
        # Which objects this run re-reads in full besides the changed ones (backup.rotation).
        extra = {**extra, "sweep_slice": swept.as_dict()}
    snapshot, created = snapshots.begin(
        {
            "_id": snapshot_id,
            "workspace_id": workspace_id,
            "schema_id": schema_id,
            "schema_key": target.schema_key,
            "schema_name": schema.get("name"),
            "site": target.site,
            "site_url": client.site_url,
            **run.manifest_fields(),
            # The moment whose state the snapshot holds (a backfill's snapshots hold earlier ones).
            "state_at": run.started_at,
            # What the run is, decided once above (BackupRun.past_moment); everyone reads this field.
            "run_kind": RUN_REAL if moment is None else RUN_BACKFILL_BASE,
            "kind": kind,
            "kind_reason": reason,
            "base_seq": base_seq,
            "include": {name: bool(target.include.get(name)) for name in INCLUDE_KEYS},
            **extra,
        }
    )
    if snapshot.run_id != run.run_id:
        # Another backfill run of the same day created the base first: that run takes it.
        raise PastRunSkipped(
            f"run {run.run_id} stands for {moment.isoformat() if moment else '?'}: snapshot "
            f"{snapshot.snapshot_id} is being taken by run {snapshot.run_id} as the base to "
            "rewind; reconstruct_past waits for it"
        )
    if not created:
        log.info(
            "snapshot %s exists (seq %s, %s): resuming it",
            snapshot.snapshot_id,
            snapshot.seq,
            snapshot.status,
        )
    if snapshot.status == COMPLETE:
        return _summary(snapshot, already_complete=True, types=0, attributes=0, new_versions=0)
    snapshot = snapshots.for_write(snapshot_id)
    with SchemaLease(db, workspace_id, schema_id, snapshot_id, wait=600) as lease:
        versions = VersionStore(db, workspace_id, schema_id, fence=lease)
        types, attributes, new_versions, removed = _store_config(client, versions, schema, snapshot.seq)
    summary = _summary(
        snapshot, already_complete=False, types=types, attributes=attributes, new_versions=new_versions
    )
    summary = dataclasses.replace(summary, removed_object_types=removed)
    snapshots.record_step(snapshot_id, "export_config", summary.as_dict())
    log.info(
        "schema %s (id %s): snapshot %s seq %s, %s run (%s); %s object types, %s attributes, %s new versions",
        target.schema_key, schema_id, snapshot_id, snapshot.seq, snapshot.kind,
        snapshot.kind_reason, types, attributes, new_versions,
    )  # fmt: skip
    return summary


def _past_run_base(
    snapshots: SnapshotStore, workspace_id: str, schema_id: str, run: BackupRun, moment: datetime
) -> tuple[str, dict[str, Any]]:
    """Decide what a run of a past date writes: nothing when a later snapshot exists, else today's base.

    :raises PastRunSkipped: a real snapshot taken at or after the moment exists or is being taken.
    """
    for later in snapshots.real_after(workspace_id, schema_id, moment):
        if later.status in (COMPLETE, RUNNING) and later.run_id != run.run_id:
            raise PastRunSkipped(
                f"run {run.run_id} stands for {moment.isoformat()}: its snapshot is reconstructed from "
                f"{later.snapshot_id} (taken {later.started_at}) by reconstruct_past; "
                "no real snapshot is taken"
            )
    # One base per schema and day, whichever backfill run gets there first: parallel runs share it.
    day = run.started_at.astimezone(UTC).date().isoformat()
    note = {"taken_for": f"the base of backfill runs (first: {run.run_id}, for {moment.isoformat()})"}
    shared = snapshot_id_for(workspace_id, schema_id, f"backfill-base-{day}")
    existing = snapshots.get(shared)
    if existing is not None and existing.status == FAILED and existing.run_id != run.run_id:
        # The day's shared base failed in another run: this run takes its own.
        return snapshot_id_for(workspace_id, schema_id, run.run_id), note
    return shared, note


def _summary(
    snapshot: Snapshot, *, already_complete: bool, types: int, attributes: int, new_versions: int
) -> ConfigSummary:
    return ConfigSummary(
        snapshot_id=snapshot.snapshot_id,
        schema_id=snapshot.schema_id,
        schema_key=snapshot.schema_key,
        seq=snapshot.seq,
        kind=snapshot.kind,
        reason=snapshot.kind_reason or "",
        already_complete=already_complete,
        object_types=types,
        attributes=attributes,
        new_versions=new_versions,
    )


def _store_config(
    client: AssetsClient, versions: VersionStore, schema: Mapping[str, Any], seq: int
) -> tuple[int, int, int, list[str]]:
    schema_id = str(schema["id"])
    object_types = client.get_object_types(schema_id)
    attributes: dict[str, dict[str, Any]] = {}
    type_ids = [norm.as_id(t.get("id"), what="an object type's id") for t in object_types]
    # Per type, as the UI shows them: inherited attributes come with their owner's type id and are kept once.
    for _, type_attributes in client.map_concurrent(client.get_object_type_attributes, type_ids):
        for raw in type_attributes:
            attribute = norm.normalize_attribute(raw)
            attributes.setdefault(attribute["id"], attribute)
    items: dict[str, Sequence[Item]] = {
        "schema": [Item(schema_id, norm.normalize_config_item(schema, what="the schema"))],
        "schema_properties": [Item(schema_id, norm.strip_volatile(client.get_schema_properties(schema_id)))],
        "object_type": [
            Item(type_id, norm.normalize_object_type(raw))
            for type_id, raw in zip(type_ids, object_types, strict=True)
        ],
        "attribute": [
            Item(attribute_id, attribute, parent_id=attribute.get("objectTypeId"))
            for attribute_id, attribute in attributes.items()
        ],
        "status_type": _config_items(client.get_status_types(object_schema_id=schema_id), "a status type"),
        "reference_type": _config_items(
            client.get_reference_types(object_schema_id=schema_id), "a reference type"
        ),
        "global_status_type": _config_items(client.get_status_types(), "a global status type"),
        "global_reference_type": _config_items(client.get_reference_types(), "a global reference type"),
    }
    new_versions = 0
    removed_types: list[str] = []
    for kind in CONFIG_KINDS:
        kind_items = items[kind]
        new_versions += versions.record(kind, kind_items, seq).new_versions
        gone = versions.close_absent(kind, seq, [CONFIG_GROUP], [item.item_id for item in kind_items])
        if kind == "object_type":
            removed_types = gone
    return len(object_types), len(attributes), new_versions, removed_types


def _config_items(raws: Sequence[Mapping[str, Any]], what: str) -> list[Item]:
    items = []
    for raw in raws:
        data = norm.normalize_config_item(raw, what=what)
        items.append(Item(data["id"], data))
    return items

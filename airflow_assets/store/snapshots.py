"""Snapshot manifests: one document per backup run of one schema, ``running`` until finalize completes it.

A manifest is keyed by (workspace id, schema id, DAG run id) and carries the schema's sequence number:
the versions a snapshot holds are the spans valid at that number (see :mod:`airflow_assets.store.versions`).
Only ``complete`` snapshots are ever offered for restore. A complete manifest is never edited again; a
``failed`` one is reopened only when its run is retried and no newer run of the schema has started.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.store.encryption import Keyring, check_write_mode, keyring_of, seal_fields, unseal_fields
from airflow_assets.store.layout import COUNTERS, SNAPSHOTS
from airflow_assets.store.leases import Fence
from airflow_assets.store.versions import RECONSTRUCTED_LANE, VersionStore

RUNNING = "running"
COMPLETE = "complete"
FAILED = "failed"
# A complete snapshot that `snapshots repair` found damaged: never offered for restore unless the restore
# accepts damage; forgotten like a failed one once a newer sound snapshot exists.
DAMAGED = "damaged"
FULL = "full"
INCREMENTAL = "incremental"
# A snapshot of a past moment, rewound from a later real one by object history (a backfill run).
RECONSTRUCTED = "reconstructed"
# Reconstructed snapshots number their own timeline (their spans live in their own lane of the version
# store) from here: below every real sequence number, so "newest" and "older than" among real snapshots
# never meet one, and still unique per schema.
RECONSTRUCTED_SEQ_BASE = -(2**40)
# What a run is (the manifest's ``run_kind``): a backup of the present; a backup taken now as the base a
# run of a past date rewinds; a past moment rewound from a later real snapshot (a backfill).
RUN_REAL = "real"
RUN_BACKFILL_BASE = "backfill_base"
RUN_RECONSTRUCTION = "reconstruction"
RUN_KINDS = (RUN_REAL, RUN_BACKFILL_BASE, RUN_RECONSTRUCTION)
_REAL = {"$ne": RECONSTRUCTED}
# Manifest fields sealed when the store is encrypted: they quote names, values or messages. The rest are
# ids, numbers, dates, states and the schema key (which snapshots are found by, as the DAG ids name it).
SEALED_FIELDS = ("schema_name", "steps", "warnings", "fidelity", "damage", "failure")


class SnapshotStateError(JiraAssetsError):
    """A snapshot cannot be written in its current state (e.g. a newer run of its schema has started)."""


@dataclass(frozen=True)
class Snapshot:
    """A snapshot manifest as stored (see the README for every field)."""

    snapshot_id: str
    workspace_id: str
    schema_id: str
    schema_key: str
    seq: int
    status: str
    kind: str
    base_seq: int | None
    document: Mapping[str, Any]

    @classmethod
    def from_document(cls, document: Mapping[str, Any], *, keyring: Keyring | None = None) -> Snapshot:
        """Build from a ``snapshots`` document (its sealed fields opened with ``keyring``).

        :raises EncryptionKeyError: a sealed field needs a key the keyring lacks.
        """
        document = unseal_fields(keyring, document, collection=SNAPSHOTS)
        return cls(
            snapshot_id=document["_id"],
            workspace_id=document["workspace_id"],
            schema_id=document["schema_id"],
            schema_key=document["schema_key"],
            seq=int(document["seq"]),
            status=document["status"],
            kind=document["kind"],
            base_seq=document.get("base_seq"),
            document=document,
        )

    @property
    def include(self) -> dict[str, bool]:
        """Return what this run backs up besides config and objects (history, comments, tickets)."""
        return dict(self.document.get("include") or {})

    @property
    def reconstructed(self) -> bool:
        """Tell whether this snapshot was rewound from a later one (a backfill) rather than read."""
        return self.kind == RECONSTRUCTED

    @property
    def run_kind(self) -> str:
        """Return what the run was: :data:`RUN_REAL`, :data:`RUN_BACKFILL_BASE` or :data:`RUN_RECONSTRUCTION`.

        Written by the run itself; a manifest stored before the field existed is judged by what it holds
        (a reconstruction by its kind, the base of a backfill by the note ``taken_for``).
        """
        recorded = self.document.get("run_kind")
        if recorded in RUN_KINDS:
            return str(recorded)
        if self.reconstructed:
            return RUN_RECONSTRUCTION
        if self.document.get("taken_for"):
            return RUN_BACKFILL_BASE
        return RUN_REAL

    @property
    def state_at(self) -> datetime | None:
        """Return the moment whose state the snapshot holds (UTC): the run's start, or a backfill's moment."""
        return _utc(self.document.get("state_at")) or _utc(self.document.get("started_at"))

    @property
    def started_at(self) -> datetime | None:
        """Return when the run started (UTC)."""
        return _utc(self.document.get("started_at"))

    @property
    def finished_at(self) -> datetime | None:
        """Return when the run completed or failed (UTC; None while running)."""
        return _utc(self.document.get("finished_at"))

    @property
    def site(self) -> str | None:
        """Return the config's name of the site the snapshot was taken on."""
        return _text(self.document.get("site"))

    @property
    def site_url(self) -> str | None:
        """Return the address of the site the snapshot was taken on."""
        return _text(self.document.get("site_url"))

    @property
    def schema_name(self) -> str | None:
        """Return the schema's name when the snapshot was taken."""
        return _text(self.document.get("schema_name"))

    @property
    def kind_reason(self) -> str | None:
        """Return why the run was a full sweep, an incremental or a reconstruction."""
        return _text(self.document.get("kind_reason"))

    @property
    def dag_id(self) -> str | None:
        """Return the DAG whose run wrote the snapshot."""
        return _text(self.document.get("dag_id"))

    @property
    def run_id(self) -> str | None:
        """Return the DAG run that wrote the snapshot."""
        return _text(self.document.get("run_id"))

    @property
    def run_type(self) -> str | None:
        """Return Airflow's type of that run (``scheduled``, ``manual``, ``backfill``...)."""
        return _text(self.document.get("run_type"))

    @property
    def failure(self) -> str | None:
        """Return why the snapshot failed (None unless it did)."""
        return _text(self.document.get("failure"))

    @property
    def damage(self) -> dict[str, Any]:
        """Return what ``snapshots repair`` found damaged (empty unless the snapshot is damaged)."""
        return dict(self.document.get("damage") or {})

    @property
    def counts(self) -> dict[str, Any]:
        """Return the counts finalize recorded (empty before it completed the snapshot)."""
        return dict(self.document.get("counts") or {})

    @property
    def objects(self) -> int | None:
        """Return how many objects finalize counted (None before it completed the snapshot)."""
        value = self.counts.get("objects")
        return value if isinstance(value, int) else None

    @property
    def root(self) -> dict[str, Any] | None:
        """Return the root digest finalize recorded (None: the snapshot has none)."""
        root = self.document.get("root")
        return dict(root) if isinstance(root, Mapping) else None

    @property
    def steps(self) -> dict[str, Any]:
        """Return each step's recorded summary, by step."""
        return dict(self.document.get("steps") or {})

    @property
    def warnings(self) -> list[Any]:
        """Return the warnings finalize recorded."""
        return list(self.document.get("warnings") or [])

    @property
    def fidelity(self) -> dict[str, Any]:
        """Return the fidelity report of a reconstructed snapshot (empty for a real one)."""
        return dict(self.document.get("fidelity") or {})

    @property
    def base_snapshot_id(self) -> str | None:
        """Return the real snapshot a reconstructed one was rewound from."""
        return _text(self.document.get("base_snapshot_id"))

    def versions(self, db: Database) -> VersionStore:
        """Return the version store this snapshot reads from (its lane when reconstructed)."""
        lane = RECONSTRUCTED_LANE if self.reconstructed else None
        return VersionStore(db, self.workspace_id, self.schema_id, lane=lane)


def _utc(value: Any) -> datetime | None:
    """Return a stored moment in UTC (a naive one, as pymongo reads dates by default, is UTC)."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def snapshot_id_for(workspace_id: str, schema_id: str, run_id: str) -> str:
    """Return the id of the snapshot a DAG run writes for one schema."""
    return f"{workspace_id}:{schema_id}:{run_id}"


class SnapshotStore:
    """Create, find and change the state of snapshot manifests."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._snapshots = db[SNAPSHOTS]
        self._counters = db[COUNTERS]
        self.keyring = keyring_of(db)

    def _sealed(self, values: Mapping[str, Any], snapshot_id: str | None = None) -> dict[str, Any]:
        """Return manifest fields (a document, or a ``$set``) with those that quote names or values sealed."""
        doc_id = snapshot_id if snapshot_id is not None else str(values["_id"])
        return seal_fields(self.keyring, values, collection=SNAPSHOTS, doc_id=doc_id, names=SEALED_FIELDS)

    def get(self, snapshot_id: str) -> Snapshot | None:
        """Return a snapshot by id, or None."""
        document = self._snapshots.find_one({"_id": snapshot_id})
        return Snapshot.from_document(document, keyring=self.keyring) if document else None

    def find_for_run(self, dag_id: str, run_id: str, *, schema_key: str | None = None) -> Snapshot | None:
        """Return the snapshot a DAG run writes (None before its first task created it).

        :param schema_key: the schema's, in the run of a site DAG (``schemas: "*"``), which holds one per
            schema.
        """
        query: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "kind": _REAL}
        if schema_key is not None:
            query["schema_key"] = schema_key
        document = self._snapshots.find_one(query, sort=[("seq", DESCENDING)])
        return Snapshot.from_document(document, keyring=self.keyring) if document else None

    def reconstructed_for_run(self, dag_id: str, run_id: str) -> Snapshot | None:
        """Return the reconstructed snapshot a DAG run of a past date writes, if any."""
        document = self._snapshots.find_one({"dag_id": dag_id, "run_id": run_id, "kind": RECONSTRUCTED})
        return Snapshot.from_document(document, keyring=self.keyring) if document else None

    def id_for_run(self, dag_id: str, run_id: str) -> str:
        """Return the id of the snapshot a DAG run writes.

        :raises SnapshotStateError: export_config has not created it.
        """
        snapshot = self.find_for_run(dag_id, run_id)
        if snapshot is None:
            raise SnapshotStateError(
                f"run {run_id} of {dag_id} has no snapshot: export_config creates it first"
            )
        return snapshot.snapshot_id

    def latest(self, workspace_id: str, schema_id: str, *, status: str | None = None) -> Snapshot | None:
        """Return the schema's newest snapshot (with ``status`` when given)."""
        query: dict[str, Any] = {"workspace_id": workspace_id, "schema_id": schema_id, "kind": _REAL}
        if status is not None:
            query["status"] = status
        document = self._snapshots.find_one(query, sort=[("seq", DESCENDING)])
        return Snapshot.from_document(document, keyring=self.keyring) if document else None

    def complete_before(self, workspace_id: str, schema_id: str, seq: int) -> Iterator[Snapshot]:
        """Yield the schema's complete snapshots older than ``seq``, newest first."""
        query = {
            "workspace_id": workspace_id,
            "schema_id": schema_id,
            "status": COMPLETE,
            "seq": {"$lt": seq},
            "kind": _REAL,
        }
        for document in self._snapshots.find(query, sort=[("seq", DESCENDING)]):
            yield Snapshot.from_document(document, keyring=self.keyring)

    def begin(self, document: Mapping[str, Any]) -> tuple[Snapshot, bool]:
        """Create the manifest of a run as ``running``, or return the one an earlier try created.

        :param document: the manifest's fields but ``seq`` and ``status`` (see the README); ``_id`` from
            :func:`snapshot_id_for`.
        :returns: the snapshot and whether this call created it.
        """
        existing = self.get(document["_id"])
        if existing is not None:
            return existing, False
        check_write_mode(self.db, self.keyring)
        seq = self._next_seq(document["workspace_id"], document["schema_id"])
        try:
            self._snapshots.insert_one({**self._sealed(document), "seq": seq, "status": RUNNING})
        except DuplicateKeyError:
            # Another try of the same run got there first: use its manifest.
            existing = self.get(document["_id"])
            if existing is None:
                raise
            return existing, False
        # An older run of the schema still marked running ended without its teardown (a killed scheduler,
        # a deleted run): it can never complete now that a newer sequence number exists.
        self._snapshots.update_many(
            {
                "workspace_id": document["workspace_id"],
                "schema_id": document["schema_id"],
                "status": RUNNING,
                "seq": {"$lt": seq},
                "kind": _REAL,
            },
            {"$set": {"status": FAILED, "failure": f"superseded by {document['_id']} before it completed"}},
        )
        created = self.get(document["_id"])
        assert created is not None
        return created, True

    def _next_seq(self, workspace_id: str, schema_id: str) -> int:
        counter = self._counters.find_one_and_update(
            {"_id": f"{workspace_id}:{schema_id}"},
            {"$inc": {"seq": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # an upsert that returns the document after the update
        return int(counter["seq"])

    def real_after(self, workspace_id: str, schema_id: str, moment: datetime) -> Iterator[Snapshot]:
        """Yield the schema's real snapshots whose run started at or after ``moment``, oldest first."""
        query = {
            "workspace_id": workspace_id,
            "schema_id": schema_id,
            "kind": _REAL,
            "started_at": {"$gte": moment},
        }
        for document in self._snapshots.find(query, sort=[("seq", 1)]):
            yield Snapshot.from_document(document, keyring=self.keyring)

    def begin_reconstructed(self, document: Mapping[str, Any]) -> tuple[Snapshot, bool]:
        """Create the manifest of a reconstructed snapshot as ``running``, or return the existing one.

        Its id names the schema and the moment, so a second backfill of that moment finds the first one's
        snapshot instead of making another; its sequence number comes from the reconstructed lane.
        """
        existing = self.get(document["_id"])
        if existing is not None:
            return existing, False
        check_write_mode(self.db, self.keyring)
        seq = self._next_lane_seq(document["workspace_id"], document["schema_id"])
        try:
            sealed = self._sealed(document)
            self._snapshots.insert_one({**sealed, "kind": RECONSTRUCTED, "seq": seq, "status": RUNNING})
        except DuplicateKeyError:
            existing = self.get(document["_id"])
            if existing is None:
                raise
            return existing, False
        created = self.get(document["_id"])
        assert created is not None
        return created, True

    def restart_reconstructed(self, snapshot: Snapshot) -> Snapshot:
        """Give a reconstructed snapshot that is not complete the lane's next sequence number, running.

        Called under the lane's lease before every try writes: what an interrupted try wrote stays on an
        old number that no complete snapshot reads, and reconstructions of other moments done meanwhile
        are never written under.
        """
        seq = self._next_lane_seq(snapshot.workspace_id, snapshot.schema_id)
        self._snapshots.update_one(
            {"_id": snapshot.snapshot_id, "status": {"$ne": COMPLETE}},
            {"$set": {"seq": seq, "status": RUNNING}, "$unset": {"failure": ""}},
        )
        restarted = self.get(snapshot.snapshot_id)
        assert restarted is not None
        return restarted

    def _next_lane_seq(self, workspace_id: str, schema_id: str) -> int:
        return RECONSTRUCTED_SEQ_BASE + self._next_seq(workspace_id, f"{schema_id}/{RECONSTRUCTED_LANE}")

    def for_write(self, snapshot_id: str) -> Snapshot:
        """Return a snapshot that a task may write into, reopening a failed one when that is safe.

        :raises SnapshotStateError: the snapshot does not exist, or it failed and a newer run of its
            schema has started since (its sequence number is no longer the newest; retrying it could
            change what the newer snapshot reads back).
        """
        snapshot = self.get(snapshot_id)
        if snapshot is None:
            raise SnapshotStateError(f"snapshot {snapshot_id} does not exist: export_config creates it")
        if snapshot.status != FAILED:
            return snapshot
        newest = self.latest(snapshot.workspace_id, snapshot.schema_id)
        if newest is not None and newest.seq > snapshot.seq:
            raise SnapshotStateError(
                f"snapshot {snapshot_id} failed and a newer backup of schema {snapshot.schema_key} "
                f"({newest.snapshot_id}) has started since; it cannot be resumed: trigger a new run instead"
            )
        self._snapshots.update_one({"_id": snapshot_id, "status": FAILED}, {"$set": {"status": RUNNING}})
        reopened = self.get(snapshot_id)
        assert reopened is not None
        return reopened

    def record_step(self, snapshot_id: str, step: str, summary: Mapping[str, Any]) -> None:
        """Keep a step's summary on a running manifest (a complete one is never edited)."""
        self._snapshots.update_one(
            {"_id": snapshot_id, "status": RUNNING},
            {"$set": self._sealed({f"steps.{step}": dict(summary)}, snapshot_id)},
        )

    def complete(
        self,
        snapshot_id: str,
        fields: Mapping[str, Any],
        *,
        finished_at: datetime,
        fence: Fence | None = None,
    ) -> bool:
        """Mark a running snapshot complete with its final counts; return False if it was not running.

        With a ``root`` among the fields, the schema's lane records from which sequence number on every
        complete snapshot has one (a manifest without one after that was not completed by finalize).

        :param fence: the writer's lease, checked last before the manifest is completed.
        """
        if fields.get("root"):
            snapshot = self.get(snapshot_id)
            if snapshot is not None:
                self._counters.update_one(
                    {"_id": self._counter_id(snapshot)}, {"$min": {"roots_from": snapshot.seq}}, upsert=True
                )
        if fence is not None:
            fence.check()
        result = self._snapshots.update_one(
            {"_id": snapshot_id, "status": RUNNING},
            {"$set": {**self._sealed(fields, snapshot_id), "status": COMPLETE, "finished_at": finished_at}},
        )
        return bool(result.modified_count)

    def roots_since(self, snapshot: Snapshot) -> int | None:
        """Return the first sequence number of the snapshot's lane that was completed with a root digest."""
        counter = self._counters.find_one({"_id": self._counter_id(snapshot)}, {"roots_from": 1}) or {}
        since = counter.get("roots_from")
        return int(since) if since is not None else None

    @staticmethod
    def _counter_id(snapshot: Snapshot) -> str:
        lane = f"/{RECONSTRUCTED_LANE}" if snapshot.reconstructed else ""
        return f"{snapshot.workspace_id}:{snapshot.schema_id}{lane}"

    def mark_damaged(self, snapshot_id: str, damage: Mapping[str, Any], *, at: datetime) -> bool:
        """Mark a complete snapshot damaged (``snapshots repair``); return False if it was not complete."""
        result = self._snapshots.update_one(
            {"_id": snapshot_id, "status": COMPLETE},
            {
                "$set": {
                    **self._sealed({"damage": dict(damage)}, snapshot_id),
                    "status": DAMAGED,
                    "damaged_at": at,
                }
            },
        )
        return bool(result.modified_count)

    def fail(self, snapshot_id: str, reason: str, *, finished_at: datetime) -> bool:
        """Mark a running snapshot failed; return False if it was not running (complete stays complete)."""
        result = self._snapshots.update_one(
            {"_id": snapshot_id, "status": RUNNING},
            {
                "$set": {
                    **self._sealed({"failure": reason}, snapshot_id),
                    "status": FAILED,
                    "finished_at": finished_at,
                }
            },
        )
        return bool(result.modified_count)

    def list(
        self, *, workspace_id: str | None = None, schema_id: str | None = None, status: str | None = None
    ) -> Iterator[Snapshot]:
        """Yield manifests, newest first per schema."""
        query: dict[str, Any] = {}
        for name, value in (("workspace_id", workspace_id), ("schema_id", schema_id), ("status", status)):
            if value is not None:
                query[name] = value
        for document in self._snapshots.find(query, sort=[("schema_id", 1), ("seq", DESCENDING)]):
            yield Snapshot.from_document(document, keyring=self.keyring)

"""Forget and prune over store content written by the real backup steps against a sandbox site.

Every snapshot is made by ``export_config``, ``export_objects``, ``export_activity`` and ``finalize``
(plain Python, no Airflow); objects change between runs through the sandbox's model. The store is a real
MongoDB-wire server.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest
from pymongo import monitoring
from pymongo.database import Database

from airflow_assets.api import AssetsClient, RateLimits
from airflow_assets.backup.activity import export_activity
from airflow_assets.backup.finalize import finalize, mark_failed
from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.run import BackupRun
from airflow_assets.backup.schema_config import CONFIG_KINDS, BackupTarget, export_config
from airflow_assets.config.storage import RetentionPolicy
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.operators.retention import RetentionOperator
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SchemaLease, SnapshotStore, VersionStore
from airflow_assets.store.check import SnapshotChecker
from airflow_assets.store.layout import COUNTERS, LEASES, PROGRESS, SNAPSHOTS, SPANS, VERSIONS
from airflow_assets.store.leases import LeaseLostError
from airflow_assets.store.prune import NEWEST, forget, prune
from airflow_assets.store.retention import RetentionPolicyError
from airflow_assets.store.snapshots import COMPLETE, FAILED, RUNNING, Snapshot

KINDS = (*CONFIG_KINDS, "object", "history", "comment", "ticket")
# Leases are left out: every acquisition raises a lease's token (fencing), prune's included.
COLLECTIONS = (SNAPSHOTS, VERSIONS, SPANS, COUNTERS, PROGRESS)
SCHEMA_KEY = "LOC"
T0 = datetime.now(UTC).replace(microsecond=0)


class Backups:
    """Run numbered backups of the LOC schema with the real backup steps."""

    def __init__(self, sandbox: RunningSandbox, db: Database) -> None:
        self.sandbox = sandbox
        self.db = db
        self.client = AssetsClient(
            site_url=sandbox.url,
            email=sandbox.email,
            api_token=sandbox.api_token,
            api_base_url=sandbox.api_base_url,
            limits=RateLimits(default_limit=100_000, limits={}, total_limit=None),
        )
        self.target = BackupTarget(
            site="prod",
            schema_key=SCHEMA_KEY,
            include={"history": True, "comments": True, "connected_tickets": False},
            full_sweep_every=7,
            schedule="0 2 * * *",
            timezone="UTC",
        )
        self.runs = 0

    def start(self, *, db: Database | None = None, started_at: datetime | None = None) -> str:
        """Run export_config and export_objects of a new run; return its snapshot id (lease still held)."""
        self.runs += 1
        # The run stands for the present (its data interval ends now: a run of a past date would be
        # reconstructed instead); only its recorded start is chosen.
        now = datetime.now(UTC)
        recorded = started_at or T0 + timedelta(minutes=self.runs)
        run = BackupRun("dag", f"manual__{self.runs}", "manual", now, now, now, recorded)
        summary = export_config(self.client, self.db, self.target, run)
        export_objects(self.client, db if db is not None else self.db, summary.snapshot_id)
        return summary.snapshot_id

    def finish(self, snapshot_id: str) -> None:
        """Run the per-object steps and finalize (which completes the snapshot and frees the lease)."""
        export_activity(self.client, self.db, snapshot_id, "history")
        export_activity(self.client, self.db, snapshot_id, "comments")
        finalize(self.client, self.db, snapshot_id)

    def run(self, *, started_at: datetime | None = None) -> str:
        """Run a whole backup; return its snapshot id."""
        snapshot_id = self.start(started_at=started_at)
        self.finish(snapshot_id)
        return snapshot_id

    def fail(self) -> str:
        """Start a run and fail it as the teardown task would."""
        snapshot_id = self.start()
        mark_failed(self.db, "dag", f"manual__{self.runs}")
        return snapshot_id

    # -- the site ------------------------------------------------------------------------------------

    def offices(self) -> list[str]:
        """Return the ids of the site's Office objects, lowest first."""
        type_id = self.sandbox.seed.type_ids["Office"] if self.sandbox.seed else ""
        site = self.sandbox.site
        return sorted(
            (str(record.object_id) for record in site.objects.values() if record.object_type_id == type_id),
            key=int,
        )

    def _address_attribute(self) -> str:
        type_id = self.sandbox.seed.type_ids["Office"] if self.sandbox.seed else ""
        return next(
            attribute["id"]
            for attribute in self.sandbox.site.list_attributes(type_id)
            if attribute["name"] == "Address"
        )

    def address(self, object_id: str) -> str | None:
        """Return an Office's Address as the site holds it."""
        stored = self.sandbox.site.objects[int(object_id)].values.get(self._address_attribute())
        return str(stored[1]) if stored else None

    def set_address(self, object_id: str, text: str, *, at: datetime | None = None) -> None:
        """Change an Office's Address (at ``at``: the object's ``updated`` becomes that moment)."""
        value = {
            "objectTypeAttributeId": self._address_attribute(),
            "objectAttributeValues": [{"value": text}],
        }
        self.sandbox.site.update_object(object_id, {"attributes": [value]}, at=at)

    def updated_at(self, object_id: str) -> datetime:
        """Return when the site last changed an object."""
        return self.sandbox.site.objects[int(object_id)].updated


def snapshot(db: Database, snapshot_id: str) -> Snapshot:
    found = SnapshotStore(db).get(snapshot_id)
    assert found is not None, snapshot_id
    return found


def read_all(db: Database, snapshot_id: str) -> dict[str, list[Any]]:
    """Read every kind of a snapshot back, each kind sorted by item id."""
    manifest = snapshot(db, snapshot_id)
    versions = VersionStore(db, manifest.workspace_id, manifest.schema_id)
    return {
        kind: sorted(versions.read(kind, manifest.seq), key=lambda data: str(data.get("id")))
        for kind in KINDS
    }


def object_in(db: Database, snapshot_id: str, object_id: str) -> dict[str, Any]:
    return next(data for data in read_all(db, snapshot_id)["object"] if data["id"] == object_id)


def counts(db: Database) -> dict[str, int]:
    return {name: db[name].count_documents({}) for name in COLLECTIONS}


def documents(db: Database) -> dict[str, list[dict[str, Any]]]:
    return {name: sorted(db[name].find(), key=lambda doc: str(doc["_id"])) for name in COLLECTIONS}


def live_site(db: Database, backups: Backups) -> dict[str, list[Any]]:
    """Return what a fresh full backup of the site reads back now (made in a scratch database)."""
    scratch = db.client[f"{db.name}_live"]
    try:
        return read_all(scratch, Backups(backups.sandbox, scratch).run())
    finally:
        db.client.drop_database(scratch.name)


def version_of(db: Database, snapshot_id: str, kind: str, item_id: str) -> str:
    manifest = snapshot(db, snapshot_id)
    versions = VersionStore(db, manifest.workspace_id, manifest.schema_id)
    return str(next(iter(versions.visible_spans(kind, manifest.seq, {"item_id": item_id})))["hash"])


@pytest.fixture
def backups(sandbox: RunningSandbox, mongo_db: Database) -> Backups:
    return Backups(sandbox, mongo_db)


# -- forget and prune ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_forget_and_prune_keep_every_remaining_snapshot_readable_and_shrink_the_store(
    backups: Backups, mongo_db: Database
) -> None:
    first, second, third = backups.offices()[:3]
    runs = [backups.run()]
    backups.set_address(first, "1 First Street")
    backups.sandbox.site.add_comment({"objectId": second, "comment": "moved to the basement"})
    runs.append(backups.run())
    failed = backups.fail()
    backups.set_address(first, "2 Second Street")
    backups.sandbox.site.delete_object(third)
    runs.append(backups.run())
    backups.set_address(second, "3 Third Street")
    runs.append(backups.run())
    kept_runs = runs[-2:]
    before = {snapshot_id: read_all(mongo_db, snapshot_id) for snapshot_id in kept_runs}
    stored_before = counts(mongo_db)

    forgotten = forget(mongo_db, RetentionPolicy(keep_last=2), dry_run=False)
    pruned = prune(mongo_db, dry_run=False)

    (schema,) = forgotten.schemas
    assert schema.schema_key == SCHEMA_KEY
    assert [entry.snapshot_id for entry in schema.kept] == kept_runs[::-1]
    assert all(entry.rules == ("last",) for entry in schema.kept)
    assert schema.forgotten == (runs[1], runs[0])
    assert schema.failed_removed == (failed,)
    assert [s.snapshot_id for s in SnapshotStore(mongo_db).list()] == kept_runs[::-1]
    # The checkpoints of the removed runs went with them; those of the kept runs stay.
    progress = {doc["_id"].rpartition("|")[0] for doc in mongo_db[PROGRESS].find()}
    assert progress == set(kept_runs)
    assert pruned.skipped == ()
    (pruned_schema,) = pruned.schemas
    assert pruned_schema.snapshots == 2
    assert pruned_schema.spans_deleted > 0
    assert pruned_schema.versions_deleted > 0
    stored_after = counts(mongo_db)
    assert stored_after[SPANS] == stored_before[SPANS] - pruned.spans_deleted
    assert stored_after[VERSIONS] == stored_before[VERSIONS] - pruned.versions_deleted
    for snapshot_id in kept_runs:
        assert read_all(mongo_db, snapshot_id) == before[snapshot_id]
    # Nothing left that no remaining snapshot reads: every span is read by run 3 or run 4, or still open.
    seqs = [snapshot(mongo_db, snapshot_id).seq for snapshot_id in kept_runs]
    for span in mongo_db[SPANS].find():
        assert any(span["from_seq"] <= seq < span["to_seq"] for seq in seqs), span
    named = {span["hash"] for span in mongo_db[SPANS].find({}, {"hash": 1})}
    assert {version["_id"] for version in mongo_db[VERSIONS].find({}, {"_id": 1})} == named


def test_a_version_shared_by_a_kept_and_a_forgotten_snapshot_survives(
    backups: Backups, mongo_db: Database
) -> None:
    changed, unchanged = backups.offices()[:2]
    first = backups.run()
    backups.set_address(changed, "1 Changed Street")
    second = backups.run()
    shared = version_of(mongo_db, first, "object", unchanged)
    only_first = version_of(mongo_db, first, "object", changed)
    assert version_of(mongo_db, second, "object", unchanged) == shared
    assert version_of(mongo_db, second, "object", changed) != only_first

    forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)
    report = prune(mongo_db, dry_run=False)

    assert mongo_db[VERSIONS].find_one({"_id": shared}) is not None
    assert mongo_db[VERSIONS].find_one({"_id": only_first}) is None
    assert report.versions_deleted >= 1
    assert object_in(mongo_db, second, unchanged)["id"] == unchanged


def test_a_dry_run_writes_nothing_and_reports_what_the_real_run_does(
    backups: Backups, mongo_db: Database
) -> None:
    office = backups.offices()[0]
    backups.run()
    backups.set_address(office, "1 Dry Street")
    backups.run()
    backups.fail()
    backups.set_address(office, "2 Dry Street")
    backups.run()
    stored = documents(mongo_db)
    policy = RetentionPolicy(keep_last=1)

    dry_forget = forget(mongo_db, policy, dry_run=True)
    dry_prune = prune(mongo_db, dry_run=True, assume_forgotten=dry_forget.removed_ids)

    assert documents(mongo_db) == stored
    assert dry_forget.dry_run and dry_prune.dry_run
    assert dry_forget.forgotten == 2 and dry_forget.failed_removed == 1
    real_forget = forget(mongo_db, policy, dry_run=False)
    real_prune = prune(mongo_db, dry_run=False)
    assert real_forget.schemas == dry_forget.schemas
    assert real_prune.schemas == dry_prune.schemas
    assert real_prune.summary() | {"dry_run": True} == dry_prune.summary()
    assert real_prune.spans_deleted > 0 and real_prune.versions_deleted > 0


def test_running_forget_and_prune_again_changes_nothing(backups: Backups, mongo_db: Database) -> None:
    offices = backups.offices()
    for number, office in enumerate(offices[:3]):
        backups.run()
        backups.set_address(office, f"{number} Again Street")
    backups.run()
    policy = RetentionPolicy(keep_last=2)
    forget(mongo_db, policy, dry_run=False)
    first = prune(mongo_db, dry_run=False)
    stored = documents(mongo_db)

    again_forget = forget(mongo_db, policy, dry_run=False)
    again = prune(mongo_db, dry_run=False)

    assert first.spans_deleted > 0
    assert again_forget.forgotten == 0 and again_forget.failed_removed == 0
    assert (again.spans_deleted, again.versions_deleted) == (0, 0)
    assert documents(mongo_db) == stored


def test_the_newest_complete_snapshot_is_kept_even_when_the_policy_would_forget_it(
    backups: Backups, mongo_db: Database
) -> None:
    older = backups.run(started_at=T0)
    # A run that began later but whose recorded start is earlier (e.g. clocks disagreeing).
    newest = backups.run(started_at=T0 - timedelta(hours=1))

    report = forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)

    (schema,) = report.schemas
    assert {entry.snapshot_id: entry.rules for entry in schema.kept} == {older: ("last",), newest: (NEWEST,)}
    assert schema.forgotten == ()
    assert "newest complete snapshot" in schema.notes[0]
    assert f"seq {snapshot(mongo_db, newest).seq} (newest)" in schema.line()
    assert {s.snapshot_id for s in SnapshotStore(mongo_db).list()} == {older, newest}


def test_running_snapshots_and_failed_ones_newer_than_the_newest_complete_are_left_alone(
    backups: Backups, mongo_db: Database
) -> None:
    complete = backups.run()
    failed = backups.fail()
    running = backups.start()
    SchemaLease(mongo_db, *_schema_of(mongo_db, running), running).release()

    report = forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)

    (schema,) = report.schemas
    assert schema.kept[0].snapshot_id == complete
    assert (schema.forgotten, schema.failed_removed, schema.running) == ((), (), 1)
    statuses = {s.snapshot_id: s.status for s in SnapshotStore(mongo_db).list()}
    assert statuses == {complete: COMPLETE, failed: FAILED, running: RUNNING}


def test_an_empty_policy_is_refused_before_anything_is_read(mongo_db: Database) -> None:
    with pytest.raises(RetentionPolicyError, match="forget every snapshot"):
        forget(mongo_db, RetentionPolicy(), dry_run=True)


# -- pruning while a backup runs ----------------------------------------------------------------------------


def _schema_of(db: Database, snapshot_id: str) -> tuple[str, str]:
    manifest = snapshot(db, snapshot_id)
    return manifest.workspace_id, manifest.schema_id


def _office_changed_and_changed_back(backups: Backups, mongo_db: Database) -> tuple[str, str, str, str]:
    """Run 1 stores office X as content A, run 2 as B; then X goes back to A. Return (run1, run2, X, A)."""
    office = next(office for office in backups.offices() if backups.address(office))
    address, original_update = backups.address(office), backups.updated_at(office)
    assert address is not None
    run1 = backups.run()
    content_a = version_of(mongo_db, run1, "object", office)
    backups.set_address(office, "B Street 2")
    run2 = backups.run()
    assert version_of(mongo_db, run2, "object", office) != content_a
    # The same address at the same moment: the object is exactly as run 1 stored it.
    backups.set_address(office, address, at=original_update)
    return run1, run2, office, content_a


@pytest.mark.slow
def test_pruning_during_a_backup_loses_nothing(backups: Backups, mongo_db: Database) -> None:
    run1, run2, office, content_a = _office_changed_and_changed_back(backups, mongo_db)
    run3 = backups.start()  # export_config and export_objects done; the run holds the schema's lease
    assert version_of(mongo_db, run3, "object", office) == content_a  # re-used, not written again

    forgotten = forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)
    during = prune(mongo_db, dry_run=False)
    backups.finish(run3)

    assert forgotten.schemas[0].forgotten == (run1,)
    (skipped,) = during.skipped
    assert skipped.skipped.startswith("backup running")
    assert run3 in skipped.skipped  # the holder: the backup's snapshot id
    assert (during.spans_deleted, during.versions_deleted) == (0, 0)
    assert snapshot(mongo_db, run3).status == COMPLETE
    restored = read_all(mongo_db, run3)
    assert restored == live_site(mongo_db, backups)
    after = prune(mongo_db, dry_run=False)
    assert after.skipped == ()
    assert after.spans_deleted > 0  # run 1's span of the office
    assert read_all(mongo_db, run3) == restored
    assert mongo_db[VERSIONS].find_one({"_id": content_a}) is not None
    assert snapshot(mongo_db, run2).status == COMPLETE


class _PruneAtFirstVersionWrite(monitoring.CommandListener):
    """Prune at the moment a backup has stored its new versions and not yet the spans naming them.

    That is the window the lease closes: a re-used version is stored (the backup's write found it), and
    only a forgotten snapshot's span names it until the backup's own span is written. With ``lapse_lease_of``
    the backup's lease lapses first, as it does when the task is paused (a VM pause, a swap storm) for
    longer than the lease lasts: its renewals stop with it.
    """

    def __init__(self, db: Database, lapse_lease_of: tuple[str, str] | None) -> None:
        self.db = db
        self.lapse_lease_of = lapse_lease_of
        self.reports: list[Any] = []
        self._versions_writes: set[int] = set()
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("insert", "update") and event.command.get(event.command_name) == VERSIONS:
            self._versions_writes.add(event.request_id)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self._lock:
            if event.request_id not in self._versions_writes or self.reports:
                return
            if self.lapse_lease_of is not None:
                workspace_id, schema_id = self.lapse_lease_of
                long_ago = datetime.now(UTC) - timedelta(minutes=11)
                self.db[LEASES].update_one(
                    {"_id": f"{workspace_id}:{schema_id}"}, {"$set": {"expires_at": long_ago}}
                )
            self.reports.append(prune(self.db, dry_run=False))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.mark.slow
def test_the_lease_keeps_prune_from_deleting_a_version_a_running_backup_reuses(
    backups: Backups, mongo_db: Database, mongo_server: EmbeddedMongo
) -> None:
    _run1, _, office, content_a = _office_changed_and_changed_back(backups, mongo_db)
    forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)
    listener = _PruneAtFirstVersionWrite(mongo_db, None)
    watched: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri, event_listeners=[listener])
    try:
        run3 = backups.start(db=watched[mongo_db.name])
    finally:
        watched.close()
    backups.finish(run3)

    (report,) = listener.reports
    assert snapshot(mongo_db, run3).status == COMPLETE
    assert version_of(mongo_db, run3, "object", office) == content_a
    assert mongo_db[VERSIONS].find_one({"_id": content_a}) is not None
    assert read_all(mongo_db, run3) == live_site(mongo_db, backups)
    assert [schema.skipped.split(" (")[0] for schema in report.schemas] == ["backup running"]


@pytest.mark.slow
def test_a_backup_paused_past_its_lease_stops_writing_and_its_retry_stores_a_sound_snapshot(
    backups: Backups, mongo_db: Database, mongo_server: EmbeddedMongo
) -> None:
    run1, _, _office, content_a = _office_changed_and_changed_back(backups, mongo_db)
    workspace_id, schema_id = _schema_of(mongo_db, run1)
    forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)
    listener = _PruneAtFirstVersionWrite(mongo_db, (workspace_id, schema_id))
    watched: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri, event_listeners=[listener])
    try:
        # The lease lapsed while the task was paused, prune took it and deleted version A (which only run
        # 1's forgotten span named): the task resumes, finds its token stale and writes nothing more.
        with pytest.raises(LeaseLostError, match="was taken by"):
            backups.start(db=watched[mongo_db.name])
    finally:
        watched.close()
    (report,) = listener.reports
    assert report.versions_deleted >= 1 and mongo_db[VERSIONS].find_one({"_id": content_a}) is None
    run3 = f"{workspace_id}:{schema_id}:manual__{backups.runs}"

    # Airflow retries the task: it redoes what the fenced-out try left unconfirmed, version A included.
    export_objects(backups.client, mongo_db, run3)
    backups.finish(run3)

    assert snapshot(mongo_db, run3).status == COMPLETE
    assert mongo_db[VERSIONS].find_one({"_id": content_a}) is not None
    (check,) = SnapshotChecker(mongo_db).check_all([snapshot(mongo_db, run3)])
    assert check.sound, check.problems
    assert read_all(mongo_db, run3) == live_site(mongo_db, backups)
    # Later runs inherit nothing missing, and forget + prune never leave the schema without a sound one.
    backups.run()
    forget(mongo_db, RetentionPolicy(keep_last=2), dry_run=False)
    prune(mongo_db, dry_run=False)
    remaining = list(SnapshotStore(mongo_db).list(status=COMPLETE))
    assert remaining and all(result.sound for result in SnapshotChecker(mongo_db).check_all(remaining))


# -- the operator -------------------------------------------------------------------------------------------


def test_the_operator_forgets_and_prunes_through_an_airflow_connection(
    backups: Backups, mongo_db: Database, mongo_server: EmbeddedMongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = backups.offices()[0]
    backups.run()
    backups.set_address(office, "1 Operator Street")
    kept = backups.run()
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(mongo_db.name))
    stored = documents(mongo_db)

    dry = RetentionOperator(
        task_id="retention_dry", mongo_database=mongo_db.name, policy={"keep_last": 1}, dry_run="True"
    ).execute({})
    assert documents(mongo_db) == stored
    real = RetentionOperator(
        task_id="retention", mongo_database=mongo_db.name, policy={"keep_last": 1}, dry_run="False"
    ).execute({})

    assert dry == real | {"dry_run": True, "forget": real["forget"] | {"dry_run": True},
                          "prune": real["prune"] | {"dry_run": True}}  # fmt: skip
    assert real["forget"]["snapshots_forgotten"] == 1
    assert real["prune"]["spans_deleted"] > 0
    assert [s.snapshot_id for s in SnapshotStore(mongo_db).list()] == [kept]


def test_the_operator_refuses_an_empty_or_invalid_policy_when_the_dag_is_built() -> None:
    with pytest.raises(RetentionPolicyError, match="forget every snapshot"):
        RetentionOperator(task_id="retention", policy={})
    with pytest.raises(RetentionPolicyError, match=r"policy\.keep_daliy"):
        RetentionOperator(task_id="retention", policy={"keep_daliy": 7})
    with pytest.raises(RetentionPolicyError, match=r"policy\.keep_last"):
        RetentionOperator(task_id="retention", policy={"keep_last": -1})

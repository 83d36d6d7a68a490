"""The rolling sweep against the sandbox and the embedded MongoDB: every object re-read within N runs.

A comment does not touch an object's ``updated`` stamp, so an incremental run alone never reads it: only the
sweep does. Each test adds comments to unchanged objects and watches the runs pick them up, slice by slice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.activity import export_activity
from airflow_assets.backup.adhoc import backup_now
from airflow_assets.backup.finalize import finalize, mark_failed
from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.rotation import SweepSlice, slice_of
from airflow_assets.backup.schema_config import export_config
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import Snapshot, SnapshotStore
from airflow_assets.tools.snapshots_show import snapshot_report
from tests.integration.backup_support import (
    client_for,
    kill_step_after_checkpoint,
    run_info,
    stored,
    target,
)

pytestmark = pytest.mark.slow

DAG_ID = "jira_assets_backup_test"


def _run(client: AssetsClient, db: Database, run_id: str, every: int, *, sweep: str = "rolling") -> Snapshot:
    """Back up ITAM as its DAG does, with ``full_sweep_every=every`` and ``sweep``; return the snapshot."""
    chosen = dataclasses.replace(target("ITAM", full_sweep_every=every), sweep=sweep)
    done = backup_now(client, db, chosen, run_info(run_id), key=None, wait=600)
    snapshot = SnapshotStore(db).get(done.snapshot_id)
    assert snapshot is not None and snapshot.status == "complete"
    return snapshot


def _objects(client: AssetsClient, sandbox: RunningSandbox) -> list[str]:
    aql = f"objectSchemaId = {sandbox.seed.schema_ids['ITAM']}"
    found = client.iter_objects(aql, page_size=500, include_attributes=False)
    return sorted((str(o["id"]) for o in found), key=int)


def _comment_everywhere(sandbox: RunningSandbox, object_ids: list[str], text: str) -> None:
    """Comment on every object, as a user would in the UI: ``updated`` stays as it was."""
    for object_id in object_ids:
        sandbox.site.add_comment({"comment": f"{text} {object_id}", "objectId": object_id})


def _commented(db: Database, snapshot: Snapshot, text: str) -> set[str]:
    """Return the objects whose comment ``text`` the snapshot holds."""
    return {
        c["objectId"] for c in stored(db, snapshot.snapshot_id, "comment") if c["comment"].startswith(text)
    }


def _in_slice(object_ids: list[str], swept: SweepSlice) -> set[str]:
    return {object_id for object_id in object_ids if slice_of(object_id, swept.count) == swept.index}


def test_a_comment_on_an_unchanged_object_is_captured_when_its_slice_comes_and_not_before(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    every = 4
    first = _run(client, mongo_db, "run-1", every)
    assert first.kind == "full" and "sweep_slice" not in first.document
    objects = _objects(client, sandbox)
    _comment_everywhere(sandbox, objects, "late note")

    captured: set[str] = set()
    for number in range(every):
        snapshot = _run(client, mongo_db, f"run-{number + 2}", every)
        swept = SweepSlice.from_manifest(snapshot.document)
        assert snapshot.kind == "incremental" and swept == SweepSlice(number, every)
        captured |= _in_slice(objects, swept)
        # Exactly the slices swept so far: not one comment of a slice still to come.
        assert _commented(mongo_db, snapshot, "late note") == captured
        # One run reads about 1/N of the objects (nothing changed but the comments).
        steps = snapshot.steps
        assert steps["export_comments"]["objects"] == len(_in_slice(objects, swept)) < len(objects) / 2
        assert steps["export_objects"]["new_versions"] == 0
        assert snapshot_report(mongo_db, snapshot)["sweep_slice"] == f"{number}/{every}"

    assert captured == set(objects)
    # The rotation starts over: run N + 2 sweeps slice 0 again.
    again = _run(client, mongo_db, "run-again", every)
    assert SweepSlice.from_manifest(again.document) == SweepSlice(0, every)


def test_a_failed_run_leaves_no_slice_unswept(
    sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    every = 3
    _run(client, mongo_db, "run-1", every)
    objects = _objects(client, sandbox)
    _comment_everywhere(sandbox, objects, "during outage")
    # Run 2 sweeps slice 0; its comments step is killed midway and the run's teardown marks it failed.
    second = export_config(
        client, mongo_db, dataclasses.replace(target("ITAM", full_sweep_every=every)), run_info("run-2")
    )
    export_objects(client, mongo_db, second.snapshot_id)
    export_activity(client, mongo_db, second.snapshot_id, "history")
    setup = "from airflow_assets.backup import activity\nactivity.FLUSH_EVERY = 5"
    kill_step_after_checkpoint(sandbox, mongo_server, mongo_db, second.snapshot_id, "comments", setup)
    assert mark_failed(mongo_db, DAG_ID, "run-2") == "failed"
    failed = SnapshotStore(mongo_db).get(second.snapshot_id)
    assert failed is not None and SweepSlice.from_manifest(failed.document) == SweepSlice(0, every)

    # The next good run sweeps the failed run's slice again, and the rotation goes on from there.
    slices = []
    captured: set[str] = set()
    for number in range(every):
        snapshot = _run(client, mongo_db, f"run-{number + 3}", every)
        swept = SweepSlice.from_manifest(snapshot.document)
        assert swept is not None
        slices.append(swept.index)
        captured |= _in_slice(objects, swept)
        assert _commented(mongo_db, snapshot, "during outage") == captured
    assert slices == [0, 1, 2] and captured == set(objects)


def test_objects_created_and_deleted_between_runs_with_sparse_ids_are_all_swept(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    every = 3
    initial = _objects(client, sandbox)
    # Sparse ids: every other object deleted before the first backup.
    for object_id in initial[::2]:
        client.delete_object(object_id)
    _run(client, mongo_db, "run-1", every)
    survivors = initial[1::2]
    laptop = sandbox.seed.type_ids["Laptop"]
    name = next(a["id"] for a in client.get_object_type_attributes(laptop) if a["name"] == "Name")
    created: list[str] = []
    deleted: set[str] = set()
    snapshots: list[Snapshot] = []
    for number in range(every):
        # Between runs: a few objects created (new, higher ids), a few deleted, comments on the rest.
        for index in range(3):
            body: dict[str, Any] = {
                "objectTypeId": laptop,
                "attributes": [
                    {
                        "objectTypeAttributeId": name,
                        "objectAttributeValues": [{"value": f"new {number}.{index}"}],
                    }
                ],
            }
            created.append(str(client.create_object(body)["id"]))
        gone = survivors[number * 7]
        client.delete_object(gone)
        deleted.add(gone)
        _comment_everywhere(sandbox, [o for o in survivors if o not in deleted], f"round {number}")
        snapshots.append(_run(client, mongo_db, f"run-{number + 2}", every))

    last = snapshots[-1]
    live = set(_objects(client, sandbox))
    assert {o["id"] for o in stored(mongo_db, last.snapshot_id, "object")} == live
    # Every object still on the site had its first round's comment read within N runs.
    assert _commented(mongo_db, last, "round 0") == {o for o in survivors if o not in deleted}
    # A new object's comments and history were read in the run that found it.
    history = {e["objectId"] for e in stored(mongo_db, last.snapshot_id, "history")}
    assert set(created) <= history
    # Deleted objects are gone from the snapshot with their comments; the earlier snapshots still hold them.
    assert not any(c["objectId"] in deleted for c in stored(mongo_db, last.snapshot_id, "comment"))
    later = survivors[7]  # deleted after the first rolling run: that snapshot keeps it and its history
    assert later in {o["id"] for o in stored(mongo_db, snapshots[0].snapshot_id, "object")}
    assert later in {e["objectId"] for e in stored(mongo_db, snapshots[0].snapshot_id, "history")}


def test_sweep_full_keeps_every_nth_run_a_full_sweep(sandbox: RunningSandbox, mongo_db: Database) -> None:
    client = client_for(sandbox)
    _run(client, mongo_db, "run-1", 2, sweep="full")
    objects = _objects(client, sandbox)
    _comment_everywhere(sandbox, objects, "full mode")

    second = _run(client, mongo_db, "run-2", 2, sweep="full")
    third = _run(client, mongo_db, "run-3", 2, sweep="full")

    assert second.kind == "incremental" and "sweep_slice" not in second.document
    assert not _commented(mongo_db, second, "full mode")
    assert third.kind == "full" and "sweep_slice" not in third.document
    assert _commented(mongo_db, third, "full mode") == set(objects)


def test_finalize_refuses_a_run_whose_step_read_another_slice(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    _run(client, mongo_db, "run-1", 4)
    second = export_config(client, mongo_db, target("ITAM", full_sweep_every=4), run_info("run-2"))
    export_objects(client, mongo_db, second.snapshot_id)
    for what in ("history", "comments", "tickets"):
        export_activity(client, mongo_db, second.snapshot_id, what)
    # Someone edits the manifest's slice after the steps read theirs: the selection no longer matches.
    mongo_db["snapshots"].update_one(
        {"_id": second.snapshot_id}, {"$set": {"sweep_slice": {"index": 1, "of": 4}}}
    )

    with pytest.raises(Exception, match="read the activity of"):
        finalize(client, mongo_db, second.snapshot_id)


def test_the_rotation_goes_on_after_retention_forgot_the_full_sweep(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    from airflow_assets.config.storage import RetentionPolicy
    from airflow_assets.store.prune import forget, prune

    client = client_for(sandbox)
    first = _run(client, mongo_db, "run-1", 3)
    _run(client, mongo_db, "run-2", 3)
    forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)
    prune(mongo_db, dry_run=False)
    assert SnapshotStore(mongo_db).get(first.snapshot_id) is None  # the full sweep is forgotten
    objects = _objects(client, sandbox)
    _comment_everywhere(sandbox, objects, "after retention")

    third = _run(client, mongo_db, "run-3", 3)

    # Not a second full sweep: the next slice, and the store still holds every object's earlier activity.
    assert third.kind == "incremental" and SweepSlice.from_manifest(third.document) == SweepSlice(1, 3)
    assert _commented(mongo_db, third, "after retention") == _in_slice(objects, SweepSlice(1, 3))
    assert third.counts["comments"] > len(_in_slice(objects, SweepSlice(1, 3)))

"""Backup steps in plain Python against the sandbox over HTTP and the embedded MongoDB: what users rely on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.api import AssetsClient, RetryPolicy
from airflow_assets.backup.activity import export_activity
from airflow_assets.backup.finalize import finalize, mark_failed
from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.rotation import SweepSlice
from airflow_assets.backup.schema_config import export_config
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox, run_sandbox
from airflow_assets.sandbox.realism import RealismConfig
from airflow_assets.store import SnapshotStore
from airflow_assets.store.hashing import canonical_json
from tests.integration.backup_support import (
    back_up,
    client_for,
    collection_counts,
    kill_step_after_checkpoint,
    live_objects,
    run_info,
    stored,
    target,
)

pytestmark = pytest.mark.slow


def _text_attribute(client: AssetsClient, type_id: str, name: str) -> str:
    return next(a["id"] for a in client.get_object_type_attributes(type_id) if a["name"] == name)


def _set_text(client: AssetsClient, object_id: str, attribute_id: str, text: str) -> None:
    client.update_object(
        object_id,
        {"attributes": [{"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": text}]}]},
    )


def _steps(db: Database, snapshot_id: str) -> dict[str, Any]:
    snapshot = SnapshotStore(db).get(snapshot_id)
    assert snapshot is not None
    return dict(snapshot.document["steps"])


def _swept(db: Database, snapshot_id: str, object_ids: Iterable[str]) -> set[str]:
    """Return the objects of the rolling sweep's slice the snapshot's run re-read unchanged or not."""
    snapshot = SnapshotStore(db).get(snapshot_id)
    assert snapshot is not None
    swept = SweepSlice.from_manifest(snapshot.document)
    assert swept is not None
    return {object_id for object_id in object_ids if swept.covers(object_id)}


def _everything(db: Database, snapshot_id: str) -> dict[str, set[str]]:
    kinds = ("object", "history", "comment", "ticket", "object_type", "attribute", "status_type", "schema")
    return {kind: {canonical_json(item) for item in stored(db, snapshot_id, kind)} for kind in kinds}


def test_an_incremental_run_reads_only_what_changed(sandbox: RunningSandbox, mongo_db: Database) -> None:
    client = client_for(sandbox)
    schema_id = sandbox.seed.schema_ids["ITAM"]
    first = back_up(client, mongo_db, "ITAM", "run-1")
    before_edits = live_objects(client, schema_id)
    laptops = sorted(
        (
            key
            for key, value in before_edits.items()
            if value["objectTypeId"] == sandbox.seed.type_ids["Laptop"]
        ),
        key=int,
    )
    serial = _text_attribute(client, sandbox.seed.type_ids["Laptop"], "Serial number")
    edited = laptops[:2]  # 2 of 150 objects: about 1 %
    for object_id in edited:
        _set_text(client, object_id, serial, f"EDITED-{object_id}")

    second = back_up(client, mongo_db, "ITAM", "run-2")

    steps = _steps(mongo_db, second.snapshot_id)
    assert second.kind == "incremental"
    # The edited objects, and the rolling sweep's slice (about 1/7 of them) unchanged or not.
    swept = _swept(mongo_db, second.snapshot_id, before_edits)
    assert 0 < len(swept) < len(before_edits) / 4
    assert steps["export_objects"]["read"] == len(swept | set(edited))
    assert steps["export_objects"]["new_versions"] == 2
    assert steps["export_objects"]["listed"] == len(before_edits)
    for step in ("export_history", "export_comments", "export_tickets"):
        assert steps[step]["objects"] == len(swept | set(edited)), step
    # The new snapshot reads back the whole schema as it is now; the old one as it was.
    assert {item["id"]: item for item in stored(mongo_db, second.snapshot_id, "object")} == live_objects(
        client, schema_id
    )
    assert {item["id"]: item for item in stored(mongo_db, first.snapshot_id, "object")} == before_edits
    # The edits' history entries are in the new snapshot only.
    new_history = {e["id"] for e in stored(mongo_db, second.snapshot_id, "history")} - {
        e["id"] for e in stored(mongo_db, first.snapshot_id, "history")
    }
    assert new_history and all(
        entry["objectId"] in edited
        for entry in stored(mongo_db, second.snapshot_id, "history")
        if entry["id"] in new_history
    )

    counts = collection_counts(mongo_db)
    third = back_up(client, mongo_db, "ITAM", "run-3")

    steps = _steps(mongo_db, third.snapshot_id)
    swept_next = _swept(mongo_db, third.snapshot_id, before_edits)
    assert swept_next and not swept_next & swept  # the next slice
    assert steps["export_objects"]["read"] == len(swept_next) and steps["export_objects"]["new_versions"] == 0
    assert steps["export_history"]["objects"] == len(swept_next)
    after = collection_counts(mongo_db)
    assert (after["versions"], after["spans"]) == (counts["versions"], counts["spans"])


def test_deleted_and_created_objects_are_recorded(sandbox: RunningSandbox, mongo_db: Database) -> None:
    client = client_for(sandbox)
    schema_id = sandbox.seed.schema_ids["LOC"]
    first = back_up(client, mongo_db, "LOC", "run-1")
    objects = live_objects(client, schema_id)
    doomed = max(objects, key=int)
    doomed_history = [e for e in stored(mongo_db, first.snapshot_id, "history") if e["objectId"] == doomed]
    client.delete_object(doomed)
    country = sandbox.seed.type_ids["Country"]
    name = _text_attribute(client, country, "Name")
    created = client.create_object(
        {
            "objectTypeId": country,
            "attributes": [{"objectTypeAttributeId": name, "objectAttributeValues": [{"value": "Iceland"}]}],
        }
    )

    second = back_up(client, mongo_db, "LOC", "run-2")

    assert _steps(mongo_db, second.snapshot_id)["export_objects"]["deleted"] == 1
    now = {item["id"]: item for item in stored(mongo_db, second.snapshot_id, "object")}
    assert now == live_objects(client, schema_id)
    assert str(created["id"]) in now and doomed not in now
    assert not [e for e in stored(mongo_db, second.snapshot_id, "history") if e["objectId"] == doomed]
    assert doomed_history == [
        e for e in stored(mongo_db, first.snapshot_id, "history") if e["objectId"] == doomed
    ]


def test_retried_steps_and_a_cleared_run_write_no_duplicates(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    run = run_info("run-1")
    config = export_config(client, mongo_db, target("ITAM"), run)
    export_objects(client, mongo_db, config.snapshot_id)
    export_activity(client, mongo_db, config.snapshot_id, "history")
    counts = collection_counts(mongo_db)

    # Airflow retries a task that failed after its writes, or an operator clears it.
    assert export_config(client, mongo_db, target("ITAM"), run).snapshot_id == config.snapshot_id
    again = export_objects(client, mongo_db, config.snapshot_id)
    history_again = export_activity(client, mongo_db, config.snapshot_id, "history")

    assert again.new_versions == 0 and again.unchanged == again.listed
    assert history_again.objects == 0  # the checkpoint says every object is done
    assert collection_counts(mongo_db) == counts
    export_activity(client, mongo_db, config.snapshot_id, "comments")
    export_activity(client, mongo_db, config.snapshot_id, "tickets")
    finalize(client, mongo_db, config.snapshot_id)
    complete = collection_counts(mongo_db)
    # Clearing the whole run after it completed: every step finds the snapshot complete and writes nothing.
    assert export_config(client, mongo_db, target("ITAM"), run).already_complete
    assert export_objects(client, mongo_db, config.snapshot_id).already_complete
    assert export_activity(client, mongo_db, config.snapshot_id, "history").skipped
    assert finalize(client, mongo_db, config.snapshot_id).status == "complete"
    assert collection_counts(mongo_db) == complete
    assert mongo_db["snapshots"].count_documents({}) == 1


def test_a_run_killed_halfway_is_not_restorable_and_resumes_where_it_stopped(
    sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    first = back_up(client, mongo_db, "ITAM", "run-1")
    earlier = _everything(mongo_db, first.snapshot_id)
    second = export_config(client, mongo_db, target("ITAM", full_sweep_every=1), run_info("run-2"))
    export_objects(client, mongo_db, second.snapshot_id)
    # The history step runs in its own process, paced slowly, and is killed after its first checkpoint.
    setup = "from airflow_assets.backup import activity\nactivity.FLUSH_EVERY = 20"
    done_before_kill = kill_step_after_checkpoint(
        sandbox, mongo_server, mongo_db, second.snapshot_id, "history", setup
    )

    # Nothing of the killed run is restorable, and the earlier snapshot reads back exactly as before.
    snapshots = SnapshotStore(mongo_db)
    assert [s.snapshot_id for s in snapshots.list(status="complete")] == [first.snapshot_id]
    assert _everything(mongo_db, first.snapshot_id) == earlier

    resumed = export_activity(client, mongo_db, second.snapshot_id, "history")
    assert resumed.resumed_after == done_before_kill > 0
    assert 0 < resumed.objects < 150
    export_activity(client, mongo_db, second.snapshot_id, "comments")
    export_activity(client, mongo_db, second.snapshot_id, "tickets")
    finalize(client, mongo_db, second.snapshot_id)
    assert _everything(mongo_db, second.snapshot_id) == earlier  # nothing changed on the site meanwhile


def test_429_storms_and_faults_change_nothing_in_the_content(
    mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    with run_sandbox(seed="demo") as clean:
        reference = back_up(client_for(clean), mongo_db, "ITAM", "clean")
        expected = _everything(mongo_db, reference.snapshot_id)
    hostile = RealismConfig(
        rate_limits=True,
        rate_limit_per_minute=40,
        window_seconds=1.0,
        retry_after=False,
        fault_rate=0.05,
        random_seed=11,
    )
    storm_db = mongo_db.client[f"{mongo_db.name}_storm"]
    try:
        with run_sandbox(seed="demo", realism=hostile) as site:
            client = client_for(site, retry=RetryPolicy(max_attempts=100, initial_wait=0.05, max_wait=0.5))
            stormy = back_up(client, storm_db, "ITAM", "storm")
            assert site.realism.stats.rate_limited > 0  # the storm happened
            assert sum(site.realism.stats.faults.values()) > 0
        assert _everything(storm_db, stormy.snapshot_id) == expected
    finally:
        mongo_db.client.drop_database(storm_db.name)


def test_no_secret_reaches_the_store(sandbox: RunningSandbox, mongo_db: Database) -> None:
    back_up(client_for(sandbox), mongo_db, "PEOPLE", "run-1")

    for name in mongo_db.list_collection_names():
        for document in mongo_db[name].find():
            text = json.dumps(document, default=str)
            assert sandbox.api_token not in text, name
            assert "jwt=" not in text, name  # per-read avatar and icon tokens are never stored


def test_the_teardown_marks_an_unfinished_run_failed_and_frees_the_schema(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    done = back_up(client, mongo_db, "LOC", "run-1")
    unfinished = export_config(client, mongo_db, target("LOC"), run_info("run-2"))
    export_objects(client, mongo_db, unfinished.snapshot_id)

    assert mark_failed(mongo_db, "jira_assets_backup_test", "run-2") == "failed"
    assert mark_failed(mongo_db, "jira_assets_backup_test", "run-1") == "complete"  # a complete run stays so

    assert SnapshotStore(mongo_db).get(done.snapshot_id).status == "complete"
    assert mongo_db["leases"].count_documents({"holder": {"$ne": None}}) == 0  # freed (the token stays)
    # The next run resumes nothing of the failed one and takes the schema's lease at once.
    third = back_up(client, mongo_db, "LOC", "run-3")
    assert third.kind == "incremental" and SnapshotStore(mongo_db).get(third.snapshot_id).status == "complete"

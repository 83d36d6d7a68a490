"""The MongoDB store on a real MongoDB-wire server: versions and spans, manifests, the schema lease."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.database import Database

from airflow_assets.store import (
    Item,
    LeaseHeldError,
    LeaseLostError,
    SchemaLease,
    SnapshotStateError,
    SnapshotStore,
    VersionStore,
)
from airflow_assets.store.snapshots import snapshot_id_for
from airflow_assets.store.versions import OPEN, object_group


def _item(item_id: str, text: str) -> Item:
    number = int(item_id)
    return Item(
        item_id, {"id": item_id, "text": text}, group=object_group("9", number), type_id="9", n=number
    )


def _texts(store: VersionStore, seq: int) -> dict[str, str]:
    return {data["id"]: data["text"] for data in store.read("object", seq)}


def test_each_snapshot_reads_back_its_own_state_and_unchanged_items_cost_nothing(mongo_db: Database) -> None:
    store = VersionStore(mongo_db, "ws", "1")

    store.record("object", [_item("1", "a"), _item("2", "b")], 1)
    unchanged = store.record("object", [_item("1", "a"), _item("2", "b")], 2)
    store.record("object", [_item("1", "A")], 3)
    store.close_absent("object", 3, [object_group("9", 1)], ["1"])  # item 2 deleted at seq 3
    store.record("object", [_item("1", "a")], 4)  # back to the first content

    assert (unchanged.new_versions, unchanged.unchanged) == (0, 2)
    assert _texts(store, 1) == _texts(store, 2) == {"1": "a", "2": "b"}
    assert _texts(store, 3) == {"1": "A"}
    assert _texts(store, 4) == {"1": "a"}
    # Three distinct contents, stored once each; the return to "a" reuses its version.
    assert mongo_db["versions"].count_documents({}) == 3
    assert list(store.members("object", [object_group("9", 1)])) == ["1"]


def test_a_retried_write_within_one_run_updates_its_own_span(mongo_db: Database) -> None:
    store = VersionStore(mongo_db, "ws", "1")
    store.record("object", [_item("1", "a")], 1)

    store.record("object", [_item("1", "b")], 2)
    store.record("object", [_item("1", "c")], 2)  # the item changed again before the retry
    store.record("object", [_item("1", "c")], 2)

    assert _texts(store, 1) == {"1": "a"} and _texts(store, 2) == {"1": "c"}
    assert mongo_db["spans"].count_documents({}) == 2


def _open_spans(db: Database) -> list[tuple[str, int]]:
    return sorted((span["item_id"], span["from_seq"]) for span in db["spans"].find({"to_seq": OPEN}))


def test_a_write_interrupted_at_any_step_is_completed_by_the_next_one(mongo_db: Database) -> None:
    store = VersionStore(mongo_db, "ws", "1")
    group = object_group("9", 1)
    store.record("object", [_item("1", "a")], 1)
    # Run 2 changed the item and died after marking its head entry and closing the old span, before the
    # new span existed (the first steps of a write, done by hand here).
    store._entries("object", {(group, "1"): [2, None, None, [1]]})
    store._close_spans("object", 2, [("1", 1)])
    assert _open_spans(mongo_db) == []

    # Run 3 finds the unconfirmed entry and writes the item again, though its content equals run 2's.
    counts = store.record("object", [_item("1", "b")], 3)

    assert counts.new_versions == 1
    assert _open_spans(mongo_db) == [("1", 3)]
    assert _texts(store, 1) == {"1": "a"} and _texts(store, 3) == {"1": "b"}
    member = store.members("object", [group])["1"]
    assert (member.from_seq, member.pending) == (3, ())


def _manifest(run_id: str) -> dict:
    return {
        "_id": snapshot_id_for("ws", "1", run_id),
        "workspace_id": "ws",
        "schema_id": "1",
        "schema_key": "ITAM",
        "dag_id": "d",
        "run_id": run_id,
        "kind": "full",
        "include": {},
    }


def test_manifests_begin_once_and_only_the_newest_failed_run_can_resume(mongo_db: Database) -> None:
    snapshots = SnapshotStore(mongo_db)
    first, created = snapshots.begin(_manifest("r1"))
    again, created_again = snapshots.begin(_manifest("r1"))
    assert created and not created_again and again.seq == first.seq == 1

    snapshots.fail(first.snapshot_id, "boom", finished_at=datetime.now(UTC))
    assert snapshots.for_write(first.snapshot_id).status == "running"  # a retry of the newest run resumes it
    snapshots.fail(first.snapshot_id, "boom again", finished_at=datetime.now(UTC))
    second, _ = snapshots.begin(_manifest("r2"))
    with pytest.raises(SnapshotStateError, match="newer backup"):
        snapshots.for_write(first.snapshot_id)

    snapshots.complete(second.snapshot_id, {"counts": {}}, finished_at=datetime.now(UTC))
    assert not snapshots.fail(second.snapshot_id, "late teardown", finished_at=datetime.now(UTC))
    assert snapshots.get(second.snapshot_id).status == "complete"


def test_a_run_left_running_is_marked_failed_when_a_newer_one_begins(mongo_db: Database) -> None:
    snapshots = SnapshotStore(mongo_db)
    stale, _ = snapshots.begin(_manifest("r1"))

    snapshots.begin(_manifest("r2"))

    assert snapshots.get(stale.snapshot_id).status == "failed"


def test_the_lease_keeps_a_second_holder_out_until_released_or_expired(mongo_db: Database) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    backup = SchemaLease(mongo_db, "ws", "1", "snapshot-a", ttl=timedelta(minutes=10), clock=lambda: now[0])
    prune = SchemaLease(mongo_db, "ws", "1", "prune:x", ttl=timedelta(minutes=10), clock=lambda: now[0])

    backup.acquire()
    assert backup.try_acquire()  # the tasks of one run share it
    with pytest.raises(LeaseHeldError, match="held by snapshot-a"):
        prune.acquire()
    prune.release()  # not the holder: changes nothing
    assert not prune.try_acquire()

    now[0] += timedelta(minutes=11)  # the backup's task was killed and never renewed it
    assert prune.try_acquire()
    assert not backup.try_acquire()
    prune.release()
    assert backup.try_acquire()


def test_a_writer_paused_past_its_lease_is_fenced_out_once_another_took_it(mongo_db: Database) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    ttl = timedelta(seconds=90)
    writer = SchemaLease(mongo_db, "ws", "1", "snapshot-a", ttl=ttl, clock=lambda: now[0])
    same_run = SchemaLease(mongo_db, "ws", "1", "snapshot-a", ttl=ttl, clock=lambda: now[0])
    prune = SchemaLease(mongo_db, "ws", "1", "prune:x", ttl=ttl, clock=lambda: now[0])
    writer.acquire()
    same_run.acquire()  # a task of the same run joins the live lease: same token, neither is fenced
    assert same_run.token == writer.token
    writer.check()
    same_run.check()

    now[0] += timedelta(minutes=11)  # a VM pause: no renewal ran, the wall clock moved on
    assert prune.try_acquire()
    assert prune.token is not None and writer.token is not None and prune.token > writer.token
    with pytest.raises(LeaseLostError, match="taken by prune:x"):
        writer.check()
    assert not writer.renew()  # and it stays out, also after prune lets go
    prune.release()
    with pytest.raises(LeaseLostError):
        writer.check()
    # Its retry (a new acquisition of the same holder) gets a newer token and writes again.
    retry = SchemaLease(mongo_db, "ws", "1", "snapshot-a", ttl=ttl, clock=lambda: now[0])
    retry.acquire()
    retry.check()
    assert retry.token is not None and retry.token > prune.token


def test_a_writer_paused_past_its_lease_that_nobody_took_renews_and_goes_on(mongo_db: Database) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    writer = SchemaLease(mongo_db, "ws", "1", "snapshot-a", ttl=timedelta(seconds=90), clock=lambda: now[0])
    writer.acquire()
    now[0] += timedelta(minutes=11)

    writer.check()  # nobody acquired it meanwhile: nothing could have been deleted under it

    lease = mongo_db["leases"].find_one({"_id": "ws:1"})
    assert lease is not None and lease["holder"] == "snapshot-a" and lease["token"] == writer.token
    assert lease["expires_at"].replace(tzinfo=UTC) > now[0]


def test_the_renewer_marks_a_lost_lease_so_the_next_write_stops(mongo_db: Database) -> None:
    writer = SchemaLease(mongo_db, "ws", "1", "snapshot-a", ttl=timedelta(seconds=0.6))
    with writer:
        # Someone takes it by force (an operator's script, a clock far ahead on another worker).
        mongo_db["leases"].update_one({"_id": "ws:1"}, {"$set": {"holder": "other"}, "$inc": {"token": 1}})
        deadline = time.monotonic() + 5
        while not writer.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "taken by other" in writer.lost
        with pytest.raises(LeaseLostError):
            writer.check()

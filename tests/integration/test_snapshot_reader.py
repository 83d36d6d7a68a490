"""SnapshotReader on a real MongoDB-wire server: choosing snapshots, and reading each in its own lane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo.database import Database

from airflow_assets.store import Item, SnapshotStore, VersionStore
from airflow_assets.store.reader import (
    AmbiguousSnapshotError,
    SnapshotNotFoundError,
    SnapshotReader,
    short_id,
)
from airflow_assets.store.snapshots import RUN_RECONSTRUCTION, Snapshot, snapshot_id_for
from airflow_assets.store.versions import RECONSTRUCTED_LANE, object_group

DAY = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _object(object_id: str, label: str) -> Item:
    number = int(object_id)
    data = {"id": object_id, "label": label, "objectKey": f"ITAM-{object_id}", "objectTypeId": "9"}
    return Item(object_id, data, group=object_group("9", number), type_id="9", n=number)


def _begin(db: Database, run_id: str, *, started: datetime, key: str = "ITAM", **fields: Any) -> Snapshot:
    snapshot, _ = SnapshotStore(db).begin(
        {
            "_id": snapshot_id_for("ws", "1" if key == "ITAM" else "2", run_id),
            "workspace_id": "ws",
            "schema_id": "1" if key == "ITAM" else "2",
            "schema_key": key,
            "site": "prod",
            "dag_id": "d",
            "run_id": run_id,
            "kind": "full",
            "include": {},
            "started_at": started,
            "state_at": started,
            **fields,
        }
    )
    return snapshot


def _complete(db: Database, snapshot: Snapshot, objects: list[Item]) -> Snapshot:
    versions = VersionStore(db, snapshot.workspace_id, snapshot.schema_id)
    versions.record("object", objects, snapshot.seq)
    versions.close_absent("object", snapshot.seq, [object_group("9", 1)], [item.item_id for item in objects])
    SnapshotStore(db).complete(
        snapshot.snapshot_id, {"counts": {"objects": len(objects)}}, finished_at=snapshot.started_at or DAY
    )
    completed = SnapshotStore(db).get(snapshot.snapshot_id)
    assert completed is not None
    return completed


@pytest.fixture
def history(mongo_db: Database) -> dict[str, Snapshot]:
    """Three days of ITAM: complete, complete, then damaged; a failed and a running run after them."""
    first = _complete(mongo_db, _begin(mongo_db, "scheduled__day1", started=DAY), [_object("1", "Ann")])
    second = _complete(
        mongo_db,
        _begin(mongo_db, "scheduled__day2", started=DAY + timedelta(days=1)),
        [_object("1", "Anne"), _object("2", "Bob")],
    )
    third = _complete(
        mongo_db, _begin(mongo_db, "scheduled__day3", started=DAY + timedelta(days=2)), [_object("1", "A")]
    )
    SnapshotStore(mongo_db).mark_damaged(third.snapshot_id, {"versions": 1}, at=DAY + timedelta(days=2))
    failed = _begin(mongo_db, "manual__day4", started=DAY + timedelta(days=3))
    SnapshotStore(mongo_db).fail(failed.snapshot_id, "boom", finished_at=DAY + timedelta(days=3))
    running = _begin(mongo_db, "manual__day5", started=DAY + timedelta(days=4))
    store = SnapshotStore(mongo_db)
    return {
        name: snapshot
        for name, snapshot in (
            ("first", store.get(first.snapshot_id)),
            ("second", store.get(second.snapshot_id)),
            ("third", store.get(third.snapshot_id)),
            ("failed", store.get(failed.snapshot_id)),
            ("running", store.get(running.snapshot_id)),
        )
        if snapshot is not None
    }


def test_the_newest_readable_snapshot_is_never_a_damaged_failed_or_running_one(
    mongo_db: Database, history: dict[str, Snapshot]
) -> None:
    reader = SnapshotReader(mongo_db)

    latest = reader.latest("ITAM")

    assert latest is not None and latest.snapshot_id == history["second"].snapshot_id
    assert [s.snapshot_id for s in reader.complete("ITAM")] == [
        history["second"].snapshot_id,
        history["first"].snapshot_id,
    ]
    for name in ("third", "failed", "running"):
        assert not reader.readable(history[name])
    assert reader.readable(history["third"], accept_damaged=True)
    assert not reader.readable(history["failed"], accept_damaged=True)
    assert reader.latest("ITAM", site="test") is None
    assert reader.schema_keys() == ["ITAM"]
    assert [s.snapshot_id for s in reader.latest_real("ITAM", site="prod", count=2)] == [
        history["second"].snapshot_id,
        history["first"].snapshot_id,
    ]


def test_a_moment_chooses_the_newest_state_at_or_before_it_naive_meaning_utc(
    mongo_db: Database, history: dict[str, Snapshot]
) -> None:
    reader = SnapshotReader(mongo_db)
    between = DAY + timedelta(hours=30)  # day 2, 18:00 UTC

    aware = reader.latest("ITAM", at=between)
    naive = reader.latest("ITAM", at=between.replace(tzinfo=None))
    in_berlin = reader.latest("ITAM", at=between.astimezone(ZoneInfo("Europe/Berlin")))
    just_before_second = reader.latest("ITAM", at=(DAY + timedelta(days=1) - timedelta(seconds=1)))

    assert aware is not None and naive is not None and in_berlin is not None
    assert aware.snapshot_id == naive.snapshot_id == in_berlin.snapshot_id == history["second"].snapshot_id
    assert just_before_second is not None and just_before_second.snapshot_id == history["first"].snapshot_id
    assert reader.latest("ITAM", at=DAY - timedelta(days=1)) is None
    # Moments read back from the store are UTC, whatever the client's tz_aware setting.
    assert history["first"].state_at == DAY and history["first"].state_at.tzinfo is not None


def test_a_snapshot_is_found_by_id_short_id_or_unique_ending(
    mongo_db: Database, history: dict[str, Snapshot]
) -> None:
    reader = SnapshotReader(mongo_db)
    first = history["first"].snapshot_id

    assert reader.find(first).snapshot_id == first
    assert reader.find(short_id(first)).snapshot_id == first
    assert reader.find("day1").snapshot_id == first
    # Any status is found; whether it may be read is asked apart.
    assert reader.find("day4").status == "failed"


def test_an_ambiguous_ending_lists_every_candidate_and_an_unknown_one_says_how_to_find_ids(
    mongo_db: Database, history: dict[str, Snapshot]
) -> None:
    reader = SnapshotReader(mongo_db)
    other = _begin(mongo_db, "scheduled__day1", started=DAY, key="LOC")

    with pytest.raises(AmbiguousSnapshotError, match="matches 2 snapshots") as raised:
        reader.find("scheduled__day1")
    assert [c.snapshot_id for c in raised.value.candidates] == [
        history["first"].snapshot_id,
        other.snapshot_id,
    ]
    with pytest.raises(SnapshotNotFoundError, match="snapshots list"):
        reader.find("no-such-run")


def test_a_reconstruction_is_read_from_its_own_lane(mongo_db: Database, history: dict[str, Snapshot]) -> None:
    store = SnapshotStore(mongo_db)
    moment = DAY + timedelta(hours=6)
    reconstructed, _ = store.begin_reconstructed(
        {
            "_id": "ws:1:at:moment",
            "workspace_id": "ws",
            "schema_id": "1",
            "schema_key": "ITAM",
            "site": "prod",
            "state_at": moment,
            "include": {},
            "run_kind": RUN_RECONSTRUCTION,
        }
    )
    lane = VersionStore(mongo_db, "ws", "1", lane=RECONSTRUCTED_LANE)
    lane.record("object", [_object("1", "Ann before")], reconstructed.seq)
    store.complete(reconstructed.snapshot_id, {"counts": {"objects": 1}}, finished_at=DAY + timedelta(days=3))
    reader = SnapshotReader(mongo_db)
    chosen = reader.latest("ITAM", at=DAY + timedelta(hours=8))

    assert chosen is not None and chosen.snapshot_id == reconstructed.snapshot_id
    assert chosen.run_kind == RUN_RECONSTRUCTION and chosen.state_at == moment
    assert [o["label"] for o in reader.objects(chosen)] == ["Ann before"]
    assert reader.labels(chosen, ["1", "2"]) == {"1": ("Ann before", "ITAM-1")}
    assert reader.count(chosen, "object") == 1
    # The real lane is untouched by it, and the monitor's newest real snapshots never include it.
    assert reader.labels(history["first"], ["1"]) == {"1": ("Ann", "ITAM-1")}
    assert reconstructed.snapshot_id not in {
        s.snapshot_id for s in reader.latest_real("ITAM", site="prod", count=5)
    }
    assert reader.complete_seqs(chosen) == [(chosen.seq, chosen.snapshot_id)]


def test_changes_between_two_snapshots_come_from_spans(
    mongo_db: Database, history: dict[str, Snapshot]
) -> None:
    reader = SnapshotReader(mongo_db)
    first, second = history["first"], history["second"]

    changes = reader.changes(first, "object", [(first.seq, second.seq)])[(first.seq, second.seq)]

    assert changes.summary() == {"added": 1, "removed": 0, "changed": 1}
    before, after = changes.changed["1"]
    contents = reader.contents(first, [before["hash"], after["hash"]])
    assert (contents[before["hash"]]["label"], contents[after["hash"]]["label"]) == ("Ann", "Anne")


def test_diff_refuses_to_compare_a_reconstruction_with_a_real_snapshot(
    mongo_db: Database, history: dict[str, Snapshot]
) -> None:
    import argparse

    from airflow_assets.tools.snapshot_reading import ToolError
    from airflow_assets.tools.snapshots_diff import _diff

    store = SnapshotStore(mongo_db)
    reconstructed, _ = store.begin_reconstructed(
        {"_id": "ws:1:at:moment", "workspace_id": "ws", "schema_id": "1", "schema_key": "ITAM", "include": {}}
    )
    store.complete(reconstructed.snapshot_id, {"counts": {}}, finished_at=DAY)
    args = argparse.Namespace(old=reconstructed.snapshot_id, new=history["first"].snapshot_id, json=True)

    with pytest.raises(ToolError, match="reconstructed snapshot is compared with another"):
        _diff(mongo_db, args)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_changes_of_any_two_snapshots_are_what_their_objects_say(mongo_db: Database, seed: int) -> None:
    """A random history (creates, edits, edits back, deletes, re-creates): for every pair of snapshots the
    changes found from the spans (one pair, as a diff asks; several, as a schema's table asks) are those
    found by reading both snapshots' objects whole."""
    import itertools
    import random

    rng = random.Random(seed)
    present = {str(n): rng.choice("ab") for n in range(1, 21)}
    snapshots = []
    for day in range(8):
        for object_id in list(present):
            roll = rng.random()
            if roll < 0.15:
                del present[object_id]
            elif roll < 0.45:
                present[object_id] = rng.choice("abc")  # "a" again is an edit back: no change
        for object_id in rng.sample([str(n) for n in range(1, 26)], 3):
            present.setdefault(object_id, rng.choice("abc"))
        begun = _begin(mongo_db, f"scheduled__r{day}", started=DAY + timedelta(days=day))
        objects = [
            _object(object_id, label) for object_id, label in sorted(present.items(), key=lambda i: int(i[0]))
        ]
        snapshots.append(_complete(mongo_db, begun, objects))
    reader = SnapshotReader(mongo_db)
    held = [{str(o["id"]): o for o in reader.objects(snapshot)} for snapshot in snapshots]
    consecutive = [(a.seq, b.seq) for a, b in itertools.pairwise(snapshots)]
    in_one_pass = reader.changes(snapshots[0], "object", consecutive)

    for i, old in enumerate(snapshots):
        for j in range(i + 1, len(snapshots)):
            new = snapshots[j]
            found = reader.changes(old, "object", [(old.seq, new.seq)])[(old.seq, new.seq)]
            before, after = held[i], held[j]
            expected = {
                "added": set(after) - set(before),
                "removed": set(before) - set(after),
                "changed": {k for k in set(before) & set(after) if before[k] != after[k]},
            }
            assert {name: set(getattr(found, name)) for name in expected} == expected, (i, j)
            if j == i + 1:
                assert in_one_pass[(old.seq, new.seq)].summary() == found.summary(), (i, j)

"""Backups that cannot silently rot: complete incrementals, tampering found, repair, a sound one kept.

The schema here is built through the REST API on an empty part of the sandbox (not the demo seed): names
in several scripts, an emoji, values that differ only in case. Every attack ends with a check of what a
user relies on: `snapshots verify` (the checker), the restore's plan, and what a restore would read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.activity import export_activity
from airflow_assets.backup.finalize import IncompleteSnapshotError, finalize, mark_failed
from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.schema_config import export_config
from airflow_assets.config.storage import RetentionPolicy
from airflow_assets.restore.integrity import DamagedSnapshotError
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.check import (
    HASH_MISMATCH,
    ROOT_MISMATCH,
    UNAUTHENTICATED,
    SnapshotCheck,
    SnapshotChecker,
)
from airflow_assets.store.digest import compute_root
from airflow_assets.store.layout import SNAPSHOTS, SPANS, VERSIONS
from airflow_assets.store.prune import forget, prune
from airflow_assets.store.repair import repair_schema, schemas_of
from airflow_assets.store.snapshots import COMPLETE, DAMAGED, FAILED, Snapshot, SnapshotStateError
from airflow_assets.store.versions import OPEN, DamagedContentError
from tests.integration.backup_support import back_up, client_for, run_info, target
from tests.integration.restore_support import session

KEY = "VAULT"
INCLUDE = {"history": True, "comments": True, "connected_tickets": False}


@dataclass
class Vault:
    """A schema made through the API: one type, a text attribute, objects named in several scripts."""

    client: AssetsClient
    schema_id: str
    type_id: str
    colour: str
    objects: list[str]

    def paint(self, object_id: str, text: str) -> None:
        """Change an object's text attribute (a history entry on the site)."""
        self.client.update_object(
            object_id,
            {
                "attributes": [
                    {"objectTypeAttributeId": self.colour, "objectAttributeValues": [{"value": text}]}
                ]
            },
        )

    def live_activity(self) -> tuple[int, int]:
        """Return (history entries, comments) the site holds for the schema's objects now."""
        history = sum(len(self.client.get_object_history(o)) for o in self.objects)
        comments = sum(len(self.client.get_object_comments(o)) for o in self.objects)
        return history, comments


@pytest.fixture
def vault(sandbox: RunningSandbox) -> Vault:
    client = client_for(sandbox)
    schema = client.create_object_schema({"name": "Ünïcode Vault 金庫", "objectSchemaKey": KEY})
    schema_id = str(schema["id"])
    kind = client.create_object_type({"name": "Schlüssel 🔑", "iconId": "1", "objectSchemaId": schema_id})
    type_id = str(kind["id"])
    attributes = client.get_object_type_attributes(type_id)
    name = next(a["id"] for a in attributes if a["name"] == "Name")
    colour = str(client.create_attribute(type_id, {"name": "Färbe", "type": 0, "defaultTypeId": 0})["id"])
    objects = []
    for number, label in enumerate(
        ["ключ", "Schlüssel", "SCHLÜSSEL", "鍵", "κλειδί", "🔑 key", "مفتاح", "k"]
    ):
        created = client.create_object(
            {
                "objectTypeId": type_id,
                "attributes": [
                    {"objectTypeAttributeId": name, "objectAttributeValues": [{"value": label}]},
                    {"objectTypeAttributeId": colour, "objectAttributeValues": [{"value": f"v{number}"}]},
                ],
            }
        )
        objects.append(str(created["id"]))
    return Vault(client, schema_id, type_id, str(colour), objects)


def _back_up(vault: Vault, db: Database, run_id: str) -> str:
    return back_up(vault.client, db, KEY, run_id, include=INCLUDE).snapshot_id


def _snapshot(db: Database, snapshot_id: str) -> Snapshot:
    found = SnapshotStore(db).get(snapshot_id)
    assert found is not None, snapshot_id
    return found


def _check(db: Database, snapshot_id: str, *, key: bytes | None = None) -> SnapshotCheck:
    return SnapshotChecker(db, key=key).check(_snapshot(db, snapshot_id))


def _held(db: Database, snapshot_id: str) -> tuple[int, int]:
    counts = _snapshot(db, snapshot_id).document["counts"]
    return counts["history_entries"], counts["comments"]


def _spans(db: Database, snapshot: Snapshot, kind: str) -> Iterator[dict[str, Any]]:
    yield from db[SPANS].find(
        {
            "ws": snapshot.workspace_id,
            "schema_id": snapshot.schema_id,
            "kind": kind,
            "from_seq": {"$lte": snapshot.seq},
            "to_seq": {"$gt": snapshot.seq},
        }
    )


# -- complete incrementals --------------------------------------------------------------------------------


def _changes(vault: Vault) -> list[str]:
    """Edit five objects and comment on three of them; return the edited ids."""
    edited = vault.objects[:5]
    for number, object_id in enumerate(edited):
        vault.paint(object_id, f"repainted {number} ✓")
    for object_id in edited[:3]:
        vault.client.create_comment(object_id, f"checked by the night shift: {object_id}")
    return edited


def test_a_failed_incremental_run_does_not_hide_changes_from_the_next_one(
    vault: Vault, mongo_db: Database
) -> None:
    _back_up(vault, mongo_db, "run-1")
    _changes(vault)
    # Run 2 stores the changed objects and dies before their history and comments (kill -9: the teardown
    # marks it failed).
    failed = export_config(vault.client, mongo_db, target(KEY, include=INCLUDE), run_info("run-2"))
    export_objects(vault.client, mongo_db, failed.snapshot_id)
    assert mark_failed(mongo_db, "jira_assets_backup_test", "run-2") == FAILED

    good = _back_up(vault, mongo_db, "run-3")

    assert _snapshot(mongo_db, good).kind == "incremental"
    assert _held(mongo_db, good) == vault.live_activity()
    assert _check(mongo_db, good).sound


def test_a_superseded_incremental_run_does_not_hide_changes_from_the_one_that_superseded_it(
    vault: Vault, mongo_db: Database
) -> None:
    _back_up(vault, mongo_db, "run-1")
    _changes(vault)
    first = export_config(vault.client, mongo_db, target(KEY, include=INCLUDE), run_info("run-2"))
    export_objects(vault.client, mongo_db, first.snapshot_id)
    # Run 2's worker stalls; its lease runs out (90 s, made to have passed) and the other DAG's run 3 starts.
    mongo_db["leases"].update_many({}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(minutes=2)}})

    second = _back_up(vault, mongo_db, "run-3")  # begins while run 2 is still "running": supersedes it

    assert _snapshot(mongo_db, first.snapshot_id).status == FAILED
    with pytest.raises(SnapshotStateError, match="cannot be resumed"):
        finalize(vault.client, mongo_db, first.snapshot_id)
    assert _held(mongo_db, second) == vault.live_activity()


def test_finalize_refuses_when_objects_were_stored_again_after_their_activity_was_read(
    vault: Vault, mongo_db: Database
) -> None:
    _back_up(vault, mongo_db, "run-1")
    config = export_config(vault.client, mongo_db, target(KEY, include=INCLUDE), run_info("run-2"))
    export_objects(vault.client, mongo_db, config.snapshot_id)
    for what in ("history", "comments"):
        export_activity(vault.client, mongo_db, config.snapshot_id, what)
    # An operator clears export_objects after the activity steps ran; the site changed meanwhile.
    _changes(vault)
    export_objects(vault.client, mongo_db, config.snapshot_id)

    with pytest.raises(IncompleteSnapshotError, match="export_objects ran again"):
        finalize(vault.client, mongo_db, config.snapshot_id)

    mongo_db["progress"].delete_many({"_id": {"$regex": "^" + config.snapshot_id.replace(":", ".")}})
    for what in ("history", "comments"):
        export_activity(vault.client, mongo_db, config.snapshot_id, what)
    finalize(vault.client, mongo_db, config.snapshot_id)
    assert _held(mongo_db, config.snapshot_id) == vault.live_activity()


# -- tampering ------------------------------------------------------------------------------------------


def _two_snapshots(vault: Vault, db: Database) -> tuple[str, str, str]:
    """Back up, repaint object 0, back up again; return (older, newer, object 0)."""
    older = _back_up(vault, db, "run-1")
    vault.paint(vault.objects[0], "the newer colour")
    newer = _back_up(vault, db, "run-2")
    return older, newer, vault.objects[0]


def _object_span(db: Database, snapshot_id: str, object_id: str) -> dict[str, Any]:
    snapshot = _snapshot(db, snapshot_id)
    return next(span for span in _spans(db, snapshot, "object") if span["item_id"] == object_id)


def _tamper_content(db: Database, newer: str, object_id: str) -> None:
    digest = _object_span(db, newer, object_id)["hash"]
    db[VERSIONS].update_one({"_id": digest}, {"$set": {"data.label": "planted"}})


def _repoint(db: Database, newer: str, object_id: str, older: str) -> None:
    span = _object_span(db, newer, object_id)
    db[SPANS].update_one({"_id": span["_id"]}, {"$set": {"hash": _object_span(db, older, object_id)["hash"]}})


def _delete_span_and_lower_counts(db: Database, newer: str, object_id: str) -> None:
    span = _object_span(db, newer, object_id)
    db[SPANS].delete_one({"_id": span["_id"]})
    type_id = str(span["type_id"])
    db[SNAPSHOTS].update_one(
        {"_id": newer}, {"$inc": {"counts.objects": -1, f"counts.per_type.{type_id}": -1}}
    )


def _promote_failed(db: Database, vault: Vault) -> str:
    failed = export_config(vault.client, db, target(KEY, include=INCLUDE), run_info("run-3"))
    export_objects(vault.client, db, failed.snapshot_id)
    mark_failed(db, "jira_assets_backup_test", "run-3")
    newest_complete = db[SNAPSHOTS].find_one({"_id": {"$ne": failed.snapshot_id}, "status": COMPLETE,
                                              "schema_key": KEY}, sort=[("seq", -1)])  # fmt: skip
    assert newest_complete is not None
    db[SNAPSHOTS].update_one(
        {"_id": failed.snapshot_id},
        {"$set": {"status": COMPLETE, "counts": newest_complete["counts"]}, "$unset": {"failure": ""}},
    )
    return failed.snapshot_id


@pytest.mark.parametrize("attack", ["content", "repoint", "delete span and counts", "promote failed"])
def test_verify_and_the_restore_plan_catch_every_tampering(
    vault: Vault, mongo_db: Database, attack: str
) -> None:
    older, newer, object_id = _two_snapshots(vault, mongo_db)
    assert _check(mongo_db, newer).sound
    victim = newer
    if attack == "content":
        _tamper_content(mongo_db, newer, object_id)
    elif attack == "repoint":
        _repoint(mongo_db, newer, object_id, older)
    elif attack == "delete span and counts":
        _delete_span_and_lower_counts(mongo_db, newer, object_id)
    else:
        victim = _promote_failed(mongo_db, vault)

    check = _check(mongo_db, victim)
    assert not check.sound
    expected = {"content": HASH_MISMATCH, "repoint": ROOT_MISMATCH, "delete span and counts": ROOT_MISMATCH}
    if attack in expected:
        assert expected[attack] in {problem.problem for problem in check.problems}
    else:
        assert "no root digest" in check.problems[0].detail
    params = {"snapshot": victim, "schema_mappings": [{"old_key": KEY, "new_key": "VAULT2"}]}
    with pytest.raises(DamagedSnapshotError, match=f"snapshot {victim} .* is damaged"):
        session(vault.client, mongo_db, params).plan()
    assert mongo_db.client.list_database_names()  # the plan wrote no restore: nothing created on the site
    assert not [s for s in vault.client.iter_object_schemas() if s.get("objectSchemaKey") == "VAULT2"]


def test_a_read_of_altered_content_stops_and_names_the_item(vault: Vault, mongo_db: Database) -> None:
    _, newer, object_id = _two_snapshots(vault, mongo_db)
    _tamper_content(mongo_db, newer, object_id)
    snapshot = _snapshot(mongo_db, newer)

    with pytest.raises(DamagedContentError, match=f"object {object_id} was altered") as raised:
        list(snapshot.versions(mongo_db).read("object", snapshot.seq))
    assert raised.value.item_id == object_id

    left_out: list[str] = []
    read = list(
        snapshot.versions(mongo_db).read(
            "object", snapshot.seq, on_damage=lambda e: left_out.append(e.item_id)
        )
    )
    assert left_out == [object_id] and len(read) == len(vault.objects) - 1


def test_accept_damaged_restores_what_is_sound_and_says_what_is_not(vault: Vault, mongo_db: Database) -> None:
    _, newer, object_id = _two_snapshots(vault, mongo_db)
    _tamper_content(mongo_db, newer, object_id)
    params = {
        "snapshot": newer,
        "schema_mappings": [{"old_key": KEY, "new_key": "VAULT3"}],
        "accept_damaged": True,
    }
    plan = session(vault.client, mongo_db, params).plan()
    assert plan.warning_counts.get("damaged source") == 1
    assert any(object_id in warning for warning in plan.warnings)
    assert plan.schemas[0].objects == len(vault.objects) - 1


def test_a_keyed_root_cannot_be_replaced_by_a_plain_one(vault: Vault, mongo_db: Database) -> None:
    key = b"k" * 32
    older = _back_up(vault, mongo_db, "run-1")
    vault.paint(vault.objects[0], "keyed colour")
    config = export_config(vault.client, mongo_db, target(KEY, include=INCLUDE), run_info("run-2"))
    export_objects(vault.client, mongo_db, config.snapshot_id)
    for what in ("history", "comments"):
        export_activity(vault.client, mongo_db, config.snapshot_id, what)
    finalize(vault.client, mongo_db, config.snapshot_id, key=key)
    newer = config.snapshot_id
    assert _check(mongo_db, newer, key=key).sound
    assert not _check(mongo_db, newer).sound  # without the key nothing is claimed about it
    # The attacker rolls object 0 back and writes a root that matches, without the key.
    _repoint(mongo_db, newer, vault.objects[0], older)
    snapshot = _snapshot(mongo_db, newer)
    forged = compute_root(snapshot.versions(mongo_db), snapshot.document, snapshot.document["counts"], None)
    mongo_db[SNAPSHOTS].update_one({"_id": newer}, {"$set": {"root": forged}})
    assert _check(mongo_db, newer).sound  # a plain digest is only as good as the database's access rules

    check = _check(mongo_db, newer, key=key)
    assert [problem.problem for problem in check.problems] == [UNAUTHENTICATED]
    forged_with_other_key = compute_root(
        snapshot.versions(mongo_db), snapshot.document, snapshot.document["counts"], b"x" * 32
    )
    mongo_db[SNAPSHOTS].update_one({"_id": newer}, {"$set": {"root": forged_with_other_key}})
    assert [p.problem for p in _check(mongo_db, newer, key=key).problems] == [UNAUTHENTICATED]


# -- repair, and retention that keeps a sound snapshot ----------------------------------------------------


@pytest.mark.parametrize("attack", ["content", "delete span and counts", "repoint"])
def test_repair_then_one_backup_makes_the_schema_sound(vault: Vault, mongo_db: Database, attack: str) -> None:
    older, newer, object_id = _two_snapshots(vault, mongo_db)
    if attack == "content":
        _tamper_content(mongo_db, newer, object_id)
    elif attack == "repoint":
        _repoint(mongo_db, newer, object_id, older)
    else:
        _delete_span_and_lower_counts(mongo_db, newer, object_id)
    # Without repair the next backups would inherit the damage: the heads say object 0 is unchanged.
    (snapshots,) = schemas_of(mongo_db, KEY).values()
    repaired = repair_schema(mongo_db, snapshots)

    assert list(repaired.damaged_snapshots) == [newer]
    assert repaired.items_marked >= 1
    assert _snapshot(mongo_db, newer).status == DAMAGED
    after = _back_up(vault, mongo_db, "run-3")

    assert _check(mongo_db, after).sound
    held = {
        o["id"]: o
        for o in _snapshot(mongo_db, after).versions(mongo_db).read("object", _snapshot(mongo_db, after).seq)
    }
    assert set(held) == set(vault.objects)
    assert held[object_id]["label"] != "planted"
    colour = next(a for a in held[object_id]["attributes"] if a["objectTypeAttributeId"] == vault.colour)
    assert "the newer colour" in str(colour)
    remaining = [s for s in SnapshotStore(mongo_db).list(status=COMPLETE)]
    assert remaining and all(SnapshotChecker(mongo_db).check(s).sound for s in remaining)
    assert prune(mongo_db, dry_run=False).skipped == ()


def test_forget_and_prune_never_leave_a_schema_without_a_sound_snapshot(
    vault: Vault, mongo_db: Database
) -> None:
    older, newer, object_id = _two_snapshots(vault, mongo_db)
    _tamper_content(mongo_db, newer, object_id)

    refused = forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)
    pruned = prune(mongo_db, dry_run=False)

    (schema,) = refused.schemas
    assert schema.refused.startswith("damaged") and schema.forgotten == ()
    assert _snapshot(mongo_db, older).status == COMPLETE
    assert pruned.skipped and pruned.skipped[0].skipped.startswith("damaged")
    assert (pruned.spans_deleted, pruned.versions_deleted) == (0, 0)

    (snapshots,) = schemas_of(mongo_db, KEY).values()
    repair_schema(mongo_db, snapshots)
    kept = forget(mongo_db, RetentionPolicy(keep_last=1), dry_run=False)
    prune(mongo_db, dry_run=False)

    assert [entry.snapshot_id for entry in kept.schemas[0].kept] == [older]
    assert _check(mongo_db, older).sound
    live = [s for s in SnapshotStore(mongo_db).list(status=COMPLETE)]
    assert [s.snapshot_id for s in live] == [older]
    assert mongo_db[SPANS].count_documents({"to_seq": OPEN}) > 0


def test_the_snapshot_tools_read_only_content_that_still_hashes_to_its_name(
    vault: Vault, mongo_db: Database
) -> None:
    from airflow_assets.tools.snapshot_reading import objects_at

    _, newer, object_id = _two_snapshots(vault, mongo_db)
    assert objects_at(mongo_db, _snapshot(mongo_db, newer), [object_id])[object_id]["id"] == object_id
    _tamper_content(mongo_db, newer, object_id)

    with pytest.raises(DamagedContentError, match=f"object {object_id} was altered"):
        objects_at(mongo_db, _snapshot(mongo_db, newer), [object_id])

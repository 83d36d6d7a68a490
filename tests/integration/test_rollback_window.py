"""A rollback narrowed to an account and a window, on the sandbox and a real MongoDB.

Back up LOC; an "import" by one user edits offices in a window; another user edits some of them later
(one of them after its attribute was renamed) and one just before the window; back up again (the fresh
backup holds the history); diff against the first snapshot and classify with the second one's history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pymongo
import pytest
from pymongo import monitoring
from pymongo.database import Database

from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.rollback_diff import DiffFilter, diff_schema
from airflow_assets.restore.rollback_window import (
    CHANGED_BEFORE,
    CHANGED_LATER,
    ChangeWindow,
    RollbackWindowError,
    classify_stored,
    load_entries,
)
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store.layout import SPANS
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot
from tests.integration.backup_support import back_up, client_for

EDITED = ("Opening time", "Website", "Address")


class _Finds(monitoring.CommandListener):
    """Keep the ``find`` commands sent to the spans collection."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == SPANS:
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _body(values: dict[str, str]) -> dict[str, Any]:
    return {
        "attributes": [
            {"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": value}]}
            for attribute_id, value in values.items()
        ]
    }


def _snapshot(db: Database, snapshot_id: str) -> Snapshot:
    snapshot = SnapshotReader(db).get(snapshot_id)
    assert snapshot is not None
    return snapshot


@pytest.fixture
def listened(mongo_server: EmbeddedMongo, mongo_db: Database) -> Iterator[tuple[Database, _Finds]]:
    """The test's database through a client that records its finds on the spans."""
    finds = _Finds()
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        mongo_server.uri, event_listeners=[finds]
    )
    try:
        yield client[mongo_db.name], finds
    finally:
        client.close()


def test_an_import_in_a_window_goes_back_and_later_edits_by_someone_else_are_conflicts(
    sandbox: RunningSandbox,
    mongo_db: Database,
    mongo_server: EmbeddedMongo,
    listened: tuple[Database, _Finds],
) -> None:
    site = sandbox.site
    assert sandbox.seed is not None
    ada_id, bob_id = sandbox.seed.users[0], sandbox.seed.users[1]
    ada, bob = site.users[ada_id].display_name, site.users[bob_id].display_name
    assert ada.casefold() != bob.casefold()
    with client_for(sandbox) as client:
        first = _snapshot(mongo_db, back_up(client, mongo_db, "LOC", "run-1").snapshot_id)
        schema_id = first.schema_id
        office = next(str(t["id"]) for t in client.get_object_types(schema_id) if t["name"] == "Office")
        attributes = {str(a["name"]): str(a["id"]) for a in client.get_object_type_attributes(office)}
        offices = sorted(
            (str(o["id"]) for o in client.iter_objects(f"objectTypeId = {office}", page_size=500)), key=int
        )
        assert len(offices) >= 4
        one, two, three, untouched = offices[:4]

        # The window: a day after the first backup, written in +02:00 (compared as instants).
        base = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        plus_two = timezone(timedelta(hours=2))
        window = ChangeWindow(
            frozenset({ada.upper()}), base.astimezone(plus_two), (base + timedelta(hours=2))
        )

        # Bob edits office three's address after the backup, before the window.
        site.update_object(
            three,
            _body({attributes["Address"]: "Bob's early address"}),
            actor=bob_id,
            at=base - timedelta(minutes=30),
        )
        # Ada's import: three attributes of three offices, the first one exactly at the window's start.
        for number, object_id in enumerate((one, two, three)):
            values = {
                attributes["Opening time"]: f"1{number}:15",
                attributes["Website"]: f"https://imported.example/{number}",
                attributes["Address"]: f"Imported {number}",
            }
            site.update_object(object_id, _body(values), actor=ada_id, at=base + timedelta(minutes=number))
        # Website is renamed; Bob then edits office one's (history names it by its new name) after the window.
        client.update_attribute(office, attributes["Website"], {"name": "Web page"})
        site.update_object(
            one,
            _body({attributes["Website"]: "https://bob.example/"}),
            actor=bob_id,
            at=base + timedelta(hours=3),
        )
        # Bob renames office two (an attribute Ada did not touch) in the window: left as it is.
        site.update_object(
            two, _body({attributes["Name"]: "Bob's office"}), actor=bob_id, at=base + timedelta(hours=1)
        )
        # Ada edits another office after the window: not hers to put back in this window.
        site.update_object(
            untouched,
            _body({attributes["Address"]: "Ada, later"}),
            actor=ada_id,
            at=base + timedelta(hours=5),
        )

        second = _snapshot(mongo_db, back_up(client, mongo_db, "LOC", "run-2").snapshot_id)
        diff = diff_schema(client, SnapshotReader(mongo_db), first, DiffFilter(type_ids=frozenset({office})))
        live_names = {str(a["id"]): str(a["name"]) for a in client.get_schema_attributes(schema_id)}

    by_id = {rewrite.object_id: set(rewrite.attribute_ids) for rewrite in diff.rewrites}
    assert set(by_id) == {one, two, three, untouched}
    config = SchemaConfig(SnapshotReader(mongo_db).config(first))

    def names_of(attribute_id: str) -> set[str]:
        held = config.attributes.get(attribute_id) or {}
        return {str(held.get("name") or ""), live_names.get(attribute_id, "")} - {""}

    assert names_of(attributes["Website"]) == {"Website", "Web page"}
    db, finds = listened
    reader = SnapshotReader(db)

    def plan(on_conflict: str, batch: int = 500) -> Any:
        return classify_stored(
            reader,
            second,
            diff.rewrites,
            names_of,
            window,
            snapshot_state_at=first.state_at or base,
            on_conflict=on_conflict,
            key_of=lambda object_id: f"LOC-{object_id}",
            batch=batch,
        )

    finds.commands.clear()
    kept = plan("keep")
    edited = {attributes[name] for name in EDITED}
    back = {rewrite.object_id: set(rewrite.attribute_ids) for rewrite in kept.rewrites}
    assert back == {
        one: edited - {attributes["Website"]},
        two: edited,
        three: edited - {attributes["Address"]},
    }
    conflicts = {(c.object_id, c.attribute_id): c for c in kept.conflicts}
    assert set(conflicts) == {(one, attributes["Website"]), (three, attributes["Address"])}
    later = conflicts[(one, attributes["Website"])]
    assert later.reason.startswith(f"{CHANGED_LATER} by {bob}")
    assert later.changed_at == base + timedelta(hours=3)
    assert later.object_key == f"LOC-{one}"
    before = conflicts[(three, attributes["Address"])]
    assert before.reason.startswith(f"{CHANGED_BEFORE} by {bob}")
    assert before.changed_at == base - timedelta(minutes=30)
    # Left: Bob's Name of office two, Ada's late Address of the untouched office.
    assert kept.left == 2
    assert kept.as_dict()["counts"]["conflicts_left"] == 2

    # One query of the spans for the history of every rewritten object.
    history_finds = [c for c in finds.commands if c.get("filter", {}).get("kind") == "history"]
    assert len(history_finds) == 1
    if mongo_server.is_mongodb:
        explained = db.command("explain", {"find": SPANS, "filter": history_finds[0]["filter"]})
        assert '"indexName": "parent"' in _flat(explained["queryPlanner"]["winningPlan"])

    overridden = plan("snapshot", batch=1)
    back = {rewrite.object_id: set(rewrite.attribute_ids) for rewrite in overridden.rewrites}
    assert back == {one: edited, two: edited, three: edited}
    assert all(c.overridden for c in overridden.conflicts) and len(overridden.conflicts) == 2
    # A batch of one object per query gives the same entries.
    assert list(load_entries(reader, second, [one, two], batch=1)) == list(
        load_entries(reader, second, [one, two])
    )


def test_a_snapshot_without_history_is_refused(sandbox: RunningSandbox, mongo_db: Database) -> None:
    with client_for(sandbox) as client:
        summary = back_up(client, mongo_db, "LOC", "run-1", include={"history": False, "comments": False})
    snapshot = _snapshot(mongo_db, summary.snapshot_id)
    with pytest.raises(RollbackWindowError, match="holds no history"):
        next(load_entries(SnapshotReader(mongo_db), snapshot, ["1"]))


def _flat(plan: Any) -> str:
    return json.dumps(plan, default=str)

"""The rollback diff on the sandbox and a real MongoDB: edit a backed-up schema, diff, put it back."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.model.attributes import is_system
from airflow_assets.model.normalize import normalize_object
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.rollback_diff import (
    CHANGED,
    CREATED_SINCE,
    DELETED_SINCE,
    UNCHANGED,
    DiffFilter,
    LiveWalk,
    RollbackDiff,
    diff_schema,
    in_place_maps,
    iter_write_bodies,
)
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot
from tests.integration.backup_support import back_up, client_for

EDITED = ("Opening time", "Website", "Address")


def _types(client: AssetsClient, schema_id: str) -> dict[str, str]:
    return {str(t["name"]): str(t["id"]) for t in client.get_object_types(schema_id)}


def _attributes(client: AssetsClient, type_id: str) -> dict[str, str]:
    return {str(a["name"]): str(a["id"]) for a in client.get_object_type_attributes(type_id)}


def _objects(client: AssetsClient, type_id: str) -> list[dict[str, Any]]:
    found = client.iter_objects(f"objectTypeId = {type_id}", page_size=500)
    return sorted(found, key=lambda obj: int(obj["id"]))


def _values(obj: dict[str, Any], attribute_id: str) -> list[Any]:
    for attribute in obj.get("attributes") or []:
        if str(attribute["objectTypeAttributeId"]) == attribute_id:
            return [value.get("value") for value in attribute["objectAttributeValues"]]
    return []


def _put(client: AssetsClient, object_id: str, values: dict[str, str]) -> None:
    client.update_object(
        object_id,
        {
            "attributes": [
                {"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": value}]}
                for attribute_id, value in values.items()
            ]
        },
    )


def _diff(client: AssetsClient, db: Database, snapshot: Snapshot, **selection: Any) -> RollbackDiff:
    return diff_schema(client, SnapshotReader(db), snapshot, DiffFilter(**selection), page_size=40)


def _apply(client: AssetsClient, db: Database, snapshot: Snapshot, diff: RollbackDiff) -> int:
    reader = SnapshotReader(db)
    config = SchemaConfig(reader.config(snapshot))
    live = [str(a["id"]) for a in client.get_schema_attributes(snapshot.schema_id)]
    writes = 0
    for body in iter_write_bodies(reader, snapshot, diff, in_place_maps(config, live), batch=7):
        if body.writes:
            client.update_object(body.object_id, body.body)
            writes += 1
    return writes


def test_edits_deletions_and_creations_are_found_and_put_back_in_place(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    with client_for(sandbox) as client:
        summary = back_up(client, mongo_db, "LOC", "run-1")
        snapshot = SnapshotReader(mongo_db).get(summary.snapshot_id)
        assert snapshot is not None
        schema_id = summary.schema_id
        types = _types(client, schema_id)
        office, city = types["Office"], types["City"]
        office_attributes = _attributes(client, office)
        offices, cities = _objects(client, office), _objects(client, city)
        before = {str(obj["id"]): (obj["objectKey"], obj["id"]) for obj in offices}

        nothing = _diff(client, mongo_db, snapshot)
        assert nothing.totals() == {
            UNCHANGED: client.count_objects(f"objectSchemaId = {schema_id}"),
            CHANGED: 0,
            DELETED_SINCE: 0,
            CREATED_SINCE: 0,
        }
        assert nothing.rewrites == ()

        # Three attributes overwritten on three offices (an "import").
        edited = offices[:3]
        for number, obj in enumerate(edited):
            _put(
                client,
                str(obj["id"]),
                {
                    office_attributes["Opening time"]: f"1{number}:15",
                    office_attributes["Website"]: f"https://imported.example/{number}",
                    office_attributes["Address"]: f"Imported {number}",
                },
            )
        # A city that offices point at is deleted (they lose the reference), and an office nobody in LOC
        # points at.
        city_of = {str(o["id"]): _referenced_ids(o, office_attributes["City"]) for o in offices}
        edited_cities = {city_id for obj in edited for city_id in city_of[str(obj["id"])]}
        referenced_id = next(ids[0] for ids in city_of.values() if ids and ids[0] not in edited_cities)
        referenced = next(c for c in cities if str(c["id"]) == referenced_id)
        referrers = [o for o in offices if referenced_id in city_of[str(o["id"])]]
        lonely = next(o for o in reversed(offices) if o not in referrers and o not in edited)
        client.delete_object(str(referenced["id"]))
        client.delete_object(str(lonely["id"]))
        created = [
            client.create_object(
                {
                    "objectTypeId": office,
                    "attributes": [
                        {
                            "objectTypeAttributeId": office_attributes["Name"],
                            "objectAttributeValues": [{"value": f"NEW-{n}"}],
                        }
                    ],
                }
            )
            for n in range(2)
        ]

        diff = _diff(client, mongo_db, snapshot)
        assert set(diff.deleted_since) == {str(referenced["id"]), str(lonely["id"])}
        assert set(diff.created_since) == {str(c["id"]) for c in created}
        waiting = {str(o["id"]) for o in referrers}
        by_id = {rewrite.object_id: rewrite for rewrite in diff.rewrites}
        assert set(by_id) == {str(o["id"]) for o in edited} | waiting
        names = {v: k for k, v in office_attributes.items()}
        for obj in edited:
            assert {names[a] for a in by_id[str(obj["id"])].attribute_ids} == set(EDITED)
        for object_id in waiting:
            assert [names[a] for a in by_id[object_id].attribute_ids] == ["City"]
        assert diff.counts[office][CREATED_SINCE] == 2
        assert diff.counts[city][DELETED_SINCE] == 1
        lines = [change.line() for change in diff.first_changes if change.kind == CHANGED]
        assert any("Website: [https://imported.example/0] -> [" in line for line in lines)

        # The exact bodies: the snapshot's values of just the edited attributes.
        reader = SnapshotReader(mongo_db)
        config = SchemaConfig(reader.config(snapshot))
        live = [str(a["id"]) for a in client.get_schema_attributes(schema_id)]
        bodies = {
            body.object_id: body
            for body in iter_write_bodies(reader, snapshot, diff, in_place_maps(config, live), batch=2)
        }
        for obj in edited:
            body = bodies[str(obj["id"])]
            expected = sorted(
                (
                    office_attributes[name],
                    tuple(str(v) for v in _values(obj, office_attributes[name])),
                )
                for name in EDITED
            )
            got = sorted(
                (a["objectTypeAttributeId"], tuple(v["value"] for v in a["objectAttributeValues"]))
                for a in body.body["attributes"]
            )
            assert got == expected
        for object_id in waiting:
            assert bodies[object_id].waits_for == (str(referenced["id"]),)
            assert bodies[object_id].body["attributes"] == []

        writes = _apply(client, mongo_db, snapshot, diff)
        assert writes == len(edited)

        after = _diff(client, mongo_db, snapshot)
        # Only the references to the deleted city remain: they come back when the city is recreated.
        assert {rewrite.object_id for rewrite in after.rewrites} == waiting
        assert after.deleted_since == diff.deleted_since
        assert after.created_since == diff.created_since
        # Ids and keys stayed; the put-back objects equal the snapshot's, but for what the server owns.
        stored = reader.objects_by_id(snapshot, [str(o["id"]) for o in edited])
        for obj in edited:
            now = normalize_object(client.get_object(str(obj["id"])))
            assert (now["objectKey"], now["id"]) == before[str(obj["id"])]
            was = stored[str(obj["id"])]
            assert _comparable(now, config) == _comparable(was, config)
        # Filtered to the edited offices: nothing left to write.
        scoped = _diff(client, mongo_db, snapshot, object_keys=frozenset(o["objectKey"] for o in edited))
        assert scoped.totals() == {UNCHANGED: 3, CHANGED: 0, DELETED_SINCE: 0, CREATED_SINCE: 0}


def test_another_writers_edit_between_diff_and_apply_survives(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    with client_for(sandbox) as client:
        summary = back_up(client, mongo_db, "LOC", "run-1")
        snapshot = SnapshotReader(mongo_db).get(summary.snapshot_id)
        assert snapshot is not None
        office = _types(client, summary.schema_id)["Office"]
        attributes = _attributes(client, office)
        target = _objects(client, office)[0]
        object_id = str(target["id"])
        _put(client, object_id, {attributes["Website"]: "https://imported.example/x"})

        diff = _diff(client, mongo_db, snapshot, type_ids=frozenset({office}))
        assert [r.object_id for r in diff.rewrites] == [object_id]
        assert set(diff.counts) == {office}

        # Another writer, after the diff: the address (not in the diff) and the website itself.
        _put(client, object_id, {attributes["Address"]: "Moved by someone else"})
        assert _apply(client, mongo_db, snapshot, diff) == 1

        now = client.get_object(object_id)
        assert _values(now, attributes["Website"]) == _values(target, attributes["Website"])
        assert _values(now, attributes["Address"]) == ["Moved by someone else"]
        again = _diff(client, mongo_db, snapshot, object_ids=frozenset({object_id}))
        assert [(c.name, c.new) for c in again.first_changes[0].attributes] == [
            ("Address", ("Moved by someone else",))
        ]


def _referenced_ids(obj: dict[str, Any], attribute_id: str) -> list[str]:
    for attribute in obj.get("attributes") or []:
        if str(attribute["objectTypeAttributeId"]) == attribute_id:
            return [
                str(value["referencedObject"]["id"])
                for value in attribute["objectAttributeValues"]
                if isinstance(value.get("referencedObject"), dict)
            ]
    return []


def _comparable(obj: dict[str, Any], config: SchemaConfig) -> dict[str, Any]:
    """A normalised object less what the server owns (``updated``, the system attributes' values)."""
    kept = {key: value for key, value in obj.items() if key != "updated"}
    kept["attributes"] = [
        attribute
        for attribute in obj["attributes"]
        if not is_system(config.attributes.get(attribute["objectTypeAttributeId"], {}))
    ]
    return kept


def test_the_live_walk_reads_every_object_once_in_id_order(demo_sandbox: RunningSandbox) -> None:
    with client_for(demo_sandbox) as client:
        schema = client.object_schema_by_key("ITAM")
        schema_id = str(schema["id"])
        expected = sorted(
            (str(obj["id"]) for obj in client.iter_objects(f"objectSchemaId = {schema_id}", page_size=500)),
            key=int,
        )
        walk = LiveWalk(client, schema_id, page_size=9)
        seen = [obj["id"] for obj in walk.objects()]
        assert seen == expected
        # Windows that fit a page, a few asked again narrower: about one request per page of objects.
        assert len(expected) / 9 <= walk.requests <= 4 * len(expected) / 9 + 10

        types = _types(client, schema_id)
        one_type = next(iter(types.values()))
        typed = LiveWalk(client, schema_id, type_ids={one_type}, page_size=9)
        assert all(obj["objectTypeId"] == one_type for obj in typed.objects())
        some = expected[::5]
        by_ids = LiveWalk(client, schema_id, object_ids=set(some), page_size=4)
        assert [obj["id"] for obj in by_ids.objects()] == some
        # Cut into lanes read side by side (about 20 objects each), still every object once, in id order.
        laned = LiveWalk(client, schema_id, page_size=9, expected=len(expected), lane_objects=20)
        assert [obj["id"] for obj in laned.objects()] == expected
        assert laned.requests >= len(expected) / 9 + 2  # the lanes' bounds cost two requests

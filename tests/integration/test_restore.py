"""Restores against real sandboxes and the embedded MongoDB: round trips, migration, recreate_missing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.restore.ledger import Ledger
from airflow_assets.restore.session import KEY_MAP_FILE
from airflow_assets.sandbox.launch import RunningSandbox, run_sandbox
from airflow_assets.sandbox.realism import RealismConfig
from tests.integration.backup_support import client_for, live_objects
from tests.integration.restore_support import DEMO_KEYS, back_up_demo, restore

LOC_AND_PEOPLE_INTO_COPIES = {
    "schema_mappings": [{"old_key": "LOC", "new_key": "LOC2"}, {"old_key": "PEOPLE", "new_key": "PEOPLE2"}]
}
NEW_KEYS = [{"old_key": key, "new_key": f"{key}2"} for key in DEMO_KEYS]


def schema_id(client: AssetsClient, key: str) -> str | None:
    """Return the id of the schema with ``key`` on the client's site, or None."""
    for schema in client.iter_object_schemas():
        if schema.get("objectSchemaKey") == key:
            return str(schema["id"])
    return None


def raw_objects(client: AssetsClient, key: str) -> dict[str, dict[str, Any]]:
    """Return every object of schema ``key`` as the API answers it, by object key."""
    found = schema_id(client, key)
    assert found is not None, f"no schema {key}"
    return {str(o["objectKey"]): o for o in client.iter_objects(f"objectSchemaId = {found}", page_size=500)}


def references(obj: dict[str, Any]) -> list[str]:
    """Return the keys an object (as the API answers it) references."""
    return [
        str(value["referencedObject"]["objectKey"])
        for attribute in obj.get("attributes") or []
        for value in attribute.get("objectAttributeValues") or []
        if isinstance(value.get("referencedObject"), dict)
    ]


def key_map(db: Database, restore_id: str = "restore-1") -> dict[str, str]:
    """Return the stored old -> new key map CSV of a restore."""
    parts = db["restore_files"].find({"restore_id": restore_id, "name": KEY_MAP_FILE}).sort("part", 1)
    rows = csv.DictReader(io.StringIO("".join(part["text"] for part in parts)))
    return {row["old_key"]: row["new_key"] for row in rows}


@pytest.fixture
def second_site() -> Iterator[RunningSandbox]:
    """Serve another Cloud site of the same organisation: the same users and groups, no Assets."""
    with run_sandbox(seed="directory", site_name="second") as running:
        yield running


def test_round_trip_into_new_keys_verifies_and_leaves_the_sources_alone(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db)
    before = {key: live_objects(client, str(schema_id(client, key))) for key in DEMO_KEYS}

    run, report = restore(client, mongo_db, {"schema_mappings": NEW_KEYS})

    assert report.ok, report.differences[:20]
    assert report.objects_checked == demo.total_objects
    assert {key: live_objects(client, str(schema_id(client, key))) for key in DEMO_KEYS} == before
    keys = key_map(mongo_db)
    assert len(keys) == demo.total_objects
    restored = {key: raw_objects(client, f"{key}2") for key in DEMO_KEYS}
    for key in DEMO_KEYS:
        assert len(restored[key]) == demo.object_counts[key]
    # Every reference points into the restored schemas, by the new keys (cross-schema ones too).
    every = {k: o for objects in restored.values() for k, o in objects.items()}
    targets = [target for obj in every.values() for target in references(obj)]
    assert targets and all(target in every for target in targets)
    # The reference cycle A -> C -> B -> A came back whole.
    a, b, c = (keys[key] for key in demo.cycle_keys)
    assert c in references(every[a]) and b in references(every[c]) and a in references(every[b])
    objects = run.ledger.document()["steps"]["objects"]
    assert objects["create_calls"] == demo.total_objects
    assert 0 < objects["update_calls"] <= objects["cyclic"] < 0.2 * demo.total_objects
    # Comments name their original author and time.
    commented = keys[demo.commented_key]
    texts = [c["comment"] for c in client.get_object_comments(every[commented]["id"])]
    assert texts and all(text.startswith("[Restored comment · originally by ") for text in texts)


def test_verify_lists_a_difference_made_after_the_restore(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db, keys=("LOC",))
    params = {"schema_mappings": [{"old_key": "LOC", "new_key": "LOCX"}], "history_as_comments": True}
    run, report = restore(client, mongo_db, params)
    assert report.ok, report.differences[:20]
    victim = next(iter(raw_objects(client, "LOCX").values()))
    # Its history came back as one readable comment.
    history = [c["comment"] for c in client.get_object_comments(str(victim["id"]))]
    assert len(history) == 1 and history[0].startswith("[Restored history of LOC-")
    assert "created the object" in history[0]
    label_attribute = next(
        a for a in victim["attributes"] if a["objectAttributeValues"][0].get("value") == victim["label"]
    )
    client.update_object(
        str(victim["id"]),
        {"attributes": [{"objectTypeAttributeId": label_attribute["objectTypeAttributeId"],
                         "objectAttributeValues": [{"value": "Changed by hand"}]}]},
    )  # fmt: skip

    again = run.verify()

    assert not again.ok
    assert any(
        victim["objectKey"] in difference and "Changed by hand" in difference
        for difference in again.differences
    )


def test_migration_into_another_site_verifies(
    sandbox: RunningSandbox, second_site: RunningSandbox, mongo_db: Database
) -> None:
    source = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(source, mongo_db)
    target = client_for(second_site)

    run, report = restore(
        target, mongo_db, {"schema_mappings": [{"old_key": k, "new_key": k} for k in DEMO_KEYS]}
    )

    assert report.ok, report.differences[:20]
    assert run.ledger.document()["plan"]["target"]["same_site"] is False
    for key in DEMO_KEYS:
        assert len(raw_objects(target, key)) == demo.object_counts[key]
    # The users are the same people on both sites (account ids are global).
    assert second_site.seed is None
    users = {v["user"]["key"] for o in raw_objects(target, "PEOPLE").values() for a in o["attributes"]
             for v in a["objectAttributeValues"] if v.get("user")}  # fmt: skip
    assert users and users <= set(demo.users)


def test_recreate_missing_brings_back_deleted_objects_and_the_references_to_them(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db)
    itam = raw_objects(client, "ITAM")
    a, b, c = demo.cycle_keys
    # Two servers of the cycle: other objects reference them.
    referrers = {key for key, obj in itam.items() if {a, b} & set(references(obj)) and key not in (a, b)}
    assert referrers
    untouched_before = {key: obj for key, obj in live_objects(client, str(schema_id(client, "ITAM"))).items()}
    for key in (a, b):
        client.delete_object(str(itam[key]["id"]))

    run, report = restore(
        client, mongo_db, {"mode": "recreate_missing", "schema_mappings": [{"old_key": "ITAM"}]}
    )

    assert report.ok, report.differences[:20]
    # Verify re-read the recreated objects and every object whose references were put back.
    assert report.objects_checked == 2 + len(referrers)
    keys = key_map(mongo_db)
    assert set(keys) == {a, b}
    now = raw_objects(client, "ITAM")
    assert len(now) == len(itam)
    assert keys[a] in references(now[keys[b]]) or keys[a] in references(now[c])
    for key in referrers:
        restored_refs = set(references(now[key]))
        wanted = {keys.get(ref, ref) for ref in references(itam[key])}
        assert restored_refs == wanted, key
    # Nothing else changed: every other object holds what it held before.
    after = live_objects(client, str(schema_id(client, "ITAM")))
    for object_id, obj in untouched_before.items():
        if obj["objectKey"] in referrers or obj["objectKey"] in (a, b):
            continue
        assert after[object_id] == obj
    assert run.ledger.document()["steps"]["objects"]["created"] == 2


def test_a_killed_restore_resumes_without_duplicates(sandbox: RunningSandbox, mongo_db: Database) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db, keys=("LOC", "PEOPLE"))
    params = LOC_AND_PEOPLE_INTO_COPIES
    created: list[str] = []

    class Killed(BaseException):
        """Stands for the worker being killed right after the server answered a create."""

    def kill_after_40(old_id: str) -> None:
        created.append(old_id)
        if len(created) == 40:
            raise Killed

    with pytest.raises(Killed):
        restore(client, mongo_db, params, on_created=kill_after_40, max_workers=4)
    assert len(list(Ledger(mongo_db, "restore-1").open_intents("object"))) >= 1

    run, report = restore(client, mongo_db, params)

    assert report.ok, report.differences[:20]
    assert run.ledger.document()["steps"]["objects"]["reconciled"] >= 1
    total = demo.object_counts["LOC"] + demo.object_counts["PEOPLE"]
    assert len(raw_objects(client, "LOC2")) + len(raw_objects(client, "PEOPLE2")) == total


def test_one_object_type_brings_its_parent_and_leaves_everything_else_untouched(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db, keys=("ITAM",))
    before = {key: live_objects(client, str(schema_id(client, key))) for key in DEMO_KEYS}
    params = {"schema_mappings": [{"old_key": "ITAM", "new_key": "LAPTOPS"}], "object_types": ["Laptop"]}

    run, report = restore(client, mongo_db, params)

    assert report.ok, report.differences[:20]
    plan = run.ledger.document()["plan"]
    assert any(reason.startswith("ITAM/Hardware: parent of Laptop") for reason in plan["pulled_in"])
    new_schema = str(schema_id(client, "LAPTOPS"))
    assert {t["name"] for t in client.get_object_types(new_schema)} == {"Hardware", "Laptop"}
    laptops = raw_objects(client, "LAPTOPS")
    assert len(laptops) == demo.type_counts["Laptop"]
    # Owners and locations live in schemas this restore did not touch: the copies point at the originals.
    owners = {ref for obj in laptops.values() for ref in references(obj)}
    assert owners and all(ref.split("-")[0] in ("PEOPLE", "LOC") for ref in owners)
    assert {key: live_objects(client, str(schema_id(client, key))) for key in DEMO_KEYS} == before


def test_a_few_object_keys_bring_what_they_reference_and_nothing_else(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db, keys=("ITAM",))
    itam = raw_objects(client, "ITAM")
    asked = [demo.cycle_keys[0], demo.edited_key]
    needed, queue = set(asked), list(asked)
    while queue:
        for ref in references(itam[queue.pop()]):
            if ref in itam and ref not in needed:
                needed.add(ref)
                queue.append(ref)
    params = {"schema_mappings": [{"old_key": "ITAM", "new_key": "FEW"}], "object_keys": asked}

    _, report = restore(client, mongo_db, params)

    assert report.ok, report.differences[:20]
    assert set(key_map(mongo_db)) == needed
    assert len(raw_objects(client, "FEW")) == len(needed) < len(itam)


def test_a_migration_to_a_site_without_those_users_leaves_them_empty_and_says_so(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    back_up_demo(client_for(sandbox), mongo_db, keys=("PEOPLE", "ITAM"))
    with run_sandbox(seed="empty", site_name="bare") as bare:
        target = client_for(bare)
        mappings = [{"old_key": "PEOPLE", "new_key": "PEOPLE"}, {"old_key": "ITAM", "new_key": "ITAM"}]

        run, report = restore(target, mongo_db, {"schema_mappings": mappings})

        assert report.ok, report.differences[:20]
        plan = run.ledger.document()["plan"]
        # People first: IT assets reference them. Locations are not restored: left empty on another site.
        assert plan["order"] == ["PEOPLE", "ITAM"]
        counts = plan["warning_counts"]
        assert counts["user missing"] > 0 and counts["group missing"] > 0 and counts["other schemas"] > 0
        owners = {ref for obj in raw_objects(target, "ITAM").values() for ref in references(obj)}
        assert owners and all(ref.startswith(("PEOPLE-", "ITAM-")) for ref in owners)
        people = raw_objects(target, "PEOPLE")
        assert people
        assert not any(
            v.get("user")
            for o in people.values()
            for a in o["attributes"]
            for v in a["objectAttributeValues"]
        )


def test_a_restore_through_faults_that_lose_answers_of_applied_writes_creates_nothing_twice(
    mongo_db: Database,
) -> None:
    # 10 % of requests fail: refused (503, 502 page, reset) or, worse, applied with the answer lost (cut
    # connection, truncated JSON). The client flags the latter maybe_applied; the restore looks before it
    # creates again.
    with run_sandbox(realism=RealismConfig(fault_rate=0.1, random_seed=11)) as faulty:
        client = client_for(faulty)
        demo = faulty.seed
        assert demo is not None
        back_up_demo(client, mongo_db, keys=("LOC", "PEOPLE"))
        params = LOC_AND_PEOPLE_INTO_COPIES

        run, report = restore(client, mongo_db, params)

        assert report.ok, report.differences[:20]
        assert len(raw_objects(client, "LOC2")) == demo.object_counts["LOC"]
        assert len(raw_objects(client, "PEOPLE2")) == demo.object_counts["PEOPLE"]
        assert (
            run.ledger.document()["steps"]["objects"]["created"]
            == demo.object_counts["LOC"] + demo.object_counts["PEOPLE"]
        )
        assert run.ledger.document()["steps"]["objects"]["answers_lost"] >= 1


def set_reference(client: AssetsClient, obj: dict[str, Any], attribute_id: str, key: str) -> None:
    """Make an object's reference attribute hold one object, by key."""
    body = {
        "attributes": [{"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": key}]}]
    }
    client.update_object(str(obj["id"]), body)


def _reference_attribute(client: AssetsClient, type_id: str, name: str, target_type: str) -> str:
    """Add a multi-value reference attribute; return its id."""
    reference_types = client.get_reference_types()
    body = {"name": name, "type": 1, "typeValue": target_type, "additionalValue": reference_types[0]["id"],
            "maximumCardinality": -1}  # fmt: skip
    return str(client.create_attribute(type_id, body)["id"])


def test_schemas_that_reference_each_other_are_restored_together_and_their_object_cycles_close(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    # People sit in offices, offices have facility managers: LOC and PEOPLE reference each other, and a
    # person managing the office they sit in is a cycle of two objects across the schemas.
    for key in ("LOC", "PEOPLE"):
        client.set_schema_properties(demo.schema_ids[key], {"allowOtherObjectSchema": True})
    sits_in = _reference_attribute(client, demo.type_ids["Person"], "Sits in", demo.type_ids["Office"])
    manager = _reference_attribute(
        client, demo.type_ids["Office"], "Facility manager", demo.type_ids["Person"]
    )
    office = next(o for o in raw_objects(client, "LOC").values() if o["objectType"]["name"] == "Office")
    person = next(o for o in raw_objects(client, "PEOPLE").values() if o["objectType"]["name"] == "Person")
    set_reference(client, person, sits_in, office["objectKey"])
    set_reference(client, office, manager, person["objectKey"])
    back_up_demo(client, mongo_db, keys=("LOC", "PEOPLE"))
    mappings = [{"old_key": "PEOPLE", "new_key": "PEOPLE2"}, {"old_key": "LOC", "new_key": "LOC2"}]

    run, report = restore(client, mongo_db, {"schema_mappings": mappings})

    assert report.ok, report.differences[:20]
    assert run.ledger.document()["plan"]["schema_cycles"] == [["LOC", "PEOPLE"]]
    keys = key_map(mongo_db)
    new_person = raw_objects(client, "PEOPLE2")[keys[person["objectKey"]]]
    new_office = raw_objects(client, "LOC2")[keys[office["objectKey"]]]
    assert new_office["objectKey"] in references(new_person)
    assert new_person["objectKey"] in references(new_office)


def test_the_plan_lists_references_to_objects_missing_from_a_snapshot_taken_at_another_moment(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db, run_id="people-early", keys=("PEOPLE",))
    # A person hired after the PEOPLE snapshot gets a laptop before the ITAM snapshot.
    person_type_attributes = {
        a["name"]: a["id"] for a in client.get_object_type_attributes(demo.type_ids["Person"])
    }
    values = {person_type_attributes["Name"]: "New Hire", person_type_attributes["Employee number"]: "99999"}
    hired = client.create_object(
        {
            "objectTypeId": demo.type_ids["Person"],
            "attributes": [
                {"objectTypeAttributeId": attribute, "objectAttributeValues": [{"value": value}]}
                for attribute, value in values.items()
            ],
        }
    )
    laptop = next(o for o in raw_objects(client, "ITAM").values() if o["objectType"]["name"] == "Laptop")
    owner = next(
        a["id"] for a in client.get_object_type_attributes(demo.type_ids["Laptop"]) if a["name"] == "Owner"
    )
    set_reference(client, laptop, owner, hired["objectKey"])
    back_up_demo(client, mongo_db, run_id="itam-later", keys=("ITAM",))
    mappings = [{"old_key": "PEOPLE", "new_key": "PEOPLE2"}, {"old_key": "ITAM", "new_key": "ITAM2"}]

    run, report = restore(client, mongo_db, {"schema_mappings": mappings})

    warnings = run.ledger.document()["plan"]["warnings"]
    gaps = [w for w in warnings if "not in the chosen snapshot of PEOPLE" in w]
    assert len(gaps) == 1 and laptop["objectKey"] in gaps[0] and gaps[0].endswith("left empty")
    # The restored Owner attribute points at the restored people: the hire, left behind, cannot fill it.
    assert report.ok, report.differences[:20]
    restored = raw_objects(client, "ITAM2")[key_map(mongo_db)[laptop["objectKey"]]]
    assert not any(ref.startswith("PEOPLE") for ref in references(restored))
    objects = run.ledger.document()["steps"]["objects"]
    assert objects["create_calls"] == objects["created"]

"""Rollback in place on the sandbox and a real MongoDB: edits, deletions and creations undone, ids kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.cli import main
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.exceptions import AssetsApiError
from airflow_assets.ids import id_order
from airflow_assets.model.attributes import is_system
from airflow_assets.model.normalize import normalize_attribute
from airflow_assets.restore.request import RestoreParamError
from airflow_assets.restore.rollback import CHANGES_FILE, read_changes
from airflow_assets.restore.rollback_writes import ROLLBACK_PUT, RollbackWriter
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store.reader import SnapshotReader
from tests.integration.backup_support import REPO, accepted, back_up, client_for, live_objects
from tests.integration.restore_support import back_up_demo, restore, session
from tests.integration.test_restore import raw_objects, references, schema_id

ITAM = {"mode": "rollback", "schema_mappings": "ITAM"}


def _text_attributes(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the attributes of a raw object that hold plain text values (no references, users, statuses)."""
    found = []
    for attribute in obj["attributes"]:
        values = attribute["objectAttributeValues"]
        if values and all(
            set(value) & {"value"} and not (set(value) & {"referencedObject", "user", "status", "group"})
            for value in values
        ):
            found.append(attribute)
    return found


def _values(obj: dict[str, Any], system: set[str]) -> dict[str, list[Any]]:
    """Return an object's values by attribute, the system attributes (Key, Created, Updated) left out."""
    return {
        str(a["objectTypeAttributeId"]): sorted(str(v.get("value")) for v in a.get("values") or [])
        for a in obj.get("attributes") or []
        if str(a["objectTypeAttributeId"]) not in system
    }


def test_rollback_puts_back_edits_deletions_and_creations_keeping_ids(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db, keys=("PEOPLE", "LOC", "ITAM"))
    itam_id = str(schema_id(client, "ITAM"))
    before = live_objects(client, itam_id)
    raw = raw_objects(client, "ITAM")
    # An "import" overwrites a text attribute of 30 objects, with values of its own kind.
    edited: dict[str, str] = {}
    for key, obj in sorted(raw.items())[:60]:
        for attribute in _text_attributes(obj)[1:]:
            value = str(attribute["objectAttributeValues"][0].get("value"))
            if value and not value.replace(".", "").isdigit() and len(edited) < 30:
                try:
                    client.update_object(
                        str(obj["id"]),
                        {
                            "attributes": [
                                {
                                    "objectTypeAttributeId": attribute["objectTypeAttributeId"],
                                    "objectAttributeValues": [{"value": value + " (imported)"}],
                                }
                            ]
                        },
                    )
                except Exception:
                    continue
                edited[key] = str(obj["id"])
                break
    assert len(edited) >= 20
    # Two servers others refer to are deleted; a laptop is created.
    a, b, _ = demo.cycle_keys
    referrers = {k for k, o in raw.items() if {a, b} & set(references(o)) and k not in (a, b)}
    assert referrers
    for key in (a, b):
        client.delete_object(str(raw[key]["id"]))
        edited.pop(key, None)
    laptop_type = demo.type_ids["Laptop"]
    name = next(str(x["id"]) for x in client.get_object_type_attributes(laptop_type) if x["name"] == "Name")
    created = client.create_object(
        {
            "objectTypeId": laptop_type,
            "attributes": [
                {"objectTypeAttributeId": name, "objectAttributeValues": [{"value": "Stray laptop"}]}
            ],
        }
    )

    dry = session(client, mongo_db, {**ITAM}, restore_id="dry")
    dry.plan()
    totals = dry.rollback_plans[0]["totals"]
    # The edited objects, and those whose references to the deleted servers went with them.
    assert totals["put_back"] == len(set(edited.values()) | {str(raw[k]["id"]) for k in referrers})
    assert totals["recreate"] == 2
    assert totals["kept_created"] == 1
    # The dry run wrote nothing.
    assert live_objects(client, itam_id).keys() == (
        before.keys() - {str(raw[a]["id"]), str(raw[b]["id"])}
    ) | {str(created["id"])}

    run, report = restore(client, mongo_db, {**ITAM, "delete_created": True}, restore_id="rb")
    assert report.ok, report.differences[:20]
    after = live_objects(client, itam_id)
    # Every surviving object keeps its id and key, and holds the snapshot's values again.
    for object_id, obj in before.items():
        if obj["objectKey"] in (a, b):
            assert object_id not in after
            continue
        assert after[object_id]["objectKey"] == obj["objectKey"]
    system = {
        str(x["id"]) for x in client.get_schema_attributes(itam_id) if is_system(normalize_attribute(x))
    }
    for key, object_id in edited.items():
        assert _values(after[object_id], system) == _values(before[object_id], system), key
    stored = [json.loads(line) for line in (run.ledger.read_file(CHANGES_FILE) or "").splitlines()]
    assert {c["key"] for c in stored if c["kind"] == "deleted_since"} == {a, b}
    writes = run.ledger.document()["steps"]["rollback"]
    assert writes["objects_put_back"] == len({c["id"] for c in stored if c["action"] == "put"})
    assert writes["deleted"] == 1
    assert writes["writes"] == writes["objects_put_back"] + 1
    assert str(created["id"]) not in after


@pytest.mark.parametrize("attack", ["second_writer"])
def test_an_object_changed_after_the_plan_is_left_alone_and_verify_fails(
    sandbox: RunningSandbox, mongo_db: Database, attack: str
) -> None:
    client = client_for(sandbox)
    back_up_demo(client, mongo_db, keys=("PEOPLE", "LOC", "ITAM"))
    raw = raw_objects(client, "ITAM")
    victims: list[tuple[str, str, str]] = []
    for obj in sorted(raw.values(), key=lambda o: int(o["id"])):
        texts = _text_attributes(obj)
        if texts and len(victims) < 3:
            attribute = texts[-1]
            value = str(attribute["objectAttributeValues"][0].get("value"))
            body = {"attributes": [{"objectTypeAttributeId": attribute["objectTypeAttributeId"],
                                    "objectAttributeValues": [{"value": value + "!"}]}]}  # fmt: skip
            try:
                client.update_object(str(obj["id"]), body)
            except Exception:
                continue
            victims.append((str(obj["id"]), attribute["objectTypeAttributeId"], value))
    assert len(victims) == 3
    run = session(client, mongo_db, {**ITAM, "dry_run": False}, restore_id="attacked")
    run.plan()
    run.build_structure()
    run.restore_objects()
    # A second writer edits one of the planned objects between the plan and the writes.
    object_id, attribute_id, value = victims[0]
    edit = [{"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": value + "?"}]}]
    client.update_object(object_id, {"attributes": edit})
    writes = run.roll_back()
    assert writes.changed_since_plan == 1
    assert writes.objects_put_back == 2
    assert any("changed after the plan" in warning for warning in writes.warnings)
    assert run.ledger.get(ROLLBACK_PUT, object_id) is None
    report = run.verify()
    assert not report.ok
    assert any(raw_key in difference for difference in report.differences for raw_key in [
        next(k for k, o in raw.items() if str(o["id"]) == object_id)])  # fmt: skip


def test_a_window_by_account_puts_back_the_import_and_keeps_later_edits_by_others(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    site = sandbox.site
    demo = sandbox.seed
    assert demo is not None
    importer, other = demo.users[0], demo.users[1]
    loc = _offices(sandbox, mongo_db)
    client, attributes, offices = loc.client, loc.attributes, loc.ids
    assert len(offices) >= 8
    before = live_objects(client, demo.schema_ids["LOC"])
    base = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    imported = ("Opening time", "Website", "Address")
    # The "import": three attributes of eight offices, by one account, in the window.
    for number, object_id in enumerate(offices[:8]):
        values = {
            attributes["Opening time"]: f"0{number}:45",
            attributes["Website"]: f"https://import.example/{number}",
            attributes["Address"]: f"Imported street {number}",
        }
        site.update_object(object_id, _body(values), actor=importer, at=base + timedelta(minutes=number))
    # Later, another user edits the name of two of them and the address of one.
    for object_id in offices[:2]:
        site.update_object(
            object_id,
            _body({attributes["Name"]: "Renamed by hand"}),
            actor=other,
            at=base + timedelta(hours=2),
        )
    site.update_object(
        offices[2], _body({attributes["Address"]: "Fixed by hand"}), actor=other, at=base + timedelta(hours=3)
    )
    back_up(client, mongo_db, "LOC", "run-2")  # the fresh backup: it holds the history of all that
    params = {
        "mode": "rollback",
        "schema_mappings": "LOC",
        "snapshot": loc.snapshot_id,
        "changed_by": [site.users[importer].display_name.lower()],
        "changed_from": base.isoformat(),
        "changed_to": (base + timedelta(hours=1)).isoformat(),
    }
    run, report = restore(client, mongo_db, params, restore_id="window")
    assert report.ok, report.differences[:20]
    plan = run.rollback_plans[0]
    assert plan["totals"]["put_back"] == 8
    assert plan["totals"]["conflicts"] == 1
    assert any("Address" in conflict for conflict in plan["conflicts"])
    after = live_objects(client, demo.schema_ids["LOC"])

    def value(object_id: str, name: str) -> list[str]:
        for attribute in after[object_id]["attributes"]:
            if str(attribute["objectTypeAttributeId"]) == attributes[name]:
                return [str(v.get("value")) for v in attribute["values"]]
        return []

    def old(object_id: str, name: str) -> list[str]:
        for attribute in before[object_id]["attributes"]:
            if str(attribute["objectTypeAttributeId"]) == attributes[name]:
                return [str(v.get("value")) for v in attribute["values"]]
        return []

    for object_id in offices[:8]:
        for name in imported:
            if (object_id, name) == (offices[2], "Address"):
                assert value(object_id, name) == ["Fixed by hand"]  # the conflict is left as it is
            else:
                assert value(object_id, name) == old(object_id, name), (object_id, name)
    for object_id in offices[:2]:
        assert value(object_id, "Name") == ["Renamed by hand"]
    assert after.keys() == before.keys()
    # One write per object put back, none for the others.
    assert run.ledger.document()["steps"]["rollback"]["writes"] == 8


@dataclass(frozen=True)
class Offices:
    """LOC backed up, and its offices: the attributes of the type by name, the object ids in id order."""

    client: AssetsClient
    snapshot_id: str
    attributes: dict[str, str]
    ids: list[str]


def _offices(sandbox: RunningSandbox, db: Database) -> Offices:
    """Back LOC up and return what the tests edit: its offices."""
    assert sandbox.seed is not None
    client = client_for(sandbox)
    snapshot_id = back_up(client, db, "LOC", "run-1").snapshot_id
    office = sandbox.seed.type_ids["Office"]
    attributes = {str(a["name"]): str(a["id"]) for a in client.get_object_type_attributes(office)}
    ids = sorted((str(o["id"]) for o in client.iter_objects(f"objectTypeId = {office}")), key=int)
    return Offices(client, snapshot_id, attributes, ids)


def _body(values: dict[str, str]) -> dict[str, Any]:
    return {
        "attributes": [
            {"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": value}]}
            for attribute_id, value in values.items()
        ]
    }


def test_restores_show_changes_lists_what_a_dry_run_would_put_back(
    sandbox: RunningSandbox,
    mongo_db: Database,
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    loc = _offices(sandbox, mongo_db)
    client, attributes, first = loc.client, loc.attributes, loc.ids[0]
    client.update_object(first, _body({attributes["Address"]: "Somewhere else"}))
    dry = session(client, mongo_db, {"mode": "rollback", "schema_mappings": "LOC"}, restore_id="rb:dry")
    dry.plan()
    config = tmp_path / "jira_assets.yaml"
    config.write_text(
        f"mongo: {{conn_id: rb_backup, database: {mongo_db.name}}}\n"
        "sites:\n  test:\n    conn_id: jira_assets_default\n    schemas: [LOC]\n"
    )
    monkeypatch.setenv("AIRFLOW_CONN_RB_BACKUP", mongo_server.airflow_conn_uri(mongo_db.name))
    capsys.readouterr()
    assert main(["restores", "show", "rb:dry", "--changes", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    # One line per object; the text area's line breaks are shown as \n.
    old = _address(dry, first).replace("\n", "\\n")
    assert "\n" in _address(dry, first)
    assert out == [f"LOC LOC-{first}: Address: [Somewhere else] -> [{old}]"]
    assert main(["restores", "show", "rb:dry", "--changes", "--json", "--config", str(config)]) == 0
    (stored,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert stored["action"] == "put" and stored["put"][0]["new"] == ["Somewhere else"]
    # A restore of another mode stored no changes: said so, exit 1.
    restore(client, mongo_db, {"mode": "recreate_missing", "schema_mappings": "LOC"}, restore_id="rm")
    assert main(["restores", "show", "rm", "--changes", "--config", str(config)]) == 1


def _address(run: Any, object_id: str) -> str:
    (change,) = [json.loads(line) for line in run.ledger.read_file(CHANGES_FILE).splitlines()]
    assert change["id"] == object_id
    return ", ".join(change["put"][0]["old"])


def test_deleted_objects_come_back_with_the_references_and_the_issues_that_named_them(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    demo = sandbox.seed
    assert demo is not None
    client = client_for(sandbox)
    city_type, office_type = demo.type_ids["City"], demo.type_ids["Office"]
    cities = sorted((str(o["id"]) for o in client.iter_objects(f"objectTypeId = {city_type}")), key=int)
    offices = {str(o["id"]): o for o in client.iter_objects(f"objectTypeId = {office_type}")}
    located = {office_id: _referenced(o) for office_id, o in offices.items()}
    doomed = [city for city in cities if any(city in map(str, refs) for refs in located.values())][:3]
    assert len(doomed) == 3
    field = "customfield_10100"
    for number, city in enumerate(doomed):
        sandbox.site.add_connected_ticket(city, {"key": f"OPS-{number + 1}"}, field_id=field)
    sandbox.site.add_connected_ticket(cities[-1], {"key": "OPS-1"}, field_id=field)  # a neighbour stays
    back_up(client, mongo_db, "LOC", "run-1")
    for city in doomed:
        client.delete_object(city)

    run, report = restore(
        client, mongo_db, {"mode": "rollback", "schema_mappings": "LOC", "relink_issues": True}, "rb:cities"
    )

    assert report.ok, report.differences[:20]
    created = run.ledger.created("object")
    assert set(created) == set(doomed)
    new_ids = {created[city].new_id for city in doomed}
    now = {str(o["id"]): o for o in client.iter_objects(f"objectTypeId = {office_type}")}
    for office_id, refs in located.items():
        wanted = {created[str(r)].new_id if str(r) in created else str(r) for r in refs}
        assert set(_referenced(now[office_id])) == wanted, office_id
    linked = {key: _field(sandbox, key, field) for key in ("OPS-1", "OPS-2", "OPS-3")}
    # Jira dropped the deleted city from the field; the new one joins its neighbour, which stays.
    assert sorted(linked["OPS-1"]) == sorted([created[doomed[0]].new_id, cities[-1]])
    assert {linked["OPS-2"][0], linked["OPS-3"][0]} <= new_ids
    assert run.ledger.document()["steps"]["relink"]["issues_relinked"] == 3


def _field(sandbox: RunningSandbox, key: str, field: str) -> list[str]:
    """Return the object ids an issue's Assets field holds, read as Jira serves it."""
    response = requests.get(
        f"{sandbox.url}/rest/api/3/issue/{key}",
        params={"fields": field},
        auth=(sandbox.email, sandbox.api_token),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [str(entry["objectId"]) for entry in response.json()["fields"][field] or []]


def _referenced(obj: dict[str, Any]) -> list[str]:
    """Return the ids an object (as the API answers it) references."""
    return [
        str(value["referencedObject"]["id"])
        for attribute in obj["attributes"]
        for value in attribute["objectAttributeValues"]
        if isinstance(value.get("referencedObject"), dict)
    ]


def test_a_rollback_killed_in_its_writes_resumes_without_writing_twice(
    sandbox: RunningSandbox, mongo_db: Database, mongo_server: EmbeddedMongo
) -> None:
    client = client_for(sandbox)
    back_up_demo(client, mongo_db, keys=("PEOPLE", "LOC", "ITAM"))
    edited = _overwrite_texts(client, raw_objects(client, "ITAM"), limit=60)
    assert len(edited) >= 40
    run = session(client, mongo_db, {**ITAM, "dry_run": False}, restore_id="rb:killed")
    run.plan()
    run.build_structure()
    run.restore_objects()
    planned = {c["id"] for c in read_changes(run.ledger) if c["action"] == "put"}
    assert planned == set(edited.values())
    puts = "PUT object/{id}"
    sandbox.realism.stats.reset()
    script = f"""
import pymongo
from airflow_assets.api import AssetsClient, RateLimits
from tests.integration.restore_support import session
client = AssetsClient(
    site_url={sandbox.url!r}, email={sandbox.email!r}, api_token={sandbox.api_token!r},
    api_base_url={sandbox.api_base_url!r},
    limits=RateLimits(default_limit=300, limits={{}}, total_limit=None),
)
db = pymongo.MongoClient({mongo_server.uri!r})[{mongo_db.name!r}]
run = session(client, db, {{**{ITAM!r}, "dry_run": False}}, restore_id="rb:killed", max_workers=2)
run.roll_back()
"""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while len(run.ledger.created(ROLLBACK_PUT)) < 10 and time.monotonic() < deadline:
        assert process.poll() is None, "the writes ended before they could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    before_resume = accepted(sandbox, puts)
    done_before = len(run.ledger.created(ROLLBACK_PUT))
    assert 10 <= done_before < len(planned)

    writes = run.roll_back()

    assert writes.objects_put_back + writes.already_back == len(planned) - done_before
    # Every object was written exactly once over both tries.
    assert before_resume + writes.writes == accepted(sandbox, puts) == len(planned)
    assert run.verify().ok


def _overwrite_texts(client: AssetsClient, raw: dict[str, dict[str, Any]], *, limit: int) -> dict[str, str]:
    """Overwrite one plain text attribute of up to ``limit`` objects (an "import"); return key -> id."""
    edited: dict[str, str] = {}
    for key, obj in sorted(raw.items(), key=lambda item: int(item[1]["id"])):
        if len(edited) >= limit:
            break
        for attribute in _text_attributes(obj)[1:]:
            value = str(attribute["objectAttributeValues"][0].get("value"))
            if not value or value.replace(".", "").isdigit():
                continue
            edit = {"objectTypeAttributeId": attribute["objectTypeAttributeId"],
                    "objectAttributeValues": [{"value": value + " (imported)"}]}  # fmt: skip
            try:
                client.update_object(str(obj["id"]), {"attributes": [edit]})
            except AssetsApiError:
                continue  # a value kind the edit does not fit: the next attribute
            edited[key] = str(obj["id"])
            break
    return edited


def test_a_deleted_attribute_comes_back_at_its_position_with_its_values_and_a_rename_is_undone(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    demo = sandbox.seed
    assert demo is not None
    client = client_for(sandbox)
    office = demo.type_ids["Office"]
    listed = [
        a
        for a in client.get_object_type_attributes(office)
        if str(a.get("objectType", {}).get("id", office)) == office
    ]
    names_before = [str(a["name"]) for a in listed]
    attributes = {str(a["name"]): str(a["id"]) for a in listed}
    before = {str(o["id"]): o for o in client.iter_objects(f"objectTypeId = {office}")}
    held = {object_id: _plain(o, attributes["Website"]) for object_id, o in before.items()}
    assert sum(1 for values in held.values() if values) >= 3
    back_up(client, mongo_db, "LOC", "run-1")
    client.delete_attribute(attributes["Website"])
    client.update_attribute(office, attributes["Address"], {"name": "Street"})

    dry = session(client, mongo_db, {"mode": "rollback", "schema_mappings": "LOC"}, restore_id="rb:attr:dry")
    dry.plan()
    config = dry.rollback_plans[0]["config"]
    assert any("Street" in line and "Address" in line for line in config["changes"])

    run, report = restore(client, mongo_db, {"mode": "rollback", "schema_mappings": "LOC"}, "rb:attr")

    assert report.ok, report.differences[:20]
    assert run.ledger.document()["steps"]["config"][0]["attributes_renamed"] == 1
    now = [
        a
        for a in client.get_object_type_attributes(office)
        if str(a.get("objectType", {}).get("id", office)) == office
    ]
    assert [str(a["name"]) for a in now] == names_before
    website = next(str(a["id"]) for a in now if a["name"] == "Website")
    assert website != attributes["Website"]  # created again: a new id
    after = {str(o["id"]): o for o in client.iter_objects(f"objectTypeId = {office}")}
    assert after.keys() == before.keys()
    for object_id, values in held.items():
        assert _plain(after[object_id], website) == values, object_id


def _own_attributes(client: AssetsClient, type_id: str) -> list[dict[str, Any]]:
    """Return the attributes a type owns (not inherited ones), in the site's order."""
    listed = client.get_object_type_attributes(type_id)
    return [a for a in listed if str((a.get("objectType") or {}).get("id", type_id)) == type_id]


def _plain(obj: dict[str, Any], attribute_id: str) -> list[Any]:
    """Return the values of one attribute of an object as the API answers it."""
    return [
        value.get("value")
        for attribute in obj["attributes"]
        if str(attribute["objectTypeAttributeId"]) == attribute_id
        for value in attribute["objectAttributeValues"]
    ]


def test_an_aql_filter_rolls_back_only_the_objects_it_finds_and_a_bad_one_is_refused(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    loc = _offices(sandbox, mongo_db)
    client, address, offices = loc.client, loc.attributes["Address"], loc.ids
    before = {o: _plain(client.get_object(o), address) for o in offices}
    for object_id in offices[:3]:
        client.update_object(object_id, _body({address: "Bad import"}))
    for object_id in offices[3:5]:
        client.update_object(object_id, _body({address: "Fixed by hand"}))
    params = {"mode": "rollback", "schema_mappings": "LOC", "aql": 'Address = "Bad import"'}

    _, report = restore(client, mongo_db, params, "rb:aql")

    # Verify also read the three objects the filter no longer finds (their value went back).
    assert report.ok, report.differences[:20]
    now = {o: _plain(client.get_object(o), address) for o in offices}
    assert {o: now[o] for o in offices[:3]} == {o: before[o] for o in offices[:3]}
    assert {o: now[o] for o in offices[3:5]} == {o: ["Fixed by hand"] for o in offices[3:5]}
    with pytest.raises(RestoreParamError) as refused:
        session(
            client, mongo_db, {**params, "aql": 'Address = "unterminated'}, restore_id="rb:aql:bad"
        ).plan()
    assert refused.value.param == "aql" and "the site refused the AQL filter" in refused.value.message


def test_an_edit_made_while_earlier_batches_are_written_is_still_seen_and_left_alone(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    back_up_demo(client, mongo_db, keys=("PEOPLE", "LOC", "ITAM"))
    edited = _overwrite_texts(client, raw_objects(client, "ITAM"), limit=14)
    assert len(edited) == 14
    run = session(client, mongo_db, {**ITAM, "dry_run": False}, restore_id="rb:stream")
    run.plan()
    changes = [c for c in read_changes(run.ledger) if c["action"] == "put"]
    last = sorted((c["id"] for c in changes), key=id_order)[-1]  # in the last batch of four: read again last
    (change,) = [c for c in changes if c["id"] == last]
    attribute = change["put"][0]
    puts = "PUT object/{id}"
    sandbox.realism.stats.reset()
    sent: list[str] = []

    def update(object_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if not sent:
            # Someone edits the last object while the rollback writes the first batch.
            edit = {"objectTypeAttributeId": attribute["id"], "objectAttributeValues": [{"value": "By hand"}]}
            sandbox.site.update_object(last, {"attributes": [edit]})
        sent.append(object_id)
        return AssetsClient.update_object(client, object_id, body)

    client.update_object = update  # type: ignore[method-assign]
    source = run.snapshots[0]
    writer = RollbackWriter(
        client, run.ledger, SnapshotReader(mongo_db), source.snapshot, run.rollback_maps(source), batch=4
    )
    writes = writer.run(iter(read_changes(run.ledger)))

    assert writes.changed_since_plan == 1
    assert writes.objects_put_back == len(changes) - 1 == writes.writes
    assert last not in sent and sorted(sent) == sorted({c["id"] for c in changes} - {last})
    assert accepted(sandbox, puts) == len(changes) - 1
    assert run.ledger.get(ROLLBACK_PUT, last) is None
    assert set(run.ledger.created(ROLLBACK_PUT)) == set(sent)


def test_a_rollback_of_one_type_gives_objects_of_other_types_their_references_back(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    demo = sandbox.seed
    assert demo is not None
    back_up_demo(client, mongo_db, keys=("PEOPLE", "LOC", "ITAM"))
    raw = raw_objects(client, "ITAM")
    a, b, _ = demo.cycle_keys
    referrers = {k for k, o in raw.items() if {a, b} & set(references(o)) and k not in (a, b)}
    kinds = {raw[k]["objectType"]["name"] for k in referrers}
    assert "Server" in kinds and kinds - {"Server"}, kinds  # referrers inside and outside the type
    for key in (a, b):
        client.delete_object(str(raw[key]["id"]))

    run, report = restore(
        client,
        mongo_db,
        {"mode": "rollback", "schema_mappings": "ITAM", "object_types": ["Server"]},
        "rb:type",
    )

    assert report.ok, report.differences[:20]
    created = run.ledger.created("object")
    keys = {run.selection.keys[old]: str(done.new_key) for old, done in created.items()}
    assert set(keys) == {a, b}
    now = raw_objects(client, "ITAM")
    for key in referrers:
        assert sorted(references(now[key])) == sorted(keys.get(r, r) for r in references(raw[key])), key


def test_a_plan_made_again_after_the_objects_step_never_deletes_what_the_rollback_created(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    demo = sandbox.seed
    assert demo is not None
    client = client_for(sandbox)
    back_up(client, mongo_db, "LOC", "run-1")
    cities = sorted(
        (str(o["id"]) for o in client.iter_objects(f"objectTypeId = {demo.type_ids['City']}")), key=int
    )
    for city in cities[:2]:
        client.delete_object(city)
    params = {"mode": "rollback", "schema_mappings": "LOC", "delete_created": True, "dry_run": False}
    run = session(client, mongo_db, params, restore_id="rb:replan")
    run.plan()
    run.build_structure()
    run.restore_objects()
    new_ids = {created.new_id for created in run.ledger.created("object").values()}
    assert len(new_ids) == 2

    # The plan task cleared and run again (a new session, as a new try of the task builds).
    again = session(client, mongo_db, params, restore_id="rb:replan")
    again.plan()
    ours = [c for c in read_changes(again.ledger) if c["id"] in new_ids]
    assert [(c["kind"], c["action"]) for c in ours] == [("created_since", "keep")] * 2
    again.build_structure()
    again.restore_objects()
    writes = again.roll_back()

    assert writes.deleted == 0
    assert new_ids <= {str(o["id"]) for o in client.iter_objects(f"objectTypeId = {demo.type_ids['City']}")}
    assert again.verify().ok

"""Restores equal the snapshot: attribute order, a schema's own statuses and reference types, names the
site would refuse found by the plan, and a refused write that fails the task at once.

The schema here is built through the REST API in the test (not the demo seed): a schema's own status
"In service" beside the site's global "In Service", an own reference type "installed" beside the global
"Installed", a reference attribute between plain ones and one plain attribute moved before Created.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.operators.restore import RestoreStepOperator
from airflow_assets.restore.request import RestoreParamError
from airflow_assets.sandbox.launch import RunningSandbox
from tests.integration.backup_support import back_up, client_for, set_connections
from tests.integration.restore_support import restore, session

KEY = "FLEET"
INTO = {"schema_mappings": [{"old_key": KEY, "new_key": "FLEET2", "new_name": "Fleet copy"}]}


@dataclass
class Fleet:
    """The schema built for these tests and the ids a test looks at."""

    client: AssetsClient
    schema_id: str
    truck: str
    order: list[str]


def _global_named(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(item for item in items if item["name"] == name and "objectSchemaId" not in item)


@pytest.fixture
def fleet(sandbox: RunningSandbox) -> Fleet:
    client = client_for(sandbox)
    schema_id = str(client.create_object_schema({"name": "Fleet", "objectSchemaKey": KEY})["id"])
    global_in_service = _global_named(client.get_status_types(), "In Service")
    assert global_in_service["category"] == 1
    in_service = client.create_status_type(
        {"name": "In service", "category": 2, "objectSchemaId": schema_id}
    )["id"]
    scrapped = client.create_status_type({"name": "Scrapped", "category": 0, "objectSchemaId": schema_id})[
        "id"
    ]
    _global_named(client.get_reference_types(), "Installed")
    installed = client.create_reference_type(
        {"name": "installed", "color": "123456", "objectSchemaId": schema_id}
    )["id"]
    depot = str(
        client.create_object_type({"name": "Depot", "iconId": "1", "objectSchemaId": schema_id})["id"]
    )
    truck = str(
        client.create_object_type({"name": "Truck", "iconId": "1", "objectSchemaId": schema_id})["id"]
    )

    def attribute(body: dict[str, Any]) -> str:
        return str(client.create_attribute(truck, body)["id"])

    plate = attribute({"name": "Plate", "type": 0, "defaultTypeId": 0})
    home = attribute({"name": "Home depot", "type": 1, "typeValue": depot, "additionalValue": installed})
    model = attribute({"name": "Model", "type": 0, "defaultTypeId": 0})
    state = attribute({"name": "State", "type": 7, "typeValueMulti": [in_service, scrapped]})
    attribute({"name": "Notes", "type": 0, "defaultTypeId": 9})
    client.position_attribute(truck, model, 2)  # before the system attribute Created
    names = {a["name"]: str(a["id"]) for a in client.get_object_type_attributes(depot)}
    depots = [
        str(client.create_object({"objectTypeId": depot, "attributes": [_value(names["Name"], label)]})["id"])
        for label in ("North yard", "South yard")
    ]
    depot_keys = [str(client.get_object(d)["objectKey"]) for d in depots]
    label = next(str(a["id"]) for a in client.get_object_type_attributes(truck) if a["name"] == "Name")
    for number in range(6):
        client.create_object(
            {
                "objectTypeId": truck,
                "attributes": [
                    _value(label, f"Truck {number}"),
                    _value(plate, f"AB-{number:03}"),
                    _value(home, depot_keys[number % 2]),
                    _value(model, "Volvo FH" if number % 2 else "Scania R"),
                    _value(state, str(scrapped if number == 5 else in_service)),
                ],
            }
        )
    order = [a["name"] for a in sorted(client.get_object_type_attributes(truck), key=lambda a: a["position"])]
    assert order == ["Key", "Name", "Model", "Created", "Updated", "Plate", "Home depot", "State", "Notes"]
    return Fleet(client, schema_id, truck, order)


def _value(attribute_id: str, value: str) -> dict[str, Any]:
    return {"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": value}]}


def _schema(client: AssetsClient, key: str) -> dict[str, Any]:
    return next(dict(s) for s in client.iter_object_schemas() if s["objectSchemaKey"] == key)


def _type_named(client: AssetsClient, schema_id: str, name: str) -> str:
    return next(str(t["id"]) for t in client.get_object_types(schema_id) if t["name"] == name)


def test_a_restore_keeps_the_schemas_own_statuses_and_the_attribute_order_and_verifies_exactly(
    fleet: Fleet, mongo_db: Database
) -> None:
    back_up(fleet.client, mongo_db, KEY, "run-1")

    run, report = restore(fleet.client, mongo_db, INTO)

    assert report.differences == []
    client = fleet.client
    copy = _schema(client, "FLEET2")
    assert copy["name"] == "Fleet copy"
    truck = _type_named(client, str(copy["id"]), "Truck")
    attributes = sorted(client.get_object_type_attributes(truck), key=lambda a: a["position"])
    assert [a["name"] for a in attributes] == fleet.order
    assert [a["position"] for a in attributes] == list(range(len(fleet.order)))
    own = {
        s["name"]: s
        for s in client.get_status_types(object_schema_id=str(copy["id"]))
        if s.get("objectSchemaId")
    }
    assert {name: s["category"] for name, s in own.items()} == {"In service": 2, "Scrapped": 0}
    assert all(s["objectSchemaId"] == str(copy["id"]) for s in own.values())
    statuses = []
    for obj in client.iter_objects(f"objectSchemaId = {copy['id']} AND objectType = Truck", page_size=50):
        for attribute in obj["attributes"]:
            for value in attribute["objectAttributeValues"]:
                if isinstance(value.get("status"), dict):
                    statuses.append(
                        (value["status"]["name"], value["status"]["category"], value["status"]["id"])
                    )
    assert sorted(name for name, _, _ in statuses) == ["In service"] * 5 + ["Scrapped"]
    assert {status_id for name, _, status_id in statuses if name == "In service"} == {
        str(own["In service"]["id"])
    }
    assert {category for name, category, _ in statuses if name == "In service"} == {2}
    home = next(a for a in attributes if a["name"] == "Home depot")
    assert home["referenceType"]["name"] == "installed"
    own_references = client.get_reference_types(object_schema_id=str(copy["id"]))
    assert str(home["referenceType"]["id"]) in {str(r["id"]) for r in own_references}
    assert run.ledger.document()["steps"]["structure"]["attributes_moved"] > 0

    # Resumable: running the structure step again moves nothing and creates nothing.
    again = run.build_structure()
    assert (again.attributes_created, again.attributes_moved, again.status_types_created) == (0, 0, 0)


def test_verify_lists_an_attribute_moved_and_a_status_renamed_after_the_restore(
    fleet: Fleet, mongo_db: Database
) -> None:
    back_up(fleet.client, mongo_db, KEY, "run-1")
    run, report = restore(fleet.client, mongo_db, INTO)
    assert report.ok
    client = fleet.client
    copy = str(_schema(client, "FLEET2")["id"])
    truck = _type_named(client, copy, "Truck")
    notes = next(str(a["id"]) for a in client.get_object_type_attributes(truck) if a["name"] == "Notes")
    client.position_attribute(truck, notes, 2)
    scrapped = next(s for s in client.get_status_types(object_schema_id=copy) if s["name"] == "Scrapped")
    client.update_status_type(str(scrapped["id"]), {"name": "Scrapped!", "category": 1})

    differences = run.verify().differences

    assert "FLEET2/Truck.Notes: position is 2, the snapshot has 8" in differences
    assert "FLEET2/Truck.Model: position is 3, the snapshot has 2" in differences
    assert "FLEET2: the schema status 'Scrapped': name is 'Scrapped!' on the target" in differences
    assert "FLEET2: the schema status 'Scrapped': category is 1 on the target" in differences


@pytest.mark.parametrize("taken", ["Fleet copy", "FLEET COPY"])
def test_the_plan_refuses_a_schema_name_the_site_has_before_any_write(
    fleet: Fleet, mongo_db: Database, taken: str
) -> None:
    back_up(fleet.client, mongo_db, KEY, "run-1")
    fleet.client.create_object_schema({"name": taken, "objectSchemaKey": "OTHER"})
    before = {s["objectSchemaKey"] for s in fleet.client.iter_object_schemas()}

    with pytest.raises(RestoreParamError) as caught:
        session(fleet.client, mongo_db, {**INTO, "dry_run": False}).plan()

    assert caught.value.param == "schema_mappings[0].new_name"
    assert f"a schema named {taken!r} (key OTHER) exists" in caught.value.message
    assert {s["objectSchemaKey"] for s in fleet.client.iter_object_schemas()} == before
    assert mongo_db["restore_intents"].count_documents({}) == 0


def test_the_plan_refuses_the_name_a_schema_gets_without_new_name_when_the_site_has_it(
    fleet: Fleet, mongo_db: Database
) -> None:
    back_up(fleet.client, mongo_db, KEY, "run-1")
    fleet.client.create_object_schema({"name": "fleet (fleet2)", "objectSchemaKey": "OTHER"})

    with pytest.raises(RestoreParamError) as caught:
        session(fleet.client, mongo_db, {"schema_mappings": [{"old_key": KEY, "new_key": "FLEET2"}]}).plan()

    assert caught.value.param == "schema_mappings[0].new_name"
    assert "a schema named 'fleet (fleet2)' (key OTHER) exists" in caught.value.message


def test_a_write_the_site_refuses_fails_the_step_at_once_with_the_servers_message(
    fleet: Fleet, sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    back_up(fleet.client, mongo_db, KEY, "run-1")
    set_connections(monkeypatch, sandbox, mongo_server, mongo_db.name)
    params = {**INTO, "dry_run": False, "target_conn_id": "jira_assets_default"}
    run = SimpleNamespace(dag_id="jira_assets_restore", run_id="manual-1")
    restore_id = f"{run.dag_id}:{run.run_id}"
    session(fleet.client, mongo_db, params, restore_id).plan()
    # Taken between the plan and the write: only the site can say so.
    fleet.client.create_object_schema({"name": "fleet COPY", "objectSchemaKey": "RACE"})
    step = RestoreStepOperator(
        task_id="create_structure", step="create_structure", mongo_database=mongo_db.name, retries=3
    )

    with pytest.raises(AirflowFailException, match="Name has to be unique"):
        step.execute({"params": params, "dag_run": run})  # type: ignore[arg-type]

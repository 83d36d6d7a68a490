"""Every write of the Assets client over real HTTP against the sandbox: what a user would read back after it.

The module shares one demo-seeded sandbox (started as ``tests/conftest.py`` starts its sandboxes); each test
works in a schema of its own, so the tests neither see nor disturb each other's writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_assets.api import AssetsClient, RateLimits
from airflow_assets.exceptions import AssetsBadRequestError, AssetsNotFoundError
from airflow_assets.sandbox.launch import RunningSandbox, run_sandbox
from tests.fast_retry import FAST_RETRY

NO_PACING = RateLimits(enabled=False)
CLOUD_ICON = "a6f3c2d1-5b4e-4c7a-9e8d-2f1b0c3d4e5f"
JsonDict = dict[str, Any]
SCHEMA_NUMBERS = itertools.count(1)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """Serve one demo-seeded sandbox for the module (a fresh one per test would cost 0.3 s each)."""
    with run_sandbox(seed="demo") as running:
        yield running


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[AssetsClient]:
    """Return a client of the module's sandbox, as a DAG's hook would build it."""
    with AssetsClient(
        site_url=sandbox.url,
        email=sandbox.email,
        api_token=sandbox.api_token,
        api_base_url=sandbox.url + "/jsm/assets/workspace/{workspaceId}/v1",
        retry=FAST_RETRY,
        limits=NO_PACING,
    ) as assets:
        yield assets


@pytest.fixture
def schema(client: AssetsClient) -> JsonDict:
    """Create an empty schema of the test's own to write in."""
    number = next(SCHEMA_NUMBERS)
    return client.create_object_schema(
        {"name": f"Write tests {number}", "objectSchemaKey": f"WRT{number}", "description": "t"}
    )


def new_type(client: AssetsClient, schema: JsonDict, name: str, **extra: Any) -> JsonDict:
    """Create an object type in ``schema``."""
    return client.create_object_type({"name": name, "iconId": "4", "objectSchemaId": schema["id"], **extra})


def attribute_named(client: AssetsClient, object_type_id: str, name: str) -> JsonDict:
    """Read back one attribute definition of an object type by name."""
    (found,) = [a for a in client.get_object_type_attributes(object_type_id) if a["name"] == name]
    return found


def label_attribute(client: AssetsClient, object_type_id: str) -> JsonDict:
    """Return the Name (label) attribute every new object type gets."""
    (found,) = [a for a in client.get_object_type_attributes(object_type_id) if a["label"]]
    return found


def values(obj: JsonDict, attribute_id: str) -> list[str]:
    """Return the values of one attribute of an object as a user would name them.

    References by object key, users by account id, groups by name, statuses by id, the rest as sent.
    """
    for attribute in obj["attributes"]:
        if attribute["objectTypeAttributeId"] != attribute_id:
            continue
        named = []
        for value in attribute["objectAttributeValues"]:
            if "referencedObject" in value:
                named.append(value["referencedObject"]["objectKey"])
            elif "user" in value:
                named.append(value["user"]["key"])
            elif "group" in value:
                named.append(value["group"]["name"])
            elif "status" in value:
                named.append(value["status"]["id"])
            else:
                named.append(value["value"])
        return named
    return []


def written(attribute_id: str, *items: str) -> JsonDict:
    """Build one entry of an ObjectIn ``attributes`` list."""
    return {
        "objectTypeAttributeId": attribute_id,
        "objectAttributeValues": [{"value": item} for item in items],
    }


# -- object schemas and their properties -------------------------------------------------------------


def test_object_schema_is_created_updated_and_deleted(client: AssetsClient) -> None:
    created = client.create_object_schema(
        {"name": "Facilities", "objectSchemaKey": "FAC", "description": "d"}
    )
    assert client.get_object_schema(created["id"])["objectSchemaKey"] == "FAC"
    assert "Facilities" in [s["name"] for s in client.iter_object_schemas()]

    office = new_type(client, created, "Office")
    name = label_attribute(client, office["id"])
    obj = client.create_object({"objectTypeId": office["id"], "attributes": [written(name["id"], "SYD-1")]})
    assert obj["objectKey"] == f"FAC-{obj['id']}"

    client.update_object_schema(
        created["id"], {"name": "Buildings", "objectSchemaKey": "BLD", "description": "all buildings"}
    )
    read = client.get_object_schema(created["id"])
    assert (read["name"], read["objectSchemaKey"], read["description"]) == (
        "Buildings",
        "BLD",
        "all buildings",
    )
    assert client.get_object(obj["id"])["objectKey"] == f"BLD-{obj['id']}", "a new key renames object keys"

    client.delete_object_schema(created["id"])
    with pytest.raises(AssetsNotFoundError):
        client.get_object_schema(created["id"])
    with pytest.raises(AssetsNotFoundError):
        client.get_object(obj["id"])
    assert "Buildings" not in [s["name"] for s in client.iter_object_schemas()]


def test_bad_object_schema_writes_fail_with_the_field_in_error(
    client: AssetsClient, schema: JsonDict
) -> None:
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_object_schema({"name": "Another", "objectSchemaKey": schema["objectSchemaKey"]})
    assert "objectSchemaKey" in caught.value.errors
    assert caught.value.maybe_applied is False
    with pytest.raises(AssetsBadRequestError) as caught:
        client.update_object_schema(schema["id"], {"objectSchemaKey": "lower"})
    assert "objectSchemaKey" in caught.value.errors
    assert client.get_object_schema(schema["id"])["objectSchemaKey"] == schema["objectSchemaKey"], (
        "a refused update changes nothing"
    )
    with pytest.raises(AssetsNotFoundError):
        client.update_object_schema("987654", {"name": "Nobody"})


def test_schema_properties_are_set(client: AssetsClient, schema: JsonDict) -> None:
    assert client.get_schema_properties(schema["id"])["allowOtherObjectSchema"] is False
    client.set_schema_properties(schema["id"], {"allowOtherObjectSchema": True, "quickCreateObjects": True})
    properties = client.get_schema_properties(schema["id"])
    assert properties["allowOtherObjectSchema"] is True and properties["quickCreateObjects"] is True
    assert properties["validateQuickCreate"] is False, "properties left out keep their value"
    with pytest.raises(AssetsBadRequestError) as caught:
        client.set_schema_properties(schema["id"], {"colourScheme": "dark"})
    assert "colourScheme" in caught.value.errors


# -- object types ------------------------------------------------------------------------------------


def test_object_types_are_created_with_parent_flags_and_icon(client: AssetsClient, schema: JsonDict) -> None:
    hardware = new_type(client, schema, "Hardware", inherited=True, abstractObjectType=True, description="HW")
    server = new_type(client, schema, "Server", parentObjectTypeId=hardware["id"])
    cloud = client.create_object_type(
        {"name": "Cloud service", "iconId": CLOUD_ICON, "objectSchemaId": schema["id"]}
    )

    flat = {t["name"]: t for t in client.get_object_types(schema["id"])}
    assert flat["Hardware"]["inherited"] is True and flat["Hardware"]["abstractObjectType"] is True
    assert flat["Hardware"]["description"] == "HW" and "parentObjectTypeId" not in flat["Hardware"]
    assert str(flat["Server"]["parentObjectTypeId"]) == hardware["id"]
    assert flat["Server"]["parentObjectTypeInherited"] is True
    assert flat["Cloud service"]["icon"]["id"] == CLOUD_ICON
    assert [flat["Hardware"]["position"], flat["Cloud service"]["position"]] == [0, 1]
    # A child of an inheriting type carries its parent's attributes (Key, Name, Created, Updated).
    assert [a["name"] for a in client.get_object_type_attributes(server["id"])][:4] == [
        "Key", "Name", "Created", "Updated",
    ]  # fmt: skip
    assert client.get_object_type(cloud["id"])["objectSchemaId"] == schema["id"]


def test_object_types_are_updated_moved_and_deleted(client: AssetsClient, schema: JsonDict) -> None:
    site = new_type(client, schema, "Site")
    room = new_type(client, schema, "Room")
    rack = new_type(client, schema, "Rack")

    client.update_object_type(
        site["id"], {"name": "Location", "description": "where", "iconId": "2", "abstractObjectType": True}
    )
    read = client.get_object_type(site["id"])
    assert (read["name"], read["description"], read["icon"]["id"]) == ("Location", "where", "2")
    assert read["abstractObjectType"] is True

    client.position_object_type(rack["id"], position=0)
    assert [t["name"] for t in client.get_object_types(schema["id"])] == ["Rack", "Location", "Room"]
    client.position_object_type(room["id"], position=0, to_object_type_id=site["id"])
    flat = {t["name"]: t for t in client.get_object_types(schema["id"])}
    assert str(flat["Room"]["parentObjectTypeId"]) == site["id"]
    assert [t["name"] for t in client.get_object_types(schema["id"])] == ["Rack", "Location", "Room"]

    with pytest.raises(AssetsBadRequestError):
        client.delete_object_type(site["id"])  # it has a child
    client.delete_object_type(room["id"])
    with pytest.raises(AssetsNotFoundError):
        client.get_object_type(room["id"])
    assert [t["name"] for t in client.get_object_types(schema["id"])] == ["Rack", "Location"]


def test_bad_object_type_writes_fail_with_the_field_in_error(client: AssetsClient, schema: JsonDict) -> None:
    new_type(client, schema, "Laptop")
    with pytest.raises(AssetsBadRequestError) as caught:
        new_type(client, schema, "laptop")
    assert caught.value.errors == {"name": "Name has to be unique"}
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_object_type({"name": "Phone", "iconId": "no-such-icon", "objectSchemaId": schema["id"]})
    assert "iconId" in caught.value.errors
    with pytest.raises(AssetsBadRequestError) as caught:
        new_type(client, schema, "Tablet", parentObjectTypeId="987654")
    assert "parentObjectTypeId" in caught.value.errors
    with pytest.raises(AssetsNotFoundError):
        client.update_object_type("987654", {"name": "Ghost"})


# -- attributes --------------------------------------------------------------------------------------


def test_attributes_of_every_type_are_created_as_asked(client: AssetsClient, schema: JsonDict) -> None:
    host = new_type(client, schema, "Host")
    office = new_type(client, schema, "Office")
    reference_type = client.get_reference_types(object_schema_id=schema["id"], include_all=True)[0]
    statuses = [s["id"] for s in client.get_status_types(object_schema_id=schema["id"])[:2]]
    bodies: list[JsonDict] = [
        {
            "name": "Serial",
            "type": 0,
            "defaultTypeId": 0,
            "uniqueAttribute": True,
            "regexValidation": "[A-Z0-9]+",
        },
        {"name": "Cores", "type": "0", "defaultTypeId": "1", "minimumCardinality": 1},
        {"name": "Virtual", "type": 0, "defaultTypeId": 2},
        {"name": "Load", "type": 0, "defaultTypeId": 3, "suffix": "%"},
        {"name": "Bought", "type": 0, "defaultTypeId": 4},
        {"name": "Patched", "type": 0, "defaultTypeId": 6},
        {"name": "Console", "type": 0, "defaultTypeId": 7},
        {"name": "Contact", "type": 0, "defaultTypeId": 8},
        {
            "name": "Tier",
            "type": 0,
            "defaultTypeId": 10,
            "options": "Gold,Silver,Bronze",
            "maximumCardinality": -1,
        },
        {"name": "Address", "type": 0, "defaultTypeId": 11},
        {"name": "Office", "type": 1, "typeValue": office["id"], "additionalValue": reference_type["id"]},
        {"name": "Owner", "type": 2, "typeValueMulti": ["it-ops"]},
        {"name": "Team", "type": 4, "maximumCardinality": 3},
        {"name": "State", "type": 7, "typeValueMulti": statuses},
    ]
    created = [client.create_attribute(host["id"], body) for body in bodies]

    read = {a["name"]: a for a in client.get_object_type_attributes(host["id"])}
    assert [a["name"] for a in created] == [body["name"] for body in bodies]
    # System attributes first, then the new ones in the order they were created.
    assert [read[body["name"]]["position"] for body in bodies] == list(range(4, 4 + len(bodies)))
    assert {name: read[name]["type"] for name in ("Serial", "Office", "Owner", "Team", "State")} == {
        "Serial": 0, "Office": 1, "Owner": 2, "Team": 4, "State": 7,
    }  # fmt: skip
    default_types = {body["name"]: read[body["name"]]["defaultType"] for body in bodies[:10]}
    assert {name: kind["id"] for name, kind in default_types.items()} == {
        "Serial": 0, "Cores": 1, "Virtual": 2, "Load": 3, "Bought": 4, "Patched": 6, "Console": 7,
        "Contact": 8, "Tier": 10, "Address": 11,
    }  # fmt: skip
    assert default_types["Tier"]["name"] == "Select" and default_types["Bought"]["name"] == "Date"
    assert read["Serial"]["uniqueAttribute"] is True and read["Serial"]["regexValidation"] == "[A-Z0-9]+"
    assert read["Cores"]["minimumCardinality"] == 1 and read["Load"]["suffix"] == "%"
    assert read["Tier"]["options"] == "Gold,Silver,Bronze" and read["Tier"]["maximumCardinality"] == -1
    assert read["Office"]["referenceObjectTypeId"] == office["id"]
    assert read["Office"]["additionalValue"] == reference_type["id"]
    assert read["Office"]["referenceType"]["name"] == reference_type["name"]
    assert read["Owner"]["typeValueMulti"] == ["it-ops"]
    assert read["Team"]["maximumCardinality"] == 3
    assert read["State"]["typeValueMulti"] == statuses
    assert "defaultType" not in read["Office"]


def test_attributes_are_updated_moved_and_deleted(client: AssetsClient, schema: JsonDict) -> None:
    host = new_type(client, schema, "Host")
    tier = client.create_attribute(
        host["id"], {"name": "Tier", "type": 0, "defaultTypeId": 10, "options": "A,B"}
    )
    notes = client.create_attribute(host["id"], {"name": "Notes", "type": 0, "defaultTypeId": 9})

    client.update_attribute(
        host["id"],
        tier["id"],
        {"name": "Service tier", "options": "A,B,C", "maximumCardinality": 2, "description": "SLA"},
    )
    read = attribute_named(client, host["id"], "Service tier")
    assert (read["options"], read["maximumCardinality"], read["description"]) == ("A,B,C", 2, "SLA")
    assert read["defaultType"]["id"] == 10, "fields left out keep their value"

    client.position_attribute(host["id"], notes["id"], 2)
    names = [a["name"] for a in client.get_object_type_attributes(host["id"])]
    assert names == ["Key", "Name", "Notes", "Created", "Updated", "Service tier"]

    client.delete_attribute(notes["id"])
    assert "Notes" not in [a["name"] for a in client.get_object_type_attributes(host["id"])]
    with pytest.raises(AssetsNotFoundError):
        client.delete_attribute(notes["id"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Weird", "type": 3}, "type"),
        ({"name": "Odd", "type": 0, "defaultTypeId": 99}, "defaultTypeId"),
        ({"name": "Pick", "type": 0, "defaultTypeId": 10}, "options"),
        ({"name": "Pattern", "type": 0, "regexValidation": "[unclosed"}, "regexValidation"),
        ({"name": "Link", "type": 1, "additionalValue": "1"}, "typeValue"),
        ({"name": "Link", "type": 1, "typeValue": "987654", "additionalValue": "1"}, "typeValue"),
        ({"name": "Owner", "type": 2, "typeValueMulti": ["no-such-group"]}, "typeValueMulti"),
        ({"name": "State", "type": 7, "typeValueMulti": ["987654"]}, "typeValueMulti"),
        ({"name": "Many", "type": 0, "minimumCardinality": 3, "maximumCardinality": 2}, "maximumCardinality"),
        ({"name": "Name", "type": 0}, "name"),
    ],
    ids=[
        "unknown-type", "unknown-default-type", "select-without-options", "bad-regex",
        "reference-without-target", "reference-to-unknown-type", "unknown-group", "unknown-status",
        "cardinality", "duplicate-name",
    ],
)  # fmt: skip
def test_bad_attribute_writes_fail_with_the_field_in_error(
    client: AssetsClient, schema: JsonDict, body: JsonDict, field: str
) -> None:
    host = new_type(client, schema, "Host")
    before = [a["id"] for a in client.get_object_type_attributes(host["id"])]
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_attribute(host["id"], body)
    assert field in caught.value.errors, caught.value.errors
    assert [a["id"] for a in client.get_object_type_attributes(host["id"])] == before


# -- objects and comments ----------------------------------------------------------------------------


@pytest.fixture
def host_type(client: AssetsClient, schema: JsonDict) -> JsonDict:
    """An object type with one attribute of every kind, and an Office type its references point at.

    Returns ``{schema, host, office, attributes: {name: id}, offices: [objects], status: status id}``.
    """
    office = new_type(client, schema, "Office")
    office_name = label_attribute(client, office["id"])["id"]
    offices = [
        client.create_object({"objectTypeId": office["id"], "attributes": [written(office_name, name)]})
        for name in ("Sydney", "Oslo")
    ]
    host = new_type(client, schema, "Host")
    reference_type = client.get_reference_types(object_schema_id=schema["id"], include_all=True)[0]
    status = client.create_status_type({"name": "Racked", "category": 1, "objectSchemaId": schema["id"]})
    bodies: list[JsonDict] = [
        {"name": "Serial", "type": 0, "uniqueAttribute": True, "regexValidation": "[A-Z0-9]+"},
        {"name": "Cores", "type": 0, "defaultTypeId": 1},
        {"name": "Virtual", "type": 0, "defaultTypeId": 2},
        {"name": "Bought", "type": 0, "defaultTypeId": 4},
        {"name": "Contact", "type": 0, "defaultTypeId": 8},
        {"name": "Tier", "type": 0, "defaultTypeId": 10, "options": "Gold,Silver", "maximumCardinality": -1},
        {"name": "Address", "type": 0, "defaultTypeId": 11},
        {"name": "Office", "type": 1, "typeValue": office["id"], "additionalValue": reference_type["id"]},
        {
            "name": "Backup office",
            "type": 1,
            "typeValue": office["id"],
            "additionalValue": reference_type["id"],
        },
        {"name": "Owner", "type": 2},
        {"name": "Team", "type": 4},
        {"name": "State", "type": 7, "typeValueMulti": [status["id"]]},
    ]
    attributes = {body["name"]: client.create_attribute(host["id"], body)["id"] for body in bodies}
    attributes["Name"] = label_attribute(client, host["id"])["id"]
    return {
        "schema": schema,
        "host": host,
        "office": office,
        "attributes": attributes,
        "offices": offices,
        "status": status["id"],
    }


def test_objects_are_created_with_a_value_of_every_kind(client: AssetsClient, host_type: JsonDict) -> None:
    ids = host_type["attributes"]
    sydney, oslo = host_type["offices"]
    me = client.myself()["accountId"]
    created = client.create_object(
        {
            "objectTypeId": host_type["host"]["id"],
            "attributes": [
                written(ids["Name"], "db-1.example.com"),
                written(ids["Serial"], "SN123"),
                written(ids["Cores"], "16"),
                written(ids["Virtual"], "true"),
                written(ids["Bought"], "2024-01-31"),
                written(ids["Contact"], "ops@example.com"),
                written(ids["Tier"], "Gold", "Silver"),
                written(ids["Address"], "10.0.0.7"),
                written(ids["Office"], sydney["objectKey"]),  # by key, as the spec says
                written(ids["Backup office"], oslo["id"]),  # by id, as public scripts do
                written(ids["Owner"], me),
                written(ids["Team"], "it-ops"),
                written(ids["State"], host_type["status"]),
            ],
        }
    )
    read = client.get_object(created["id"])
    assert read["label"] == "db-1.example.com"
    assert read["objectKey"] == f"{host_type['schema']['objectSchemaKey']}-{created['id']}"
    expected = {
        "Serial": ["SN123"], "Cores": ["16"], "Virtual": ["true"], "Bought": ["2024-01-31"],
        "Contact": ["ops@example.com"], "Tier": ["Gold", "Silver"], "Address": ["10.0.0.7"],
        "Office": [sydney["objectKey"]], "Backup office": [oslo["objectKey"]], "Owner": [me],
        "Team": ["it-ops"], "State": [host_type["status"]],
    }  # fmt: skip
    assert {name: values(read, ids[name]) for name in expected} == expected
    # The referenced office now knows it is referred to.
    (inbound,) = client.get_object_reference_info(sydney["id"])
    assert inbound["numberOfReferencedObjects"] == 1


def test_objects_are_updated_and_deleted(client: AssetsClient, host_type: JsonDict) -> None:
    ids = host_type["attributes"]
    sydney, oslo = host_type["offices"]
    created = client.create_object(
        {
            "objectTypeId": host_type["host"]["id"],
            "attributes": [
                written(ids["Name"], "web-1"),
                written(ids["Cores"], "4"),
                written(ids["Office"], sydney["objectKey"]),
            ],
        }
    )
    client.update_object(
        created["id"],
        {
            "attributes": [
                written(ids["Cores"], "8"),
                written(ids["Office"], oslo["objectKey"]),
                written(ids["Tier"]),
            ]
        },
    )
    read = client.get_object(created["id"])
    assert values(read, ids["Cores"]) == ["8"]
    assert values(read, ids["Office"]) == [oslo["objectKey"]]
    assert values(read, ids["Name"]) == ["web-1"], "attributes left out keep their values"
    history = client.get_object_history(created["id"])
    assert history[0]["type"] == 0 and len(history) >= 3, "created, then one entry per changed value"

    client.delete_object(created["id"])
    with pytest.raises(AssetsNotFoundError):
        client.get_object(created["id"])
    assert client.get_object_reference_info(oslo["id"]) == []


@pytest.mark.parametrize(
    ("attribute", "value", "words"),
    [
        ("Contact", "not-an-email", "email"),
        ("Cores", "many", "integer"),
        ("Serial", "lower-case", ""),
        ("Tier", "Platinum", "Platinum"),
        ("Office", "WRT-987654", "not found"),
        ("Team", "no-such-group", "Invalid Group(s)"),
        ("State", "1", "not allowed"),
    ],
)
def test_bad_object_values_fail_with_the_attribute_error_key(
    client: AssetsClient, host_type: JsonDict, attribute: str, value: str, words: str
) -> None:
    ids = host_type["attributes"]
    body = {
        "objectTypeId": host_type["host"]["id"],
        "attributes": [written(ids["Name"], "bad-1"), written(ids[attribute], value)],
    }
    before = client.count_objects(f"objectTypeId = {host_type['host']['id']}")
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_object(body)
    key = f"rlabs-insight-attribute-{ids[attribute]}"
    assert list(caught.value.errors) == [key]
    assert words in caught.value.errors[key]
    assert caught.value.maybe_applied is False
    assert client.count_objects(f"objectTypeId = {host_type['host']['id']}") == before


def test_unique_and_required_values_are_enforced(client: AssetsClient, host_type: JsonDict) -> None:
    ids = host_type["attributes"]
    host_id = host_type["host"]["id"]
    client.create_object(
        {"objectTypeId": host_id, "attributes": [written(ids["Name"], "a"), written(ids["Serial"], "X1")]}
    )
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_object(
            {"objectTypeId": host_id, "attributes": [written(ids["Name"], "b"), written(ids["Serial"], "X1")]}
        )
    assert "unique" in caught.value.errors[f"rlabs-insight-attribute-{ids['Serial']}"]
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_object({"objectTypeId": host_id, "attributes": [written(ids["Serial"], "X2")]})
    assert "required" in caught.value.errors[f"rlabs-insight-attribute-{ids['Name']}"]


def test_comments_are_created_and_listed(client: AssetsClient, host_type: JsonDict) -> None:
    sydney = host_type["offices"][0]
    first = client.create_comment(sydney["id"], "Moved to level 3")
    second = client.create_comment(sydney["id"], "  Keys at reception  ", role=1)
    comments = client.get_object_comments(sydney["id"])
    assert [c["id"] for c in comments] == [first["id"], second["id"]]
    assert [(c["comment"], c["role"]) for c in comments] == [
        ("Moved to level 3", 0),
        ("  Keys at reception  ", 1),
    ]
    assert all(str(c["objectId"]) == sydney["id"] for c in comments)
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_comment(sydney["id"], "secret", role=9)
    assert "role" in caught.value.errors
    with pytest.raises(AssetsNotFoundError):
        client.create_comment("987654", "nobody reads this")
    assert len(client.get_object_comments(sydney["id"])) == 2


# -- status types and reference types ----------------------------------------------------------------


def test_status_types_are_created_updated_and_deleted(client: AssetsClient, schema: JsonDict) -> None:
    created = client.create_status_type(
        {"name": "Burn-in", "category": 2, "description": "testing", "objectSchemaId": schema["id"]}
    )
    assert created in client.get_status_types(object_schema_id=schema["id"])
    assert "Burn-in" not in [s["name"] for s in client.get_status_types()], "schema statuses are not global"

    updated = client.update_status_type(created["id"], {"name": "Soak test", "category": 1})
    (read,) = [s for s in client.get_status_types(object_schema_id=schema["id"]) if s["id"] == created["id"]]
    assert read == updated
    assert (read["name"], read["category"], read["description"]) == ("Soak test", 1, "testing")

    assert client.delete_status_type(created["id"]) is None
    assert created["id"] not in [s["id"] for s in client.get_status_types(object_schema_id=schema["id"])]
    with pytest.raises(AssetsNotFoundError):
        client.delete_status_type(created["id"])
    with pytest.raises(AssetsNotFoundError):
        client.update_status_type(created["id"], {"name": "Ghost"})


def test_bad_status_type_writes_fail_with_the_field_in_error(client: AssetsClient, schema: JsonDict) -> None:
    spare = client.create_status_type({"name": "Spare", "category": 0, "objectSchemaId": schema["id"]})
    other = client.create_status_type({"name": "Loaned", "category": 1, "objectSchemaId": schema["id"]})
    for call, field in [
        (
            lambda: client.create_status_type(
                {"name": "spare", "category": 1, "objectSchemaId": schema["id"]}
            ),
            "name",
        ),
        (lambda: client.update_status_type(other["id"], {"name": "SPARE"}), "name"),
        (lambda: client.update_status_type(other["id"], {"category": 7}), "category"),
        (lambda: client.update_status_type(other["id"], {"objectSchemaId": None}), "objectSchemaId"),
    ]:
        with pytest.raises(AssetsBadRequestError) as caught:
            call()
        assert field in caught.value.errors, (field, caught.value.errors)
    # The same name in another scope (global) is allowed.
    client.create_status_type({"name": "Spare", "category": 0})
    (read,) = [s for s in client.get_status_types(object_schema_id=schema["id"]) if s["id"] == other["id"]]
    assert (read["name"], read["category"]) == ("Loaned", 1), "refused updates change nothing"
    assert spare["id"] != other["id"]


def test_a_status_type_in_use_is_not_deleted(client: AssetsClient, host_type: JsonDict) -> None:
    ids = host_type["attributes"]
    status_id = host_type["status"]
    racked = client.create_object(
        {
            "objectTypeId": host_type["host"]["id"],
            "attributes": [written(ids["Name"], "db-9"), written(ids["State"], status_id)],
        }
    )
    with pytest.raises(AssetsBadRequestError) as caught:
        client.delete_status_type(status_id)
    assert "allowed by" in str(caught.value) and "State of Host" in str(caught.value)

    # No longer allowed by the attribute, but an object still holds it.
    other = client.create_status_type({"name": "Unracked", "category": 0})
    client.update_attribute(host_type["host"]["id"], ids["State"], {"typeValueMulti": [other["id"]]})
    with pytest.raises(AssetsBadRequestError) as caught:
        client.delete_status_type(status_id)
    assert racked["objectKey"] in str(caught.value)

    client.update_object(racked["id"], {"attributes": [written(ids["State"], other["id"])]})
    client.delete_status_type(status_id)
    schema_id = host_type["schema"]["id"]
    assert status_id not in [s["id"] for s in client.get_status_types(object_schema_id=schema_id)]


def test_reference_types_are_created_updated_and_deleted(client: AssetsClient, schema: JsonDict) -> None:
    created = client.create_reference_type(
        {"name": "Cabled to", "color": "#FF0000", "description": "patch", "objectSchemaId": schema["id"]}
    )
    assert created["color"] == "ff0000"
    assert [(r["id"], r["name"]) for r in client.get_reference_types(object_schema_id=schema["id"])] == [
        (created["id"], "Cabled to")
    ]

    client.update_reference_type(created["id"], {"name": "Patched to", "color": "00ff00"})
    (read,) = [
        r for r in client.get_reference_types(object_schema_id=schema["id"]) if r["id"] == created["id"]
    ]
    assert (read["name"], read["color"], read["description"]) == ("Patched to", "00ff00", "patch")

    assert client.delete_reference_type(created["id"]) is None
    assert client.get_reference_types(object_schema_id=schema["id"]) == []
    with pytest.raises(AssetsNotFoundError):
        client.update_reference_type(created["id"], {"name": "Ghost"})
    with pytest.raises(AssetsNotFoundError):
        client.delete_reference_type(created["id"])


def test_a_reference_type_in_use_or_built_in_is_not_deleted(client: AssetsClient, schema: JsonDict) -> None:
    cabled = client.create_reference_type({"name": "Cabled to", "objectSchemaId": schema["id"]})
    switch = new_type(client, schema, "Switch")
    uplink = client.create_attribute(
        switch["id"],
        {"name": "Uplink", "type": 1, "typeValue": switch["id"], "additionalValue": cabled["id"]},
    )
    client.update_reference_type(cabled["id"], {"name": "Patched to"})
    assert attribute_named(client, switch["id"], "Uplink")["referenceType"]["name"] == "Patched to"

    with pytest.raises(AssetsBadRequestError) as caught:
        client.delete_reference_type(cabled["id"])
    assert "Uplink of Switch" in str(caught.value)
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_reference_type({"name": "patched TO", "objectSchemaId": schema["id"]})
    assert "name" in caught.value.errors
    with pytest.raises(AssetsBadRequestError) as caught:
        client.update_reference_type(cabled["id"], {"color": "red"})
    assert "color" in caught.value.errors

    built_in = next(r for r in client.get_reference_types(include_all=True) if r["removable"] is False)
    with pytest.raises(AssetsBadRequestError, match="built in"):
        client.delete_reference_type(built_in["id"])

    client.delete_attribute(uplink["id"])
    client.delete_reference_type(cabled["id"])
    assert cabled["id"] not in [r["id"] for r in client.get_reference_types(object_schema_id=schema["id"])]

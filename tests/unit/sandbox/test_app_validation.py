"""The sandbox refuses each kind of invalid write over HTTP, in Atlassian's 400 error shape."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from airflow_assets.sandbox.app import create_app
from airflow_assets.sandbox.model import Site
from airflow_assets.sandbox.server import serve_in_thread

WORKSPACE = "ws-validation"
EMAIL = "tester@example.com"
TOKEN = "validation-token"
_names = itertools.count(1)


@dataclass
class Assets:
    """A requests session against the sandbox's Assets API, plus the ids the fixture created."""

    base: str
    session: requests.Session
    ids: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.session.request(
            method, f"{self.base}/{path}", json=body, params=params or None, timeout=10
        )

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.call(method, path, body, **params)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def refused(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """Send a write that must fail; return its body after checking the documented 400 shape."""
        response = self.call(method, path, body)
        assert response.status_code == 400, response.text
        answer = response.json()
        assert set(answer) == {"errorMessages", "errors"}
        assert isinstance(answer["errorMessages"], list) and isinstance(answer["errors"], dict)
        assert answer["errorMessages"] or answer["errors"]
        return answer

    def attribute(self, type_name: str, name: str, **body: Any) -> str:
        created = self.ok("POST", f"objecttypeattribute/{self.ids[type_name]}", {"name": name, **body})
        self.ids[name] = created["id"]
        return str(created["id"])

    def object_body(self, type_name: str, values: dict[str, list[Any]]) -> dict[str, Any]:
        return {
            "objectTypeId": self.ids[type_name],
            "attributes": [
                {"objectTypeAttributeId": self.ids[name], "objectAttributeValues": [{"value": v} for v in vs]}
                for name, vs in values.items()
            ],
        }


@pytest.fixture(scope="module")
def assets() -> Iterator[Assets]:
    site = Site(workspace_id=WORKSPACE, email=EMAIL, api_token=TOKEN)
    site.add_user("acc-ada", "Ada Lovelace", "ada@example.com")
    site.add_group("it-ops")
    with serve_in_thread(create_app(site)) as url, requests.Session() as session:
        session.auth = (EMAIL, TOKEN)
        client = Assets(f"{url}/jsm/assets/workspace/{WORKSPACE}/v1", session)
        client.ids["schema"] = client.ok(
            "POST", "objectschema/create", {"name": "IT", "objectSchemaKey": "IT"}
        )["id"]
        client.ids["other schema"] = client.ok(
            "POST", "objectschema/create", {"name": "People", "objectSchemaKey": "PPL"}
        )["id"]
        for type_name, schema in (("Host", "schema"), ("Room", "schema"), ("Person", "other schema")):
            created = client.ok(
                "POST",
                "objecttype/create",
                {"name": type_name, "iconId": "1", "objectSchemaId": client.ids[schema]},
            )
            client.ids[type_name] = created["id"]
        names = {a["name"]: a["id"] for a in client.ok("GET", f"objecttype/{client.ids['Host']}/attributes")}
        client.ids["Name"] = names["Name"]
        for name, default_type in (
            ("Count", 1), ("Ratio", 3), ("Enabled", 2), ("Bought", 4), ("Seen", 6), ("Opens", 5),
            ("Contact", 8), ("Homepage", 7), ("Address", 11),
        ):  # fmt: skip
            client.attribute("Host", name, type=0, defaultTypeId=default_type)
        client.attribute("Host", "Size", type=0, defaultTypeId=10, options="S,M,L")
        client.attribute("Host", "Serial", type=0, defaultTypeId=0, uniqueAttribute=True)
        client.attribute("Host", "Tags", type=0, defaultTypeId=0, maximumCardinality=2)
        client.attribute("Host", "Location", type=1, typeValue=client.ids["Room"], additionalValue="4")
        client.attribute("Host", "Admin", type=2)
        client.attribute("Host", "Team", type=4)
        statuses = client.ok("GET", "config/statustype")
        active = next(s["id"] for s in statuses if s["name"] == "Active")
        client.ids["status Active"] = active
        client.ids["status Closed"] = next(s["id"] for s in statuses if s["name"] == "Closed")
        client.attribute("Host", "Status", type=7, typeValueMulti=[active])
        room = client.ok("POST", "object/create", {
            "objectTypeId": client.ids["Room"],
            "attributes": [{"objectTypeAttributeId": client.ok(
                "GET", f"objecttype/{client.ids['Room']}/attributes", query="Name")[0]["id"],
                "objectAttributeValues": [{"value": "Room 1"}]}],
        })  # fmt: skip
        client.ids["room object"] = room["objectKey"]
        host = client.ok("POST", "object/create", client.object_body("Host", {"Name": ["host-0"]}))
        client.ids["host object"] = host["objectKey"]
        yield client


def test_a_missing_required_field_is_refused(assets: Assets) -> None:
    answer = assets.refused("POST", "objectschema/create", {"name": "No key"})
    assert "objectSchemaKey" in answer["errors"]


@pytest.mark.parametrize("key", ["it", "1ABC", "A", "ABCDEFGHIJK", "AB-C"])
def test_a_malformed_schema_key_is_refused(assets: Assets, key: str) -> None:
    answer = assets.refused("POST", "objectschema/create", {"name": f"Schema {key}", "objectSchemaKey": key})
    assert "objectSchemaKey" in answer["errors"]


def test_a_duplicate_schema_key_is_refused(assets: Assets) -> None:
    answer = assets.refused("POST", "objectschema/create", {"name": "Another", "objectSchemaKey": "IT"})
    assert "objectSchemaKey" in answer["errors"]


@pytest.mark.parametrize("character", list('=;:?."'))
def test_names_with_forbidden_characters_are_refused(assets: Assets, character: str) -> None:
    name = f"Bad{character}Name"
    assets.refused("POST", "objectschema/create", {"name": name, "objectSchemaKey": "BAD"})
    answer = assets.refused(
        "POST", "objecttype/create", {"name": name, "iconId": "1", "objectSchemaId": assets.ids["schema"]}
    )
    assert "name" in answer["errors"]


def test_a_duplicate_object_type_name_in_one_schema_is_refused(assets: Assets) -> None:
    answer = assets.refused(
        "POST", "objecttype/create", {"name": "host", "iconId": "1", "objectSchemaId": assets.ids["schema"]}
    )
    assert answer["errors"] == {"name": "Name has to be unique"}
    # The same name is fine in another schema.
    assets.ok(
        "POST",
        "objecttype/create",
        {"name": "Host", "iconId": "1", "objectSchemaId": assets.ids["other schema"]},
    )


@pytest.mark.parametrize(
    ("attribute", "bad", "good"),
    [
        ("Count", "12.5", "12"),
        ("Count", "twelve", "-3"),
        ("Count", "\u0661\u0662", "12"),  # Arabic-Indic digits, which int() would read as 12
        ("Count", "\uff11\uff12", "12"),  # full-width digits
        ("Count", "\u00b2", "2"),
        ("Ratio", "fast", "0.75"),
        ("Ratio", "1_000", "1000"),
        ("Ratio", "nan", "-2.5e3"),
        ("Ratio", "inf", ".5"),
        ("Ratio", "Infinity", "1E-3"),
        ("Ratio", "1e999", "1e99"),
        ("Bought", "\uff12\uff10\uff12\uff14-01-31", "2024-01-31"),
        ("Enabled", "yes", "false"),
        ("Bought", "31/01/2024", "2024-01-31"),
        ("Bought", "2024-02-30", "2024-02-29"),
        ("Seen", "yesterday", "2024-01-31T10:15:00.000Z"),
        ("Opens", "25:00", "09:30"),
        ("Contact", "not-an-email", "ops@example.com"),
        ("Homepage", "example.com/no-scheme", "https://example.com/x"),
        ("Address", "10.0.0.256", "10.0.0.1"),
        ("Size", "XL", "M"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_per_attribute(
    assets: Assets, attribute: str, bad: str, good: str
) -> None:
    values = {"Name": [f"typed-{next(_names)}"]}
    answer = assets.refused("POST", "object/create", assets.object_body("Host", {**values, attribute: [bad]}))
    assert answer["errorMessages"] == []
    assert list(answer["errors"]) == [f"rlabs-insight-attribute-{assets.ids[attribute]}"]
    assets.ok("POST", "object/create", assets.object_body("Host", {**values, attribute: [good]}))


def test_a_reference_to_an_object_of_another_type_is_refused(assets: Assets) -> None:
    key = f"rlabs-insight-attribute-{assets.ids['Location']}"
    wrong_type = assets.object_body("Host", {"Name": ["ref-bad"], "Location": [assets.ids["host object"]]})
    assert key in assets.refused("POST", "object/create", wrong_type)["errors"]
    missing = assets.object_body("Host", {"Name": ["ref-missing"], "Location": ["IT-99999"]})
    assert key in assets.refused("POST", "object/create", missing)["errors"]
    by_key = assets.ok(
        "POST",
        "object/create",
        assets.object_body("Host", {"Name": ["ref-ok"], "Location": [assets.ids["room object"]]}),
    )
    room = next(a for a in by_key["attributes"] if a["objectTypeAttributeId"] == assets.ids["Location"])
    assert room["objectAttributeValues"][0]["referencedObject"]["objectKey"] == assets.ids["room object"]


def test_a_status_outside_the_allowed_ones_is_refused(assets: Assets) -> None:
    body = assets.object_body("Host", {"Name": ["status-bad"], "Status": [assets.ids["status Closed"]]})
    assert (
        f"rlabs-insight-attribute-{assets.ids['Status']}"
        in assets.refused("POST", "object/create", body)["errors"]
    )
    assets.ok(
        "POST", "object/create",
        assets.object_body("Host", {"Name": ["status-ok"], "Status": [assets.ids["status Active"]]}),
    )  # fmt: skip


def test_an_unknown_user_is_refused(assets: Assets) -> None:
    body = assets.object_body("Host", {"Name": ["user-bad"], "Admin": ["no-such-account"]})
    assert (
        f"rlabs-insight-attribute-{assets.ids['Admin']}"
        in assets.refused("POST", "object/create", body)["errors"]
    )
    assets.ok(
        "POST", "object/create", assets.object_body("Host", {"Name": ["user-ok"], "Admin": ["acc-ada"]})
    )


def test_an_unknown_group_is_refused_as_invalid_groups(assets: Assets) -> None:
    body = assets.object_body("Host", {"Name": ["group-bad"], "Team": ["nobody"]})
    answer = assets.refused("POST", "object/create", body)
    assert answer == {
        "errorMessages": [],
        "errors": {f"rlabs-insight-attribute-{assets.ids['Team']}": "Invalid Group(s)"},
    }


def test_a_duplicate_value_of_a_unique_attribute_is_refused(assets: Assets) -> None:
    assets.ok("POST", "object/create", assets.object_body("Host", {"Name": ["u1"], "Serial": ["SN-1"]}))
    answer = assets.refused(
        "POST", "object/create", assets.object_body("Host", {"Name": ["u2"], "Serial": ["SN-1"]})
    )
    assert f"rlabs-insight-attribute-{assets.ids['Serial']}" in answer["errors"]


def test_cardinality_is_enforced_and_the_label_is_required(assets: Assets) -> None:
    no_label = assets.object_body("Host", {"Count": ["1"]})
    assert (
        f"rlabs-insight-attribute-{assets.ids['Name']}"
        in assets.refused("POST", "object/create", no_label)["errors"]
    )
    too_many = assets.object_body("Host", {"Name": ["card"], "Tags": ["a", "b", "c"]})
    assert (
        f"rlabs-insight-attribute-{assets.ids['Tags']}"
        in assets.refused("POST", "object/create", too_many)["errors"]
    )
    single = assets.object_body("Host", {"Name": ["card"], "Count": ["1", "2"]})
    assert (
        f"rlabs-insight-attribute-{assets.ids['Count']}"
        in assets.refused("POST", "object/create", single)["errors"]
    )


def test_an_update_is_validated_like_a_create_and_changes_nothing_when_refused(assets: Assets) -> None:
    created = assets.ok(
        "POST", "object/create", assets.object_body("Host", {"Name": ["upd"], "Count": ["5"]})
    )
    body = assets.object_body("Host", {"Name": ["renamed"], "Count": ["five"]})
    assets.refused("PUT", f"object/{created['id']}", body)
    assert assets.ok("GET", f"object/{created['id']}")["label"] == "upd"


def test_cross_schema_references_need_allow_other_object_schema(assets: Assets) -> None:
    body = {"name": "Owner", "type": 1, "typeValue": assets.ids["Person"], "additionalValue": "4"}
    assert "typeValue" in assets.refused("POST", f"objecttypeattribute/{assets.ids['Host']}", body)["errors"]
    path = f"global/config/objectschema/{assets.ids['schema']}/property"
    assert assets.ok("GET", path)["allowOtherObjectSchema"] is False
    assets.ok("POST", path, {"allowOtherObjectSchema": True})
    assert (
        assets.ok("POST", f"objecttypeattribute/{assets.ids['Host']}", body)["referenceObjectTypeId"]
        == (assets.ids["Person"])
    )


def test_objects_of_abstract_types_are_refused(assets: Assets) -> None:
    abstract = assets.ok(
        "POST", "objecttype/create",
        {"name": "Device", "iconId": "1", "objectSchemaId": assets.ids["schema"], "abstractObjectType": True},
    )  # fmt: skip
    assert (
        "objectTypeId"
        in assets.refused("POST", "object/create", {"objectTypeId": abstract["id"], "attributes": []})[
            "errors"
        ]
    )


def test_attribute_definitions_are_validated(assets: Assets) -> None:
    path = f"objecttypeattribute/{assets.ids['Host']}"
    assert assets.refused("POST", path, {"name": "count", "type": 0})["errors"] == {
        "name": "Name has to be unique"
    }
    assert "type" in assets.refused("POST", path, {"name": "Weird", "type": 42})["errors"]
    assert (
        "defaultTypeId"
        in assets.refused("POST", path, {"name": "Weird", "type": 0, "defaultTypeId": 12})["errors"]
    )
    assert (
        "typeValue"
        in assets.refused("POST", path, {"name": "Ref", "type": 1, "additionalValue": "4"})["errors"]
    )
    assert (
        "options" in assets.refused("POST", path, {"name": "Sel", "type": 0, "defaultTypeId": 10})["errors"]
    )
    assert (
        "typeValueMulti"
        in assets.refused("POST", path, {"name": "St", "type": 7, "typeValueMulti": ["999"]})["errors"]
    )
    bad_cardinality = {"name": "Card", "type": 0, "minimumCardinality": 2, "maximumCardinality": 1}
    assert "maximumCardinality" in assets.refused("POST", path, bad_cardinality)["errors"]


def test_malformed_json_bodies_are_refused_in_the_error_shape(assets: Assets) -> None:
    response = assets.session.post(
        f"{assets.base}/object/create",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert set(response.json()) == {"errorMessages", "errors"}


def history_types(assets: Assets, object_id: str) -> list[int]:
    return [entry["type"] for entry in assets.ok("GET", f"object/{object_id}/history", asc="true")]


@pytest.mark.parametrize("items", [["12"], [12], [None], [{"vaule": "12"}], [{"value": "7"}, "12"]])
def test_value_items_that_are_not_value_objects_are_refused_on_create_and_update(
    assets: Assets, items: list[Any]
) -> None:
    key = f"rlabs-insight-attribute-{assets.ids['Count']}"
    malformed = {"objectTypeAttributeId": assets.ids["Count"], "objectAttributeValues": items}
    create = assets.object_body("Host", {"Name": [f"items-{next(_names)}"]})
    create["attributes"].append(malformed)
    assert list(assets.refused("POST", "object/create", create)["errors"]) == [key]

    created = assets.ok(
        "POST", "object/create", assets.object_body("Host", {"Name": ["items"], "Count": ["5"]})
    )
    path = f"object/{created['id']}"
    assert list(assets.refused("PUT", path, {"attributes": [malformed]})["errors"]) == [key]
    # Refused means untouched: the value stays and no "Deleted value" entry appears.
    count = next(
        a for a in assets.ok("GET", path)["attributes"] if a["objectTypeAttributeId"] == assets.ids["Count"]
    )
    assert [v["value"] for v in count["objectAttributeValues"]] == ["5"]
    assert history_types(assets, created["id"]) == [0]
    # An empty list is still the way to clear a value.
    cleared = assets.ok("PUT", path, {"attributes": [{**malformed, "objectAttributeValues": []}]})
    assert assets.ids["Count"] not in [a["objectTypeAttributeId"] for a in cleared["attributes"]]
    assert history_types(assets, created["id"]) == [0, 3]


def test_create_and_update_follow_one_avatar_rule(assets: Assets) -> None:
    name = {"objectTypeAttributeId": assets.ids["Name"], "objectAttributeValues": [{"value": "renamed"}]}
    flagged = assets.ok(
        "POST", "object/create", {**assets.object_body("Host", {"Name": ["avatar-flag"]}), "hasAvatar": True}
    )
    assert flagged["hasAvatar"] is True
    # An update that does not mention the avatar keeps it, and records no avatar change.
    assert assets.ok("PUT", f"object/{flagged['id']}", {"attributes": [name]})["hasAvatar"] is True
    assert history_types(assets, flagged["id"]) == [0, 2]
    assert assets.ok("PUT", f"object/{flagged['id']}", {"hasAvatar": False})["hasAvatar"] is False
    assert history_types(assets, flagged["id"]) == [0, 2, 27]

    uuid = "c0ffee00-0000-4000-8000-000000000000"
    with_uuid = assets.ok(
        "POST", "object/create", {**assets.object_body("Host", {"Name": ["avatar-uuid"]}), "avatarUUID": uuid}
    )
    assert with_uuid["hasAvatar"] is True and with_uuid["avatar"]["avatarUUID"] == uuid
    kept = assets.ok("PUT", f"object/{with_uuid['id']}", {"attributes": [name]})
    assert kept["hasAvatar"] is True and kept["avatar"]["avatarUUID"] == uuid
    assert history_types(assets, with_uuid["id"]) == [0, 2]


@pytest.mark.parametrize("number", ["\u00b2", "\uff11", "\u0661"])
def test_ids_and_keys_in_non_ascii_digits_name_no_object(assets: Assets, number: str) -> None:
    assert assets.call("GET", f"object/{number}").status_code == 404
    reference = assets.object_body("Host", {"Name": ["ref-digits"], "Location": [f"IT-{number}"]})
    assert (
        f"rlabs-insight-attribute-{assets.ids['Location']}"
        in assets.refused("POST", "object/create", reference)["errors"]
    )


def test_uniqueness_needs_single_values_and_at_most_two_per_type(assets: Assets) -> None:
    """Atlassian: a multi-valued attribute cannot be unique; an object type has at most two unique ones."""
    rack = assets.ok(
        "POST", "objecttype/create", {"name": "Rack", "iconId": "1", "objectSchemaId": assets.ids["schema"]}
    )
    assets.ids["Rack"] = rack["id"]
    path = f"objecttypeattribute/{rack['id']}"
    multi = {"name": "Ports", "type": 0, "uniqueAttribute": True, "maximumCardinality": -1}
    assert "uniqueAttribute" in assets.refused("POST", path, multi)["errors"]
    tag = assets.attribute("Rack", "Asset tag", type=0, uniqueAttribute=True)
    assert "uniqueAttribute" in assets.refused("PUT", f"{path}/{tag}", {"maximumCardinality": 3})["errors"]
    assets.attribute("Rack", "Barcode", type=0, uniqueAttribute=True)
    third = assets.attribute("Rack", "Location code", type=0)
    answer = assets.refused("PUT", f"{path}/{third}", {"uniqueAttribute": True})
    assert "at most 2 unique" in answer["errors"]["uniqueAttribute"]
    assert "Asset tag, Barcode" in answer["errors"]["uniqueAttribute"]
    # Giving up one uniqueness frees the place; a refused update changed nothing.
    listed = {a["id"]: a for a in assets.ok("GET", f"objecttype/{rack['id']}/attributes")}
    assert listed[tag]["maximumCardinality"] == 1 and listed[third]["uniqueAttribute"] is False
    assets.ok("PUT", f"{path}/{tag}", {"uniqueAttribute": False})
    assert assets.ok("PUT", f"{path}/{third}", {"uniqueAttribute": True})["uniqueAttribute"] is True

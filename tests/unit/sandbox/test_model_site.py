"""The in-memory site: inheritance, labels, keys, cascades, the AQL catalog and its result cache, memory."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_assets.sandbox.model import SandboxError, Site


def new_site() -> Site:
    site = Site(workspace_id="ws-model", email="model@example.com", api_token="token")
    site.add_user("acc-ada", "Ada Lovelace")
    return site


def attribute_ids(site: Site, type_id: str) -> dict[str, str]:
    return {attribute["name"]: attribute["id"] for attribute in site.list_attributes(type_id)}


def create(site: Site, type_id: str, **values: Any) -> dict[str, Any]:
    ids = attribute_ids(site, type_id)
    attributes = [
        {"objectTypeAttributeId": ids[name], "objectAttributeValues": [{"value": v} for v in vs]}
        for name, vs in values.items()
    ]
    return site.create_object({"objectTypeId": type_id, "attributes": attributes})


def object_type(site: Site, schema_id: str, name: str, **body: Any) -> str:
    return str(
        site.create_object_type({"name": name, "iconId": "1", "objectSchemaId": schema_id, **body})["id"]
    )


@pytest.fixture
def site() -> Site:
    return new_site()


@pytest.fixture
def schema_id(site: Site) -> str:
    return str(site.create_schema({"name": "Things", "objectSchemaKey": "THG"})["id"])


def test_children_of_an_inheriting_parent_carry_its_attributes(site: Site, schema_id: str) -> None:
    parent = object_type(site, schema_id, "Hardware", inherited=True, abstractObjectType=True)
    site.create_attribute(parent, {"name": "Serial", "type": 0, "defaultTypeId": 0})
    child = object_type(site, schema_id, "Laptop", parentObjectTypeId=parent)
    site.create_attribute(child, {"name": "Memory", "type": 0, "defaultTypeId": 1})
    assert list(attribute_ids(site, child)) == ["Key", "Name", "Created", "Updated", "Serial", "Memory"]
    own = site.list_attributes(child, exclude_parent_attributes=True)
    assert [a["name"] for a in own] == ["Memory"]
    assert site.get_object_type(child)["parentObjectTypeInherited"] is True
    # A name the parent already uses is taken in the child too, and the other way round.
    with pytest.raises(SandboxError) as refused:
        site.create_attribute(child, {"name": "serial", "type": 0})
    assert refused.value.errors == {"name": "Name has to be unique"}
    with pytest.raises(SandboxError):
        site.create_attribute(parent, {"name": "Memory", "type": 0})
    laptop = create(site, child, Name=["LT-1"], Serial=["SN1"], Memory=["16"])
    assert laptop["label"] == "LT-1" and laptop["objectKey"] == f"THG-{laptop['id']}"


def test_a_label_of_the_childs_own_overrides_the_inherited_one(site: Site, schema_id: str) -> None:
    parent = object_type(site, schema_id, "Hardware", inherited=True)
    child = object_type(site, schema_id, "Server", parentObjectTypeId=parent)
    hostname = site.create_attribute(child, {"name": "Hostname", "type": 0, "defaultTypeId": 0})
    server = create(site, child, Name=["srv-1"], Hostname=["srv-1.example.com"])
    assert server["label"] == "srv-1"

    site.update_attribute(child, hostname["id"], {"label": True})

    assert site.get_object(server["id"])["label"] == "srv-1.example.com"
    assert [o["label"] for o in site.aql_page("objectType = Server")["values"]] == ["srv-1.example.com"]


def test_a_child_of_a_plain_parent_has_its_own_system_attributes(site: Site, schema_id: str) -> None:
    parent = object_type(site, schema_id, "Place")
    site.create_attribute(parent, {"name": "Code", "type": 0})
    child = object_type(site, schema_id, "Room", parentObjectTypeId=parent)
    assert list(attribute_ids(site, child)) == ["Key", "Name", "Created", "Updated"]
    flat = site.schema_object_types(schema_id)
    assert [(t["name"], t.get("parentObjectTypeId")) for t in flat] == [("Place", None), ("Room", parent)]


def test_a_new_label_attribute_relabels_existing_objects(site: Site, schema_id: str) -> None:
    type_id = object_type(site, schema_id, "Host")
    hostname = site.create_attribute(type_id, {"name": "Hostname", "type": 0, "defaultTypeId": 0})["id"]
    host = create(site, type_id, Name=["web"], Hostname=["web.example.com"])
    site.update_attribute(type_id, hostname, {"label": True})
    assert site.get_object(host["id"])["label"] == "web.example.com"
    assert [a["name"] for a in site.list_attributes(type_id) if a["label"]] == ["Hostname"]


def test_a_new_schema_key_renames_every_object_key(site: Site, schema_id: str) -> None:
    type_id = object_type(site, schema_id, "Host")
    host = create(site, type_id, Name=["web"])
    site.update_schema(schema_id, {"objectSchemaKey": "NEW"})
    assert site.get_object(host["id"])["objectKey"] == f"NEW-{host['id']}"
    assert site.search("Key = NEW-" + host["id"]) == (int(host["id"]),)


def test_deleting_a_schema_removes_its_types_objects_and_references_into_it(
    site: Site, schema_id: str
) -> None:
    other = site.create_schema({"name": "Other", "objectSchemaKey": "OTH"})["id"]
    site.set_schema_properties(other, {"allowOtherObjectSchema": True})
    target_type = object_type(site, schema_id, "Room")
    source_type = object_type(site, other, "Host")
    site.create_attribute(
        source_type, {"name": "Room", "type": 1, "typeValue": target_type, "additionalValue": "4"}
    )
    room = create(site, target_type, Name=["R1"])
    host = create(site, source_type, Name=["h"], Room=[room["objectKey"]])
    site.delete_schema(schema_id)
    assert site.search("") == (int(host["id"]),)
    assert "Room" not in attribute_ids(site, source_type)
    with pytest.raises(SandboxError) as missing:
        site.get_object(room["id"])
    assert missing.value.status == 404


def test_object_types_move_between_positions_and_parents(site: Site, schema_id: str) -> None:
    first, second, third = (object_type(site, schema_id, name) for name in ("A", "B", "C"))
    site.position_object_type(third, {"position": 0})
    assert [t["name"] for t in site.schema_object_types(schema_id)] == ["C", "A", "B"]
    site.position_object_type(first, {"toObjectTypeId": second, "position": 0})
    assert [(t["name"], t["position"]) for t in site.schema_object_types(schema_id)] == [
        ("C", 0), ("B", 1), ("A", 0),
    ]  # fmt: skip
    with pytest.raises(SandboxError):
        site.position_object_type(second, {"toObjectTypeId": first, "position": 0})


def test_the_catalog_gives_aql_labels_names_and_references(site: Site, schema_id: str) -> None:
    room_type = object_type(site, schema_id, "Room")
    host_type = object_type(site, schema_id, "Host")
    site.create_attribute(
        host_type, {"name": "Room", "type": 1, "typeValue": room_type, "additionalValue": "4"}
    )
    site.create_attribute(host_type, {"name": "Admin", "type": 2})
    active = next(s["id"] for s in site.list_status_types() if s["name"] == "Active")
    site.create_attribute(host_type, {"name": "State", "type": 7})
    room = create(site, room_type, Name=["Server room"])
    host = create(site, host_type, Name=["web"], Room=[room["objectKey"]], Admin=["acc-ada"], State=[active])
    create(site, host_type, Name=["db"])
    expected = (int(host["id"]),)
    assert site.search('Room = "Server room"') == expected
    assert site.search('Admin = "Ada Lovelace"') == expected
    assert site.search("State = Active") == expected
    assert site.search("objectType = Host order by label desc") == (int(host["id"]), int(host["id"]) + 1)
    with pytest.raises(SandboxError) as invalid:
        site.search("Nonexistent = 1")
    assert invalid.value.status == 400 and invalid.value.error_messages


def test_search_results_are_cached_per_revision(site: Site, schema_id: str) -> None:
    type_id = object_type(site, schema_id, "Host")
    create(site, type_id, Name=["a"])
    first = site.search("objectType = Host")
    assert site.search("objectType = Host") is first
    create(site, type_id, Name=["b"])
    assert len(site.search("objectType = Host")) == 2


def test_clock_relative_queries_are_not_answered_from_a_stale_cache() -> None:
    now = [datetime(2024, 5, 1, 9, 0, tzinfo=UTC)]
    site = Site(workspace_id="ws-clock", email="clock@example.com", api_token="token", clock=lambda: now[0])
    schema = str(site.create_schema({"name": "Things", "objectSchemaKey": "THG"})["id"])
    create(site, object_type(site, schema, "Host"), Name=["fresh"])

    assert len(site.search("Created > now(-1h)")) == 1
    now[0] = now[0].replace(hour=12)  # three hours later, nothing written meanwhile
    assert len(site.search("Created > now(-1h)")) == 0


def test_writes_take_their_time_from_the_clock_or_at(schema_id: str, site: Site) -> None:
    type_id = object_type(site, schema_id, "Host")
    moment = datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    name = {
        "objectTypeAttributeId": attribute_ids(site, type_id)["Name"],
        "objectAttributeValues": [{"value": "x"}],
    }
    host = site.create_object({"objectTypeId": type_id, "attributes": [name]}, at=moment)
    assert host["created"] == host["updated"] == "2020-01-02T03:04:05.678Z"
    assert host["timestamp"] == 1577934245678
    assert site.object_history(host["id"])[0]["created"] == "2020-01-02T03:04:05.678Z"


def test_objects_are_stored_compactly(site: Site, schema_id: str) -> None:
    type_id = object_type(site, schema_id, "Host")
    for name in ("A", "B", "C", "D", "E", "F", "G", "H"):
        site.create_attribute(type_id, {"name": f"Text {name}", "type": 0, "defaultTypeId": 0})
    ids = attribute_ids(site, type_id)
    count = 800
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for number in range(count):
        values = [
            {"objectTypeAttributeId": ids["Name"], "objectAttributeValues": [{"value": f"host-{number}"}]}
        ]
        values += [
            {"objectTypeAttributeId": ids[f"Text {n}"], "objectAttributeValues": [{"value": f"{n}-{number}"}]}
            for n in "ABCDEFGH"
        ]
        site.create_object({"objectTypeId": type_id, "attributes": values})
    per_object = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()
    # 50,000 objects must fit in a few hundred MB: stay well under 4 KB each (history entry included).
    assert per_object < 4000, per_object


def test_deleting_an_attribute_removes_its_values(site: Site, schema_id: str) -> None:
    type_id = object_type(site, schema_id, "Host")
    notes = site.create_attribute(type_id, {"name": "Notes", "type": 0})["id"]
    host = create(site, type_id, Name=["web"], Notes=["hello"])
    site.delete_attribute(notes)
    assert notes not in {a["objectTypeAttributeId"] for a in site.get_object(host["id"])["attributes"]}
    assert not site.is_known_attribute("Notes")
    with pytest.raises(SandboxError) as refused:
        site.delete_attribute(attribute_ids(site, type_id)["Name"])
    assert refused.value.status == 400


def test_an_update_may_not_empty_a_required_attribute(site: Site, schema_id: str) -> None:
    type_id = object_type(site, schema_id, "Host")
    host = create(site, type_id, Name=["web"])
    name_id = attribute_ids(site, type_id)["Name"]
    with pytest.raises(SandboxError) as refused:
        site.update_object(
            host["id"], {"attributes": [{"objectTypeAttributeId": name_id, "objectAttributeValues": []}]}
        )
    assert list(refused.value.errors) == [f"rlabs-insight-attribute-{name_id}"]


def test_an_avatar_change_is_recorded(site: Site, schema_id: str) -> None:
    type_id = object_type(site, schema_id, "Host")
    host = create(site, type_id, Name=["web"])
    updated = site.update_object(host["id"], {"avatarUUID": "c0ffee00-0000-4000-8000-000000000000"})
    assert updated["hasAvatar"] is True
    assert site.object_history(host["id"])[0]["type"] == 25


def test_values_must_match_the_regex_validation(site: Site, schema_id: str) -> None:
    type_id = object_type(site, schema_id, "Host")
    serial = site.create_attribute(type_id, {"name": "Serial", "type": 0, "regexValidation": "SN-[0-9]{4}"})[
        "id"
    ]
    with pytest.raises(SandboxError) as refused:
        create(site, type_id, Name=["web"], Serial=["SN-12"])
    assert list(refused.value.errors) == [f"rlabs-insight-attribute-{serial}"]
    assert create(site, type_id, Name=["web"], Serial=["SN-1234"])["label"] == "web"
    with pytest.raises(SandboxError):
        site.create_attribute(type_id, {"name": "Broken", "type": 0, "regexValidation": "("})

"""The sandbox records one exact history entry per kind of change (the contract's "History entries").

Each test drives an empty site through one change and checks the entry ``GET object/{id}/history`` answers:
its type code, ``affectedAttribute``, ``oldValue`` and ``newValue`` (a field the entry leaves out is None).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_assets.sandbox.launch import build_site
from airflow_assets.sandbox.model import Site

Entry = tuple[int, str | None, str | None, str | None]


@pytest.fixture
def site() -> Site:
    site, _ = build_site(seed="empty")
    site.add_user("acc-ada", "Ada Lovelace")
    site.add_user("acc-alan", "Alan Turing")
    site.add_group("ops")
    site.add_group("dev")
    return site


@pytest.fixture
def schema_id(site: Site) -> str:
    return str(site.create_schema({"name": "Things", "objectSchemaKey": "THG"})["id"])


@pytest.fixture
def host_type(site: Site, schema_id: str) -> str:
    return object_type(site, schema_id, "Host")


def object_type(site: Site, schema_id: str, name: str) -> str:
    return str(site.create_object_type({"name": name, "iconId": "1", "objectSchemaId": schema_id})["id"])


def attribute(site: Site, type_id: str, name: str, **body: Any) -> str:
    return str(site.create_attribute(type_id, {"name": name, **body})["id"])


def values(attribute_id: str, *raw: str) -> dict[str, Any]:
    return {"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": v} for v in raw]}


def name_id(site: Site, type_id: str) -> str:
    return next(a["id"] for a in site.list_attributes(type_id) if a["name"] == "Name")


def create(site: Site, type_id: str, name: str, *more: dict[str, Any]) -> str:
    body = {"objectTypeId": type_id, "attributes": [values(name_id(site, type_id), name), *more]}
    return str(site.create_object(body)["id"])


def update(site: Site, object_id: str, *changes: dict[str, Any]) -> None:
    site.update_object(object_id, {"attributes": list(changes)})


def entries(site: Site, object_id: str) -> list[Entry]:
    """Every entry of an object, oldest first, as (type, affectedAttribute, oldValue, newValue)."""
    return [
        (e["type"], e.get("affectedAttribute"), e.get("oldValue"), e.get("newValue"))
        for e in site.object_history(object_id, asc=True)
    ]


def last(site: Site, object_id: str) -> Entry:
    return entries(site, object_id)[-1]


def test_creating_an_object_records_one_created_entry_without_attribute_or_values(
    site: Site, host_type: str
) -> None:
    notes = attribute(site, host_type, "Notes")
    host = create(site, host_type, "web", values(notes, "first"))

    history = site.object_history(host)

    # One entry for the object, none per value written at creation.
    assert len(history) == 1
    assert history[0]["type"] == 0
    assert history[0]["objectId"] == host
    assert not {"affectedAttribute", "oldValue", "newValue"} & set(history[0])


# (defaultTypeId, extra attribute body, old written, new written, old display, new display)
DEFAULT_KINDS = [
    pytest.param(0, {}, "alpha", "beta", "alpha", "beta", id="Text"),
    pytest.param(1, {}, "8", "16", "8", "16", id="Integer"),
    pytest.param(2, {}, "true", "false", "true", "false", id="Boolean"),
    pytest.param(3, {}, "1.5", "2.25", "1.5", "2.25", id="Double"),
    pytest.param(4, {}, "2024-01-31", "2024-02-01", "31/Jan/24", "01/Feb/24", id="Date"),
    pytest.param(5, {}, "09:30", "17:45", "09:30", "17:45", id="Time"),
    pytest.param(
        6,
        {},
        "2024-01-31T10:05:00Z",
        "2024-01-31T22:05:00Z",
        "31/Jan/24 10:05 AM",
        "31/Jan/24 10:05 PM",
        id="DateTime",
    ),
    pytest.param(
        7,
        {},
        "https://a.example.com",
        "https://b.example.com/x",
        "https://a.example.com",
        "https://b.example.com/x",
        id="URL",
    ),
    pytest.param(8, {}, "a@example.com", "b@example.com", "a@example.com", "b@example.com", id="Email"),
    pytest.param(9, {}, "line one", "line one\nline two", "line one", "line one\nline two", id="Textarea"),
    pytest.param(10, {"options": "Low,High"}, "Low", "High", "Low", "High", id="Select"),
    pytest.param(11, {}, "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", id="IP Address"),
]


@pytest.mark.parametrize(("default_type", "extra", "old", "new", "old_text", "new_text"), DEFAULT_KINDS)
def test_a_default_type_value_is_added_changed_and_removed_as_display_text(
    site: Site,
    host_type: str,
    default_type: int,
    extra: dict[str, Any],
    old: str,
    new: str,
    old_text: str,
    new_text: str,
) -> None:
    field = attribute(site, host_type, "Field", type=0, defaultTypeId=default_type, **extra)
    host = create(site, host_type, "web")

    update(site, host, values(field, old))
    assert last(site, host) == (1, "Field", None, old_text)

    update(site, host, values(field, new))
    assert last(site, host) == (2, "Field", old_text, new_text)

    update(site, host, values(field))
    assert last(site, host) == (3, "Field", new_text, None)
    assert len(entries(site, host)) == 4  # created + the three changes


def test_writing_the_same_value_again_records_nothing(site: Site, host_type: str) -> None:
    field = attribute(site, host_type, "Field", type=0, defaultTypeId=1)
    host = create(site, host_type, "web", values(field, "8"))
    update(site, host, values(field, "8"))
    assert entries(site, host) == [(0, None, None, None)]


def test_a_reference_renders_as_the_label_of_the_referenced_object(
    site: Site, schema_id: str, host_type: str
) -> None:
    rack_type = object_type(site, schema_id, "Rack")
    link = str(site.create_reference_type({"name": "Sits in"})["id"])
    rack = attribute(site, host_type, "Rack", type=1, typeValue=rack_type, additionalValue=link)
    rack_a = create(site, rack_type, "Rack A")
    rack_b = create(site, rack_type, "Rack B")
    host = create(site, host_type, "web")

    update(site, host, values(rack, rack_a))
    assert last(site, host) == (4, "Rack", None, "Rack A")
    # By key as well as by id: the history shows the label either way.
    update(site, host, values(rack, f"THG-{rack_b}"))
    assert last(site, host) == (5, "Rack", "Rack A", "Rack B")
    update(site, host, values(rack))
    assert last(site, host) == (6, "Rack", "Rack B", None)


def test_a_user_renders_as_the_display_name(site: Site, host_type: str) -> None:
    owner = attribute(site, host_type, "Owner", type=2)
    host = create(site, host_type, "web")

    update(site, host, values(owner, "acc-ada"))
    assert last(site, host) == (9, "Owner", None, "Ada Lovelace")
    update(site, host, values(owner, "acc-alan"))
    assert last(site, host) == (10, "Owner", "Ada Lovelace", "Alan Turing")
    update(site, host, values(owner))
    assert last(site, host) == (11, "Owner", "Alan Turing", None)


def test_a_group_renders_as_the_group_name(site: Site, host_type: str) -> None:
    team = attribute(site, host_type, "Team", type=4)
    host = create(site, host_type, "web")

    update(site, host, values(team, "ops"))
    assert last(site, host) == (15, "Team", None, "ops")
    update(site, host, values(team, "dev"))
    assert last(site, host) == (16, "Team", "ops", "dev")
    update(site, host, values(team))
    assert last(site, host) == (17, "Team", "dev", None)


def test_a_status_renders_as_the_status_name_with_the_value_codes(
    site: Site, schema_id: str, host_type: str
) -> None:
    running = str(
        site.create_status_type({"name": "Racked", "category": 1, "objectSchemaId": schema_id})["id"]
    )
    stopped = str(
        site.create_status_type({"name": "Retired", "category": 0, "objectSchemaId": schema_id})["id"]
    )
    state = attribute(site, host_type, "State", type=7)
    host = create(site, host_type, "web")

    # No separate status code is known from a public source: status changes use 1/2/3 like plain values.
    update(site, host, values(state, running))
    assert last(site, host) == (1, "State", None, "Racked")
    update(site, host, values(state, stopped))
    assert last(site, host) == (2, "State", "Racked", "Retired")
    update(site, host, values(state))
    assert last(site, host) == (3, "State", "Retired", None)


def test_a_multi_value_change_is_one_entry_with_the_values_joined(site: Site, host_type: str) -> None:
    tags = attribute(site, host_type, "Tags", type=0, defaultTypeId=0, maximumCardinality=-1)
    host = create(site, host_type, "web")

    update(site, host, values(tags, "a", "b"))
    assert last(site, host) == (1, "Tags", None, "a, b")
    update(site, host, values(tags, "a", "b", "c"))
    assert last(site, host) == (2, "Tags", "a, b", "a, b, c")
    update(site, host, values(tags, "c"))
    assert last(site, host) == (2, "Tags", "a, b, c", "c")
    update(site, host, values(tags))
    assert last(site, host) == (3, "Tags", "c", None)
    assert len(entries(site, host)) == 5


def test_a_multi_value_reference_joins_the_labels(site: Site, schema_id: str, host_type: str) -> None:
    disk_type = object_type(site, schema_id, "Disk")
    link = str(site.create_reference_type({"name": "Uses"})["id"])
    disks = attribute(
        site, host_type, "Disks", type=1, typeValue=disk_type, additionalValue=link, maximumCardinality=-1
    )
    first, second = create(site, disk_type, "sda"), create(site, disk_type, "sdb")
    host = create(site, host_type, "web")

    update(site, host, values(disks, first, second))
    assert last(site, host) == (4, "Disks", None, "sda, sdb")


def test_an_avatar_is_added_changed_and_removed_without_values(site: Site, host_type: str) -> None:
    host = create(site, host_type, "web")

    site.update_object(host, {"avatarUUID": "c0ffee00-0000-4000-8000-000000000001"})
    assert last(site, host) == (25, "Avatar", None, None)
    site.update_object(host, {"avatarUUID": "c0ffee00-0000-4000-8000-000000000002"})
    assert last(site, host) == (26, "Avatar", None, None)
    site.update_object(host, {"hasAvatar": False})
    assert last(site, host) == (27, "Avatar", None, None)


def test_deleting_a_referenced_object_records_the_removal_on_each_referrer(
    site: Site, schema_id: str, host_type: str
) -> None:
    rack_type = object_type(site, schema_id, "Rack")
    link = str(site.create_reference_type({"name": "Sits in"})["id"])
    rack = attribute(site, host_type, "Rack", type=1, typeValue=rack_type, additionalValue=link)
    spares = attribute(
        site, host_type, "Spares", type=1, typeValue=rack_type, additionalValue=link, maximumCardinality=-1
    )
    rack_a, rack_b = create(site, rack_type, "Rack A"), create(site, rack_type, "Rack B")
    host = create(site, host_type, "web", values(rack, rack_a), values(spares, rack_a, rack_b))

    site.delete_object(rack_a, actor="acc-alan")

    history = site.object_history(host, asc=True)
    # The removal is the deleter's, per reference attribute: the label is still known when it is recorded.
    assert entries(site, host)[1:] == [
        (6, "Rack", "Rack A", None),
        (5, "Spares", "Rack A, Rack B", "Rack B"),
    ]
    assert {entry["actor"]["displayName"] for entry in history[1:]} == {"Alan Turing"}
    assert site.get_object(host)["attributes"][-1]["objectAttributeValues"][0]["displayValue"] == "Rack B"


def test_a_label_change_is_a_value_change_of_the_label_attribute_only(
    site: Site, schema_id: str, host_type: str
) -> None:
    rack_type = object_type(site, schema_id, "Rack")
    link = str(site.create_reference_type({"name": "Sits in"})["id"])
    rack = attribute(site, host_type, "Rack", type=1, typeValue=rack_type, additionalValue=link)
    rack_a = create(site, rack_type, "Rack A")
    host = create(site, host_type, "web")
    update(site, host, values(rack, rack_a))

    update(site, rack_a, values(name_id(site, rack_type), "Rack Alpha"))

    assert last(site, rack_a) == (2, "Name", "Rack A", "Rack Alpha")
    # The referrer records nothing, and its earlier entry keeps the label of its time.
    assert entries(site, host) == [(0, None, None, None), (4, "Rack", None, "Rack A")]
    assert site.get_object(rack_a)["label"] == "Rack Alpha"

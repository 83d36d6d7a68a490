"""What differs between a snapshot's configuration and the live one, and the bodies that put it back."""

from __future__ import annotations

from typing import Any

from airflow_assets.exceptions import AssetsBadRequestError
from airflow_assets.restore.config_revert import (
    ConfigRevert,
    SettingChange,
    attribute_changes,
    attribute_view,
    cycle_member,
    field_changes,
    order_line,
    rename_order,
    site_message,
    status_view,
    type_view,
    update_body,
)

JsonDict = dict[str, Any]

# As the site lists an attribute (a raw listing, not the demo's): numbers as strings, fields missing.
LIVE_TEXT: JsonDict = {
    "id": "71",
    "name": "Serial no",
    "type": "0",
    "defaultType": {"id": "0", "name": "Text"},
    "maximumCardinality": "1",
    "uniqueAttribute": False,
    "regexValidation": None,
    "objectTypeId": "9",
}
SNAPSHOT_TEXT: JsonDict = {
    "id": "71",
    "name": "Serial number",
    "type": 0,
    "defaultType": {"id": 0, "name": "Text"},
    "minimumCardinality": 0,
    "maximumCardinality": 1,
    "uniqueAttribute": True,
    "regexValidation": "[A-Z0-9]+",
    "description": "",
    "suffix": "",
}


def _changes(snapshot: JsonDict, live: JsonDict, **maps: Any) -> tuple[list[str], list[str]]:
    revertible, fixed = attribute_changes(attribute_view(snapshot, **maps), attribute_view(live))
    return [c.describe() for c in revertible], [c.describe() for c in fixed]


def test_missing_and_empty_settings_are_the_same_and_only_real_changes_are_listed() -> None:
    revertible, fixed = _changes(SNAPSHOT_TEXT, LIVE_TEXT)

    assert revertible == [
        "name 'Serial no' -> 'Serial number'",
        "uniqueAttribute False -> True",
        "regexValidation '' -> '[A-Z0-9]+'",
    ]
    assert fixed == []
    assert _changes(SNAPSHOT_TEXT, {**SNAPSHOT_TEXT, "description": None, "suffix": None}) == ([], [])


def test_a_changed_type_value_type_or_referenced_type_is_reported_not_written() -> None:
    as_integer = {**LIVE_TEXT, "name": "Serial number", "defaultType": {"id": 1, "name": "Integer"}}
    assert _changes(SNAPSHOT_TEXT, as_integer)[1] == ["defaultType 1 -> 0"]

    reference = {"id": "5", "name": "Owner", "type": 1, "referenceObjectTypeId": "30", "additionalValue": "2"}
    now_user = {"id": "5", "name": "Owner", "type": 2, "typeValueMulti": ["admins"]}
    revertible, fixed = _changes(reference, now_user)
    assert revertible == [] and fixed == ["type 2 -> 1", "referencedObjectType None -> '30'"]

    # A reference whose target type was recreated points at the new id: the same type, no change.
    moved = {**reference, "referenceObjectTypeId": "31"}
    assert _changes(reference, moved, type_id=lambda old: {"30": "31"}.get(old, old)) == ([], [])


def test_allowed_statuses_compare_through_the_status_map() -> None:
    snapshot = {"id": "8", "name": "State", "type": 7, "typeValueMulti": ["1", "2", "3"]}
    live = {"id": "8", "name": "State", "type": "7", "typeValueMulti": ["1", "20"]}
    recreated = {"2": "20", "3": "30"}

    revertible, _ = _changes(snapshot, live, status_id=lambda old: recreated.get(old, old))

    assert revertible == ["typeValueMulti ['1', '20'] -> ['1', '20', '30']"]
    # A status attribute that became a text one: its statuses are not written (its type is reported).
    assert _changes(snapshot, {**LIVE_TEXT, "name": "State"})[0] == []


def test_the_label_is_only_given_back_never_taken_away() -> None:
    snapshot = {**SNAPSHOT_TEXT, "label": True}
    assert _changes(snapshot, {**SNAPSHOT_TEXT, "label": False})[0] == ["label False -> True"]
    assert _changes(SNAPSHOT_TEXT, {**SNAPSHOT_TEXT, "label": True}) == ([], [])


def test_the_update_body_keeps_the_live_type_and_writes_every_setting() -> None:
    view = {**attribute_view(LIVE_TEXT), "name": "Serial number", "uniqueAttribute": True}
    body = update_body(LIVE_TEXT, view)
    assert body["name"] == "Serial number" and body["uniqueAttribute"] is True
    assert (body["type"], body["defaultTypeId"], body["maximumCardinality"], body["options"]) == (0, 0, 1, "")
    assert "label" not in body and "typeValueMulti" not in body

    reference = {"id": "5", "name": "Runs", "type": 1, "referenceObjectTypeId": "30",
                 "referenceType": {"id": "4", "name": "Installed"}, "maximumCardinality": -1}  # fmt: skip
    body = update_body(reference, {**attribute_view(reference), "maximumCardinality": 3})
    assert (body["typeValue"], body["additionalValue"], body["maximumCardinality"]) == ("30", "4", 3)

    group = {"id": "6", "name": "Team", "type": 4, "typeValueMulti": ["ops"]}
    assert update_body(group, attribute_view(group))["typeValueMulti"] == ["ops"]


def test_types_and_status_types_compare_name_description_icon_and_category() -> None:
    snapshot = {"id": "9", "name": "Laptop", "icon": {"id": "14", "name": "Laptop"}, "description": None}
    live = {"id": "9", "name": "Notebook", "icon": {"id": 15}, "description": ""}
    changes = field_changes(type_view(snapshot), type_view(live), ("name", "description", "iconId"))
    assert [c.describe() for c in changes] == ["name 'Notebook' -> 'Laptop'", "iconId '15' -> '14'"]
    # A snapshot that names no icon leaves the live one alone.
    assert field_changes(type_view({"name": "Laptop"}), type_view(live), ("iconId",)) == []

    status = {"id": "3", "name": "In repair", "category": 2}
    renamed = {"id": "3", "name": "Repairing", "category": "1", "description": None}
    changes = field_changes(status_view(status), status_view(renamed), ("name", "category", "description"))
    assert [c.describe() for c in changes] == ["name 'Repairing' -> 'In repair'", "category 1 -> 2"]


def test_order_line_shows_the_order_now_and_once_moved() -> None:
    names = {"1": "Key", "2": "Name", "3": "Model", "4": "Notes"}
    line = order_line(names, ["1", "2", "3", "4"], ["1", "4", "gone", "2"])
    assert line == "attribute order 'Key, Name, Model, Notes' -> 'Key, Notes, Name, Model'"


def test_site_message_and_report_shape() -> None:
    refused = AssetsBadRequestError(
        status=400, method="PUT", endpoint="objecttypeattribute/9/71",
        errors={"uniqueAttribute": "Existing objects share the value DUP-1"},
    )  # fmt: skip
    assert site_message(refused) == "uniqueAttribute: Existing objects share the value DUP-1"
    assert SettingChange("maximumCardinality", 5, 1).describe() == "maximumCardinality 5 -> 1"
    report = ConfigRevert(changes=("a",), refused=("b",), attributes_moved=2, dry_run=True).as_dict()
    assert report["changes"] == ["a"] and report["refused"] == ["b"]
    assert report["attributes_moved"] == 2 and report["dry_run"] is True and report["types_renamed"] == 0


def test_a_name_is_freed_before_it_is_taken_back_and_a_swap_is_left_to_the_site() -> None:
    # 0 wants "Serial number", which 2 holds now and gives back; 1 keeps its name.
    names = [("Serial no", "Serial number"), ("Cost", "Cost"), ("serial NUMBER", "Purchase date")]
    assert rename_order(names) == ([1, 2, 0], [])
    # A case-only rename waits for nobody; two attributes that swapped names come last, as given; a
    # temporary name for one of the two lets the other take its name back.
    swapped = [("cost", "Cost"), ("A", "B"), ("B", "A"), ("x", "y")]
    assert rename_order(swapped) == ([0, 3, 1, 2], [1, 2])
    assert cycle_member(swapped, [1, 2]) == 1
    swapped[1] = ("A (renaming 7)", "B")
    assert rename_order(swapped) == ([0, 2, 3, 1], [])
    assert cycle_member(swapped, []) is None
    assert rename_order([]) == ([], [])


def test_a_reference_type_compares_through_the_reference_map_and_is_written_back() -> None:
    snapshot = {"id": "5", "name": "Runs", "type": 1, "referenceObjectTypeId": "30", "additionalValue": "4"}
    live = {**snapshot, "additionalValue": "7"}
    assert _changes(snapshot, live)[0] == ["referenceType '7' -> '4'"]
    assert _changes(snapshot, {**live, "additionalValue": "40"}, reference_id=lambda r: "40") == ([], [])
    body = update_body(live, {**attribute_view(live), "referenceType": "4"})
    assert (body["typeValue"], body["additionalValue"]) == ("30", "4")

"""The rollback diff on hand-built objects: what counts as a change, what the PUT body puts back."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_assets.model.normalize import normalize_object
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.rollback_diff import (
    CHANGED,
    CREATED_SINCE,
    DELETED_SINCE,
    DiffFilter,
    Rewrite,
    RollbackDiffError,
    compare_objects,
    in_place_maps,
    merge_by_id,
    object_hash,
    write_body,
)

TYPE = "5"
KEY, NAME, CREATED, UPDATED, OWNER, TAGS, LINKS, COST, USER = (
    "10",
    "11",
    "12",
    "13",
    "20",
    "21",
    "22",
    "23",
    "24",
)


def _attribute(attribute_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": attribute_id, "name": name, "objectTypeId": TYPE, "type": 0, "editable": True, **extra}


CONFIG = SchemaConfig(
    {
        "object_type": [
            {"id": TYPE, "name": "Host"},
            {"id": "6", "name": "Server", "parentObjectTypeId": TYPE},
        ],
        "attribute": [
            _attribute(KEY, "Key", system=True, editable=False),
            _attribute(NAME, "Name", label=True),
            _attribute(CREATED, "Created", system=True, editable=False),
            _attribute(UPDATED, "Updated", system=True, editable=False),
            _attribute(OWNER, "Owner", type=1, referenceObjectTypeId=TYPE),
            _attribute(TAGS, "Tags", maximumCardinality=-1),
            _attribute(LINKS, "Links", type=1, referenceObjectTypeId=TYPE, maximumCardinality=-1),
            _attribute(COST, "Cost"),
            _attribute(USER, "User", type=2),
        ],
    }
)
MAPS = in_place_maps(CONFIG, CONFIG.attributes)


def _values(*items: dict[str, Any]) -> list[dict[str, Any]]:
    return list(items)


def _raw(object_id: str, attributes: dict[str, list[dict[str, Any]]], *, updated: str = "2026-01-01") -> dict:
    """An object as an AQL page answers it (attributes in the order given)."""
    return {
        "id": object_id,
        "objectKey": f"HOST-{object_id}",
        "label": "x",
        "objectType": {"id": TYPE, "updated": "whatever"},
        "created": "2025-01-01",
        "updated": updated,
        "avatar": {"url16": f"https://a/{updated}?jwt=1"},
        "attributes": [
            {"objectTypeAttributeId": attribute_id, "objectAttributeValues": values}
            for attribute_id, values in attributes.items()
        ],
    }


def _ref(object_id: str) -> dict[str, Any]:
    return {"referencedObject": {"id": object_id, "objectKey": f"HOST-{object_id}", "label": "L"}}


def _text(value: str) -> dict[str, Any]:
    return {"value": value, "displayValue": value}


BASE = {
    KEY: [_text("HOST-1")],
    NAME: [_text("web-1")],
    UPDATED: [_text("2026-01-01")],
    OWNER: [_ref("2")],
    TAGS: [_text("a"), _text("b")],
    COST: [_text("10")],
}


def test_attribute_order_alone_is_no_change() -> None:
    snapshot = normalize_object(_raw("1", BASE))
    live = normalize_object(_raw("1", dict(reversed(list(BASE.items())))))
    # The backup's normalisation sorts attributes by id: the very same content hash.
    assert object_hash(snapshot, workspace_id="w", schema_id="s") == object_hash(
        live, workspace_id="w", schema_id="s"
    )
    assert compare_objects(snapshot, live, MAPS) == ()


def test_server_owned_fields_and_system_attributes_are_no_change() -> None:
    snapshot = normalize_object(_raw("1", BASE))
    later = {**BASE, UPDATED: [_text("2026-06-01")]}
    live = normalize_object(_raw("1", later, updated="2026-06-01"))
    assert object_hash(snapshot, workspace_id="w", schema_id="s") != object_hash(
        live, workspace_id="w", schema_id="s"
    )
    assert compare_objects(snapshot, live, MAPS) == ()


def test_changed_removed_and_added_values_give_a_body_of_just_those() -> None:
    snapshot = normalize_object(_raw("1", BASE))
    live_attributes = {key: value for key, value in BASE.items() if key != OWNER}
    live_attributes[COST] = [_text("99")]
    live_attributes[USER] = [{"user": {"key": "acc-9", "displayName": "Nine"}}]
    live = normalize_object(_raw("1", live_attributes, updated="2026-06-01"))
    changes = compare_objects(snapshot, live, MAPS)
    assert [(c.name, c.old, c.new) for c in changes] == [
        ("Owner", ("2",), ()),
        ("Cost", ("10",), ("99",)),
        ("User", (), ("acc-9",)),
    ]
    assert changes[1].line() == "Cost: [99] -> [10]"
    body = write_body(snapshot, Rewrite("1", TYPE, tuple(c.attribute_id for c in changes)), MAPS)
    assert body.body == {
        "objectTypeId": TYPE,
        "attributes": [
            {"objectTypeAttributeId": OWNER, "objectAttributeValues": [{"value": "2"}]},
            {"objectTypeAttributeId": COST, "objectAttributeValues": [{"value": "10"}]},
            # The snapshot held no user: the attribute is cleared.
            {"objectTypeAttributeId": USER, "objectAttributeValues": []},
        ],
    }
    assert body.waits_for == ()


def test_multi_values_compare_as_a_set_and_go_back_in_snapshot_order() -> None:
    attributes = {**BASE, LINKS: [_ref("3"), _ref("4")]}
    snapshot = normalize_object(_raw("1", attributes))
    shuffled = normalize_object(
        _raw("1", {**attributes, TAGS: [_text("b"), _text("a")], LINKS: [_ref("4"), _ref("3")]})
    )
    assert compare_objects(snapshot, shuffled, MAPS) == ()
    fewer = normalize_object(
        _raw("1", {**attributes, TAGS: [_text("b"), _text("c"), _text("a")], LINKS: [_ref("4")]})
    )
    changes = compare_objects(snapshot, fewer, MAPS)
    assert [(c.name, c.old, c.new) for c in changes] == [
        ("Tags", ("a", "b"), ("a", "b", "c")),
        ("Links", ("3", "4"), ("4",)),
    ]
    body = write_body(snapshot, Rewrite("1", TYPE, (TAGS, LINKS)), MAPS)
    assert body.body["attributes"] == [
        {"objectTypeAttributeId": TAGS, "objectAttributeValues": [{"value": "a"}, {"value": "b"}]},
        {"objectTypeAttributeId": LINKS, "objectAttributeValues": [{"value": "3"}, {"value": "4"}]},
    ]


def test_users_compare_by_account_id() -> None:
    snapshot = normalize_object(_raw("1", {**BASE, USER: [{"user": {"key": "acc-1", "displayName": "Ann"}}]}))
    renamed = normalize_object(
        _raw("1", {**BASE, USER: [{"user": {"key": "acc-1", "displayName": "Ann B."}}]})
    )
    assert compare_objects(snapshot, renamed, MAPS) == ()


def test_a_reference_to_an_object_deleted_since_waits_for_it() -> None:
    snapshot = normalize_object(_raw("1", {**BASE, LINKS: [_ref("3"), _ref("4")]}))
    rewrite = Rewrite("1", TYPE, (OWNER, LINKS))
    body = write_body(snapshot, rewrite, MAPS, deleted={"4"})
    assert body.waits_for == ("4",)
    assert body.body["attributes"][1] == {
        "objectTypeAttributeId": LINKS,
        "objectAttributeValues": [{"value": "3"}],
    }
    assert any("referenced object 4" in text for text in body.dropped)
    # An attribute whose only value waits is left out rather than cleared.
    alone = write_body(snapshot, Rewrite("1", TYPE, (OWNER,)), MAPS, deleted={"2"})
    assert (alone.body["attributes"], alone.waits_for, alone.writes) == ([], ("2",), False)
    # Once recreated (a new key), the reference goes back with it.
    recreated = in_place_maps(CONFIG, CONFIG.attributes, reference=lambda i: "HOST-77" if i == "4" else i)
    body = write_body(snapshot, rewrite, recreated, deleted={"4"})
    assert body.waits_for == ()
    assert body.body["attributes"][1]["objectAttributeValues"] == [{"value": "3"}, {"value": "HOST-77"}]


def test_an_attribute_gone_live_is_not_compared_nor_written() -> None:
    maps = in_place_maps(CONFIG, [a for a in CONFIG.attributes if a != COST])
    snapshot = normalize_object(_raw("1", BASE))
    live = normalize_object(_raw("1", {k: v for k, v in BASE.items() if k != COST}))
    assert compare_objects(snapshot, live, maps) == ()
    body = write_body(snapshot, Rewrite("1", TYPE, (COST,)), maps)
    assert body.body["attributes"] == []


def test_merge_pairs_by_id_and_refuses_a_stream_out_of_order() -> None:
    def objs(*ids: str) -> list[dict[str, Any]]:
        return [{"id": i} for i in ids]

    pairs = list(merge_by_id(objs("2", "5", "10", "11"), objs("1", "5", "9", "11", "12")))
    assert [(a and a["id"], b and b["id"]) for a, b in pairs] == [
        (None, "1"), ("2", None), ("5", "5"), (None, "9"), ("10", None), ("11", "11"), (None, "12"),
    ]  # fmt: skip
    with pytest.raises(RollbackDiffError, match="live objects are not in id order"):
        list(merge_by_id(objs("1"), objs("3", "2")))
    assert CHANGED != DELETED_SINCE != CREATED_SINCE


def test_filter_turns_keys_into_ids_and_adds_children_when_asked() -> None:
    keys = DiffFilter(object_keys=frozenset({"HOST-3", "HOST-12"}))
    assert keys.candidate_ids() == {"3", "12"}
    both = DiffFilter(object_keys=frozenset({"HOST-3", "HOST-12"}), object_ids=frozenset({"3", "4"}))
    assert both.candidate_ids() == {"3"}
    assert DiffFilter(object_keys=frozenset({"odd"})).candidate_ids() is None
    assert DiffFilter(type_ids=frozenset({TYPE})).resolved_types(CONFIG) == {TYPE}
    assert DiffFilter(type_ids=frozenset({TYPE}), with_children=True).resolved_types(CONFIG) == {TYPE, "6"}

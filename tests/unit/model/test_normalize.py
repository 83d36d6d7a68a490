"""Normalised content is stable across reads and accepts both forms where the spec and the wire disagree."""

from __future__ import annotations

import copy

import pytest

from airflow_assets.model import normalize as norm
from airflow_assets.store.hashing import content_hash

RAW_OBJECT = {
    "workspaceId": "ws",
    "globalId": "ws:88",
    "id": "88",
    "label": "SYD-1",
    "objectKey": "ITSM-88",
    "objectType": {
        "id": "23",
        "name": "Office",
        "updated": "2024-01-01T00:00:00.000Z",
        "icon": {"url16": "x"},
    },
    "created": "2021-02-16T20:04:41.527Z",
    "updated": "2021-02-16T20:04:41.527Z",
    "hasAvatar": False,
    "timestamp": 1613505881527,
    "avatar": {
        "url16": "https://a/avatar/88?size=16&jwt=eyJ1",
        "url48": "https://a?jwt=eyJ2",
        "objectId": "88",
    },
    "extendedInfo": {"openIssuesExists": False, "attachmentsExists": "true"},
    "_links": {"self": "https://a/object/88"},
    "attributes": [
        {
            "id": "641",
            "objectTypeAttributeId": "144",
            "objectAttributeValues": [
                {
                    "referencedObject": {"id": "87", "objectKey": "ITSM-87", "label": "Sydney", "avatar": {}},
                    "displayValue": "Sydney",
                    "searchValue": "ITSM-87",
                    "referencedType": True,
                }
            ],
        },
        {
            "id": "640",
            "objectTypeAttributeId": "135",
            "objectAttributeValues": [{"value": "SYD-1", "displayValue": "SYD-1", "referencedType": False}],
        },
        {
            "objectTypeAttributeId": "150",
            "objectAttributeValues": [
                {"user": {"displayName": "Ted", "key": "acc-1", "avatarUrl": "https://a?jwt=1"}},
                {"group": {"name": "jira-users", "avatarUrl": "https://g"}},
                {"status": {"id": "2", "name": "Active", "category": 1}},
            ],
        },
    ],
}


def _hash(data: dict) -> str:
    return content_hash(kind="object", workspace_id="ws", schema_id="1", item_id="88", data=data)


def test_per_read_noise_does_not_change_the_content_or_its_hash() -> None:
    again = copy.deepcopy(RAW_OBJECT)
    again["avatar"]["url16"] = "https://a/avatar/88?size=16&jwt=eyJOTHER"
    again["objectType"]["updated"] = "2025-06-01T00:00:00.000Z"
    again["timestamp"] = 1713505881527
    again["attributes"].reverse()
    again["objectTypeId"] = 23  # the type id as a number, as some answers have it

    first, second = norm.normalize_object(RAW_OBJECT), norm.normalize_object(again)

    assert first == second
    assert _hash(first) == _hash(second)


def test_references_statuses_users_and_groups_are_kept_by_id_or_name() -> None:
    data = norm.normalize_object(RAW_OBJECT)

    assert [a["objectTypeAttributeId"] for a in data["attributes"]] == ["135", "144", "150"]
    assert data["attributes"][1]["values"] == [{"referencedObjectId": "87"}]
    assert data["attributes"][2]["values"] == [
        {"user": {"accountId": "acc-1", "displayName": "Ted"}},
        {"groupName": "jira-users"},
        {"statusId": "2"},
    ]
    assert data["objectTypeId"] == "23" and data["attachmentsExists"] is True
    assert "jwt" not in repr(data) and "avatar" not in data and "_links" not in data


def test_a_real_change_changes_the_content() -> None:
    changed = copy.deepcopy(RAW_OBJECT)
    changed["attributes"][1]["objectAttributeValues"][0]["value"] = "SYD-2"

    assert norm.normalize_object(changed) != norm.normalize_object(RAW_OBJECT)


def test_object_types_accept_a_numeric_parent_and_string_flags() -> None:
    spec_form = {"id": 23, "name": "Office", "parentObjectTypeId": 19, "inherited": "false", "objectCount": 4}
    wire_form = {
        "id": "23",
        "name": "Office",
        "parentObjectTypeId": "19",
        "inherited": False,
        "objectCount": 9,
    }

    assert norm.normalize_object_type(spec_form) == norm.normalize_object_type(wire_form)
    assert norm.normalize_object_type(spec_form)["parentObjectTypeId"] == "19"
    assert "parentObjectTypeId" not in norm.normalize_object_type({"id": "1", "parentObjectTypeId": None})


@pytest.mark.parametrize("bad", [None, "", True])
def test_an_object_without_an_id_is_refused_clearly(bad: object) -> None:
    with pytest.raises(norm.UnexpectedAnswerError, match="object's id"):
        norm.normalize_object({**RAW_OBJECT, "id": bad})


def test_history_entries_keep_who_and_what_but_not_avatars() -> None:
    raw = {
        "id": 12345,
        "actor": {"displayName": "Ted", "key": "acc-1", "avatarUrl": "https://a?jwt=x"},
        "affectedAttribute": "Status",
        "oldValue": "Active",
        "newValue": "Closed",
        "type": 2,
        "created": "2022-03-01T09:46:32.409Z",
    }

    entry = norm.normalize_history_entry(raw, "88")

    assert entry["id"] == "12345" and entry["objectId"] == "88"
    assert entry["actor"] == {"accountId": "acc-1", "displayName": "Ted"}
    assert (entry["oldValue"], entry["newValue"], entry["type"]) == ("Active", "Closed", 2)


def test_a_ticket_records_its_assets_fields_sorted_once_each() -> None:
    held_in = ["customfield_2", "customfield_1", "customfield_2"]
    raw = {"id": "10001", "key": "ITSM-1", "assets_fields": held_in}
    ticket = norm.normalize_ticket(raw, "88")
    assert ticket["assets_fields"] == ["customfield_1", "customfield_2"]
    reordered = norm.normalize_ticket({**raw, "assets_fields": held_in[::-1]}, "88")
    assert ticket == reordered
    # A backup that could not read the fields records none: the key is absent, not empty.
    assert "assets_fields" not in norm.normalize_ticket({"id": "10001", "key": "ITSM-1"}, "88")

"""Normalise what the Assets API answers into the stable content that is hashed and stored.

Raw answers differ on every read without anything having changed: avatar and icon URLs carry fresh
``jwt`` tokens, every object embeds its whole object type (with its own ``updated``), ``_links`` and
``timestamp`` move. Normalised content leaves those out, keeps references as ids, and holds ids as strings
and flags as booleans whichever form arrived (the OpenAPI description and the wire disagree on some).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.ids import id_order

JsonDict = dict[str, Any]

# Keys whose values are per-read URLs, tokens or caller-specific permissions: never content.
_VOLATILE_KEYS = frozenset(
    {"_links", "timestamp", "avatar", "avatarUrl", "url16", "url48", "url72", "url144", "url288",
     "mediaClientConfig", "iconUrl", "canEdit", "canDelete", "canManage", "workspaceId", "globalId", "self"}
)  # fmt: skip


class UnexpectedAnswerError(JiraAssetsError):
    """The Assets API answered something the backup cannot read (an object without an id...)."""


def as_id(value: Any, *, what: str) -> str:
    """Return an id as a string (the API sends strings; the OpenAPI types some as numbers)."""
    if isinstance(value, bool) or value is None:
        raise UnexpectedAnswerError(f"{what} is missing or not an id: {value!r}")
    text = str(value).strip()
    if not text:
        raise UnexpectedAnswerError(f"{what} is empty")
    return text


def as_bool(value: Any) -> bool:
    """Return a flag as a boolean (``true``/``"true"``/``"True"`` are true, anything else false)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def object_number(object_id: str) -> int:
    """Return an object id as a number (for id windows); ids are decimal digits."""
    if not object_id.isascii() or not object_id.isdigit():
        raise UnexpectedAnswerError(f"object id {object_id!r} is not a number")
    return int(object_id)


def strip_volatile(value: Any) -> Any:
    """Drop per-read URLs, tokens and links at any depth; keep everything else."""
    if isinstance(value, Mapping):
        return {key: strip_volatile(item) for key, item in value.items() if key not in _VOLATILE_KEYS}
    if isinstance(value, list):
        return [strip_volatile(item) for item in value]
    return value


def _person(actor: Any) -> JsonDict | None:
    """Keep who someone is (account id, name, email) and nothing that changes per read."""
    if not isinstance(actor, Mapping):
        return None
    person = {
        "accountId": actor.get("key") or actor.get("accountId"),
        "displayName": actor.get("displayName"),
        "emailAddress": actor.get("emailAddress"),
    }
    return {key: value for key, value in person.items() if value is not None}


def _value(raw: Mapping[str, Any]) -> JsonDict:
    """Normalise one attribute value: references, statuses, users and groups by id or name."""
    referenced = raw.get("referencedObject")
    if isinstance(referenced, Mapping):
        return {"referencedObjectId": as_id(referenced.get("id"), what="a referenced object's id")}
    status = raw.get("status")
    if isinstance(status, Mapping):
        return {"statusId": as_id(status.get("id"), what="a status value's id")}
    user = raw.get("user")
    if isinstance(user, Mapping):
        return {"user": _person(user)}
    group = raw.get("group")
    if isinstance(group, Mapping):
        return {"groupName": group.get("name")}
    value: JsonDict = {"value": raw.get("value")}
    if raw.get("additionalValue") is not None:
        value["additionalValue"] = raw.get("additionalValue")
    return value


def normalize_object(raw: Mapping[str, Any]) -> JsonDict:
    """Return the stored content of an object from an AQL page or ``GET object/{id}``."""
    object_id = as_id(raw.get("id"), what="an object's id")
    object_type = raw.get("objectType")
    type_id = raw.get("objectTypeId")
    if isinstance(object_type, Mapping):
        type_id = object_type.get("id", type_id)
    attributes = []
    for attribute in raw.get("attributes") or []:
        attribute_id = as_id(
            attribute.get("objectTypeAttributeId"), what=f"an attribute id of object {object_id}"
        )
        values = [_value(value) for value in attribute.get("objectAttributeValues") or []]
        attributes.append({"objectTypeAttributeId": attribute_id, "values": values})
    attributes.sort(key=lambda attribute: id_order(attribute["objectTypeAttributeId"]))
    extended = raw.get("extendedInfo")
    if not isinstance(extended, Mapping):
        extended = {}
    content: JsonDict = {
        "id": object_id,
        "objectKey": raw.get("objectKey"),
        "label": raw.get("label"),
        "objectTypeId": as_id(type_id, what=f"the object type of object {object_id}"),
        "created": raw.get("created"),
        "updated": raw.get("updated"),
        "hasAvatar": as_bool(raw.get("hasAvatar")),
        "attributes": attributes,
    }
    avatar = raw.get("avatar")
    if isinstance(avatar, Mapping) and avatar.get("avatarUUID"):
        content["avatarUUID"] = avatar["avatarUUID"]
    if "attachmentsExists" in extended:
        content["attachmentsExists"] = as_bool(extended.get("attachmentsExists"))
    return content


def normalize_history_entry(raw: Mapping[str, Any], object_id: str) -> JsonDict:
    """Return the stored content of one history entry."""
    return _object_entry(raw, object_id, "a history entry")


def normalize_comment(raw: Mapping[str, Any], object_id: str) -> JsonDict:
    """Return the stored content of one comment."""
    return _object_entry(raw, object_id, "a comment")


def _object_entry(raw: Mapping[str, Any], object_id: str, what: str) -> JsonDict:
    """Keep an entry of an object as it came, less per-read noise; its author by account id, name, email."""
    entry = strip_volatile(raw)
    entry["id"] = as_id(raw.get("id"), what=f"{what} id of object {object_id}")
    entry["objectId"] = object_id
    entry["actor"] = _person(raw.get("actor"))
    return entry


def normalize_ticket(raw: Mapping[str, Any], object_id: str) -> JsonDict:
    """Return the stored content of one connected Jira issue."""
    ticket = strip_volatile(raw)
    ticket["id"] = as_id(raw.get("id") or raw.get("key"), what=f"a connected ticket of object {object_id}")
    ticket["objectId"] = object_id
    if "assets_fields" in raw:
        # The ids of the Assets fields that hold the object (recorded by the backup), in one order.
        held_in = raw.get("assets_fields")
        ticket["assets_fields"] = sorted({str(field_id) for field_id in held_in or [] if field_id})
    return ticket


def normalize_object_type(raw: Mapping[str, Any]) -> JsonDict:
    """Return the stored content of an object type (icon by id and name; parent id as a string)."""
    object_type = strip_volatile(raw)
    object_type["id"] = as_id(raw.get("id"), what="an object type's id")
    parent = raw.get("parentObjectTypeId")
    if parent is not None and str(parent).strip():
        object_type["parentObjectTypeId"] = as_id(parent, what="a parent object type id")
    else:
        object_type.pop("parentObjectTypeId", None)
    for flag in ("inherited", "abstractObjectType", "parentObjectTypeInherited"):
        if flag in object_type:
            object_type[flag] = as_bool(object_type[flag])
    # Counts change with every object created; they are not configuration.
    object_type.pop("objectCount", None)
    return object_type


def normalize_attribute(raw: Mapping[str, Any]) -> JsonDict:
    """Return the stored content of an attribute definition, with its owner type as an id."""
    attribute = strip_volatile(raw)
    attribute["id"] = as_id(raw.get("id"), what="an attribute's id")
    owner = raw.get("objectType")
    if isinstance(owner, Mapping):
        attribute["objectTypeId"] = as_id(
            owner.get("id"), what=f"the owner type of attribute {attribute['id']}"
        )
        attribute.pop("objectType", None)
    return attribute


def normalize_config_item(raw: Mapping[str, Any], *, what: str) -> JsonDict:
    """Return the stored content of a schema, its properties, a status type or a reference type."""
    item = strip_volatile(raw)
    for count in ("objectCount", "objectTypeCount"):
        item.pop(count, None)
    item["id"] = as_id(raw.get("id"), what=f"the id of {what}")
    return item


def ids_of(values: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the ids of a page of objects."""
    return [as_id(value.get("id"), what="an object's id") for value in values]

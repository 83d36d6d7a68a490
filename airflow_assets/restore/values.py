"""Turn an object of a snapshot into the body that creates it on the target (``ObjectIn``).

Values are written in the forms of the contract: references by the referenced object's key, users by
account id, groups by name, statuses by id, everything else as the value the API gave. The system
attributes (Key, Created, Updated) are never sent. A value that has nothing to map to on the target is
left out and reported; it never fails the object.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.model.attributes import is_system
from airflow_assets.restore.directory import describe_person

JsonDict = dict[str, Any]


@dataclass
class ValueMaps:
    """How the old ids of a snapshot translate to the target.

    :param attributes: old attribute id -> target attribute id.
    :param attribute_defs: old attribute id -> its definition in the snapshot.
    :param statuses: old status type id -> target status type id.
    :param reference: old object id -> what to send for a reference to it (key), or None if it has none.
    :param user: a person of the snapshot -> the target's account id, or None.
    :param group: a group name -> the target's group name, or None.
    """

    attributes: Mapping[str, str]
    attribute_defs: Mapping[str, JsonDict]
    statuses: Mapping[str, str]
    reference: Callable[[str], str | None]
    user: Callable[[Mapping[str, Any] | None], str | None]
    group: Callable[[str | None], str | None]


@dataclass
class ObjectBody:
    """A create (or update) body and what had to be left out of it."""

    body: JsonDict
    dropped: list[str] = field(default_factory=list)
    omitted_refs: list[str] = field(default_factory=list)
    refused_attributes: list[str] = field(default_factory=list)


def object_body(
    obj: JsonDict,
    target_type_id: str,
    maps: ValueMaps,
    *,
    omit_refs: Collection[str] = (),
    only_attributes: Collection[str] | None = None,
) -> ObjectBody:
    """Return the body that writes ``obj`` on the target.

    :param omit_refs: old ids of objects that do not exist yet (cycle members): left out, listed in
        ``omitted_refs`` for the second call.
    :param only_attributes: old attribute ids to write (an update of some attributes); None: all.
    """
    result = ObjectBody({"objectTypeId": target_type_id, "attributes": []})
    label = obj.get("objectKey") or obj.get("id")
    for attribute in obj.get("attributes") or []:
        old_attribute = str(attribute.get("objectTypeAttributeId"))
        if only_attributes is not None and old_attribute not in only_attributes:
            continue
        definition = maps.attribute_defs.get(old_attribute)
        if definition is not None and is_system(definition):
            continue
        name = definition.get("name") if definition else old_attribute
        new_attribute = maps.attributes.get(old_attribute)
        if new_attribute is None:
            result.dropped.append(f"{label}: attribute {name} has no counterpart on the target")
            continue
        written: list[JsonDict] = []
        for value in attribute.get("values") or []:
            text = _write_form(value, maps, omit_refs, result, f"{label}.{name}")
            if text is not None and {"value": text} not in written:
                written.append({"value": text})
        if written or only_attributes is not None:
            result.body["attributes"].append(
                {"objectTypeAttributeId": new_attribute, "objectAttributeValues": written}
            )
    if obj.get("hasAvatar") and obj.get("avatarUUID"):
        result.dropped.append(f"{label}: its avatar image cannot be restored (no API for its content)")
    return result


def _write_form(
    value: Mapping[str, Any], maps: ValueMaps, omit_refs: Collection[str], result: ObjectBody, where: str
) -> str | None:
    if "referencedObjectId" in value:
        target = str(value["referencedObjectId"])
        if target in omit_refs:
            if target not in result.omitted_refs:
                result.omitted_refs.append(target)
            return None
        reference = maps.reference(target)
        if reference is None:
            result.dropped.append(
                f"{where}: referenced object {target} is neither restored nor on the target"
            )
        return reference
    if "statusId" in value:
        status = maps.statuses.get(str(value["statusId"]))
        if status is None:
            result.dropped.append(f"{where}: status {value['statusId']} has no counterpart on the target")
        return status
    if "user" in value:
        account_id = maps.user(value.get("user"))
        if account_id is None:
            result.dropped.append(f"{where}: user {describe_person(value.get('user'))} is not on the target")
        return account_id
    if "groupName" in value:
        group = maps.group(value.get("groupName"))
        if group is None:
            result.dropped.append(f"{where}: group {value.get('groupName')} is not on the target")
        return group
    raw = value.get("value")
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)

"""Rewind one object, as a snapshot stored it, to an earlier moment by undoing its history entries.

Entries are undone newest first: a changed value goes back to its old value, an added value is removed, a
removed value is put back. Undoing is a set operation on the stored values, so an entry whose change the
stored object does not show yet (recorded while the backup read it) is undone harmlessly. History gives
values as display text; :class:`Resolver` reads them back (labels to object ids, names to users and
statuses) as they were when the entry was recorded. What cannot be undone exactly is reported per
attribute with the reason, never guessed silently.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_assets.ids import id_order
from airflow_assets.model.attributes import (
    ATTR_DEFAULT,
    ATTR_GROUP,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    default_type_id,
)
from airflow_assets.model.display import (
    SEPARATOR,
    UnreadableValue,
    parse_moment,
    parse_plain,
    split_values,
)

JsonDict = dict[str, Any]

CREATED = 0
ATTACHMENT_CODES = frozenset({7, 8})
AVATAR_CODES = frozenset({25, 26, 27})

# Why a value was not rewound exactly (the fidelity report counts by these).
AMBIGUOUS_LABEL = "reference label matches several objects"
UNKNOWN_LABEL = "reference label matches no object of the schema at that moment"
OTHER_SCHEMA = "reference to another schema's objects"
AMBIGUOUS_USER = "user display name matches several users"
UNKNOWN_USER = "user display name matches no known user"
UNKNOWN_STATUS = "status name matches no status type (or several)"
UNPARSEABLE = "display form cannot be parsed back"
PRECISION = "display form is less precise than the value"
RENAMED = "attribute renamed or deleted since"
SPLIT = "multi-value display text cannot be split unambiguously"
AVATAR = "avatar changes cannot be rewound"
UNSUPPORTED = "attribute type cannot be rewound from its display text"


class Unresolved(Exception):
    """A display value that cannot be read back exactly; ``reason`` is one of the module's reasons."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Note:
    """One value that could not be rewound exactly.

    :param object_id: the object.
    :param attribute: the attribute's name (as history names it).
    :param reason: why (one of the module's reasons).
    :param detail: the text involved.
    """

    object_id: str
    attribute: str
    reason: str
    detail: str

    def as_dict(self) -> JsonDict:
        """Return the note as stored."""
        return {"object_id": self.object_id, "attribute": self.attribute, "reason": self.reason,
                "detail": self.detail}  # fmt: skip


@dataclass
class Rewound:
    """An object as it was at the moment, or None when it did not exist yet.

    :param data: the object's stored content as of the moment (None: created after it).
    :param values_rewound: history entries undone.
    :param notes: what was not rewound exactly.
    """

    data: JsonDict | None
    values_rewound: int = 0
    notes: list[Note] = field(default_factory=list)


class Resolver:
    """Read display values back into stored values, as of the moment each entry was recorded.

    :param label_at: (object id, moment) -> the object's label then (None if it did not exist).
    :param objects_by_label: label -> ids of the objects that carried it at some moment.
    :param object_type: object id -> its object type id.
    :param users_named: display name -> the stored forms of the users with that name.
    :param statuses_by_name: status name -> status type ids.
    """

    def __init__(
        self,
        *,
        label_at: Callable[[str, datetime], str | None],
        objects_by_label: Mapping[str, Iterable[str]],
        object_type: Mapping[str, str],
        users_named: Callable[[str], Sequence[JsonDict]],
        statuses_by_name: Mapping[str, Sequence[str]],
        schema_types: set[str] | None = None,
    ) -> None:
        self.label_at = label_at
        self.objects_by_label = objects_by_label
        self.object_type = object_type
        self.users_named = users_named
        self.statuses_by_name = statuses_by_name
        self.schema_types = schema_types

    def reference(self, label: str, at: datetime, type_ids: frozenset[str] | None) -> JsonDict:
        if type_ids is not None and self.schema_types is not None and not type_ids & self.schema_types:
            raise Unresolved(OTHER_SCHEMA, repr(label))
        candidates = [
            object_id
            for object_id in self.objects_by_label.get(label, ())
            if (type_ids is None or self.object_type.get(object_id) in type_ids)
            and self.label_at(object_id, at) == label
        ]
        if len(candidates) > 1:
            raise Unresolved(AMBIGUOUS_LABEL, f"{label!r} -> objects {', '.join(sorted(candidates))}")
        if not candidates:
            raise Unresolved(UNKNOWN_LABEL, label)
        return {"referencedObjectId": candidates[0]}

    def user(self, name: str) -> JsonDict:
        users = self.users_named(name)
        if len(users) > 1:
            raise Unresolved(AMBIGUOUS_USER, repr(name))
        if not users:
            raise Unresolved(UNKNOWN_USER, repr(name))
        return {"user": dict(users[0])}

    def status(self, name: str) -> JsonDict:
        statuses = list(dict.fromkeys(self.statuses_by_name.get(name, ())))
        if len(statuses) != 1:
            raise Unresolved(UNKNOWN_STATUS, repr(name))
        return {"statusId": statuses[0]}


@dataclass(frozen=True)
class Attribute:
    """What rewinding needs of an attribute definition."""

    attribute_id: str
    name: str
    kind: int
    default_type: int | None
    multiple: bool
    reference_types: frozenset[str] | None
    label: bool

    @classmethod
    def from_config(cls, data: Mapping[str, Any], reference_types: frozenset[str] | None) -> Attribute:
        """Build from a stored attribute definition."""
        maximum = data.get("maximumCardinality")
        return cls(
            attribute_id=str(data["id"]),
            name=str(data.get("name") or ""),
            kind=int(data.get("type") or 0),
            default_type=default_type_id(data),
            multiple=maximum is not None and int(maximum) != 1,
            reference_types=reference_types,
            label=bool(data.get("label")),
        )


class ObjectRewinder:
    """Rewind objects of one schema to ``moment``.

    :param moment: the moment to rewind to (aware UTC).
    :param attributes_of: object type id -> its attributes by name (own and inherited).
    :param resolver: reads display values back.
    """

    def __init__(
        self, moment: datetime, attributes_of: Callable[[str], Mapping[str, Attribute]], resolver: Resolver
    ) -> None:
        self.moment = moment
        self.attributes_of = attributes_of
        self.resolver = resolver

    def rewind(
        self, data: Mapping[str, Any], after: Sequence[Mapping[str, Any]], last_before: str | None
    ) -> Rewound:
        """Return ``data`` as of the moment.

        :param data: the object as a snapshot stored it.
        :param after: its history entries recorded after the moment (any order).
        :param last_before: ``created`` of its newest entry at or before the moment (its ``updated`` then).
        """
        created = parse_moment(data.get("created"))
        if created is not None and created > self.moment:
            return Rewound(None)
        result = Rewound(copy.deepcopy(dict(data)))
        assert result.data is not None
        object_id = str(data["id"])
        values = {str(a["objectTypeAttributeId"]): list(a.get("values") or []) for a in data["attributes"]}
        attributes = self.attributes_of(str(data["objectTypeId"]))
        inexact: dict[str, Note] = {}
        for entry in sorted(after, key=_entry_order, reverse=True):
            code = int(entry.get("type") or 0)
            name = str(entry.get("affectedAttribute") or "")
            if code == CREATED or code in ATTACHMENT_CODES:
                continue
            if code in AVATAR_CODES:
                inexact["Avatar"] = Note(object_id, "Avatar", AVATAR, "")
                continue
            attribute = attributes.get(name)
            if attribute is None:
                inexact[name] = Note(object_id, name, RENAMED, repr(name))
                continue
            at = parse_moment(entry.get("created")) or self.moment
            current = values.setdefault(attribute.attribute_id, [])
            try:
                self._undo(attribute, current, entry, at)
            except Unresolved as unresolved:
                inexact[name] = Note(object_id, name, unresolved.reason, unresolved.detail)
            else:
                precision = self._precision(attribute, entry)
                if precision:
                    inexact[name] = Note(object_id, name, PRECISION, precision)
                elif entry.get("oldValue") is not None and entry.get("newValue") is not None:
                    inexact.pop(name, None)  # a replacement decides the value whatever newer ones did
                elif not attribute.multiple:
                    inexact.pop(name, None)
            result.values_rewound += 1
        result.notes = list(inexact.values())
        self._write_back(result.data, values, attributes, last_before)
        return result

    def _undo(
        self, attribute: Attribute, current: list[JsonDict], entry: Mapping[str, Any], at: datetime
    ) -> None:
        old, new = entry.get("oldValue"), entry.get("newValue")
        if (old is not None and new is not None) or not attribute.multiple:
            current[:] = self._read(attribute, old, at, current) if old is not None else []
            return
        if old is None:  # added after the moment: take it out
            for value in self._read(attribute, new, at, current):
                if value in current:
                    current.remove(value)
            return
        for value in self._read(attribute, old, at, current):  # removed after the moment: put it back
            if value not in current:
                current.append(value)

    def _read(
        self, attribute: Attribute, text: Any, at: datetime, current: Sequence[JsonDict]
    ) -> list[JsonDict]:
        parts = split_values(str(text), multiple=attribute.multiple)
        # Values that themselves hold the separator cannot be told apart from several values.
        held = any(SEPARATOR in str(value.get("value", "")) for value in current)
        if attribute.multiple and attribute.kind == ATTR_DEFAULT and len(parts) > 1 and held:
            raise Unresolved(SPLIT, repr(text))
        resolved = []
        for part in parts:
            resolved.append(self._value(attribute, part, at, whole=str(text)))
        return resolved

    def _value(self, attribute: Attribute, text: str, at: datetime, *, whole: str) -> JsonDict:
        if attribute.kind == ATTR_REFERENCE:
            try:
                return self.resolver.reference(text, at, attribute.reference_types)
            except Unresolved:
                if SEPARATOR in whole and text != whole:
                    raise Unresolved(SPLIT, repr(whole)) from None
                raise
        if attribute.kind == ATTR_USER:
            return self.resolver.user(text)
        if attribute.kind == ATTR_GROUP:
            return {"groupName": text}
        if attribute.kind == ATTR_STATUS:
            return self.resolver.status(text)
        if attribute.kind != ATTR_DEFAULT:
            raise Unresolved(UNSUPPORTED, repr(text))
        try:
            return {"value": parse_plain(text, attribute.default_type).value}
        except UnreadableValue as error:
            raise Unresolved(UNPARSEABLE, str(error)) from None

    def _precision(self, attribute: Attribute, entry: Mapping[str, Any]) -> str:
        old = entry.get("oldValue")
        if attribute.kind != ATTR_DEFAULT or old is None:
            return ""
        for part in split_values(str(old), multiple=attribute.multiple):
            try:
                inexact = parse_plain(part, attribute.default_type).inexact
            except UnreadableValue:
                return ""
            if inexact:
                return f"{inexact} ({part!r})"
        return ""

    def _write_back(
        self,
        data: JsonDict,
        values: Mapping[str, list[JsonDict]],
        attributes: Mapping[str, Attribute],
        last_before: str | None,
    ) -> None:
        updated = data.get("updated")
        moment_updated = parse_moment(updated)
        new_updated = updated
        if moment_updated is not None and moment_updated > self.moment and last_before is not None:
            new_updated = last_before
        rebuilt = []
        for attribute_id, attribute_values in values.items():
            if not attribute_values:
                continue
            if updated is not None and new_updated != updated and attribute_values == [{"value": updated}]:
                attribute_values = [{"value": new_updated}]  # the system attribute "Updated"
            rebuilt.append({"objectTypeAttributeId": attribute_id, "values": attribute_values})
        rebuilt.sort(key=lambda attribute: id_order(attribute["objectTypeAttributeId"]))
        data["attributes"] = rebuilt
        data["updated"] = new_updated
        for attribute in attributes.values():
            if attribute.label:
                label_values = values.get(attribute.attribute_id) or []
                if label_values and "value" in label_values[0]:
                    data["label"] = label_values[0]["value"]


def _entry_order(entry: Mapping[str, Any]) -> tuple[str, int]:
    moment = parse_moment(entry.get("created"))
    identifier = str(entry.get("id") or "0")
    return (moment.isoformat() if moment else "", int(identifier) if identifier.isdigit() else 0)

"""A mapped schema's configuration as its snapshot holds it, indexed the way a restore looks it up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.restore.source import SourceSnapshot

JsonDict = dict[str, Any]

ATTR_DEFAULT = 0
ATTR_REFERENCE = 1
ATTR_USER = 2
ATTR_GROUP = 4
ATTR_STATUS = 7


def attribute_kind(attribute: JsonDict) -> int:
    """Return an attribute's type code (0 default, 1 reference, 2 user, 4 group, 7 status)."""
    try:
        return int(attribute.get("type", 0))
    except (TypeError, ValueError):
        return -1


def is_system(attribute: JsonDict) -> bool:
    """Tell whether the server owns the attribute's values (Key, Created, Updated)."""
    return bool(attribute.get("system")) or attribute.get("editable") is False


def referenced_type(attribute: JsonDict) -> str | None:
    """Return the object type id a reference attribute points to."""
    if attribute_kind(attribute) != ATTR_REFERENCE:
        return None
    value = attribute.get("referenceObjectTypeId") or attribute.get("typeValue")
    return str(value) if value not in (None, "") else None


def reference_type_id(attribute: JsonDict) -> str | None:
    """Return the reference type id of a reference attribute."""
    reference = attribute.get("referenceType")
    if isinstance(reference, dict) and reference.get("id") is not None:
        return str(reference["id"])
    value = attribute.get("additionalValue")
    return str(value) if value not in (None, "") else None


@dataclass
class SchemaSource:
    """One mapped schema: its snapshot and its configuration."""

    source: SourceSnapshot
    schema: JsonDict
    properties: JsonDict
    object_types: dict[str, JsonDict]
    attributes: dict[str, JsonDict]
    status_types: list[JsonDict]
    reference_types: list[JsonDict]
    global_status_types: list[JsonDict]
    global_reference_types: list[JsonDict]
    attributes_of: dict[str, list[JsonDict]] = field(default_factory=dict)

    @property
    def old_key(self) -> str:
        """Return the schema key in the snapshot."""
        return self.source.mapping.old_key

    @property
    def new_key(self) -> str:
        """Return the key the schema is restored under."""
        return self.source.mapping.new_key

    def type_name(self, type_id: str) -> str:
        """Return an object type's name (its id when unknown)."""
        return str(self.object_types.get(type_id, {}).get("name", type_id))

    def ancestors(self, type_id: str) -> list[str]:
        """Return the parent, grandparent... of an object type."""
        chain: list[str] = []
        parent = self.object_types.get(type_id, {}).get("parentObjectTypeId")
        while parent is not None and parent in self.object_types and parent not in chain:
            chain.append(parent)
            parent = self.object_types[parent].get("parentObjectTypeId")
        return chain

    def types_parent_first(self, type_ids: Iterable[str] | None = None) -> list[str]:
        """Return object type ids with every parent before its children (siblings by position)."""
        wanted = set(self.object_types) if type_ids is None else set(type_ids)
        children: dict[str | None, list[str]] = {}
        for type_id, object_type in self.object_types.items():
            parent = object_type.get("parentObjectTypeId")
            children.setdefault(parent if parent in self.object_types else None, []).append(type_id)
        order: list[str] = []
        pending: list[str | None] = [None]
        while pending:
            parent = pending.pop(0)
            kids = sorted(
                children.get(parent, []),
                key=lambda t: (
                    int(self.object_types[t].get("position") or 0),
                    self.object_types[t].get("name"),
                ),
            )
            order.extend(kid for kid in kids if kid in wanted)
            pending.extend(kids)
        return order

    def label_attribute(self, type_id: str) -> JsonDict | None:
        """Return the label attribute objects of a type carry (inherited from an ancestor or its own)."""
        for owner in [type_id, *self.ancestors(type_id)]:
            for attribute in self.attributes_of.get(owner, []):
                if attribute.get("label"):
                    return attribute
        return None

    def carried_attributes(self, type_id: str) -> list[JsonDict]:
        """Return the attributes objects of a type carry: inherited ones, then its own."""
        carried: list[JsonDict] = []
        chain = [type_id]
        current = type_id
        while True:
            object_type = self.object_types.get(current, {})
            parent = object_type.get("parentObjectTypeId")
            if (
                parent is None
                or parent not in self.object_types
                or not self.object_types[parent].get("inherited")
            ):
                break
            chain.append(parent)
            current = parent
        for owner in reversed(chain):
            carried.extend(self.attributes_of.get(owner, []))
        return carried


def load_schema_source(source: SourceSnapshot) -> SchemaSource:
    """Read a snapshot's configuration."""
    attributes = {a["id"]: a for a in source.config("attribute")}
    attributes_of: dict[str, list[JsonDict]] = {}
    for attribute in attributes.values():
        attributes_of.setdefault(str(attribute.get("objectTypeId")), []).append(attribute)
    for owned in attributes_of.values():
        owned.sort(key=lambda a: (int(a.get("position") or 0), int(a["id"]) if a["id"].isdigit() else 0))
    properties = source.config("schema_properties")
    return SchemaSource(
        source=source,
        schema=source.schema(),
        properties=properties[0] if properties else {},
        object_types={t["id"]: t for t in source.config("object_type")},
        attributes=attributes,
        status_types=source.config("status_type"),
        reference_types=source.config("reference_type"),
        global_status_types=source.config("global_status_type"),
        global_reference_types=source.config("global_reference_type"),
        attributes_of=attributes_of,
    )

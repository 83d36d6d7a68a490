"""A schema's stored configuration, indexed: object types in the site's order, the attributes each carries.

Built from plain data: the configuration items a snapshot stores, by kind (``store.layout.CONFIG_KINDS``:
``schema``, ``object_type``, ``attribute``, ``status_type``...), as normalised content. Nothing here reads
the store; each reader (the restore, the export, the diff, the backfill) reads the items and builds this.

Two rules, as the site applies them (the sandbox is the reference for what Assets does):

- Siblings, the object types under one parent (or the schema's top level), are ordered by ``position``, then
  by id as a number. ``objectschema/{id}/objecttypes/flat`` lists every type that way, each followed by its
  children (depth first); a type whose parent the configuration does not hold counts as a top-level one.
- Inheritance: a type's ``inherited`` flag says it passes the attributes its objects carry on to its children
  (a child's ``parentObjectTypeInherited`` repeats its parent's flag). A type therefore carries its own
  attributes and, when its parent's flag is true, everything its parent carries; the walk up stops at the
  first parent whose flag is false, whatever the flags above it. Inherited attributes come first (the
  farthest ancestor's first), each type's own ordered by ``position``, then by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_assets.ids import id_order

JsonDict = dict[str, Any]

OBJECT_TYPE = "object_type"
ATTRIBUTE = "attribute"


def position_of(item: Mapping[str, Any]) -> int:
    """Return an object type's or attribute's ``position`` (0 when it has none, or not a number)."""
    try:
        return int(item.get("position") or 0)
    except (TypeError, ValueError):
        return 0


def sibling_order(item: Mapping[str, Any]) -> tuple[int, tuple[int, str]]:
    """Return the sort key of an object type among its siblings, or an attribute among its type's own."""
    return (position_of(item), id_order(item.get("id")))


class SchemaConfig:
    """One schema's configuration, by kind, with the site's order and inheritance.

    :param kinds: the stored configuration items of each kind (``object_type`` -> its items...); a kind
        left out has no items. Items are kept as given (not copied), lists in the order given.
    """

    def __init__(self, kinds: Mapping[str, Iterable[JsonDict]]) -> None:
        self.kinds: dict[str, list[JsonDict]] = {kind: list(items) for kind, items in kinds.items()}
        self.object_types: dict[str, JsonDict] = {str(item["id"]): item for item in self.of(OBJECT_TYPE)}
        self.attributes: dict[str, JsonDict] = {str(item["id"]): item for item in self.of(ATTRIBUTE)}
        self.own_attributes: dict[str, list[JsonDict]] = {}
        for attribute in self.attributes.values():
            self.own_attributes.setdefault(str(attribute.get("objectTypeId")), []).append(attribute)
        for owned in self.own_attributes.values():
            owned.sort(key=sibling_order)
        self._children: dict[str | None, list[str]] = {}
        for type_id in self.object_types:
            self._children.setdefault(self.parent_of(type_id), []).append(type_id)
        for siblings in self._children.values():
            siblings.sort(key=lambda type_id: sibling_order(self.object_types[type_id]))

    def of(self, kind: str) -> list[JsonDict]:
        """Return the items of ``kind`` (empty when the configuration holds none)."""
        return self.kinds.get(kind, [])

    # -- the schema and its own settings ------------------------------------------------------------------

    @property
    def schema(self) -> JsonDict:
        """Return the schema itself (empty when the configuration holds none)."""
        schemas = self.of("schema")
        return schemas[0] if schemas else {}

    @property
    def properties(self) -> JsonDict:
        """Return the schema's properties (empty when the configuration holds none)."""
        properties = self.of("schema_properties")
        return properties[0] if properties else {}

    @property
    def status_types(self) -> list[JsonDict]:
        """Return the schema's own status types."""
        return self.of("status_type")

    @property
    def global_status_types(self) -> list[JsonDict]:
        """Return the site's global status types, as the snapshot saw them."""
        return self.of("global_status_type")

    @property
    def reference_types(self) -> list[JsonDict]:
        """Return the schema's own reference types."""
        return self.of("reference_type")

    @property
    def global_reference_types(self) -> list[JsonDict]:
        """Return the site's global reference types, as the snapshot saw them."""
        return self.of("global_reference_type")

    # -- lookups ------------------------------------------------------------------------------------------

    def type_name(self, type_id: str | None) -> str | None:
        """Return an object type's name, or None when the configuration does not hold the type."""
        found = self.object_types.get(str(type_id))
        return None if found is None else str(found.get("name"))

    def attribute_name(self, attribute_id: str) -> str | None:
        """Return an attribute's name, or None when the configuration does not hold the attribute."""
        found = self.attributes.get(str(attribute_id))
        return None if found is None else str(found.get("name"))

    def status(self, status_id: str) -> JsonDict | None:
        """Return a status type by id: the schema's own, else a global one (None when neither holds it)."""
        for status in (*self.status_types, *self.global_status_types):
            if str(status.get("id")) == str(status_id):
                return status
        return None

    def status_ids_by_name(self) -> dict[str, list[str]]:
        """Return status name -> the ids of the status types of that name (the schema's own first)."""
        found: dict[str, list[str]] = {}
        for status in (*self.status_types, *self.global_status_types):
            found.setdefault(str(status.get("name")), []).append(str(status["id"]))
        return found

    # -- the type tree ------------------------------------------------------------------------------------

    def parent_of(self, type_id: str) -> str | None:
        """Return the parent of an object type, or None for a top-level type (or a parent not held)."""
        parent = self.object_types.get(type_id, {}).get("parentObjectTypeId")
        if parent is None or str(parent) not in self.object_types:
            return None
        return str(parent)

    def children_of(self, type_id: str | None) -> list[str]:
        """Return the ids of the types directly below ``type_id`` (None: the top level), siblings in order."""
        return list(self._children.get(type_id, []))

    def type_ids_in_order(self) -> list[str]:
        """Return every object type id as ``objecttypes/flat`` lists them: each type, then its children."""
        ordered: list[str] = []
        pending = list(reversed(self.children_of(None)))
        while pending:
            type_id = pending.pop()
            ordered.append(type_id)
            pending.extend(reversed(self.children_of(type_id)))
        return ordered

    def types_in_order(self) -> list[JsonDict]:
        """Return every object type as ``objecttypes/flat`` lists them: each type, then its children."""
        return [self.object_types[type_id] for type_id in self.type_ids_in_order()]

    def ancestors(self, type_id: str) -> list[str]:
        """Return the parent, grandparent... of an object type, whether it inherits from them or not."""
        chain: list[str] = []
        parent = self.parent_of(type_id)
        while parent is not None and parent != type_id and parent not in chain:
            chain.append(parent)
            parent = self.parent_of(parent)
        return chain

    def type_and_descendants(self, type_id: str) -> frozenset[str]:
        """Return ``type_id`` and every type below it."""
        found, pending = {type_id}, [type_id]
        while pending:
            for child in self._children.get(pending.pop(), ()):
                if child not in found:
                    found.add(child)
                    pending.append(child)
        return frozenset(found)

    # -- inheritance --------------------------------------------------------------------------------------

    def inherits_from(self, type_id: str) -> list[str]:
        """Return the types whose attributes ``type_id`` carries: itself, then the ancestors it inherits from.

        The walk goes up while the parent's ``inherited`` flag is true and stops at the first that is not.
        """
        chain = [type_id]
        for ancestor in self.ancestors(type_id):
            if not self.object_types[ancestor].get("inherited"):
                break
            chain.append(ancestor)
        return chain

    def carried_attributes(self, type_id: str) -> list[JsonDict]:
        """Return the attributes objects of a type carry (``objecttype/{id}/attributes``): inherited first."""
        carried: list[JsonDict] = []
        for owner in reversed(self.inherits_from(type_id)):
            carried.extend(self.own_attributes.get(owner, []))
        return carried

    def label_attribute(self, type_id: str) -> JsonDict | None:
        """Return the label attribute objects of a type carry: its own, else the nearest inherited one."""
        labels = [attribute for attribute in self.carried_attributes(type_id) if attribute.get("label")]
        return labels[-1] if labels else None

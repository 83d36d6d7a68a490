"""The structure of a sandbox Assets site: object schemas, status and reference types, icons, object types."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from airflow_assets.sandbox.records import (
    ATTR_DEFAULT,
    ATTR_REFERENCE,
    ATTR_STATUS,
    DEFAULT_DATETIME,
    DEFAULT_TEXT,
    AttributeRecord,
    ObjectTypeRecord,
    ReferenceTypeRecord,
    SchemaRecord,
    StatusTypeRecord,
    bad_request,
    not_found,
)
from airflow_assets.sandbox.site_state import SiteState, check_paging, locked
from airflow_assets.sandbox.validation import (
    body_dict,
    check_name,
    check_schema_key,
    optional_bool,
    optional_id,
    optional_int,
    optional_text,
    required_id,
    required_text,
)

__all__ = ["SiteStructure"]

SCHEMA_PROPERTY_DEFAULTS = {
    "serviceDescCustomersEnabled": False,
    "quickCreateObjects": False,
    "validateQuickCreate": False,
    "allowOtherObjectSchema": False,
    "createObjectsCustomField": False,
}
STATUS_CATEGORIES = (0, 1, 2)
# Names the sandbox lists when it refuses to delete a configuration type that is in use.
IN_USE_SHOWN = 3
SYSTEM_ATTRIBUTES = (("Key", "key"), ("Name", None), ("Created", "created"), ("Updated", "updated"))
SYSTEM_DESCRIPTIONS = {
    "key": "The object key",
    None: "The name of the object",
    "created": "Creation date",
    "updated": "Last update",
}


class SiteStructure(SiteState):
    """The schemas, configuration types, icons and object types of a Site."""

    @locked
    def list_schemas(
        self,
        *,
        start_at: int = 0,
        max_results: int = 25,
        include_counts: bool = False,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """Answer ``GET objectschema/list``: one page of schemas by id."""
        check_paging(start_at, max_results)
        renderer = self._renderer(base_url)
        schemas = sorted(self.schemas.values(), key=lambda schema: int(schema.id))
        page = schemas[start_at : start_at + max_results]
        last = start_at + len(page) >= len(schemas)
        return {
            "startAt": start_at,
            "maxResults": max_results,
            "total": len(schemas),
            "values": [renderer.schema(schema, counts=include_counts) for schema in page],
            "isLast": last,
            "last": last,
        }

    @locked
    def create_schema(
        self, body: dict[str, Any], *, actor: str | None = None, at: datetime | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Create an object schema from ``{name, objectSchemaKey, description?}``."""
        body = body_dict(body)
        name = check_name(required_text(body, "name", "Name"))
        key = check_schema_key(required_text(body, "objectSchemaKey", "Key"))
        self._check_schema_unique(name, key, None)
        now = self._now(at)
        schema_id = self._next_id("schema")
        schema = SchemaRecord(
            schema_id, name, key, optional_text(body, "description"), now, now, dict(SCHEMA_PROPERTY_DEFAULTS)
        )
        self.schemas[schema_id] = schema
        self._written()
        return self._renderer(base_url).schema(schema)

    def _check_schema_unique(self, name: str, key: str, schema_id: str | None) -> None:
        for other in self.schemas.values():
            if other.id == schema_id:
                continue
            if other.key == key:
                raise bad_request(objectSchemaKey=f"The key {key} is already used by another object schema")
            if other.name.lower() == name.lower():
                raise bad_request(name="Name has to be unique")

    @locked
    def get_schema(self, schema_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer ``GET objectschema/{id}``."""
        return self._renderer(base_url).schema(self._schema(schema_id))

    @locked
    def update_schema(
        self, schema_id: str, body: dict[str, Any], *, at: datetime | None = None, base_url: str | None = None
    ) -> dict[str, Any]:
        """Update a schema's name, key or description; a new key renames every object key."""
        schema = self._schema(schema_id)
        body = body_dict(body)
        name = check_name(required_text(body, "name", "Name")) if "name" in body else schema.name
        key = (
            check_schema_key(required_text(body, "objectSchemaKey", "Key"))
            if "objectSchemaKey" in body
            else (schema.key)
        )
        self._check_schema_unique(name, key, schema.id)
        description = optional_text(body, "description", schema.description)
        if key != schema.key:
            for record in self.objects.values():
                if record.schema_id == schema.id:
                    record.key = f"{key}-{record.object_id}"
        schema.name, schema.key, schema.description = name, key, description
        schema.updated = self._now(at)
        self._written()
        return self._renderer(base_url).schema(schema)

    @locked
    def delete_schema(self, schema_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Delete a schema with its object types, attributes, objects and schema-specific config."""
        schema = self._schema(schema_id)
        rendered = self._renderer(base_url).schema(schema)
        types = [
            object_type for object_type in self.object_types.values() if object_type.schema_id == schema.id
        ]
        # Leaves first, so every type is childless when it goes.
        depth = {object_type.id: self._depth(object_type) for object_type in types}
        for object_type in sorted(types, key=lambda object_type: -depth[object_type.id]):
            self._delete_object_type(object_type)
        for status_id in [s.id for s in self.status_types.values() if s.schema_id == schema.id]:
            del self.status_types[status_id]
        for reference_id in [r.id for r in self.reference_types.values() if r.schema_id == schema.id]:
            del self.reference_types[reference_id]
        del self.schemas[schema.id]
        self._structure_changed()
        return rendered

    def _depth(self, object_type: ObjectTypeRecord) -> int:
        depth = 0
        while object_type.parent_id:
            object_type = self.object_types[object_type.parent_id]
            depth += 1
        return depth

    @locked
    def schema_object_types(
        self, schema_id: str, *, include_object_counts: bool = False, base_url: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer ``GET objectschema/{id}/objecttypes/flat``: every type, parents before children."""
        schema = self._schema(schema_id)
        renderer = self._renderer(base_url)
        ordered: list[ObjectTypeRecord] = []

        def visit(parent_id: str | None) -> None:
            for child in self.children_of(parent_id) if parent_id else self._roots(schema.id):
                ordered.append(child)
                visit(child.id)

        visit(None)
        return [renderer.object_type(object_type, counts=include_object_counts) for object_type in ordered]

    @locked
    def schema_object_types_tree(
        self, schema_id: str, *, exclude_abstract: bool = False, base_url: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer ``GET objectschema/{id}/objecttypes``: the schema's types, parents first."""
        flat = self.schema_object_types(schema_id, base_url=base_url)
        return [t for t in flat if not (exclude_abstract and t["abstractObjectType"])]

    def _roots(self, schema_id: str) -> list[ObjectTypeRecord]:
        roots = [t for t in self.object_types.values() if t.schema_id == schema_id and t.parent_id is None]
        return sorted(roots, key=lambda root: (root.position, int(root.id)))

    @locked
    def schema_attributes(
        self, schema_id: str, *, only_value_editable: bool = False, base_url: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer ``GET objectschema/{id}/attributes``: the attributes defined by the schema's types."""
        schema = self._schema(schema_id)
        renderer = self._renderer(base_url)
        attributes = [
            attribute
            for attribute in self.attributes.values()
            if self.object_types[attribute.object_type_id].schema_id == schema.id
            and (attribute.editable or not only_value_editable)
        ]
        attributes.sort(
            key=lambda attribute: (int(attribute.object_type_id), self.attribute_position(attribute))
        )
        return [renderer.attribute(attribute) for attribute in attributes]

    @locked
    def schema_properties(self, schema_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer ``GET global/config/objectschema/{id}/property``."""
        return self._renderer(base_url).schema_properties(self._schema(schema_id))

    @locked
    def set_schema_properties(
        self, schema_id: str, body: dict[str, Any], *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Set schema properties such as ``allowOtherObjectSchema`` (unknown properties are refused)."""
        schema = self._schema(schema_id)
        body = body_dict(body)
        changes = {}
        for name in body:
            if name in ("id", "objectSchemaId", "workspaceId", "globalId"):
                continue
            if name not in SCHEMA_PROPERTY_DEFAULTS:
                raise bad_request(**{name: f"Unknown object schema property {name}"})
            changes[name] = optional_bool(body, name)
        schema.properties.update(changes)
        self._written()
        return self._renderer(base_url).schema_properties(schema)

    # --- status and reference types ------------------------------------------------------------

    @locked
    def list_status_types(
        self, schema_id: str | None = None, *, base_url: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer ``GET config/statustype``: global statuses, plus the schema's own when one is given."""
        if schema_id is not None:
            self._schema(schema_id)
        renderer = self._renderer(base_url)
        return [
            renderer.status_type(status)
            for status in self.status_types.values()
            if status.schema_id is None or status.schema_id == schema_id
        ]

    @locked
    def create_status_type(self, body: dict[str, Any], *, base_url: str | None = None) -> dict[str, Any]:
        """Create a status type from ``{name, category, description?, objectSchemaId?}``."""
        body = body_dict(body)
        name = required_text(body, "name", "Name")
        if "category" not in body:
            raise bad_request(category="category is required (0 inactive, 1 active, 2 pending)")
        category = _status_category(body, 0)
        schema_id = optional_id(body, "objectSchemaId")
        if schema_id is not None and schema_id not in self.schemas:
            raise bad_request(objectSchemaId=f"The object schema with id {schema_id} was not found")
        _check_config_name_unique(self.status_types.values(), name, schema_id, None)
        status_id = self._next_id("status")
        status = StatusTypeRecord(status_id, name, optional_text(body, "description"), category, schema_id)
        self.status_types[status_id] = status
        self._written()
        return self._renderer(base_url).status_type(status)

    def _status_type(self, status_id: str) -> StatusTypeRecord:
        status = self.status_types.get(str(status_id))
        if status is None:
            raise not_found(f"The status type with id {status_id} was not found")
        return status

    @locked
    def update_status_type(
        self, status_id: str, body: dict[str, Any], *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Update ``{name?, category?, description?, objectSchemaId?}`` of a status type (its scope stays)."""
        status = self._status_type(status_id)
        body = body_dict(body)
        _check_same_scope(body, status.schema_id, "status type")
        name = required_text(body, "name", "Name") if "name" in body else status.name
        category = _status_category(body, status.category)
        _check_config_name_unique(self.status_types.values(), name, status.schema_id, status.id)
        status.name, status.category = name, category
        status.description = optional_text(body, "description", status.description)
        # Rendered values and AQL results show the status: every cache keyed on the structure goes.
        self._structure_changed()
        return self._renderer(base_url).status_type(status)

    @locked
    def delete_status_type(self, status_id: str) -> None:
        """Delete a status type that no status attribute allows and no object holds."""
        status = self._status_type(status_id)
        status_attributes = [a for a in self.attributes.values() if a.kind == ATTR_STATUS]
        allowing = [a for a in status_attributes if status.id in a.type_value_multi]
        if allowing:
            raise bad_request(
                f"The status type {status.name} is allowed by the attribute(s) "
                f"{self._describe_attributes(allowing)}: remove it from them first"
            )
        holders = sorted(
            record.key
            for record in self.objects.values()
            if any(status.id in record.values.get(a.id, ())[1:] for a in status_attributes)
        )
        if holders:
            shown = ", ".join(holders[:IN_USE_SHOWN]) + (", ..." if len(holders) > IN_USE_SHOWN else "")
            raise bad_request(
                f"The status type {status.name} is the status of {len(holders)} object(s) ({shown}): "
                "give them another status first"
            )
        del self.status_types[status.id]
        self._structure_changed()

    def _describe_attributes(self, attributes: list[AttributeRecord]) -> str:
        named = [f"{a.name} of {self.object_types[a.object_type_id].name}" for a in attributes[:IN_USE_SHOWN]]
        return ", ".join(named) + (", ..." if len(attributes) > IN_USE_SHOWN else "")

    @locked
    def list_reference_types(
        self, schema_id: str | None = None, *, include_all: bool = False, base_url: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer ``GET config/referencetype``: global types, or a schema's own (+ global with includeAll)."""
        if schema_id is not None:
            self._schema(schema_id)
        renderer = self._renderer(base_url)
        return [
            renderer.reference_type(reference_type)
            for reference_type in self.reference_types.values()
            if reference_type.schema_id == schema_id or (reference_type.schema_id is None and include_all)
        ]

    @locked
    def create_reference_type(self, body: dict[str, Any], *, base_url: str | None = None) -> dict[str, Any]:
        """Create a reference type from ``{name, description?, color?, objectSchemaId?}``."""
        body = body_dict(body)
        name = required_text(body, "name", "Name")
        color = _reference_color(body, "49a6ed")
        schema_id = optional_id(body, "objectSchemaId")
        if schema_id is not None and schema_id not in self.schemas:
            raise bad_request(objectSchemaId=f"The object schema with id {schema_id} was not found")
        _check_config_name_unique(self.reference_types.values(), name, schema_id, None)
        reference_id = self._next_id("reference_type")
        reference_type = ReferenceTypeRecord(
            reference_id, name, optional_text(body, "description"), color, schema_id
        )
        self.reference_types[reference_id] = reference_type
        self._written()
        return self._renderer(base_url).reference_type(reference_type)

    def _reference_type(self, reference_id: str) -> ReferenceTypeRecord:
        reference_type = self.reference_types.get(str(reference_id))
        if reference_type is None:
            raise not_found(f"The reference type with id {reference_id} was not found")
        return reference_type

    @locked
    def update_reference_type(
        self, reference_id: str, body: dict[str, Any], *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Update ``{name?, description?, color?, objectSchemaId?}`` of a reference type (its scope stays)."""
        reference_type = self._reference_type(reference_id)
        body = body_dict(body)
        _check_same_scope(body, reference_type.schema_id, "reference type")
        name = required_text(body, "name", "Name") if "name" in body else reference_type.name
        color = _reference_color(body, reference_type.color)
        _check_config_name_unique(
            self.reference_types.values(), name, reference_type.schema_id, reference_type.id
        )
        reference_type.name, reference_type.color = name, color
        reference_type.description = optional_text(body, "description", reference_type.description)
        # Attribute definitions embed their reference type: the cached renderings go.
        self._structure_changed()
        return self._renderer(base_url).reference_type(reference_type)

    @locked
    def delete_reference_type(self, reference_id: str) -> None:
        """Delete a reference type that is not built in and that no reference attribute uses."""
        reference_type = self._reference_type(reference_id)
        if not reference_type.removable:
            raise bad_request(f"The reference type {reference_type.name} is built in and cannot be deleted")
        using = [
            a
            for a in self.attributes.values()
            if a.kind == ATTR_REFERENCE and a.reference_type_id == reference_type.id
        ]
        if using:
            raise bad_request(
                f"The reference type {reference_type.name} is used by the attribute(s) "
                f"{self._describe_attributes(using)}: give them another reference type first"
            )
        del self.reference_types[reference_type.id]
        self._structure_changed()

    # --- icons ---------------------------------------------------------------------------------

    @locked
    def list_icons(self, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Answer ``GET icon/global``."""
        renderer = self._renderer(base_url)
        return [renderer.icon(icon) for icon in self.icons.values()]

    @locked
    def get_icon(self, icon_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer ``GET icon/{id}``."""
        icon = self.icons.get(icon_id)
        if icon is None:
            raise not_found(f"The icon with id {icon_id} was not found")
        return self._renderer(base_url).icon(icon)

    # --- object types --------------------------------------------------------------------------

    @locked
    def create_object_type(
        self, body: dict[str, Any], *, at: datetime | None = None, base_url: str | None = None
    ) -> dict[str, Any]:
        """Create an object type; unless it inherits from its parent it gets Key, Name, Created, Updated."""
        body = body_dict(body)
        name = check_name(required_text(body, "name", "Name"))
        icon_id = required_id(body, "iconId")
        schema_id = required_id(body, "objectSchemaId")
        if schema_id not in self.schemas:
            raise bad_request(objectSchemaId=f"The object schema with id {schema_id} was not found")
        if icon_id not in self.icons:
            raise bad_request(iconId=f"The icon with id {icon_id} was not found")
        parent_id = optional_id(body, "parentObjectTypeId")
        parent = None
        if parent_id is not None:
            parent = self.object_types.get(parent_id)
            if parent is None or parent.schema_id != schema_id:
                raise bad_request(
                    parentObjectTypeId=f"The parent object type {parent_id} is not in this schema"
                )
        self._check_type_name_unique(schema_id, name, None)
        now = self._now(at)
        type_id = self._next_id("object_type")
        siblings = self.children_of(parent_id) if parent_id else self._roots(schema_id)
        object_type = ObjectTypeRecord(
            type_id, schema_id, name, optional_text(body, "description"), icon_id, parent_id,
            optional_bool(body, "inherited"), optional_bool(body, "abstractObjectType"), len(siblings),
            now, now,
        )  # fmt: skip
        self.object_types[type_id] = object_type
        if parent is None or not parent.inherited:
            for position, (attribute_name, role) in enumerate(SYSTEM_ATTRIBUTES):
                attribute_id = self._next_id("attribute")
                self.attributes[attribute_id] = AttributeRecord(
                    attribute_id, type_id, attribute_name, ATTR_DEFAULT,
                    default_type=DEFAULT_DATETIME if role in ("created", "updated") else DEFAULT_TEXT,
                    label=role is None, system_role=role, minimum_cardinality=1 if role is None else 0,
                    description=SYSTEM_DESCRIPTIONS[role],
                    position=position,
                )  # fmt: skip
        self._structure_changed()
        return self._renderer(base_url).object_type(object_type)

    def _check_type_name_unique(self, schema_id: str, name: str, type_id: str | None) -> None:
        for other in self.object_types.values():
            if other.schema_id == schema_id and other.id != type_id and other.name.lower() == name.lower():
                raise bad_request(name="Name has to be unique")

    @locked
    def get_object_type(self, type_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer ``GET objecttype/{id}``."""
        return self._renderer(base_url).object_type(self._object_type(type_id), counts=True)

    @locked
    def update_object_type(
        self, type_id: str, body: dict[str, Any], *, at: datetime | None = None, base_url: str | None = None
    ) -> dict[str, Any]:
        """Update ``{name?, description?, iconId?, inherited?, abstractObjectType?}`` of an object type."""
        object_type = self._object_type(type_id)
        body = body_dict(body)
        name = object_type.name
        if "name" in body:
            name = check_name(required_text(body, "name", "Name"))
            self._check_type_name_unique(object_type.schema_id, name, object_type.id)
        icon_id = optional_id(body, "iconId") or object_type.icon_id
        if icon_id not in self.icons:
            raise bad_request(iconId=f"The icon with id {icon_id} was not found")
        inherited = optional_bool(body, "inherited", object_type.inherited)
        abstract = optional_bool(body, "abstractObjectType", object_type.abstract)
        if inherited != object_type.inherited and self.children_of(object_type.id):
            raise bad_request("Inheritance cannot be changed on an object type that has child object types")
        if abstract and not object_type.abstract and self.type_object_count(object_type.id):
            raise bad_request("An object type with objects cannot be made abstract")
        description = optional_text(body, "description", object_type.description)
        object_type.name, object_type.icon_id, object_type.description = name, icon_id, description
        object_type.inherited, object_type.abstract = inherited, abstract
        object_type.updated = self._now(at)
        self._structure_changed()
        return self._renderer(base_url).object_type(object_type, counts=True)

    @locked
    def delete_object_type(self, type_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Delete an object type without child types, with its attributes and objects."""
        object_type = self._object_type(type_id)
        if self.children_of(object_type.id):
            raise bad_request("The object type has child object types: delete or move them first")
        rendered = self._renderer(base_url).object_type(object_type)
        self._delete_object_type(object_type)
        self._structure_changed()
        return rendered

    def _delete_object_type(self, object_type: ObjectTypeRecord) -> None:
        actor = self.account_id
        for record in [r for r in self.objects.values() if r.object_type_id == object_type.id]:
            self._delete_object(record, actor, self._now(None))
        # Attributes elsewhere that point at this type lose their target: they go too.
        for attribute in list(self.attributes.values()):
            if (
                attribute.object_type_id == object_type.id
                or attribute.reference_object_type_id == object_type.id
            ):
                self._drop_attribute(attribute)
        del self.object_types[object_type.id]
        self._type_counts.pop(object_type.id, None)
        self._renumber(
            self.children_of(object_type.parent_id)
            if object_type.parent_id
            else self._roots(object_type.schema_id)
        )

    @staticmethod
    def _renumber(types: list[ObjectTypeRecord]) -> None:
        for position, object_type in enumerate(types):
            object_type.position = position

    @locked
    def position_object_type(
        self, type_id: str, body: dict[str, Any], *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Move an object type to ``position`` under ``toObjectTypeId`` (absent: the schema's top level)."""
        object_type = self._object_type(type_id)
        body = body_dict(body)
        position = optional_int(body, "position", 0)
        new_parent_id = optional_id(body, "toObjectTypeId")
        if new_parent_id is not None:
            new_parent = self.object_types.get(new_parent_id)
            if new_parent is None or new_parent.schema_id != object_type.schema_id:
                raise bad_request(toObjectTypeId=f"The object type {new_parent_id} is not in this schema")
            if new_parent_id == object_type.id or new_parent_id in self.descendants_of(object_type.id):
                raise bad_request(toObjectTypeId="An object type cannot be moved below itself")
        if new_parent_id != object_type.parent_id:
            for parent_id in (object_type.parent_id, new_parent_id):
                parent = self.object_types.get(parent_id or "")
                if parent is not None and parent.inherited:
                    raise bad_request("Object types cannot be moved into or out of an inheriting parent")
        old_siblings = [
            t for t in (self.children_of(object_type.parent_id) if object_type.parent_id
                        else self._roots(object_type.schema_id)) if t.id != object_type.id
        ]  # fmt: skip
        object_type.parent_id = new_parent_id
        siblings = [
            t
            for t in (
                self.children_of(new_parent_id) if new_parent_id else self._roots(object_type.schema_id)
            )
            if t.id != object_type.id
        ]
        siblings.insert(max(0, min(position, len(siblings))), object_type)
        self._renumber(old_siblings)
        self._renumber(siblings)
        self._structure_changed()
        return self._renderer(base_url).object_type(object_type, counts=True)


def _status_category(body: dict[str, Any], default: int) -> int:
    category = optional_int(body, "category", default)
    if category not in STATUS_CATEGORIES:
        raise bad_request(category="category must be 0 (inactive), 1 (active) or 2 (pending)")
    return category


def _reference_color(body: dict[str, Any], default: str) -> str:
    color = optional_text(body, "color", default).lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        raise bad_request(color="color must be six hexadecimal digits")
    return color.lower()


def _check_config_name_unique(
    records: Iterable[StatusTypeRecord | ReferenceTypeRecord],
    name: str,
    schema_id: str | None,
    own_id: str | None,
) -> None:
    """Refuse a status or reference type name already used in the same scope (a schema, or global)."""
    for other in records:
        if other.id != own_id and other.schema_id == schema_id and other.name.lower() == name.lower():
            raise bad_request(name="Name has to be unique")


def _check_same_scope(body: dict[str, Any], schema_id: str | None, kind: str) -> None:
    """Refuse an ``objectSchemaId`` that would move a status or reference type to another scope."""
    if "objectSchemaId" not in body:
        return
    asked = optional_id(body, "objectSchemaId")
    if asked != schema_id:
        where = f"object schema {schema_id}" if schema_id else "global scope"
        raise bad_request(objectSchemaId=f"A {kind} stays in its {where}: create a new one instead")

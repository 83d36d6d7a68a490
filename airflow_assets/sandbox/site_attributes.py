"""The object type attributes of a sandbox Assets site: definitions, validation, order and label."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from airflow_assets.sandbox.records import (
    ATTR_DEFAULT,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    ATTRIBUTE_KINDS,
    DEFAULT_NONE,
    DEFAULT_TEXT,
    DEFAULT_TEXTAREA,
    DEFAULT_TYPE_NAMES,
    AttributeRecord,
    ObjectRecord,
    ObjectTypeRecord,
    bad_request,
    not_found,
)
from airflow_assets.sandbox.site_state import SiteState, locked
from airflow_assets.sandbox.validation import (
    body_dict,
    optional_bool,
    optional_id,
    optional_int,
    optional_text,
    required_text,
)

__all__ = ["SiteAttributes"]

LABEL_DEFAULT_TYPES = (DEFAULT_TEXT, DEFAULT_TEXTAREA, DEFAULT_NONE)
# Atlassian: "You can have a maximum of two attributes set as Unique for each object type."
MAX_UNIQUE_PER_TYPE = 2


class SiteAttributes(SiteState):
    """The object type attributes of a Site."""

    @locked
    def list_attributes(
        self,
        object_type_id: str,
        *,
        only_value_editable: bool = False,
        order_by_name: bool = False,
        query: str | None = None,
        include_values_exist: bool = False,
        exclude_parent_attributes: bool = False,
        include_children: bool = False,
        order_by_required: bool = False,
        base_url: str | None = None,
    ) -> list[dict[str, Any]]:
        """Answer ``GET objecttype/{id}/attributes`` with its filter and order flags."""
        object_type = self._object_type(object_type_id)
        attributes = list(self.effective_attributes(object_type.id))
        if exclude_parent_attributes:
            attributes = [a for a in attributes if a.object_type_id == object_type.id]
        if include_children:
            seen = {a.id for a in attributes}
            for child_id in sorted(self.descendants_of(object_type.id), key=int):
                for attribute in self.effective_attributes(child_id):
                    if attribute.id not in seen:
                        seen.add(attribute.id)
                        attributes.append(attribute)
        if only_value_editable:
            attributes = [a for a in attributes if a.editable]
        if query:
            attributes = [a for a in attributes if query.lower() in a.name.lower()]
        if order_by_name:
            attributes.sort(key=lambda a: a.name.lower())
        if order_by_required:
            attributes.sort(key=lambda a: a.minimum_cardinality == 0)
        renderer = self._renderer(base_url)
        rendered = []
        for attribute in attributes:
            entry = renderer.attribute(attribute)
            if include_values_exist:
                entry["valuesExist"] = self._values_exist(attribute)
            rendered.append(entry)
        return rendered

    def _values_exist(self, attribute: AttributeRecord) -> bool:
        if attribute.system_role is not None:
            return any(self._type_counts.get(t, 0) for t in self._types_carrying(attribute))
        return any(attribute.id in record.values for record in self._objects_carrying(attribute))

    def _types_carrying(self, attribute: AttributeRecord) -> set[str]:
        owner = self.object_types[attribute.object_type_id]
        carrying = {owner.id}
        if owner.inherited:
            carrying |= self.descendants_of(owner.id)
        return carrying

    def _objects_carrying(self, attribute: AttributeRecord) -> Iterable[ObjectRecord]:
        types = self._types_carrying(attribute)
        return (record for record in self.objects.values() if record.object_type_id in types)

    @locked
    def create_attribute(
        self, object_type_id: str, body: dict[str, Any], *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Create an attribute on an object type (``POST objecttypeattribute/{objectTypeId}``)."""
        object_type = self._object_type(object_type_id)
        body = body_dict(body)
        name = required_text(body, "name", "Name")
        self._check_attribute_name_unique(object_type.id, name, None)
        attribute_id = self._next_id("attribute")
        attribute = AttributeRecord(attribute_id, object_type.id, name, ATTR_DEFAULT)
        self._configure_attribute(attribute, body, creating=True)
        own = [a for a in self.attributes.values() if a.object_type_id == object_type.id]
        attribute.position = max((a.position for a in own), default=-1) + 1
        self.attributes[attribute_id] = attribute
        if attribute.label:
            self._make_label(attribute)
        if attribute.unique:
            self._unique_values[attribute.id] = {}
        self._structure_changed()
        return self._renderer(base_url).attribute(attribute)

    def _check_attribute_name_unique(self, type_id: str, name: str, attribute_id: str | None) -> None:
        owner = self.object_types[type_id]
        scope = {type_id} | (self.descendants_of(type_id) if owner.inherited else set())
        for carrier in scope:
            for other in self.effective_attributes(carrier):
                if other.id != attribute_id and other.name.lower() == name.lower():
                    raise bad_request(name="Name has to be unique")

    def _configure_attribute(
        self, attribute: AttributeRecord, body: dict[str, Any], *, creating: bool
    ) -> None:
        """Apply a create/update body to ``attribute`` after validating every field."""
        kind = optional_int(body, "type", attribute.kind)
        if kind not in ATTRIBUTE_KINDS:
            raise bad_request(type=f"Unsupported attribute type {kind}: use 0, 1, 2, 4 or 7")
        default_type = DEFAULT_NONE
        if kind == ATTR_DEFAULT:
            fallback = attribute.default_type if not creating else DEFAULT_TEXT
            default_type = optional_int(body, "defaultTypeId", fallback)
            if default_type not in DEFAULT_TYPE_NAMES:
                raise bad_request(defaultTypeId=f"Unknown default type {default_type}: use -1 to 11")
        reference_object_type_id = None
        reference_type_id = None
        owner = self.object_types[attribute.object_type_id]
        if kind == ATTR_REFERENCE:
            reference_object_type_id = optional_id(body, "typeValue") or (
                None if creating else attribute.reference_object_type_id
            )
            if reference_object_type_id is None:
                raise bad_request(typeValue="typeValue (the referenced object type id) is required")
            target_type = self.object_types.get(reference_object_type_id)
            if target_type is None:
                raise bad_request(
                    typeValue=f"The object type with id {reference_object_type_id} was not found"
                )
            if target_type.schema_id != owner.schema_id and not self.schemas[owner.schema_id].properties.get(
                "allowOtherObjectSchema"
            ):
                raise bad_request(
                    typeValue="References to other object schemas are not allowed: "
                    "set the schema property allowOtherObjectSchema first"
                )
            reference_type_id = optional_id(body, "additionalValue") or (
                None if creating else attribute.reference_type_id
            )
            if reference_type_id is None:
                raise bad_request(additionalValue="additionalValue (the reference type id) is required")
            reference_type = self.reference_types.get(reference_type_id)
            if reference_type is None or reference_type.schema_id not in (None, owner.schema_id):
                raise bad_request(
                    additionalValue=f"The reference type with id {reference_type_id} was not found"
                )
        type_value_multi = attribute.type_value_multi
        if "typeValueMulti" in body and body["typeValueMulti"] is not None:
            raw_multi = body["typeValueMulti"]
            if not isinstance(raw_multi, list) or not all(isinstance(v, str | int) for v in raw_multi):
                raise bad_request(typeValueMulti="typeValueMulti must be a list of strings")
            type_value_multi = tuple(str(v) for v in raw_multi)
        if kind == ATTR_STATUS:
            for status_id in type_value_multi:
                status = self.status_types.get(status_id)
                if status is None or status.schema_id not in (None, owner.schema_id):
                    raise bad_request(typeValueMulti=f"The status type with id {status_id} was not found")
        elif kind == ATTR_USER:
            unknown = [group for group in type_value_multi if group not in self.groups]
            if unknown:
                raise bad_request(typeValueMulti="Invalid Group(s)")
        elif "typeValueMulti" in body and type_value_multi:
            raise bad_request(typeValueMulti="typeValueMulti applies to User and Status attributes only")
        if kind not in (ATTR_USER, ATTR_STATUS):
            type_value_multi = ()
        minimum = optional_int(body, "minimumCardinality", attribute.minimum_cardinality)
        maximum = optional_int(body, "maximumCardinality", attribute.maximum_cardinality)
        if minimum < 0:
            raise bad_request(minimumCardinality="minimumCardinality must be 0 or more")
        if maximum != -1 and (maximum < 1 or maximum < minimum):
            raise bad_request(
                maximumCardinality="maximumCardinality must be -1 (unlimited) or at least max(1, minimum)"
            )
        options = optional_text(body, "options", attribute.options)
        if kind == ATTR_DEFAULT and default_type == 10 and not [o for o in options.split(",") if o.strip()]:
            raise bad_request(options="A Select attribute needs options (comma-separated)")
        regex = optional_text(body, "regexValidation", attribute.regex_validation)
        if regex:
            try:
                re.compile(regex)
            except re.error as error:
                raise bad_request(regexValidation=f"Invalid regular expression: {error}") from None
        label = optional_bool(body, "label", attribute.label)
        if label and (kind != ATTR_DEFAULT or default_type not in LABEL_DEFAULT_TYPES):
            raise bad_request(label="Only a Text attribute can be the label")
        if not creating and attribute.label and not label:
            raise bad_request(label="Make another attribute the label instead")
        if (
            not creating
            and self._values_exist(attribute)
            and (
                kind != attribute.kind
                or default_type != attribute.default_type
                or reference_object_type_id != attribute.reference_object_type_id
            )
        ):
            raise bad_request(type="The type of an attribute that holds values cannot be changed")
        unique = optional_bool(body, "uniqueAttribute", attribute.unique)
        if unique and maximum != 1:
            raise bad_request(
                uniqueAttribute="An attribute that holds more than one value cannot be unique: "
                "set maximumCardinality to 1 first"
            )
        if unique and not attribute.unique:
            self._check_unique_limit(attribute)
        description = optional_text(body, "description", attribute.description)
        suffix = optional_text(body, "suffix", attribute.suffix)
        include_children = optional_bool(
            body, "includeChildObjectTypes", attribute.include_child_object_types
        )
        hidden = optional_bool(body, "hidden", attribute.hidden)
        summable = optional_bool(body, "summable", attribute.summable)
        ql_query = optional_text(body, "qlQuery", attribute.ql_query)
        # Everything is valid from here on: apply it all (a refused body changes nothing).
        if unique and not attribute.unique and not creating:
            self._unique_values[attribute.id] = self._build_unique_index(attribute)
        elif not unique:
            self._unique_values.pop(attribute.id, None)
        attribute.kind = kind
        attribute.default_type = default_type
        attribute.reference_object_type_id = reference_object_type_id
        attribute.reference_type_id = reference_type_id
        attribute.type_value_multi = type_value_multi
        attribute.minimum_cardinality = minimum
        attribute.maximum_cardinality = maximum
        attribute.options = options
        attribute.regex_validation = regex
        attribute.label = label
        attribute.unique = unique
        attribute.description = description
        attribute.suffix = suffix
        attribute.include_child_object_types = include_children
        attribute.hidden = hidden
        attribute.summable = summable
        attribute.ql_query = ql_query

    def _check_unique_limit(self, attribute: AttributeRecord) -> None:
        """Refuse a third unique attribute on any type that carries ``attribute`` (Atlassian allows two)."""
        for carrier in sorted(self._types_carrying(attribute), key=int):
            others = [a for a in self.effective_attributes(carrier) if a.unique and a.id != attribute.id]
            if len(others) >= MAX_UNIQUE_PER_TYPE:
                names = ", ".join(sorted(a.name for a in others))
                raise bad_request(
                    uniqueAttribute=f"An object type can have at most {MAX_UNIQUE_PER_TYPE} unique "
                    f"attributes ({self.object_types[carrier].name} has {names})"
                )

    def _build_unique_index(self, attribute: AttributeRecord) -> dict[Any, int]:
        index: dict[Any, int] = {}
        for record in self._objects_carrying(attribute):
            for value in record.values.get(attribute.id, ())[1:]:
                if value in index and index[value] != record.object_id:
                    raise bad_request(uniqueAttribute=f"Existing objects share the value {value}")
                index[value] = record.object_id
        return index

    def _make_label(self, attribute: AttributeRecord) -> None:
        """Make ``attribute`` the label of its type and recompute the labels of the objects carrying it."""
        for other in self.attributes.values():
            if other.object_type_id == attribute.object_type_id and other.id != attribute.id:
                other.label = False
        attribute.label = True
        self._effective.clear()
        for record in self._objects_carrying(attribute):
            record.label = self._label_text(record)

    @locked
    def update_attribute(
        self, object_type_id: str, attribute_id: str, body: dict[str, Any], *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Update an attribute (``PUT objecttypeattribute/{objectTypeId}/{id}``)."""
        object_type, attribute = self._owned_attribute(object_type_id, attribute_id)
        body = body_dict(body)
        if attribute.system_role is not None:
            raise bad_request("System attributes cannot be changed")
        name = attribute.name
        if "name" in body:
            name = required_text(body, "name", "Name")
            self._check_attribute_name_unique(object_type.id, name, attribute.id)
        was_label = attribute.label
        self._configure_attribute(attribute, body, creating=False)
        attribute.name = name
        if attribute.label and not was_label:
            self._make_label(attribute)
        self._structure_changed()
        return self._renderer(base_url).attribute(attribute)

    def _owned_attribute(
        self, object_type_id: str, attribute_id: str
    ) -> tuple[ObjectTypeRecord, AttributeRecord]:
        """Return the type and one of its own attributes; 404 when the attribute belongs to another type."""
        object_type = self._object_type(object_type_id)
        attribute = self._attribute(attribute_id)
        if attribute.object_type_id != object_type.id:
            raise not_found(f"The attribute {attribute_id} does not belong to object type {object_type_id}")
        return object_type, attribute

    @locked
    def delete_attribute(self, attribute_id: str) -> None:
        """Delete an attribute and every value of it (``DELETE objecttypeattribute/{id}``)."""
        attribute = self._attribute(attribute_id)
        if attribute.system_role is not None or attribute.label:
            raise bad_request("System and label attributes cannot be deleted")
        self._drop_attribute(attribute)
        self._structure_changed()

    def _drop_attribute(self, attribute: AttributeRecord) -> None:
        for record in self._objects_carrying(attribute):
            stored = record.values.pop(attribute.id, None)
            if stored and attribute.kind == ATTR_REFERENCE:
                self._unindex_references(record.object_id, stored[1:])
        self._unique_values.pop(attribute.id, None)
        del self.attributes[attribute.id]
        own = sorted(
            (a for a in self.attributes.values() if a.object_type_id == attribute.object_type_id),
            key=lambda a: a.position,
        )
        for position, other in enumerate(own):
            other.position = position

    @locked
    def position_attribute(
        self, object_type_id: str, attribute_id: str, body: dict[str, Any], *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Move an attribute to ``position`` (among the attributes of its type)."""
        object_type, attribute = self._owned_attribute(object_type_id, attribute_id)
        body = body_dict(body)
        if "position" not in body:
            raise bad_request(position="position is required")
        position = optional_int(body, "position", 0)
        effective = self.effective_attributes(object_type.id)
        inherited = len(effective) - len([a for a in effective if a.object_type_id == object_type.id])
        own = [a for a in effective if a.object_type_id == object_type.id and a.id != attribute.id]
        own.insert(max(0, min(position - inherited, len(own))), attribute)
        for index, other in enumerate(own):
            other.position = index
        self._structure_changed()
        return self._renderer(base_url).attribute(attribute)

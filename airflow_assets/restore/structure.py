"""Rebuild the structure objects need: schemas, status and reference types, object types, attributes.

Every create goes through :func:`ensure`: the ledger is asked first, then the target (a retry, or a
create whose answer was lost, finds what the earlier try made), and only then is the create sent, with
its intent stored before it. Restrictions that could block loading (a minimum cardinality, uniqueness,
a regex) are left off here and applied by :func:`apply_restrictions` once the objects are in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.exceptions import AssetsApiError, AssetsTransportError, JiraAssetsError
from airflow_assets.model import normalize as norm
from airflow_assets.model.attributes import (
    ATTR_DEFAULT,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    AUTO_LABEL,
    attribute_kind,
    is_system,
    reference_type_id,
    referenced_type,
)
from airflow_assets.restore.attribute_order import order_attributes
from airflow_assets.restore.attribute_settings import attribute_settings, mapped_statuses
from airflow_assets.restore.config_match import BY_CASE, match_global, match_own
from airflow_assets.restore.ledger import Created, Ledger
from airflow_assets.restore.plan import RestorePlan, SchemaPlan
from airflow_assets.restore.request import NEW_SCHEMA
from airflow_assets.restore.restrictions import Restriction
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.target import TargetSite

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]

SCHEMA, STATUS, REFERENCE, OBJECT_TYPE, ATTRIBUTE = (
    "schema",
    "status_type",
    "reference_type",
    "object_type",
    "attribute",
)


def maybe_applied(error: Exception) -> bool:
    """Tell whether a failed write may have reached the server (typed by the client, never from text)."""
    return bool(getattr(error, "maybe_applied", False))


def ensure(
    ledger: Ledger,
    kind: str,
    old_id: str,
    *,
    find: Callable[[], Created | None],
    create: Callable[[], Created],
    refresh: Callable[[], object] | None = None,
    context: Mapping[str, Any] | None = None,
) -> tuple[Created, bool]:
    """Return what ``old_id`` is on the target, creating it at most once; and whether this call created it.

    :param refresh: forget what ``find`` cached, so that it reads the target again (after a lost answer).
    """
    done = ledger.get(kind, old_id)
    if done is not None:
        return done, False
    found = find()
    if found is not None:
        ledger.complete(kind, old_id, found)
        return found, False
    ledger.open(kind, old_id, context)
    for attempt in range(3):
        try:
            created = create()
            break
        except (AssetsApiError, AssetsTransportError) as error:
            if not maybe_applied(error):
                ledger.drop(kind, old_id)
                raise
            # The answer was lost: the thing may exist. Look before sending the create again.
            if refresh is not None:
                refresh()
            found = find()
            if found is not None:
                ledger.complete(kind, old_id, found)
                return found, True
            if attempt == 2:
                raise
    ledger.complete(kind, old_id, created)
    return created, True


@dataclass
class StructureMaps:
    """Old -> new ids of everything structural, as the ledger holds them."""

    schemas: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    reference_types: dict[str, str] = field(default_factory=dict)
    object_types: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, ledger: Ledger) -> StructureMaps:
        """Read the maps of a restore from its ledger."""

        def ids(kind: str) -> dict[str, str]:
            return {old: created.new_id for old, created in ledger.created(kind).items()}

        return cls(ids(SCHEMA), ids(STATUS), ids(REFERENCE), ids(OBJECT_TYPE), ids(ATTRIBUTE))


@dataclass
class StructureSummary:
    """What the structure step did."""

    schemas_created: int = 0
    status_types_created: int = 0
    reference_types_created: int = 0
    object_types_created: int = 0
    attributes_created: int = 0
    attributes_moved: int = 0
    reused: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-compatible values (warnings counted, not listed)."""
        return {
            "schemas_created": self.schemas_created,
            "status_types_created": self.status_types_created,
            "reference_types_created": self.reference_types_created,
            "object_types_created": self.object_types_created,
            "attributes_created": self.attributes_created,
            "attributes_moved": self.attributes_moved,
            "reused": self.reused,
            "warnings": len(self.warnings),
        }


class StructureBuilder:
    """Create (or find) the structure of every schema of a plan on the target.

    :param plan: the stored plan: each schema's new key and name, the object types it covers, the mode.
    :param schemas: the configuration of the plan's schemas, in the plan's order.
    :param target: what was read of the target.
    """

    def __init__(
        self,
        client: AssetsClient,
        ledger: Ledger,
        plan: RestorePlan,
        schemas: Sequence[SchemaSource],
        target: TargetSite,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.plan = plan
        self.mode = plan.mode
        self.same_site = plan.target.same_site
        self.schemas = [(plan.schema(schema.old_key), schema) for schema in schemas]
        self.target = target
        self.summary = StructureSummary()
        self._target_types: dict[str, list[JsonDict]] = {}
        self._target_attributes: dict[str, list[JsonDict]] = {}
        self._target_statuses: dict[str, list[JsonDict]] = {}
        self._target_references: dict[str, list[JsonDict]] = {}

    def build(self) -> StructureSummary:
        """Create what is missing, in dependency order; return what was done."""
        for planned, schema in self.schemas:
            self._schema(planned, schema)
        for _, schema in self.schemas:
            self._status_types(schema)
            self._reference_types(schema)
        for planned, schema in self.schemas:
            self._object_types(planned, schema)
        for references in (False, True):
            for planned, schema in self.schemas:
                self._attributes(planned, schema, references=references)
        if self.mode == NEW_SCHEMA:
            for planned, schema in self.schemas:
                self._order_attributes(planned, schema)
        return self.summary

    def _count(self, created: bool, what: str) -> None:
        if created:
            setattr(self.summary, what, getattr(self.summary, what) + 1)
        else:
            self.summary.reused += 1

    # -- schemas ----------------------------------------------------------------------------------

    def _schema(self, planned: SchemaPlan, schema: SchemaSource) -> str:
        old_id = schema.source.snapshot.schema_id

        def find() -> Created | None:
            if self.mode != NEW_SCHEMA or self.ledger_has_open(SCHEMA, old_id):
                found = self._find_schema(planned.new_key)
                if found is not None:
                    return Created(str(found["id"]), planned.new_key)
            return None

        def create() -> Created:
            body = {
                "name": planned.name,
                "objectSchemaKey": planned.new_key,
                "description": schema.schema.get("description") or "",
            }
            answer = self.client.create_object_schema(body)
            return Created(norm.as_id(answer.get("id"), what="the new schema's id"), planned.new_key)

        created, made = ensure(self.ledger, SCHEMA, old_id, find=find, create=create)
        self._count(made, "schemas_created")
        if self.mode == NEW_SCHEMA:
            properties = {k: v for k, v in schema.properties.items() if k not in ("id", "objectSchemaId")}
            if self._needs_other_schemas(schema):
                properties["allowOtherObjectSchema"] = True
            if properties:
                self.client.set_schema_properties(created.new_id, properties)
        return created.new_id

    def ledger_has_open(self, kind: str, old_id: str) -> bool:
        """Tell whether an earlier try left the intent to create ``old_id`` open."""
        return any(intent.old_id == old_id for intent in self.ledger.open_intents(kind))

    def _find_schema(self, key: str) -> JsonDict | None:
        found = self.client.find_object_schema(key)
        return None if found is None else dict(found)

    def _needs_other_schemas(self, schema: SchemaSource) -> bool:
        return any(
            (target := referenced_type(attribute)) is not None and target not in schema.object_types
            for attribute in schema.attributes.values()
        )

    def _new_schema_id(self, schema: SchemaSource) -> str:
        created = self.ledger.get(SCHEMA, schema.source.snapshot.schema_id)
        assert created is not None, "the schema is ensured first"
        return created.new_id

    # -- status and reference types -----------------------------------------------------------------

    def _status_types(self, schema: SchemaSource) -> None:
        schema_id = self._new_schema_id(schema)
        local = self._listed(self._target_statuses, schema_id, self.client.get_status_types)
        fields = ("name", "category", "description")
        for status in _schema_scoped(schema.status_types, schema):
            self._config_type(STATUS, status, local, schema_id, self.client.create_status_type, fields,
                              "status_types_created")  # fmt: skip
        for status in _global_only(schema.global_status_types, schema.status_types):
            self._global(STATUS, status, self.target.global_status_types, self.client.create_status_type,
                         fields, "status_types_created", "status")  # fmt: skip

    def _reference_types(self, schema: SchemaSource) -> None:
        schema_id = self._new_schema_id(schema)
        local = self._listed(self._target_references, schema_id, self.client.get_reference_types)
        fields = ("name", "description", "color")
        for reference in _schema_scoped(schema.reference_types, schema):
            create = self.client.create_reference_type
            self._config_type(
                REFERENCE, reference, local, schema_id, create, fields, "reference_types_created"
            )
        for reference in _global_only(schema.global_reference_types, schema.reference_types):
            self._global(REFERENCE, reference, self.target.global_reference_types,
                         self.client.create_reference_type, fields, "reference_types_created",
                         "reference type")  # fmt: skip

    def _listed(
        self, cache: dict[str, list[JsonDict]], schema_id: str, fetch: Callable[..., list[JsonDict]]
    ) -> list[JsonDict]:
        if schema_id not in cache:
            cache[schema_id] = [dict(item) for item in fetch(object_schema_id=schema_id)]
        return cache[schema_id]

    def _config_type(
        self,
        kind: str,
        item: JsonDict,
        listed: list[JsonDict],
        schema_id: str,
        create_call: Callable[[Mapping[str, Any]], JsonDict],
        fields: Sequence[str],
        counter: str,
    ) -> None:
        fetch = self.client.get_status_types if kind == STATUS else self.client.get_reference_types

        def refresh() -> None:
            listed[:] = [dict(entry) for entry in fetch(object_schema_id=schema_id)]

        by_id = self.same_site and self.mode != NEW_SCHEMA

        def find() -> Created | None:
            # Only the schema's own types: a global of a similar name is another type.
            found = match_own(item, listed, schema_id, by_id=by_id)
            return Created(str(found["id"])) if found is not None else None

        def create() -> Created:
            body = {name: item[name] for name in fields if item.get(name) is not None}
            body["objectSchemaId"] = schema_id
            answer = create_call(body)
            listed.append({"objectSchemaId": schema_id, **answer})
            return Created(norm.as_id(answer.get("id"), what=f"the new {kind}'s id"))

        _, made = ensure(self.ledger, kind, item["id"], find=find, create=create, refresh=refresh)
        self._count(made, counter)

    def _global(
        self,
        kind: str,
        item: JsonDict,
        target_globals: list[JsonDict],
        create_call: Callable[[Mapping[str, Any]], JsonDict],
        fields: Sequence[str],
        counter: str,
        what: str,
    ) -> None:
        """Map a global status or reference type: by id on the same site, else by exact name, else create it.

        A match that ignores case is taken (the site refuses a second such name) and warned about.
        """
        if self.ledger.get(kind, item["id"]) is not None:
            return

        def find() -> Created | None:
            found = match_global(item, target_globals, same_site=self.same_site)
            if found is None:
                return None
            if found.how == BY_CASE:
                self.summary.warnings.append(
                    f"global {what} {item.get('name')!r} mapped to the target's "
                    f"{found.target.get('name')!r} (the names differ in case only)"
                )
            return Created(found.target_id)

        def create() -> Created:
            answer = create_call({name: item[name] for name in fields if item.get(name) is not None})
            target_globals.append(dict(answer))
            return Created(norm.as_id(answer.get("id"), what=f"the new global {what}'s id"))

        fetch = self.client.get_status_types if kind == STATUS else self.client.get_reference_types

        def refresh() -> None:
            target_globals[:] = [dict(entry) for entry in fetch()]

        _, made = ensure(self.ledger, kind, item["id"], find=find, create=create, refresh=refresh)
        if made:
            self.summary.warnings.append(
                f"global {what} {item.get('name')!r} was not on the target: created there"
            )
        self._count(made, counter)

    # -- object types -------------------------------------------------------------------------------

    def _object_types(self, planned: SchemaPlan, schema: SchemaSource) -> None:
        schema_id = self._new_schema_id(schema)
        for type_id in _type_ids(planned):
            object_type = schema.object_types[type_id]

            def find(object_type: JsonDict = object_type, type_id: str = type_id) -> Created | None:
                listed = self._types_of(schema_id)
                if self.same_site and self.mode != NEW_SCHEMA:
                    for candidate in listed:
                        if str(candidate.get("id")) == type_id:
                            return Created(type_id)
                for candidate in listed:
                    if str(candidate.get("name", "")).lower() == str(object_type.get("name", "")).lower():
                        return Created(str(candidate["id"]))
                return None

            def create(object_type: JsonDict = object_type) -> Created:
                body: JsonDict = {
                    "name": object_type.get("name"),
                    "description": object_type.get("description") or "",
                    "iconId": self._icon(object_type),
                    "objectSchemaId": schema_id,
                    "inherited": bool(object_type.get("inherited")),
                    "abstractObjectType": bool(object_type.get("abstractObjectType")),
                }
                parent = object_type.get("parentObjectTypeId")
                if parent is not None:
                    parent_created = self.ledger.get(OBJECT_TYPE, parent)
                    if parent_created is not None:
                        body["parentObjectTypeId"] = parent_created.new_id
                answer = self.client.create_object_type(body)
                self._types_of(schema_id).append(dict(answer))
                return Created(norm.as_id(answer.get("id"), what="the new object type's id"))

            _, made = ensure(
                self.ledger, OBJECT_TYPE, type_id, find=find, create=create,
                refresh=lambda: self._target_types.pop(schema_id, None),
            )  # fmt: skip
            self._count(made, "object_types_created")

    def _types_of(self, schema_id: str) -> list[JsonDict]:
        if schema_id not in self._target_types:
            self._target_types[schema_id] = [dict(t) for t in self.client.get_object_types(schema_id)]
        return self._target_types[schema_id]

    def _icon(self, object_type: JsonDict) -> str:
        raw_icon = object_type.get("icon")
        icon: JsonDict = raw_icon if isinstance(raw_icon, dict) else {}
        icon_id, name = icon.get("id"), icon.get("name")
        if self.same_site and icon_id is not None:
            return str(icon_id)
        if name in self.target.icons:
            return self.target.icons[str(name)]
        fallback = next(iter(self.target.icons.values()), "1")
        self.summary.warnings.append(
            f"object type {object_type.get('name')}: icon {name!r} is not on the target; a "
            "default icon is used"
        )
        return fallback

    # -- attributes ---------------------------------------------------------------------------------

    def _attributes(self, planned: SchemaPlan, schema: SchemaSource, *, references: bool) -> None:
        for type_id in _type_ids(planned):
            new_type = self.ledger.get(OBJECT_TYPE, type_id)
            assert new_type is not None
            for attribute in schema.attributes_of.get(type_id, []):
                if (attribute_kind(attribute) == ATTR_REFERENCE) != references:
                    continue
                self._attribute(schema, type_id, new_type.new_id, attribute)

    def _order_attributes(self, planned: SchemaPlan, schema: SchemaSource) -> None:
        """Give each type's attributes the snapshot's order (references were created last)."""
        created = self.ledger.created(ATTRIBUTE)
        for type_id in _type_ids(planned):
            new_type = self.ledger.get(OBJECT_TYPE, type_id)
            assert new_type is not None
            wanted = [
                created[attribute["id"]].new_id
                for attribute in schema.attributes_of.get(type_id, [])
                if attribute["id"] in created
            ]
            self.summary.attributes_moved += order_attributes(
                self.client, self.ledger, type_id, new_type.new_id, wanted
            )

    def _owned_attributes(self, type_id: str) -> list[JsonDict]:
        if type_id not in self._target_attributes:
            owned = []
            for raw in self.client.get_object_type_attributes(type_id):
                attribute = norm.normalize_attribute(raw)
                if str(attribute.get("objectTypeId", type_id)) == type_id:
                    owned.append(attribute)
            self._target_attributes[type_id] = owned
        return self._target_attributes[type_id]

    def _attribute(self, schema: SchemaSource, type_id: str, new_type: str, attribute: JsonDict) -> None:
        name = str(attribute.get("name", ""))

        def find() -> Created | None:
            owned = self._owned_attributes(new_type)
            if self.same_site and self.mode != NEW_SCHEMA:
                for candidate in owned:
                    if candidate["id"] == attribute["id"]:
                        return Created(candidate["id"])
            for candidate in owned:
                if str(candidate.get("name", "")).lower() == name.lower():
                    return Created(candidate["id"])
            if attribute.get("label") and not any(
                a.get("name") == AUTO_LABEL for a in schema.attributes_of[type_id]
            ):
                # The type came with an automatic "Name" label: it becomes the snapshot's label attribute.
                for candidate in owned:
                    if candidate.get("label") and candidate.get("name") == AUTO_LABEL:
                        body = self.attribute_body(schema, attribute, deferred=self.mode == NEW_SCHEMA)
                        self.client.update_attribute(new_type, candidate["id"], body)
                        candidate["name"] = name
                        return Created(candidate["id"])
            return None

        def create() -> Created:
            body = self.attribute_body(schema, attribute, deferred=self.mode == NEW_SCHEMA)
            answer = self.client.create_attribute(new_type, body)
            self._owned_attributes(new_type).append(norm.normalize_attribute(answer))
            return Created(norm.as_id(answer.get("id"), what="the new attribute's id"))

        if is_system(attribute):
            created = find()
            if created is None:
                self.summary.warnings.append(
                    f"{schema.new_key}: system attribute {name} is not on the target type"
                )
                return
            self.ledger.complete(ATTRIBUTE, attribute["id"], created)
            return
        _, made = ensure(
            self.ledger, ATTRIBUTE, attribute["id"], find=find, create=create,
            refresh=lambda: self._target_attributes.pop(new_type, None),
        )  # fmt: skip
        self._count(made, "attributes_created")

    def attribute_body(self, schema: SchemaSource, attribute: JsonDict, *, deferred: bool) -> JsonDict:
        """Return the body that creates ``attribute`` (restrictions left off when ``deferred``)."""
        kind = attribute_kind(attribute)
        body: JsonDict = {"name": attribute.get("name"), "type": kind, **attribute_settings(attribute)}
        if attribute.get("label"):
            body["label"] = True
        if deferred:
            body.update({"minimumCardinality": 0, "uniqueAttribute": False, "regexValidation": ""})
        if kind == ATTR_DEFAULT:
            default_type = attribute.get("defaultType")
            body["defaultTypeId"] = int(default_type.get("id", 0)) if isinstance(default_type, dict) else 0
        elif kind == ATTR_REFERENCE:
            target = referenced_type(attribute)
            mapped = self.ledger.get(OBJECT_TYPE, target) if target else None
            body["typeValue"] = mapped.new_id if mapped is not None else target
            reference = reference_type_id(attribute)
            mapped_reference = self.ledger.get(REFERENCE, reference) if reference else None
            body["additionalValue"] = mapped_reference.new_id if mapped_reference is not None else reference
        elif kind == ATTR_USER:
            groups = [str(g) for g in attribute.get("typeValueMulti") or []]
            kept = [g for g in groups if self.target.directory.group(g) is not None]
            for group in sorted(set(groups) - set(kept)):
                self.summary.warnings.append(
                    f"{schema.new_key}: attribute {attribute.get('name')}: group {group} is not on the target"
                )
            body["typeValueMulti"] = kept
        elif kind == ATTR_STATUS:
            body["typeValueMulti"] = mapped_statuses(attribute, self._status_id)
        return body

    def _status_id(self, old_id: str) -> str | None:
        created = self.ledger.get(STATUS, old_id)
        return None if created is None else created.new_id


def _type_ids(planned: SchemaPlan) -> list[str]:
    """Return the ids of the object types a schema's plan covers, parents first."""
    return [object_type.type_id for object_type in planned.object_types]


def _schema_scoped(items: Sequence[JsonDict], schema: SchemaSource) -> list[JsonDict]:
    """Return the status or reference types that belong to the schema (a schema's list shows globals too)."""
    schema_id = schema.source.snapshot.schema_id
    return [item for item in items if str(item.get("objectSchemaId") or "") == schema_id]


def _global_only(globals_: Sequence[JsonDict], listed: Sequence[JsonDict]) -> list[JsonDict]:
    """Return the global types, also those only a schema's list named (older snapshots)."""
    found = {item["id"]: item for item in globals_}
    for item in listed:
        if not item.get("objectSchemaId"):
            found.setdefault(item["id"], item)
    return list(found.values())


def apply_restrictions(
    client: AssetsClient, ledger: Ledger, restrictions: Sequence[Restriction]
) -> tuple[int, list[str]]:
    """Set the restrictions on the target attributes; return how many were set and what was refused."""
    applied, warnings = 0, []
    attributes = ledger.created(ATTRIBUTE)
    types = ledger.created(OBJECT_TYPE)
    for restriction in restrictions:
        created = attributes.get(restriction.old_attribute_id)
        owner = types.get(restriction.old_type_id)
        if created is None or owner is None:
            warnings.append(f"{restriction.name}: not restored, restriction not applied")
            continue
        try:
            client.update_attribute(owner.new_id, created.new_id, restriction.settings)
            applied += 1
        except JiraAssetsError as error:
            warnings.append(f"{restriction.name}: the restored data refuses {restriction.settings}: {error}")
    return applied, warnings

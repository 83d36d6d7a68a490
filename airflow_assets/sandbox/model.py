"""The in-memory state of a sandbox Jira Cloud site with Assets: validation, history and REST rendering.

Every public method takes the site's single lock, so the HTTP threads see a consistent site; ``revision``
increases on every write so that callers can cache query results per revision.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time
from typing import Any, Concatenate, ParamSpec, TypeVar

from airflow_assets.sandbox.aql import AqlError, AqlReference, AqlSubject, compile_aql
from airflow_assets.sandbox.history import change_entry
from airflow_assets.sandbox.records import (
    ATTR_DEFAULT,
    ATTR_GROUP,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    ATTRIBUTE_KINDS,
    COMMENT_ROLES,
    DEFAULT_DATETIME,
    DEFAULT_NONE,
    DEFAULT_TEXT,
    DEFAULT_TEXTAREA,
    DEFAULT_TIME,
    DEFAULT_TYPE_NAMES,
    HISTORY_AVATAR,
    HISTORY_CREATED,
    AttributeRecord,
    CommentRecord,
    HistoryRecord,
    IconRecord,
    ObjectRecord,
    ObjectTypeRecord,
    ReferenceTypeRecord,
    SandboxError,
    SchemaRecord,
    StatusTypeRecord,
    UserRecord,
    bad_request,
    not_found,
)
from airflow_assets.sandbox.render import Renderer, display_value, plain_display
from airflow_assets.sandbox.validation import (
    as_text,
    body_dict,
    check_name,
    check_regex,
    check_schema_key,
    optional_bool,
    optional_id,
    optional_int,
    optional_text,
    parse_default_value,
    required_id,
    required_text,
)

__all__ = ["SandboxError", "Site"]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_BASE_URL = "http://localhost"
AQL_CACHE_SIZE = 8
# Atlassian deprecated `total` on AQL pages; it stops counting here (clients must use totalcount).
AQL_TOTAL_CAP = 1000
SCHEMA_PROPERTY_DEFAULTS = {
    "serviceDescCustomersEnabled": False,
    "quickCreateObjects": False,
    "validateQuickCreate": False,
    "allowOtherObjectSchema": False,
    "createObjectsCustomField": False,
}
DEFAULT_STATUS_TYPES = (
    ("Action Needed", 2), ("Active", 1), ("Closed", 0), ("In Service", 1),
    ("Running", 1), ("Stopped", 0), ("Support Requested", 2),
)  # fmt: skip
DEFAULT_REFERENCE_TYPES = (
    ("Depends on", "f79232"), ("Installed", "49a6ed"), ("Link", "8eb021"), ("Reference", "49a6ed"),
    ("Location", "654982"), ("Ownership", "d04437"), ("Sponsor", "3b7fc4"),
)  # fmt: skip
DEFAULT_ICONS = (
    ("1", "Application"), ("2", "Building"), ("3", "City"), ("4", "Computer"), ("5", "Database"),
    ("6", "Globe"), ("7", "Hardware"), ("8", "Laptop"), ("9", "Network"), ("10", "Printer"),
    ("11", "Server"), ("12", "Team"), ("13", "User"), ("a6f3c2d1-5b4e-4c7a-9e8d-2f1b0c3d4e5f", "Cloud"),
)  # fmt: skip
SYSTEM_ATTRIBUTES = (("Key", "key"), ("Name", None), ("Created", "created"), ("Updated", "updated"))
SYSTEM_DESCRIPTIONS = {
    "key": "The object key",
    None: "The name of the object",
    "created": "Creation date",
    "updated": "Last update",
}
LABEL_DEFAULT_TYPES = (DEFAULT_TEXT, DEFAULT_TEXTAREA, DEFAULT_NONE)


def locked(method: Callable[Concatenate[Site, P], R]) -> Callable[Concatenate[Site, P], R]:
    """Run a Site method while holding the site's lock."""

    @functools.wraps(method)
    def wrapper(self: Site, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper


def account_id_for(email: str) -> str:
    """Derive a stable Atlassian-style account id (24 hex digits) from an email address."""
    return hashlib.sha1(email.lower().encode()).hexdigest()[:24]


def display_name_for(email: str) -> str:
    """Derive a display name from an email address: ``jane.doe@x`` -> ``Jane Doe``."""
    return " ".join(part.capitalize() for part in re.split(r"[._-]+", email.split("@")[0]) if part) or email


def attribute_error(attribute_id: str, message: str) -> dict[str, str]:
    """Return the per-attribute error entry Assets uses."""
    return {f"rlabs-insight-attribute-{attribute_id}": message}


class Site:
    """A Jira Cloud site with Assets, held in memory.

    :param workspace_id: the Assets workspace id (also the prefix of every ``globalId``).
    :param email: email of the site's own user; with ``api_token`` the only accepted credentials.
    :param api_token: the API token of that user.
    :param clock: returns the current time (aware UTC); defaults to the wall clock.
    """

    def __init__(
        self, *, workspace_id: str, email: str, api_token: str, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.workspace_id = workspace_id
        self.email = email
        self.api_token = api_token
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.revision = 0
        self.account_id = account_id_for(email)
        # The stores below are read by render.py and the tests; write them only through methods.
        self.users: dict[str, UserRecord] = {}
        self.groups: dict[str, str] = {}  # name -> group id
        self.schemas: dict[str, SchemaRecord] = {}
        self.object_types: dict[str, ObjectTypeRecord] = {}
        self.attributes: dict[str, AttributeRecord] = {}
        self.objects: dict[int, ObjectRecord] = {}
        self.history: dict[int, list[HistoryRecord]] = {}
        self.comments: dict[int, list[CommentRecord]] = {}
        self.tickets: dict[int, list[dict[str, Any]]] = {}
        self.status_types: dict[str, StatusTypeRecord] = {}
        self.reference_types: dict[str, ReferenceTypeRecord] = {}
        self.icons: dict[str, IconRecord] = {
            icon_id: IconRecord(icon_id, name) for icon_id, name in DEFAULT_ICONS
        }
        self._sequences: dict[str, int] = {}
        self._type_counts: dict[str, int] = {}
        # target object id -> {referring object id: number of reference values pointing at the target}
        self._referrers: dict[int, dict[int, int]] = {}
        # unique attribute id -> {value: object id holding it}
        self._unique_values: dict[str, dict[Any, int]] = {}
        self._effective: dict[str, list[AttributeRecord]] = {}
        self._by_name: dict[str, dict[str, AttributeRecord]] = {}
        self._positions: dict[str, int] = {}
        self._attribute_names: set[str] | None = None
        self._local_renderer: Renderer | None = None
        self._aql_cache: OrderedDict[tuple[str, int], tuple[int, ...]] = OrderedDict()
        self.add_user(self.account_id, display_name_for(email), email)
        for name, category in DEFAULT_STATUS_TYPES:
            status_id = self._next_id("status")
            self.status_types[status_id] = StatusTypeRecord(status_id, name, "", category, None)
        for name, color in DEFAULT_REFERENCE_TYPES:
            reference_id = self._next_id("reference_type")
            self.reference_types[reference_id] = ReferenceTypeRecord(
                reference_id, name, "", color, None, removable=False
            )

    # --- bookkeeping ---------------------------------------------------------------------------

    def _next_id(self, sequence: str) -> str:
        return str(self._next_number(sequence))

    def _next_number(self, sequence: str) -> int:
        number = self._sequences.get(sequence, 0) + 1
        self._sequences[sequence] = number
        return number

    def _now(self, at: datetime | None) -> datetime:
        moment = at or self.clock()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def _written(self) -> None:
        self.revision += 1

    def _structure_changed(self) -> None:
        self._local_renderer = None
        self._effective.clear()
        self._by_name.clear()
        self._positions.clear()
        self._attribute_names = None
        self._written()

    def _renderer(self, base_url: str | None) -> Renderer:
        if base_url is None:
            # In-process callers (the seed) create objects by the ten thousand: reuse the rendered object
            # types and attribute definitions until the structure changes. HTTP requests always get a
            # fresh renderer, hence fresh media tokens on every read.
            if self._local_renderer is None:
                self._local_renderer = Renderer(self, DEFAULT_BASE_URL, cache_objects=False)
            return self._local_renderer
        return Renderer(self, base_url)

    def _actor(self, actor: str | None) -> str:
        return actor or self.account_id

    # --- lookups (callers hold the lock) -------------------------------------------------------

    def _schema(self, schema_id: str) -> SchemaRecord:
        schema = self.schemas.get(str(schema_id))
        if schema is None:
            raise not_found(f"The object schema with id {schema_id} was not found")
        return schema

    def _object_type(self, type_id: str) -> ObjectTypeRecord:
        object_type = self.object_types.get(str(type_id))
        if object_type is None:
            raise not_found(f"The object type with id {type_id} was not found")
        return object_type

    def _attribute(self, attribute_id: str) -> AttributeRecord:
        attribute = self.attributes.get(str(attribute_id))
        if attribute is None:
            raise not_found(f"The object type attribute with id {attribute_id} was not found")
        return attribute

    def _object(self, object_id: str | int) -> ObjectRecord:
        record = None
        text = str(object_id).strip()
        if text.isdigit():
            record = self.objects.get(int(text))
        if record is None:
            raise not_found(f"The object with id {object_id} was not found")
        return record

    def _object_by_key_or_id(self, text: str) -> ObjectRecord | None:
        if text.isdigit():
            return self.objects.get(int(text))
        prefix, _, number = text.rpartition("-")
        if prefix and number.isdigit():
            record = self.objects.get(int(number))
            if record is not None and record.key.upper() == text.upper():
                return record
        return None

    def children_of(self, type_id: str) -> list[ObjectTypeRecord]:
        """Return the direct child types of an object type, by position."""
        children = [child for child in self.object_types.values() if child.parent_id == type_id]
        return sorted(children, key=lambda child: (child.position, int(child.id)))

    def descendants_of(self, type_id: str) -> set[str]:
        """Return the ids of every type below ``type_id`` (not including it)."""
        found: set[str] = set()
        pending = [type_id]
        while pending:
            current = pending.pop()
            for child in self.object_types.values():
                if child.parent_id == current and child.id not in found:
                    found.add(child.id)
                    pending.append(child.id)
        return found

    def effective_attributes(self, type_id: str) -> list[AttributeRecord]:
        """Return the attributes objects of a type carry: inherited ones first, then its own, by position."""
        cached = self._effective.get(type_id)
        if cached is None:
            object_type = self.object_types[type_id]
            inherited: list[AttributeRecord] = []
            parent = self.object_types.get(object_type.parent_id or "")
            if parent is not None and parent.inherited:
                inherited = self.effective_attributes(parent.id)
            own = sorted(
                (attribute for attribute in self.attributes.values() if attribute.object_type_id == type_id),
                key=lambda attribute: (attribute.position, int(attribute.id)),
            )
            cached = [*inherited, *own]
            self._effective[type_id] = cached
        return cached

    def attribute_position(self, attribute: AttributeRecord) -> int:
        """Return the position of an attribute among the attributes of the type that owns it."""
        position = self._positions.get(attribute.id)
        if position is None:
            for index, candidate in enumerate(self.effective_attributes(attribute.object_type_id)):
                self._positions[candidate.id] = index
            position = self._positions.get(attribute.id, attribute.position)
        return position

    def _attribute_named(self, type_id: str, name: str) -> AttributeRecord | None:
        names = self._by_name.get(type_id)
        if names is None:
            names = {}
            for attribute in self.effective_attributes(type_id):
                names.setdefault(attribute.name.lower(), attribute)
            self._by_name[type_id] = names
        return names.get(name.lower())

    def _label_attribute(self, type_id: str) -> AttributeRecord | None:
        for attribute in self.effective_attributes(type_id):
            if attribute.label:
                return attribute
        return None

    def type_object_count(self, type_id: str) -> int:
        """Return the number of objects of exactly this type."""
        return self._type_counts.get(type_id, 0)

    def schema_object_count(self, schema_id: str) -> int:
        """Return the number of objects in a schema."""
        return sum(
            self._type_counts.get(type_id, 0)
            for type_id, object_type in self.object_types.items()
            if object_type.schema_id == schema_id
        )

    def group_id(self, name: str) -> str:
        """Return the id of a group (a stable UUID derived from the name for unknown groups)."""
        return self.groups.get(name) or str(uuid.uuid5(uuid.NAMESPACE_OID, name))

    # --- directory -----------------------------------------------------------------------------

    @locked
    def add_user(self, account_id: str, display_name: str, email: str | None = None) -> None:
        """Add a Jira user whose account id User attributes may hold."""
        self.users[account_id] = UserRecord(account_id, display_name, email)
        self._written()

    @locked
    def add_group(self, name: str) -> None:
        """Add a Jira group whose name Group attributes may hold."""
        self.groups.setdefault(name, str(uuid.uuid5(uuid.NAMESPACE_OID, name)))
        self._written()

    @locked
    def myself(self, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer Jira's ``GET /rest/api/3/myself`` for the site's own user."""
        return {
            **self._jira_user(self.users[self.account_id], base_url),
            "timeZone": "Etc/UTC",
            "locale": "en_US",
        }

    @staticmethod
    def _jira_user(user: UserRecord, base_url: str | None) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "self": f"{base_url or DEFAULT_BASE_URL}/rest/api/3/user?accountId={user.account_id}",
            "accountId": user.account_id,
            "accountType": "atlassian",
            "displayName": user.display_name,
            "active": True,
        }
        if user.email:
            rendered["emailAddress"] = user.email
        return rendered

    @locked
    def find_users(
        self,
        *,
        query: str | None = None,
        account_id: str | None = None,
        start_at: int = 0,
        max_results: int = 50,
        base_url: str | None = None,
    ) -> list[dict[str, Any]]:
        """Answer Jira's user search: prefix match on display name words or email, or one account id."""
        check_paging(start_at, max_results)
        users = list(self.users.values())
        if account_id is not None:
            users = [user for user in users if user.account_id == account_id]
        if query:
            needle = query.lower()
            users = [
                user
                for user in users
                if any(word.startswith(needle) for word in user.display_name.lower().split())
                or user.display_name.lower().startswith(needle)
                or (user.email or "").lower().startswith(needle)
            ]
        return [
            self._jira_user(user, base_url) for user in users[start_at : start_at + min(max_results, 1000)]
        ]

    @locked
    def find_groups(
        self,
        *,
        names: list[str] | None = None,
        group_ids: list[str] | None = None,
        start_at: int = 0,
        max_results: int = 50,
    ) -> dict[str, Any]:
        """Answer Jira's ``GET /rest/api/3/group/bulk``."""
        check_paging(start_at, max_results)
        groups = sorted(self.groups.items())
        if names or group_ids:
            groups = [(n, g) for n, g in groups if n in (names or []) or g in (group_ids or [])]
        page = groups[start_at : start_at + max_results]
        return {
            "maxResults": max_results,
            "startAt": start_at,
            "total": len(groups),
            "isLast": start_at + len(page) >= len(groups),
            "values": [{"name": name, "groupId": group_id} for name, group_id in page],
        }

    def workspaces(self) -> dict[str, Any]:
        """Answer ``GET /rest/servicedeskapi/assets/workspace``."""
        return {
            "size": 1,
            "start": 0,
            "limit": 50,
            "isLastPage": True,
            "values": [{"workspaceId": self.workspace_id}],
        }

    # --- schemas -------------------------------------------------------------------------------

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
        category = optional_int(body, "category", 0)
        if category not in (0, 1, 2):
            raise bad_request(category="category must be 0 (inactive), 1 (active) or 2 (pending)")
        schema_id = optional_id(body, "objectSchemaId")
        if schema_id is not None and schema_id not in self.schemas:
            raise bad_request(objectSchemaId=f"The object schema with id {schema_id} was not found")
        status_id = self._next_id("status")
        status = StatusTypeRecord(status_id, name, optional_text(body, "description"), category, schema_id)
        self.status_types[status_id] = status
        self._written()
        return self._renderer(base_url).status_type(status)

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
        color = optional_text(body, "color", "49a6ed").lstrip("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise bad_request(color="color must be six hexadecimal digits")
        schema_id = optional_id(body, "objectSchemaId")
        if schema_id is not None and schema_id not in self.schemas:
            raise bad_request(objectSchemaId=f"The object schema with id {schema_id} was not found")
        reference_id = self._next_id("reference_type")
        reference_type = ReferenceTypeRecord(
            reference_id, name, optional_text(body, "description"), color.lower(), schema_id
        )
        self.reference_types[reference_id] = reference_type
        self._written()
        return self._renderer(base_url).reference_type(reference_type)

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

    # --- attributes ----------------------------------------------------------------------------

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

    def _label_text(self, record: ObjectRecord) -> str:
        label_attribute = self._label_attribute(record.object_type_id)
        if label_attribute is None:
            return ""
        stored = record.values.get(label_attribute.id)
        return plain_display(stored[1]) if stored and len(stored) > 1 else ""

    @locked
    def update_attribute(
        self, object_type_id: str, attribute_id: str, body: dict[str, Any], *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Update an attribute (``PUT objecttypeattribute/{objectTypeId}/{id}``)."""
        object_type = self._object_type(object_type_id)
        attribute = self._attribute(attribute_id)
        if attribute.object_type_id != object_type.id:
            raise not_found(f"The attribute {attribute_id} does not belong to object type {object_type_id}")
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
        object_type = self._object_type(object_type_id)
        attribute = self._attribute(attribute_id)
        if attribute.object_type_id != object_type.id:
            raise not_found(f"The attribute {attribute_id} does not belong to object type {object_type_id}")
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

    # --- objects -------------------------------------------------------------------------------

    @locked
    def create_object(
        self, body: dict[str, Any], *, actor: str | None = None, at: datetime | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Create an object from an ObjectIn body; validate every value; record a Created history entry."""
        body = body_dict(body)
        type_id = required_id(body, "objectTypeId")
        object_type = self.object_types.get(type_id)
        if object_type is None:
            raise bad_request(objectTypeId=f"The object type with id {type_id} was not found")
        if object_type.abstract:
            raise bad_request(
                objectTypeId=f"Objects cannot be created in the abstract object type {object_type.name}"
            )
        if "attributes" not in body:
            raise bad_request(attributes="attributes is required")
        written = self._parse_attributes(object_type, body["attributes"], None)
        effective = self.effective_attributes(object_type.id)
        final = {attribute.id: written.get(attribute.id, ()) for attribute in effective if attribute.editable}
        self._check_values(effective, final, None)
        now = self._now(at)
        object_id = self._next_number("object")
        system_attribute_id = self._next_number("object_attribute")
        self._sequences["object_attribute"] += 2
        values: dict[str, tuple[Any, ...]] = {}
        for attribute_id, new in final.items():
            if new:
                values[attribute_id] = (self._next_number("object_attribute"), *new)
        schema = self.schemas[object_type.schema_id]
        record = ObjectRecord(
            object_id, f"{schema.key}-{object_id}", "", object_type.id, schema.id, now, now,
            system_attribute_id, values, optional_bool(body, "hasAvatar"),
            optional_text(body, "avatarUUID") or None,
        )  # fmt: skip
        record.label = self._label_text(record)
        self.objects[object_id] = record
        self._type_counts[object_type.id] = self._type_counts.get(object_type.id, 0) + 1
        for attribute in effective:
            stored = values.get(attribute.id)
            if stored:
                self._index_values(record, attribute, stored[1:])
        self.history[object_id] = [
            HistoryRecord(self._next_number("history"), object_id, HISTORY_CREATED, now, self._actor(actor))
        ]
        self._written()
        return self._renderer(base_url).object(record)

    def _parse_attributes(
        self, object_type: ObjectTypeRecord, entries: object, record: ObjectRecord | None
    ) -> dict[str, tuple[Any, ...]]:
        """Parse the ``attributes`` of an ObjectIn body into typed values per attribute id."""
        if not isinstance(entries, list):
            raise bad_request(attributes="attributes must be a list")
        allowed = {attribute.id: attribute for attribute in self.effective_attributes(object_type.id)}
        errors: dict[str, str] = {}
        parsed: dict[str, list[Any]] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                raise bad_request(attributes="Every attribute must be an object")
            attribute_id = optional_id(entry, "objectTypeAttributeId")
            if attribute_id is None:
                raise bad_request(attributes="objectTypeAttributeId is required on every attribute")
            attribute = allowed.get(attribute_id)
            if attribute is None:
                errors |= attribute_error(
                    attribute_id,
                    f"The attribute {attribute_id} does not belong to object type {object_type.name}",
                )
                continue
            if not attribute.editable:
                errors |= attribute_error(attribute_id, f"The attribute {attribute.name} is not editable")
                continue
            raw_values = entry.get("objectAttributeValues", [])
            if not isinstance(raw_values, list):
                errors |= attribute_error(attribute_id, "objectAttributeValues must be a list")
                continue
            values = parsed.setdefault(attribute_id, [])
            for item in raw_values:
                raw = item.get("value") if isinstance(item, dict) else None
                if raw is None or raw == "":
                    continue
                try:
                    value = self._parse_value(attribute, object_type, raw, record)
                except ValueError as error:
                    errors |= attribute_error(attribute_id, str(error))
                    break
                if value not in values:
                    values.append(value)
        if errors:
            raise SandboxError(400, [], errors)
        return {attribute_id: tuple(values) for attribute_id, values in parsed.items()}

    def _parse_value(
        self,
        attribute: AttributeRecord,
        object_type: ObjectTypeRecord,
        raw: object,
        record: ObjectRecord | None,
    ) -> Any:
        """Parse one written value; raise ValueError with the message the server reports."""
        text = as_text(raw)
        if text is None:
            raise ValueError("The value must be a string")
        if attribute.kind == ATTR_DEFAULT:
            value = parse_default_value(attribute, raw)
            check_regex(attribute, text)
            return value
        if attribute.kind == ATTR_REFERENCE:
            target = self._object_by_key_or_id(text.strip())
            if target is None:
                raise ValueError(f"The referenced object {text} was not found")
            allowed = {attribute.reference_object_type_id}
            if attribute.include_child_object_types and attribute.reference_object_type_id:
                allowed |= self.descendants_of(attribute.reference_object_type_id)
            if target.object_type_id not in allowed:
                target_type = self.object_types[attribute.reference_object_type_id or ""]
                raise ValueError(f"The object {target.key} is not of object type {target_type.name}")
            return target.object_id
        if attribute.kind == ATTR_USER:
            if text not in self.users:
                raise ValueError(f"The user {text} was not found")
            return text
        if attribute.kind == ATTR_GROUP:
            if text not in self.groups:
                raise ValueError("Invalid Group(s)")
            return text
        if attribute.kind == ATTR_STATUS:
            status = self.status_types.get(text.strip())
            if (
                status is None
                or status.schema_id not in (None, object_type.schema_id)
                or (attribute.type_value_multi and status.id not in attribute.type_value_multi)
            ):
                raise ValueError(f"The status {text} is not allowed for {attribute.name}")
            return status.id
        raise ValueError(f"Unsupported attribute type {attribute.kind}")

    def _check_values(
        self,
        effective: list[AttributeRecord],
        values: dict[str, tuple[Any, ...]],
        record: ObjectRecord | None,
    ) -> None:
        """Check cardinality and uniqueness of the values an object is about to hold."""
        errors: dict[str, str] = {}
        by_id = {attribute.id: attribute for attribute in effective}
        for attribute_id, new in values.items():
            attribute = by_id[attribute_id]
            count = len(new)
            if count < attribute.minimum_cardinality:
                if attribute.minimum_cardinality == 1:
                    message = f"{attribute.name} is required"
                else:
                    message = f"{attribute.name} needs at least {attribute.minimum_cardinality} values"
                errors |= attribute_error(attribute_id, message)
            elif attribute.maximum_cardinality != -1 and count > attribute.maximum_cardinality:
                errors |= attribute_error(
                    attribute_id,
                    f"{attribute.name} can hold at most {attribute.maximum_cardinality} value(s)",
                )
            elif attribute.unique:
                index = self._unique_values.get(attribute_id, {})
                for value in new:
                    owner = index.get(value)
                    if owner is not None and (record is None or owner != record.object_id):
                        errors |= attribute_error(
                            attribute_id,
                            f"The value {plain_display(value)} of {attribute.name} must be unique "
                            f"(already used by {self.objects[owner].key})",
                        )
                        break
        if errors:
            raise SandboxError(400, [], errors)

    def _index_values(
        self, record: ObjectRecord, attribute: AttributeRecord, values: tuple[Any, ...]
    ) -> None:
        if attribute.kind == ATTR_REFERENCE:
            for target in values:
                referrers = self._referrers.setdefault(target, {})
                referrers[record.object_id] = referrers.get(record.object_id, 0) + 1
        if attribute.unique:
            index = self._unique_values.setdefault(attribute.id, {})
            for value in values:
                index[value] = record.object_id

    def _unindex_values(
        self, record: ObjectRecord, attribute: AttributeRecord, values: tuple[Any, ...]
    ) -> None:
        if attribute.kind == ATTR_REFERENCE:
            self._unindex_references(record.object_id, values)
        if attribute.unique:
            index = self._unique_values.get(attribute.id, {})
            for value in values:
                if index.get(value) == record.object_id:
                    del index[value]

    def _unindex_references(self, source_id: int, targets: tuple[Any, ...]) -> None:
        for target in targets:
            referrers = self._referrers.get(target)
            if referrers is None or source_id not in referrers:
                continue
            referrers[source_id] -= 1
            if referrers[source_id] <= 0:
                del referrers[source_id]
            if not referrers:
                del self._referrers[target]

    @locked
    def get_object(self, object_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer ``GET object/{id}``."""
        return self._renderer(base_url).object(self._object(object_id))

    @locked
    def object_attributes(self, object_id: str, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Answer ``GET object/{id}/attributes``."""
        return self._renderer(base_url).object_attributes(self._object(object_id), with_definition=True)

    @locked
    def update_object(
        self, object_id: str, body: dict[str, Any], *, actor: str | None = None, at: datetime | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Update an object; attributes left out of the body keep their values; record history per change."""
        record = self._object(object_id)
        body = body_dict(body)
        type_id = optional_id(body, "objectTypeId")
        if type_id is not None and type_id != record.object_type_id:
            raise bad_request(objectTypeId="The object type of an object cannot be changed")
        object_type = self.object_types[record.object_type_id]
        written = self._parse_attributes(object_type, body.get("attributes", []), record)
        effective = self.effective_attributes(object_type.id)
        self._check_values(effective, written, record)
        avatar_uuid = (
            (optional_text(body, "avatarUUID") or None) if "avatarUUID" in body else record.avatar_uuid
        )
        has_avatar = optional_bool(body, "hasAvatar", avatar_uuid is not None) and avatar_uuid is not None
        now = self._now(at)
        who = self._actor(actor)
        entries = self.history.setdefault(record.object_id, [])
        changed = False
        # History lists the changes of one write in attribute order, whatever order the body used.
        for attribute in effective:
            if attribute.id not in written:
                continue
            attribute_id, new = attribute.id, written[attribute.id]
            stored = record.values.get(attribute_id)
            old = stored[1:] if stored else ()
            change = change_entry(self, attribute, old, new)
            if change is None:
                continue
            changed = True
            self._unindex_values(record, attribute, old)
            if new:
                record.values[attribute_id] = (
                    stored[0] if stored else self._next_number("object_attribute"),
                    *new,
                )
                self._index_values(record, attribute, new)
            else:
                del record.values[attribute_id]
            kind, old_text, new_text = change
            entries.append(
                HistoryRecord(self._next_number("history"), record.object_id, kind, now, who, attribute.name,
                              old_text, new_text)
            )  # fmt: skip
        if (has_avatar, avatar_uuid) != (record.has_avatar, record.avatar_uuid):
            added, replaced, removed = HISTORY_AVATAR
            kind = added if not record.has_avatar else removed if not has_avatar else replaced
            entries.append(
                HistoryRecord(self._next_number("history"), record.object_id, kind, now, who, "Avatar")
            )
            record.has_avatar, record.avatar_uuid = has_avatar, avatar_uuid
            changed = True
        if changed:
            record.label = self._label_text(record)
            record.updated = now
            self._written()
        return self._renderer(base_url).object(record)

    @locked
    def delete_object(self, object_id: str, *, actor: str | None = None, at: datetime | None = None) -> None:
        """Delete an object with its history and comments; objects referring to it lose those references."""
        self._delete_object(self._object(object_id), self._actor(actor), self._now(at))
        self._written()

    def _delete_object(self, record: ObjectRecord, actor: str, now: datetime) -> None:
        for attribute in self.effective_attributes(record.object_type_id):
            stored = record.values.get(attribute.id)
            if stored:
                self._unindex_values(record, attribute, stored[1:])
        for source_id in list(self._referrers.pop(record.object_id, {})):
            source = self.objects.get(source_id)
            if source is None:
                continue
            for attribute in self.effective_attributes(source.object_type_id):
                stored = source.values.get(attribute.id)
                if attribute.kind != ATTR_REFERENCE or not stored or record.object_id not in stored[1:]:
                    continue
                # The label must still resolve while the history text is rendered.
                old = stored[1:]
                new = tuple(target for target in old if target != record.object_id)
                change = change_entry(self, attribute, old, new)
                if new:
                    source.values[attribute.id] = (stored[0], *new)
                else:
                    del source.values[attribute.id]
                if change is not None:
                    kind, old_text, new_text = change
                    self.history.setdefault(source_id, []).append(
                        HistoryRecord(self._next_number("history"), source_id, kind, now, actor,
                                      attribute.name, old_text, new_text)
                    )  # fmt: skip
                source.updated = now
        del self.objects[record.object_id]
        self._type_counts[record.object_type_id] -= 1
        self.history.pop(record.object_id, None)
        self.comments.pop(record.object_id, None)
        self.tickets.pop(record.object_id, None)

    @locked
    def object_history(
        self, object_id: str, *, asc: bool = False, base_url: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer ``GET object/{id}/history``: newest first unless ``asc``."""
        record = self._object(object_id)
        renderer = self._renderer(base_url)
        entries = self.history.get(record.object_id, [])
        ordered = entries if asc else list(reversed(entries))
        return [renderer.history(entry) for entry in ordered]

    @locked
    def object_reference_info(self, object_id: str, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Answer ``GET object/{id}/referenceinfo``: the objects referring to this one, per object type."""
        record = self._object(object_id)
        renderer = self._renderer(base_url)
        per_type: dict[str, tuple[int, dict[str, ReferenceTypeRecord]]] = {}
        for source_id in sorted(self._referrers.get(record.object_id, {})):
            source = self.objects[source_id]
            count, reference_types = per_type.get(source.object_type_id, (0, {}))
            for attribute in self.effective_attributes(source.object_type_id):
                stored = source.values.get(attribute.id)
                if attribute.kind == ATTR_REFERENCE and stored and record.object_id in stored[1:]:
                    reference_type = self.reference_types.get(attribute.reference_type_id or "")
                    if reference_type is not None:
                        reference_types[reference_type.id] = reference_type
            per_type[source.object_type_id] = (count + 1, reference_types)
        return [
            {
                "objectType": renderer.object_type(self.object_types[type_id]),
                "numberOfReferencedObjects": count,
                "referenceTypes": [renderer.reference_type(r) for r in reference_types.values()],
            }
            for type_id, (count, reference_types) in per_type.items()
        ]

    # --- comments and connected tickets --------------------------------------------------------

    @locked
    def add_comment(
        self, body: dict[str, Any], *, actor: str | None = None, at: datetime | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Add a comment ``{comment, objectId, role}`` to an object."""
        body = body_dict(body)
        text = required_text(body, "comment", "Comment")
        object_id = required_id(body, "objectId")
        record = self._object(object_id)
        role = optional_int(body, "role", 0)
        if role not in COMMENT_ROLES:
            raise bad_request(role="role must be 0 (Users), 1 (Managers), 2 (Admins) or 3 (Developers)")
        now = self._now(at)
        comment = CommentRecord(
            self._next_number("comment"), record.object_id, text, role, self._actor(actor), now, now
        )
        self.comments.setdefault(record.object_id, []).append(comment)
        self._written()
        return self._renderer(base_url).comment(comment)

    @locked
    def object_comments(self, object_id: str, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Answer ``GET comment/object/{objectId}``, oldest first."""
        record = self._object(object_id)
        renderer = self._renderer(base_url)
        return [renderer.comment(comment) for comment in self.comments.get(record.object_id, [])]

    @locked
    def add_connected_ticket(self, object_id: str, ticket: dict[str, Any]) -> None:
        """Connect a Jira issue to an object (Jira does this; the Assets API only reads it)."""
        record = self._object(object_id)
        self.tickets.setdefault(record.object_id, []).append(dict(ticket))
        self._written()

    @locked
    def connected_tickets(self, object_id: str) -> dict[str, Any]:
        """Answer ``GET objectconnectedtickets/{objectId}/tickets``."""
        record = self._object(object_id)
        tickets = [dict(ticket) for ticket in self.tickets.get(record.object_id, [])]
        keys = ", ".join(str(ticket.get("key")) for ticket in tickets)
        return {"tickets": tickets, "allTicketsQuery": f"issue in ({keys})" if tickets else ""}

    # --- AQL -----------------------------------------------------------------------------------

    @locked
    def search(self, ql_query: str) -> tuple[int, ...]:
        """Return the ids of the objects matching an AQL query, in its order (cached per revision)."""
        cache_key = (ql_query, self.revision)
        cached = self._aql_cache.get(cache_key)
        if cached is not None:
            self._aql_cache.move_to_end(cache_key)
            return cached
        try:
            compiled = compile_aql(ql_query, self, now=self._now(None))
            schema_ids = compiled.schema_ids
            matched = [
                record
                for record in self.objects.values()
                if (schema_ids is None or record.schema_id in schema_ids) and compiled.matches(record)
            ]
            matched.sort(key=compiled.sort_key, reverse=compiled.descending)
        except AqlError as error:
            raise SandboxError(400, [error.message], {}) from None
        ids = tuple(record.object_id for record in matched)
        self._aql_cache[cache_key] = ids
        while len(self._aql_cache) > AQL_CACHE_SIZE:
            self._aql_cache.popitem(last=False)
        return ids

    @locked
    def aql_page(
        self,
        ql_query: str,
        *,
        start_at: int = 0,
        max_results: int = 25,
        include_attributes: bool = True,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """Answer ``POST object/aql``: one page of matching objects plus their attribute definitions."""
        check_paging(start_at, max_results)
        ids = self.search(ql_query)
        page = [self.objects[object_id] for object_id in ids[start_at : start_at + max_results]]
        renderer = self._renderer(base_url)
        last = start_at + len(page) >= len(ids)
        return {
            "startAt": start_at,
            "maxResults": max_results,
            "total": min(len(ids), AQL_TOTAL_CAP),
            "isLast": last,
            "last": last,
            "values": [renderer.object(r, attributes="ids" if include_attributes else "none") for r in page],
            "objectTypeAttributes": self._page_attributes(renderer, page),
        }

    def _page_attributes(self, renderer: Renderer, page: list[ObjectRecord]) -> list[dict[str, Any]]:
        seen: dict[str, AttributeRecord] = {}
        for type_id in dict.fromkeys(record.object_type_id for record in page):
            for attribute in self.effective_attributes(type_id):
                seen.setdefault(attribute.id, attribute)
        return [renderer.attribute(attribute) for attribute in seen.values()]

    @locked
    def aql_total_count(self, ql_query: str) -> dict[str, Any]:
        """Answer ``POST object/aql/totalcount``."""
        return {"totalCount": len(self.search(ql_query))}

    @locked
    def legacy_aql_page(
        self,
        ql_query: str,
        *,
        page: int = 1,
        result_per_page: int = 25,
        include_attributes: bool = True,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """Answer the deprecated ``GET aql/objects`` and ``iql/objects`` (1-based; pageSize = page count)."""
        if page < 1:
            raise bad_request(page="page must be 1 or more")
        if result_per_page < 1:
            raise bad_request(resultPerPage="resultPerPage must be 1 or more")
        ids = self.search(ql_query)
        start = (page - 1) * result_per_page
        records = [self.objects[object_id] for object_id in ids[start : start + result_per_page]]
        renderer = self._renderer(base_url)
        answer: dict[str, Any] = {
            "objectEntries": [
                renderer.object(r, attributes="ids" if include_attributes else "none") for r in records
            ],
            "objectTypeAttributes": self._page_attributes(renderer, records),
        }
        type_ids = {self.objects[object_id].object_type_id for object_id in ids}
        if len(type_ids) == 1:
            only = self.object_types[type_ids.pop()]
            answer |= {
                "objectTypeId": only.id,
                "objectTypeIsInherited": only.inherited,
                "abstractObjectType": only.abstract,
            }
        answer |= {
            "totalFilterCount": len(ids),
            "startIndex": start,
            "toIndex": start + len(records),
            "pageObjectSize": len(records),
            "pageNumber": page,
            "orderWay": "asc",
            "qlQuery": ql_query,
            "iql": ql_query,
            "conversionPossible": False,
            "pageSize": -(-len(ids) // result_per_page),
        }
        return answer

    # --- AqlCatalog ----------------------------------------------------------------------------

    def schema_ids_named(self, name: str) -> set[str]:
        """Return the ids of schemas with this name (case-insensitive)."""
        return {schema.id for schema in self.schemas.values() if schema.name.lower() == name.lower()}

    def type_ids_named(self, name: str) -> set[str]:
        """Return the ids of object types with this name in any schema (case-insensitive)."""
        return {t.id for t in self.object_types.values() if t.name.lower() == name.lower()}

    def type_and_descendants(self, type_id: str) -> set[str]:
        """Return a type id with the ids of every type below it."""
        if type_id not in self.object_types:
            return set()
        return {type_id} | self.descendants_of(type_id)

    def is_known_attribute(self, name: str) -> bool:
        """Tell whether some object type has an attribute of this name (case-insensitive)."""
        if self._attribute_names is None:
            self._attribute_names = {attribute.name.lower() for attribute in self.attributes.values()}
        return name.lower() in self._attribute_names

    def attribute_values(self, subject: AqlSubject, name: str) -> list[object] | None:
        """Return the values of an object's attribute as the AQL evaluator compares them."""
        record = self.objects.get(subject.object_id)
        if record is None:
            return None
        attribute = self._attribute_named(record.object_type_id, name)
        if attribute is None:
            return None
        if attribute.system_role == "key":
            return [record.key]
        if attribute.system_role == "created":
            return [record.created]
        if attribute.system_role == "updated":
            return [record.updated]
        stored = record.values.get(attribute.id)
        values = stored[1:] if stored else ()
        if attribute.kind == ATTR_REFERENCE:
            references: list[object] = []
            for target_id in values:
                target = self.objects.get(target_id)
                if target is not None:
                    references.append(AqlReference(label=target.label, key=target.key, subject=target))
            return references
        if attribute.kind in (ATTR_USER, ATTR_STATUS):
            return [display_value(self, attribute, value) for value in values]
        if attribute.kind == ATTR_DEFAULT and attribute.default_type == DEFAULT_TIME:
            return [time.fromisoformat(value) for value in values]
        return list(values)

    def outbound_references(self, subject: AqlSubject) -> Iterable[AqlSubject]:
        """Return the objects a subject's reference attributes point to."""
        record = self.objects.get(subject.object_id)
        if record is None:
            return []
        targets: dict[int, ObjectRecord] = {}
        for attribute in self.effective_attributes(record.object_type_id):
            stored = record.values.get(attribute.id)
            if attribute.kind == ATTR_REFERENCE and stored:
                for target_id in stored[1:]:
                    target = self.objects.get(target_id)
                    if target is not None:
                        targets[target_id] = target
        return list(targets.values())

    def all_subjects(self) -> Iterable[AqlSubject]:
        """Return every object, for inbound/outbound reference sub-queries."""
        return self.objects.values()


def check_paging(start_at: int, max_results: int) -> None:
    """Refuse negative offsets and empty pages."""
    if start_at < 0:
        raise bad_request(startAt="startAt must be 0 or more")
    if max_results < 1:
        raise bad_request(maxResults="maxResults must be 1 or more")

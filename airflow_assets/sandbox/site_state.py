"""The state every part of a sandbox ``Site`` shares: its stores, its lock, bookkeeping and lookups.

``SiteState`` declares the stores ``Site.__init__`` fills in; the parts (``site_directory``,
``site_structure``, ``site_attributes``, ``site_objects``, ``site_search``, ``site_issues``) are mixins
over it.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from airflow_assets.sandbox.records import (
    AttributeRecord,
    CommentRecord,
    HistoryRecord,
    IconRecord,
    IssueRecord,
    ObjectRecord,
    ObjectTypeRecord,
    ReferenceTypeRecord,
    SchemaRecord,
    StatusTypeRecord,
    UserRecord,
    bad_request,
    id_number,
    not_found,
)
from airflow_assets.sandbox.render import Renderer, plain_display

if TYPE_CHECKING:
    from airflow_assets.sandbox.model import Site

__all__ = ["DEFAULT_BASE_URL", "SiteState", "check_paging", "locked"]

S = TypeVar("S", bound="SiteState")
P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_BASE_URL = "http://localhost"


def locked(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run a Site method while holding the site's lock."""

    @functools.wraps(method)
    def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper


def check_paging(start_at: int, max_results: int) -> None:
    """Refuse negative offsets and empty pages."""
    if start_at < 0:
        raise bad_request(startAt="startAt must be 0 or more")
    if max_results < 1:
        raise bad_request(maxResults="maxResults must be 1 or more")


class SiteState:
    """The stores and helpers shared by the parts of a ``Site``; ``Site.__init__`` sets every attribute."""

    workspace_id: str
    email: str
    api_token: str
    clock: Callable[[], datetime]
    lock: threading.RLock
    revision: int
    account_id: str
    # The stores below are read by render.py and the tests; write them only through methods.
    users: dict[str, UserRecord]
    groups: dict[str, str]  # name -> group id
    schemas: dict[str, SchemaRecord]
    object_types: dict[str, ObjectTypeRecord]
    attributes: dict[str, AttributeRecord]
    objects: dict[int, ObjectRecord]
    history: dict[int, list[HistoryRecord]]
    comments: dict[int, list[CommentRecord]]
    issues: dict[str, IssueRecord]  # issue key -> issue
    _issue_ids: dict[str, str]  # issue id -> issue key
    # object id -> keys of the issues whose Assets field holds it (an index of those fields)
    tickets: dict[int, list[str]]
    # projects whose issues the account may browse but not edit (Edit Issues permission withheld)
    uneditable_projects: set[str]
    status_types: dict[str, StatusTypeRecord]
    reference_types: dict[str, ReferenceTypeRecord]
    icons: dict[str, IconRecord]
    _sequences: dict[str, int]
    _type_counts: dict[str, int]
    # target object id -> {referring object id: number of reference values pointing at the target}
    _referrers: dict[int, dict[int, int]]
    # unique attribute id -> {value: object id holding it}
    _unique_values: dict[str, dict[Any, int]]
    _effective: dict[str, list[AttributeRecord]]
    _by_name: dict[str, dict[str, AttributeRecord]]
    _positions: dict[str, int]
    _attribute_names: set[str] | None
    _local_renderer: Renderer | None
    _aql_cache: OrderedDict[tuple[str, int, str], tuple[int, ...]]

    if TYPE_CHECKING:
        # Defined by the parts in site_objects.py, site_attributes.py and site_issues.py, which call across
        # each other.
        def _delete_object(self, record: ObjectRecord, actor: str, now: datetime) -> None: ...
        def _drop_attribute(self, attribute: AttributeRecord) -> None: ...
        def _unindex_references(self, source_id: int, targets: tuple[Any, ...]) -> None: ...
        def _disconnect_object(self, object_id: int) -> None: ...

    @property
    def _site(self) -> Site:
        # Only Site (model.py) composes the parts; the renderer and the history helpers take a Site.
        return cast("Site", self)

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
                self._local_renderer = Renderer(self._site, DEFAULT_BASE_URL, cache_objects=False)
            return self._local_renderer
        return Renderer(self._site, base_url)

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
        number = id_number(str(object_id).strip())
        record = None if number is None else self.objects.get(number)
        if record is None:
            raise not_found(f"The object with id {object_id} was not found")
        return record

    def _object_by_key_or_id(self, text: str) -> ObjectRecord | None:
        number = id_number(text)
        if number is not None:
            return self.objects.get(number)
        prefix, _, suffix = text.rpartition("-")
        number = id_number(suffix)
        if prefix and number is not None:
            record = self.objects.get(number)
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
        labels = [attribute for attribute in self.effective_attributes(type_id) if attribute.label]
        # Inherited attributes come first: a label of the type's own overrides its parent's.
        return labels[-1] if labels else None

    def _label_text(self, record: ObjectRecord) -> str:
        label_attribute = self._label_attribute(record.object_type_id)
        if label_attribute is None:
            return ""
        stored = record.values.get(label_attribute.id)
        return plain_display(stored[1]) if stored and len(stored) > 1 else ""

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

"""Compare a live schema with a snapshot of it, object by object: what a rollback in place has to write.

Both sides are read in object id order and compared as they arrive (a merge on the id): the snapshot's
objects through :class:`SnapshotReader` (one cursor, sorted by id), the live objects in AQL windows
``objectId > low AND objectId <= high`` that each fit in one page, normalised with the backup's own
:func:`normalize_object`. So memory holds a page, never the schema. Equal content hashes mean equal
objects and cost nothing more; otherwise the objects are compared attribute by attribute in the forms a
write sends (:mod:`airflow_assets.restore.values`), leaving out what a ``PUT object/{id}`` cannot set: Key,
Created, Updated and the other system attributes, the label (it follows the label attribute), avatars and
attachments. Values of a multi-value attribute are compared as a set (the site does not keep an order).

Each object is ``unchanged``, ``changed`` (the attributes that differ, snapshot -> live), ``deleted_since``
(in the snapshot only) or ``created_since`` (live only). A changed object's ``PUT`` body puts back only the
attributes that differ; an attribute the snapshot left empty is cleared. The bodies are built afterwards
from the snapshot (which never changes) by :func:`iter_write_bodies`, a batch at a time: the diff keeps of a
changed object only its id and the ids of its differing attributes.

Attributes are matched by id. An attribute of the snapshot that no longer exists live, and one created
since, are not compared: they are counted (``attributes_gone``, ``attributes_new``) for the configuration
step of a rollback to deal with first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.api.listing import Lane, WalkStats, plan_lanes, walk_lane
from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.ids import id_order
from airflow_assets.model import normalize as norm
from airflow_assets.model.attributes import is_system
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.values import ValueMaps, object_body
from airflow_assets.store.hashing import content_hash
from airflow_assets.store.layout import CONFIG_KINDS
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

UNCHANGED = "unchanged"
CHANGED = "changed"
DELETED_SINCE = "deleted_since"
CREATED_SINCE = "created_since"
CLASSES = (UNCHANGED, CHANGED, DELETED_SINCE, CREATED_SINCE)

PAGE_SIZE = 250  # objects with attributes per AQL request (as the backup's full sweep)
LANE_OBJECTS = 500  # objects per lane of the live read (lanes are read side by side, in id order)
LANES_AHEAD = 4  # lanes read at once: their raw objects (about 30 KB each with attributes) are held
MAX_LANES = 1000
FIRST_CHANGES = 50  # changes kept with their values for the plan log
BODY_BATCH = 50  # snapshot objects read per lookup while building write bodies


class RollbackDiffError(JiraAssetsError):
    """The live schema could not be compared with the snapshot (an answer the diff cannot read...)."""


@dataclass(frozen=True)
class DiffFilter:
    """Which objects the diff covers; every filter given narrows it (all of them must hold).

    :param type_ids: object type ids; empty: every type. A type's child types are not included (as AQL's
        ``objectTypeId =``) unless ``with_children``.
    :param with_children: include the child types (in the snapshot's configuration) of ``type_ids``.
    :param object_keys: object keys; empty: every key.
    :param object_ids: object ids (e.g. what an AQL filter found live); None: every id.
    """

    type_ids: frozenset[str] = frozenset()
    with_children: bool = False
    object_keys: frozenset[str] = frozenset()
    object_ids: frozenset[str] | None = None

    def resolved_types(self, config: SchemaConfig) -> frozenset[str]:
        """Return the type ids covered (empty: all), children added when asked."""
        if not self.type_ids or not self.with_children:
            return self.type_ids
        covered: set[str] = set()
        for type_id in self.type_ids:
            covered |= config.type_and_descendants(type_id) if type_id in config.object_types else {type_id}
        return frozenset(covered)

    def candidate_ids(self) -> frozenset[str] | None:
        """Return the object ids the filter can only match (None: any id).

        A key is ``<SCHEMA KEY>-<object id>`` (the contract), so keys narrow the live read to ids; the key
        itself is still compared on both sides.
        """
        ids = self.object_ids
        if self.object_keys:
            numbers = {key.rpartition("-")[2] for key in self.object_keys}
            if all(number.isascii() and number.isdigit() for number in numbers):
                ids = frozenset(numbers) if ids is None else ids & numbers
        return ids


@dataclass(frozen=True)
class AttributeChange:
    """One attribute of a changed object: its values in the snapshot and live, in written form.

    :param attribute_id: the attribute (the same id on both sides).
    :param name: its name in the snapshot.
    :param old: the snapshot's values (what the rollback puts back; empty: the attribute is cleared).
    :param new: the live values.
    """

    attribute_id: str
    name: str
    old: tuple[str, ...]
    new: tuple[str, ...]

    def line(self) -> str:
        """Return ``name: [live] -> [snapshot]`` as a plan log shows what the rollback writes."""
        return f"{self.name}: {_shown(self.new)} -> {_shown(self.old)}"


@dataclass(frozen=True)
class ObjectChange:
    """One object that is not unchanged.

    :param object_id: the object's id (the same on both sides).
    :param object_key: its key.
    :param type_id: its object type.
    :param kind: ``changed``, ``deleted_since`` or ``created_since``.
    :param attributes: for ``changed``, the attributes that differ, by attribute id.
    """

    object_id: str
    object_key: str
    type_id: str
    kind: str
    attributes: tuple[AttributeChange, ...] = ()

    def line(self) -> str:
        """Return one line for a plan log."""
        if self.kind == CHANGED:
            return f"{self.object_key}: " + "; ".join(change.line() for change in self.attributes)
        return f"{self.object_key}: {self.kind.replace('_', ' ')}"


@dataclass(frozen=True)
class Rewrite:
    """A changed object and the attributes its ``PUT`` puts back (ids only: the values are the snapshot's).

    :param object_id: the object.
    :param type_id: its object type.
    :param attribute_ids: the attributes that differ, in id order.
    """

    object_id: str
    type_id: str
    attribute_ids: tuple[str, ...]


@dataclass(frozen=True)
class RollbackDiff:
    """What differs between a live schema and a snapshot of it.

    :param snapshot_id: the snapshot compared with.
    :param schema_id: the live schema (the snapshot's).
    :param counts: object type id -> class -> objects (every class present, zeros too).
    :param first_changes: the first objects (by id) that are not unchanged, changed ones with their values.
    :param rewrites: every changed object with the attributes to put back.
    :param deleted_since: ids of the objects of the snapshot that are gone, in id order.
    :param created_since: ids of the live objects the snapshot does not hold, in id order.
    :param attributes_gone: snapshot attribute id -> objects whose values in it could not be compared (the
        attribute no longer exists live).
    :param attributes_new: live attribute id -> objects holding values in it (the snapshot has no such
        attribute).
    :param live_requests: AQL requests the live read made.
    """

    snapshot_id: str
    schema_id: str
    counts: Mapping[str, Mapping[str, int]]
    first_changes: tuple[ObjectChange, ...]
    rewrites: tuple[Rewrite, ...]
    deleted_since: tuple[str, ...]
    created_since: tuple[str, ...]
    attributes_gone: Mapping[str, int] = field(default_factory=dict)
    attributes_new: Mapping[str, int] = field(default_factory=dict)
    live_requests: int = 0

    def total(self, kind: str) -> int:
        """Return how many objects of every type are of class ``kind``."""
        return sum(per_class.get(kind, 0) for per_class in self.counts.values())

    def totals(self) -> dict[str, int]:
        """Return the objects per class over every type."""
        return {kind: self.total(kind) for kind in CLASSES}

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible summary (counts and the first changes, not every id)."""
        return {
            "snapshot_id": self.snapshot_id,
            "schema_id": self.schema_id,
            "totals": self.totals(),
            "per_type": {type_id: dict(per_class) for type_id, per_class in self.counts.items()},
            "attributes_to_write": sum(len(rewrite.attribute_ids) for rewrite in self.rewrites),
            "first_changes": [change.line() for change in self.first_changes],
            "attributes_gone": dict(self.attributes_gone),
            "attributes_new": dict(self.attributes_new),
            "live_requests": self.live_requests,
        }


@dataclass(frozen=True)
class WriteBody:
    """The ``PUT object/{id}`` that puts a changed object's differing attributes back.

    :param object_id: the object to update.
    :param body: the body (``objectTypeId`` and only the attributes that differ; ``[]`` values clear one).
    :param dropped: values that could not be put in the body (a reference to an object deleted since...).
    :param waits_for: objects deleted since that the snapshot's values reference: left out of the body
        until they exist again (give a ``reference`` that maps them to their new keys).
    """

    object_id: str
    body: JsonDict
    dropped: tuple[str, ...] = ()
    waits_for: tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        """Tell whether the body sets anything (a body whose values all wait sets nothing)."""
        return bool(self.body.get("attributes"))


# -- comparing ---------------------------------------------------------------------------------------


def in_place_maps(
    config: SchemaConfig,
    live_attribute_ids: Collection[str],
    reference: Callable[[str], str | None] = str,
    *,
    recreated: Mapping[str, str] | None = None,
) -> ValueMaps:
    """Return the value maps of a write into the schema the snapshot was taken of (ids stay the same).

    :param config: the snapshot's configuration (attribute definitions: which are system).
    :param live_attribute_ids: the attributes that exist live; the snapshot's others have no counterpart.
    :param reference: a referenced object id -> what to send for it (default: the id itself).
    :param recreated: snapshot attribute id -> the live id of the attribute created again in its place (the
        live side's values are read under the new id, with the snapshot's definition).
    """
    live = set(live_attribute_ids)
    attributes = {attribute_id: attribute_id for attribute_id in config.attributes if attribute_id in live}
    definitions: dict[str, Any] = dict(config.attributes)
    for old, new in (recreated or {}).items():
        attributes[old] = attributes[new] = new
        if old in config.attributes:
            definitions.setdefault(new, config.attributes[old])
    return ValueMaps(
        attributes=attributes,
        attribute_defs=definitions,
        statuses=_Same(),
        reference=reference,
        user=lambda person: None if not person else person.get("accountId"),
        group=lambda name: name,
    )


class _Same(Mapping[str, str]):
    """Every id maps to itself (a status id in place)."""

    def __getitem__(self, key: str) -> str:
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def get(self, key: str, default: Any = None) -> Any:
        return key


def object_hash(obj: Mapping[str, Any], *, workspace_id: str, schema_id: str) -> str:
    """Return the content hash of a normalised object (the backup's name for that version)."""
    return content_hash(
        kind="object", workspace_id=workspace_id, schema_id=schema_id, item_id=str(obj["id"]), data=obj
    )


def written_values(obj: JsonDict, maps: ValueMaps) -> dict[str, tuple[str, ...]]:
    """Return the values a write would send for each attribute of a normalised object, sorted.

    System attributes, attributes without a counterpart and empty ones are left out.
    """
    body = object_body(obj, str(obj.get("objectTypeId")), maps)
    return {
        str(attribute["objectTypeAttributeId"]): tuple(
            sorted(str(value["value"]) for value in attribute["objectAttributeValues"])
        )
        for attribute in body.body["attributes"]
        if attribute["objectTypeAttributeId"] is not None
    }


def compare_objects(
    snapshot_obj: JsonDict, live_obj: JsonDict, maps: ValueMaps
) -> tuple[AttributeChange, ...]:
    """Return the attributes whose values differ between the snapshot's and the live object (id order).

    :param maps: the in-place maps (:func:`in_place_maps`), with references sent as ids.
    """
    old = written_values(snapshot_obj, maps)
    new = written_values(live_obj, maps)
    changes = []
    for attribute_id in sorted(set(old) | set(new), key=id_order):
        if old.get(attribute_id, ()) != new.get(attribute_id, ()):
            definition = maps.attribute_defs.get(attribute_id) or {}
            changes.append(
                AttributeChange(
                    attribute_id,
                    str(definition.get("name") or attribute_id),
                    old.get(attribute_id, ()),
                    new.get(attribute_id, ()),
                )
            )
    return tuple(changes)


def merge_by_id(
    snapshot_objects: Iterable[JsonDict], live_objects: Iterable[JsonDict]
) -> Iterator[tuple[JsonDict | None, JsonDict | None]]:
    """Pair two streams of objects sorted by id: (snapshot, live), None on the side that lacks it.

    :raises RollbackDiffError: a stream is not in id order (the merge would pair the wrong objects).
    """
    snapshot_iter, live_iter = iter(snapshot_objects), iter(live_objects)
    old = next(snapshot_iter, None)
    new = next(live_iter, None)
    last = {"snapshot": -1, "live": -1}

    def number(obj: JsonDict, side: str) -> int:
        value = norm.object_number(str(obj["id"]))
        if value <= last[side]:
            raise RollbackDiffError(f"the {side} objects are not in id order at object {obj['id']}")
        return value

    old_n = number(old, "snapshot") if old is not None else None
    new_n = number(new, "live") if new is not None else None
    while old is not None or new is not None:
        if new_n is None or (old_n is not None and old_n < new_n):
            assert old is not None and old_n is not None
            yield old, None
            last["snapshot"] = old_n
            old = next(snapshot_iter, None)
            old_n = number(old, "snapshot") if old is not None else None
        elif old_n is None or new_n < old_n:
            yield None, new
            last["live"] = new_n
            new = next(live_iter, None)
            new_n = number(new, "live") if new is not None else None
        else:
            yield old, new
            last["snapshot"], last["live"] = old_n, new_n
            old, new = next(snapshot_iter, None), next(live_iter, None)
            old_n = number(old, "snapshot") if old is not None else None
            new_n = number(new, "live") if new is not None else None


class _Tally:
    """What the diff found so far (counts, the first changes, the rewrites)."""

    def __init__(self, first: int, on_change: Callable[[ObjectChange], None] | None = None) -> None:
        self.first = first
        self.on_change = on_change
        self.counts: dict[str, dict[str, int]] = {}
        self.first_changes: list[ObjectChange] = []
        self.rewrites: list[Rewrite] = []
        self.deleted: list[str] = []
        self.created: list[str] = []
        self.attributes_gone: dict[str, int] = {}
        self.attributes_new: dict[str, int] = {}

    def add(self, obj: JsonDict, kind: str, attributes: tuple[AttributeChange, ...] = ()) -> None:
        type_id = str(obj.get("objectTypeId"))
        per_class = self.counts.setdefault(type_id, dict.fromkeys(CLASSES, 0))
        per_class[kind] += 1
        if kind == UNCHANGED:
            return
        object_id = str(obj["id"])
        if kind == CHANGED:
            ids = tuple(change.attribute_id for change in attributes)
            self.rewrites.append(Rewrite(object_id, type_id, ids))
        elif kind == DELETED_SINCE:
            self.deleted.append(object_id)
        else:
            self.created.append(object_id)
        if len(self.first_changes) < self.first or self.on_change is not None:
            key = str(obj.get("objectKey") or object_id)
            change = ObjectChange(object_id, key, type_id, kind, attributes)
            if len(self.first_changes) < self.first:
                self.first_changes.append(change)
            if self.on_change is not None:
                self.on_change(change)


def diff_schema(
    client: AssetsClient,
    reader: SnapshotReader,
    snapshot: Snapshot,
    selection: DiffFilter = DiffFilter(),
    *,
    first_changes: int = FIRST_CHANGES,
    page_size: int = PAGE_SIZE,
    maps: ValueMaps | None = None,
    on_change: Callable[[ObjectChange], None] | None = None,
) -> RollbackDiff:
    """Compare the live schema a snapshot was taken of with the snapshot (see the module docstring).

    :param client: the client of the snapshot's site.
    :param reader: reads the snapshot (a reconstructed one from its own lane).
    :param snapshot: the state to compare with.
    :param selection: which objects to compare.
    :param first_changes: how many changes to keep with their values.
    :param page_size: live objects per AQL request.
    :param maps: how both sides are put in written form (default: :func:`in_place_maps` of the attributes
        that exist live); a rollback's maps also hold the attributes it recreated and the objects it
        recreated, so that they compare equal to the snapshot's.
    :param on_change: called with every object that is not unchanged, with its values (the rewrites keep
        only ids; this streams every change to where the caller keeps it).
    :raises RollbackDiffError: the client is of another workspace than the snapshot's (ids would name
        other objects).
    """
    if client.workspace_id != snapshot.workspace_id:
        raise RollbackDiffError(
            f"snapshot {snapshot.snapshot_id} was taken of workspace {snapshot.workspace_id}, the connection "
            f"reaches workspace {client.workspace_id}: a rollback puts a schema back on its own site only"
        )
    config = SchemaConfig(reader.config(snapshot, CONFIG_KINDS))
    live_attributes = {
        norm.as_id(raw.get("id"), what="an attribute's id"): raw
        for raw in client.get_schema_attributes(snapshot.schema_id)
    }
    if maps is None:
        maps = in_place_maps(config, live_attributes)
    type_ids = selection.resolved_types(config)
    candidates = selection.candidate_ids()
    walk = LiveWalk(
        client, snapshot.schema_id, type_ids=type_ids, object_ids=candidates, page_size=page_size,
        expected=reader.count(snapshot, "object"),
    )  # fmt: skip

    def wanted(obj: JsonDict) -> bool:
        if type_ids and str(obj.get("objectTypeId")) not in type_ids:
            return False
        if candidates is not None and str(obj["id"]) not in candidates:
            return False
        return not selection.object_keys or str(obj.get("objectKey")) in selection.object_keys

    query: dict[str, Any] = {}
    if type_ids:
        query["type_id"] = {"$in": sorted(type_ids)}
    if candidates is not None:
        query["n"] = {"$in": sorted(norm.object_number(i) for i in candidates if i.isdigit())}
    snapshot_side = (obj for obj in reader.read(snapshot, "object", query or None, sort="n") if wanted(obj))
    live_side = (obj for obj in walk.objects() if wanted(obj))
    tally = _Tally(first_changes, on_change)
    for old, new in merge_by_id(snapshot_side, live_side):
        if new is None:
            assert old is not None
            tally.add(old, DELETED_SINCE)
            continue
        if old is None:
            tally.add(new, CREATED_SINCE)
            continue
        _count_unmatched(old, new, config, live_attributes, tally)
        where = {"workspace_id": snapshot.workspace_id, "schema_id": snapshot.schema_id}
        same = object_hash(old, **where) == object_hash(new, **where)
        changes = () if same else compare_objects(old, new, maps)
        tally.add(old, CHANGED if changes else UNCHANGED, changes)
    diff = RollbackDiff(
        snapshot_id=snapshot.snapshot_id,
        schema_id=snapshot.schema_id,
        counts=tally.counts,
        first_changes=tuple(tally.first_changes),
        rewrites=tuple(tally.rewrites),
        deleted_since=tuple(tally.deleted),
        created_since=tuple(tally.created),
        attributes_gone=tally.attributes_gone,
        attributes_new=tally.attributes_new,
        live_requests=walk.requests,
    )
    totals = diff.totals()
    log.info(
        "rollback diff of schema %s against snapshot %s: %s unchanged, %s changed, %s deleted since, "
        "%s created since (%s AQL requests)",
        snapshot.schema_id, snapshot.snapshot_id, totals[UNCHANGED], totals[CHANGED], totals[DELETED_SINCE],
        totals[CREATED_SINCE], walk.requests,
    )  # fmt: skip
    return diff


def _count_unmatched(
    old: JsonDict, new: JsonDict, config: SchemaConfig, live: Mapping[str, Mapping[str, Any]], tally: _Tally
) -> None:
    """Count values in attributes that exist on one side only (they are not compared)."""
    for attribute in old.get("attributes") or []:
        attribute_id = str(attribute.get("objectTypeAttributeId"))
        if attribute_id not in live and attribute.get("values"):
            tally.attributes_gone[attribute_id] = tally.attributes_gone.get(attribute_id, 0) + 1
    for attribute in new.get("attributes") or []:
        attribute_id = str(attribute.get("objectTypeAttributeId"))
        definition = live.get(attribute_id) or {}
        if attribute_id not in config.attributes and attribute.get("values") and not is_system(definition):
            tally.attributes_new[attribute_id] = tally.attributes_new.get(attribute_id, 0) + 1


# -- the live side -----------------------------------------------------------------------------------


class LiveWalk:
    """Read the live objects of a schema with their attributes, normalised, in id order.

    The schema (or its chosen types) is cut into lanes of ``objectId`` ranges
    (:func:`~airflow_assets.api.listing.plan_lanes`) read side by side, each as the backup's window walk
    (:func:`~airflow_assets.api.listing.walk_lane`: windows that fit in one page, so an object created or
    deleted during the walk never shifts another out of it). The lanes are handed on in id order, and only
    ``LANES_AHEAD`` are read at once, so memory holds a few lanes, never the schema.

    :param client: the Assets client.
    :param schema_id: the live schema.
    :param type_ids: object types to read (empty: every type).
    :param object_ids: only these ids (None: every id), read a page of ids at a time.
    :param page_size: objects per request.
    :param expected: about how many objects the walk finds (the snapshot's count): it decides the lanes.
    :param lane_objects: about how many objects a lane holds.
    """

    def __init__(
        self,
        client: AssetsClient,
        schema_id: str,
        *,
        type_ids: Collection[str] = (),
        object_ids: Collection[str] | None = None,
        page_size: int = PAGE_SIZE,
        expected: int = 0,
        lane_objects: int = LANE_OBJECTS,
    ) -> None:
        self.client = client
        self.base = f"objectSchemaId = {schema_id}"
        if type_ids:
            self.base += f" AND objectTypeId in ({', '.join(sorted(type_ids, key=id_order))})"
        self.object_ids = object_ids
        self.page_size = page_size
        self.expected = expected
        self.lane_objects = lane_objects
        self.stats = WalkStats()

    @property
    def requests(self) -> int:
        """Return how many AQL requests the walk made."""
        return self.stats.requests

    def objects(self) -> Iterator[JsonDict]:
        """Yield the normalised live objects in id order."""
        pages = self._by_ids() if self.object_ids is not None else self._lanes()
        for values in pages:
            normalised = [norm.normalize_object(raw) for raw in values]
            normalised.sort(key=lambda obj: norm.object_number(obj["id"]))
            yield from normalised

    def _by_ids(self) -> Iterator[Sequence[Mapping[str, Any]]]:
        assert self.object_ids is not None
        ids = sorted((i for i in self.object_ids if i.isascii() and i.isdigit()), key=lambda i: (int(i), i))
        batches = [ids[start : start + self.page_size] for start in range(0, len(ids), self.page_size)]

        def read(batch: list[str]) -> Sequence[Mapping[str, Any]]:
            self.stats.count(requests=1)
            query = f"{self.base} AND objectId in ({', '.join(batch)})"
            page = self.client.aql_page(query, max_results=len(batch), include_attributes=True)
            if not page.is_last:
                raise RollbackDiffError(f"AQL for {len(batch)} object ids answered more than one page")
            return page.values

        workers = self.client.max_workers
        for _, values in self.client.map_concurrent(read, batches, max_in_flight=workers):
            yield values

    def _lanes(self) -> Iterator[Sequence[Mapping[str, Any]]]:
        lanes = plan_lanes(
            self.client, "", expected=self.expected, lane_objects=self.lane_objects, max_lanes=MAX_LANES,
            stats=self.stats, scope=self.base,
        )  # fmt: skip

        def read(lane: Lane) -> list[Sequence[Mapping[str, Any]]]:
            windows = walk_lane(
                self.client, lane, page_size=self.page_size, include_attributes=True, stats=self.stats
            )
            return [window.objects for window in windows]

        for _, pages in self.client.map_concurrent(
            read, lanes, max_workers=LANES_AHEAD, max_in_flight=LANES_AHEAD
        ):
            yield from pages


# -- the write bodies --------------------------------------------------------------------------------


def iter_write_bodies(
    reader: SnapshotReader,
    snapshot: Snapshot,
    diff: RollbackDiff,
    maps: ValueMaps,
    *,
    batch: int = BODY_BATCH,
) -> Iterator[WriteBody]:
    """Yield the ``PUT object/{id}`` body of every changed object, reading the snapshot a batch at a time.

    A reference to an object deleted since is left out (``waits_for``) unless ``maps.reference`` gives
    something to send for it.

    :param maps: the in-place maps (:func:`in_place_maps`); give its ``reference`` a map of the objects
        recreated with new ids to put references to them back.
    """
    deleted = frozenset(diff.deleted_since)
    rewrites = diff.rewrites
    for start in range(0, len(rewrites), batch):
        chunk = rewrites[start : start + batch]
        held = reader.objects_by_id(snapshot, [rewrite.object_id for rewrite in chunk])
        for rewrite in chunk:
            obj = held.get(rewrite.object_id)
            if obj is None:
                raise RollbackDiffError(
                    f"object {rewrite.object_id} is no longer in snapshot {snapshot.snapshot_id}: was the "
                    "snapshot forgotten? Compare again"
                )
            yield write_body(obj, rewrite, maps, deleted)


def write_body(obj: JsonDict, rewrite: Rewrite, maps: ValueMaps, deleted: Collection[str] = ()) -> WriteBody:
    """Return the body that puts back the attributes of ``rewrite`` from the snapshot's object ``obj``.

    :param deleted: objects deleted since: a reference to one is left out (``waits_for``) unless
        ``maps.reference`` sends something else than its old id for it (its new key, once recreated).
    """

    given = maps.reference

    def reference(object_id: str) -> str | None:
        sent = given(object_id)
        return None if object_id in deleted and sent == object_id else sent

    maps = ValueMaps(maps.attributes, maps.attribute_defs, maps.statuses, reference, maps.user, maps.group)
    built = object_body(obj, rewrite.type_id, maps, only_attributes=set(rewrite.attribute_ids))
    written = {str(attribute["objectTypeAttributeId"]) for attribute in built.body["attributes"]}
    for attribute_id in rewrite.attribute_ids:
        if attribute_id not in written and attribute_id in maps.attributes:
            # The snapshot held no value: the attribute is cleared.
            built.body["attributes"].append(
                {"objectTypeAttributeId": maps.attributes[attribute_id], "objectAttributeValues": []}
            )
    # An attribute whose every value was left out would be cleared: it waits, untouched, instead.
    held = {str(a.get("objectTypeAttributeId")) for a in obj.get("attributes") or [] if a.get("values")}
    built.body["attributes"] = sorted(
        (
            attribute
            for attribute in built.body["attributes"]
            if attribute["objectAttributeValues"] or str(attribute["objectTypeAttributeId"]) not in held
        ),
        key=lambda attribute: id_order(str(attribute["objectTypeAttributeId"])),
    )
    waits = tuple(
        sorted(
            {
                str(value["referencedObjectId"])
                for attribute in obj.get("attributes") or []
                if str(attribute.get("objectTypeAttributeId")) in rewrite.attribute_ids
                for value in attribute.get("values") or []
                if "referencedObjectId" in value
                and str(value["referencedObjectId"]) in deleted
                and maps.reference(str(value["referencedObjectId"])) is None
            },
            key=id_order,
        )
    )
    return WriteBody(rewrite.object_id, built.body, tuple(built.dropped), waits)


def _shown(values: Sequence[str]) -> str:
    text = ", ".join(values)
    return f"[{text[:117]}...]" if len(text) > 120 else f"[{text}]"

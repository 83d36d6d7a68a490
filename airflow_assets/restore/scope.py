"""What a restore covers: which object types (with what they need) and which objects."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.messages import cut, shown
from airflow_assets.model.attributes import referenced_type
from airflow_assets.restore.request import IN_PLACE, RestoreParamError, RestoreRequest
from airflow_assets.restore.schema_source import SchemaSource

JsonDict = dict[str, Any]


@dataclass
class TypeScope:
    """The object types a restore creates objects of, and why each one beyond those asked for."""

    included: dict[str, set[str]]  # old schema key -> old type ids
    pulled_in: list[str] = field(default_factory=list)
    external: dict[str, str] = field(default_factory=dict)  # referenced type id -> "<schema>.<type>.<attr>"

    def includes(self, key: str, type_id: str) -> bool:
        """Tell whether objects of the type are restored."""
        return type_id in self.included.get(key, set())


def scope_types(schemas: Sequence[SchemaSource], request: RestoreRequest) -> TypeScope:
    """Return the object types to restore: all, or those asked for plus their parents and references."""
    owner = {type_id: schema for schema in schemas for type_id in schema.object_types}
    scope = TypeScope(included={schema.old_key: set() for schema in schemas})
    queue: list[str] = []
    if not request.object_types:
        for schema in schemas:
            scope.included[schema.old_key] = set(schema.object_types)
        queue = list(owner)
    else:
        for index, name in enumerate(request.object_types):
            found = [
                (schema, type_id)
                for schema in schemas
                for type_id, object_type in schema.object_types.items()
                if str(object_type.get("name", "")).lower() == name.lower()
            ]
            if not found:
                known = sorted({str(t.get("name")) for s in schemas for t in s.object_types.values()})
                raise RestoreParamError(
                    f"object_types[{index}]",
                    f"no object type named {shown(name)} in the chosen snapshots "
                    f"(types: {cut(', '.join(known), 400)})",
                )
            for schema, type_id in found:
                scope.included[schema.old_key].add(type_id)
                queue.append(type_id)
    seen = set(queue)

    def pull(type_id: str, reason: str) -> None:
        schema = owner[type_id]
        if type_id in seen:
            return
        seen.add(type_id)
        scope.included[schema.old_key].add(type_id)
        scope.pulled_in.append(f"{schema.old_key}/{schema.type_name(type_id)}: {reason}")
        queue.append(type_id)

    while queue:
        type_id = queue.pop(0)
        schema = owner[type_id]
        name = schema.type_name(type_id)
        for ancestor in schema.ancestors(type_id):
            pull(ancestor, f"parent of {name}")
        for attribute in schema.carried_attributes(type_id):
            target = referenced_type(attribute)
            if target is None:
                continue
            where = f"{schema.old_key}/{name}.{attribute.get('name')}"
            if target in owner:
                pull(target, f"referenced by {where}")
            else:
                scope.external.setdefault(target, where)
    return scope


def object_refs(obj: JsonDict) -> list[str]:
    """Return the ids of the objects an object references (in attribute order, without repeats)."""
    refs: list[str] = []
    for attribute in obj.get("attributes") or []:
        for value in attribute.get("values") or []:
            target = value.get("referencedObjectId")
            if target is not None and target not in refs:
                refs.append(str(target))
    return refs


@dataclass
class ObjectSet:
    """The objects a restore creates, with the schema each comes from."""

    objects: dict[str, JsonDict]
    schema_of: dict[str, int]  # old object id -> the position of its schema (in the restore's order)
    keys: dict[str, str] = field(default_factory=dict)  # every snapshot object: old id -> its key
    key_schema: dict[str, str] = field(default_factory=dict)  # every snapshot object: old id -> schema key
    still_exist: list[str] = field(default_factory=list)
    closure_added: int = 0


def select_objects(
    schemas: Sequence[SchemaSource],
    scope: TypeScope,
    request: RestoreRequest,
    *,
    is_wanted: Callable[[int, JsonDict], bool] | None = None,
) -> ObjectSet:
    """Read the objects of the snapshots that the restore covers (and, for ``object_keys``, what they need).

    :param is_wanted: an extra filter (``recreate_missing``: only objects that no longer exist).
    """
    candidates: dict[str, JsonDict] = {}
    schema_of: dict[str, int] = {}
    asked = set(request.object_keys)
    keys: dict[str, str] = {}
    key_schema: dict[str, str] = {}
    held: set[str] = set()
    for index, schema in enumerate(schemas):
        for obj in schema.source.objects():
            keys[obj["id"]] = str(obj.get("objectKey") or obj["id"])
            key_schema[obj["id"]] = schema.old_key
            if obj.get("objectKey") in asked:
                held.add(str(obj.get("objectKey")))
            if not scope.includes(schema.old_key, str(obj.get("objectTypeId"))):
                continue
            if is_wanted is not None and not is_wanted(index, obj):
                continue
            candidates[obj["id"]] = obj
            schema_of[obj["id"]] = index
    if not request.object_keys:
        return ObjectSet(candidates, schema_of, keys, key_schema)
    by_key = {str(obj.get("objectKey")): object_id for object_id, obj in candidates.items()}
    chosen: list[str] = []
    missing: list[str] = []
    for index, key in enumerate(request.object_keys):
        if key in by_key:
            chosen.append(by_key[key])
        elif key not in held:
            raise RestoreParamError(f"object_keys[{index}]", f"{shown(key)} is not in the chosen snapshot")
        elif request.mode in IN_PLACE:
            missing.append(key)
        else:
            raise RestoreParamError(
                f"object_keys[{index}]",
                f"{shown(key)} is not of an object type this restore covers (object_types)",
            )
    selected = set(chosen)
    queue = list(chosen)
    while queue:
        for target in object_refs(candidates[queue.pop()]):
            if target in candidates and target not in selected:
                selected.add(target)
                queue.append(target)
    objects = {object_id: candidates[object_id] for object_id in candidates if object_id in selected}
    return ObjectSet(
        objects,
        {object_id: schema_of[object_id] for object_id in objects},
        keys,
        key_schema,
        still_exist=missing,
        closure_added=len(selected) - len(set(chosen)),
    )


@dataclass(frozen=True)
class EntryCounts:
    """How many comments, and how many objects with history, the selected objects of one schema have."""

    comments: int = 0
    history_comments: int = 0


def count_entries(
    schemas: Sequence[SchemaSource], selection: ObjectSet, request: RestoreRequest
) -> dict[str, EntryCounts]:
    """Read the comments and history the restore brings back, per schema key (what the plan counts)."""
    counts = {}
    for position, schema in enumerate(schemas):
        snapshot = schema.source
        mine = {old for old, owner in selection.schema_of.items() if owner == position}
        comments = history = 0
        if request.include_comments and snapshot.includes("comments"):
            comments = sum(1 for entry in snapshot.entries("comment") if str(entry.get("objectId")) in mine)
        if request.history_as_comments and snapshot.includes("history"):
            history = len({str(entry.get("objectId")) for entry in snapshot.entries("history")} & mine)
        counts[schema.old_key] = EntryCounts(comments, history)
    return counts

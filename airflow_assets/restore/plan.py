"""The restore plan: what will be created, in which order, and every warning; the dry run's output.

:func:`build_plan` is pure: it takes what the plan task read (the request, the schemas of the source
snapshots, the scope and selection, the target) as values and returns a frozen :class:`RestorePlan`. The plan
is stored with the restore before any write, and every later task runs its step from the stored plan
(:meth:`RestorePlan.from_dict`): the snapshots it pinned, each schema's new key and name, the object types.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_assets.restore.config_match import BY_CASE, BY_NAME, GlobalMatch, match_global
from airflow_assets.restore.directory import describe_person
from airflow_assets.restore.graph import cyclic_nodes
from airflow_assets.restore.hidden_characters import warn_hidden_characters
from airflow_assets.restore.integrity import SourceIntegrity
from airflow_assets.restore.request import NEW_SCHEMA, ROLLBACK, RestoreRequest, SchemaMapping
from airflow_assets.restore.restrictions import restrictions_of
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.scope import EntryCounts, ObjectSet, TypeScope, object_refs
from airflow_assets.restore.target import TargetSite
from airflow_assets.store.snapshots import Snapshot

JsonDict = dict[str, Any]
MAX_WARNINGS = 500


@dataclass(frozen=True)
class ObjectTypePlan:
    """One object type of a schema the restore covers (parents come first in :attr:`SchemaPlan.object_types`).

    :param type_id: the type's id in the snapshot.
    :param action: ``create``, or ``exists`` when the target schema has a type of that name.
    :param objects: how many of its objects the restore creates.
    """

    type_id: str
    name: str
    parent: str | None
    action: str
    objects: int

    def as_dict(self) -> JsonDict:
        """Return the object type's plan as JSON-compatible values."""
        return {
            "type_id": self.type_id,
            "name": self.name,
            "parent": self.parent,
            "action": self.action,
            "objects": self.objects,
        }


@dataclass(frozen=True)
class SchemaPlan:
    """What the restore does to one schema.

    :param index: the mapping's position in ``schema_mappings`` (for messages).
    :param old_key: the schema's key in the snapshot.
    :param new_key: the key the schema is restored under (the structure step creates it under this key).
    :param name: the name it gets (``new_schema``) or has (``recreate_missing``).
    :param snapshot_id: the snapshot it is restored from, pinned by the plan for every later task.
    :param snapshot: what the plan and report say of that snapshot.
    """

    index: int
    old_key: str
    new_key: str
    name: str
    snapshot_id: str
    snapshot: Mapping[str, Any]
    action: str
    object_types: tuple[ObjectTypePlan, ...]
    objects: int
    cyclic: int
    comments: int
    history_comments: int
    deferred_restrictions: tuple[str, ...]

    @property
    def type_ids(self) -> set[str]:
        """Return the ids (in the snapshot) of the object types the restore covers."""
        return {object_type.type_id for object_type in self.object_types}

    def as_dict(self) -> JsonDict:
        """Return the schema's plan as JSON-compatible values."""
        return {
            "index": self.index,
            "old_key": self.old_key,
            "new_key": self.new_key,
            "name": self.name,
            "snapshot_id": self.snapshot_id,
            "snapshot": dict(self.snapshot),
            "action": self.action,
            "object_types": [object_type.as_dict() for object_type in self.object_types],
            "objects": self.objects,
            "cyclic": self.cyclic,
            "comments": self.comments,
            "history_comments": self.history_comments,
            "deferred_restrictions": list(self.deferred_restrictions),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> SchemaPlan:
        """Return the schema's plan as :meth:`as_dict` stored it."""
        return cls(
            index=int(document["index"]),
            old_key=str(document["old_key"]),
            new_key=str(document["new_key"]),
            name=str(document["name"]),
            snapshot_id=str(document["snapshot_id"]),
            snapshot=dict(document.get("snapshot") or {}),
            action=str(document["action"]),
            object_types=tuple(
                ObjectTypePlan(
                    type_id=str(entry["type_id"]),
                    name=str(entry["name"]),
                    parent=entry.get("parent"),
                    action=str(entry["action"]),
                    objects=int(entry["objects"]),
                )
                for entry in document.get("object_types") or []
            ),
            objects=int(document["objects"]),
            cyclic=int(document["cyclic"]),
            comments=int(document["comments"]),
            history_comments=int(document["history_comments"]),
            deferred_restrictions=tuple(document.get("deferred_restrictions") or ()),
        )


@dataclass(frozen=True)
class PlanTarget:
    """The site a restore writes to.

    :param conn_id: its ``jira_assets`` connection.
    :param same_site: whether it is the site the snapshots were taken on.
    """

    conn_id: str
    site_url: str
    workspace_id: str
    same_site: bool

    def as_dict(self) -> JsonDict:
        """Return the target as JSON-compatible values."""
        return {
            "conn_id": self.conn_id,
            "site_url": self.site_url,
            "workspace_id": self.workspace_id,
            "same_site": self.same_site,
        }


@dataclass(frozen=True)
class RestorePlan:
    """The whole plan of a restore run; :attr:`schemas` are in :attr:`order` (referenced schemas first)."""

    restore_id: str
    mode: str
    dry_run: bool
    target: PlanTarget
    order: tuple[str, ...]
    schema_cycles: tuple[tuple[str, ...], ...]
    schemas: tuple[SchemaPlan, ...]
    pulled_in: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    warning_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def objects(self) -> int:
        """Return how many objects will be created."""
        return sum(schema.objects for schema in self.schemas)

    def as_dict(self) -> JsonDict:
        """Return the plan as JSON-compatible values (the first warnings listed, all counted)."""
        return {
            "restore_id": self.restore_id,
            "planned_at": datetime.now(UTC),
            "mode": self.mode,
            "dry_run": self.dry_run,
            "target": self.target.as_dict(),
            "order": list(self.order),
            "schema_cycles": [list(cycle) for cycle in self.schema_cycles],
            "schemas": [schema.as_dict() for schema in self.schemas],
            "pulled_in": list(self.pulled_in),
            "objects": self.objects,
            "warnings": list(self.warnings[:MAX_WARNINGS]),
            "warning_counts": dict(self.warning_counts),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> RestorePlan:
        """Return the plan as :meth:`as_dict` stored it (only the first warnings are listed there)."""
        target = document.get("target") or {}
        return cls(
            restore_id=str(document["restore_id"]),
            mode=str(document["mode"]),
            dry_run=bool(document["dry_run"]),
            target=PlanTarget(
                conn_id=str(target.get("conn_id") or ""),
                site_url=str(target.get("site_url") or ""),
                workspace_id=str(target.get("workspace_id") or ""),
                same_site=bool(target.get("same_site")),
            ),
            order=tuple(document.get("order") or ()),
            schema_cycles=tuple(tuple(cycle) for cycle in document.get("schema_cycles") or ()),
            schemas=tuple(SchemaPlan.from_dict(schema) for schema in document.get("schemas") or ()),
            pulled_in=tuple(document.get("pulled_in") or ()),
            warnings=tuple(document.get("warnings") or ()),
            warning_counts=dict(document.get("warning_counts") or {}),
        )

    def schema(self, old_key: str) -> SchemaPlan:
        """Return the plan of the schema with that key in the snapshot."""
        for schema in self.schemas:
            if schema.old_key == old_key:
                return schema
        raise KeyError(old_key)

    def describe(self) -> str:
        """Return the plan as the task log shows it."""
        lines = [
            f"Restore plan ({self.mode}{', DRY RUN: nothing will be written' if self.dry_run else ''}) "
            f"into {self.target.site_url} "
            f"({'same site' if self.target.same_site else 'migration'})",
            f"Order of schemas: {' -> '.join(self.order)}"
            + (f" (reference cycles: {[list(c) for c in self.schema_cycles]})" if self.schema_cycles else ""),
        ]
        for schema in self.schemas:
            snapshot = schema.snapshot
            lines.append(
                f"- {schema.old_key} -> {schema.new_key} ({schema.action}, name {schema.name!r}) "
                "from snapshot "
                f"{snapshot.get('snapshot_id')} taken {snapshot.get('taken_at')} ({snapshot.get('kind')})"
            )
            lines.append(
                f"  {schema.objects} objects ({schema.cyclic} on reference cycles: two calls each), "
                f"{schema.comments} comments, {schema.history_comments} history comments"
            )
            for object_type in schema.object_types:
                lines.append(f"    {object_type.name}: {object_type.action}, {object_type.objects} objects")
            if schema.deferred_restrictions:
                lines.append(f"  applied after the data: {', '.join(schema.deferred_restrictions)}")
        for reason in self.pulled_in:
            lines.append(f"pulled in: {reason}")
        if self.warnings:
            lines.append(f"{sum(self.warning_counts.values())} warnings:")
            lines.extend(f"  ! {warning}" for warning in self.warnings[:100])
            if len(self.warnings) > 100:
                lines.append(f"  ... {len(self.warnings) - 100} more in the stored plan")
        return "\n".join(lines)


class _Warnings:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.counts: Counter[str] = Counter()
        self._seen: set[str] = set()

    def add(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        if text not in self._seen and len(self.items) < MAX_WARNINGS:
            self._seen.add(text)
            self.items.append(text)


@dataclass(frozen=True)
class _Inputs:
    """What every part of the plan reads (kept together so the helpers take one argument)."""

    request: RestoreRequest
    schemas: Sequence[SchemaSource]
    scope: TypeScope
    selection: ObjectSet
    target: TargetSite
    entries: Mapping[str, EntryCounts]
    same_site: bool


def on_same_site(target: TargetSite, schemas: Sequence[SchemaSource]) -> bool:
    """Tell whether the target is the site the snapshots were taken on."""
    return target.workspace_id == schemas[0].source.snapshot.workspace_id


def build_plan(
    request: RestoreRequest,
    schemas: Sequence[SchemaSource],
    scope: TypeScope,
    selection: ObjectSet,
    target: TargetSite,
    *,
    entries: Mapping[str, EntryCounts] | None = None,
    restore_id: str,
    conn_id: str,
    cycles: Sequence[Sequence[str]] = (),
    integrity: SourceIntegrity | None = None,
) -> RestorePlan:
    """Return the plan of a restore from what was read (no I/O: every input is a value).

    :param schemas: the mapped schemas of the source snapshots, referenced schemas first.
    :param scope: the object types the restore covers.
    :param selection: the objects it creates.
    :param target: what was read of the target site (with the object types of the schemas it writes into).
    :param entries: per schema key, how many comments and history comments the selected objects have.
    :param restore_id: the restore's id.
    :param conn_id: the target's connection.
    :param cycles: the groups of schemas that reference each other.
    :param integrity: what the check of the source snapshots found (damaged ones lead the warnings).
    """
    same_site = on_same_site(target, schemas)
    inputs = _Inputs(request, schemas, scope, selection, target, entries or {}, same_site)
    warnings = _Warnings()
    for where in sorted({f"{where} -> object type {type_id}" for type_id, where in scope.external.items()}):
        warnings.add(
            "other schemas",
            f"references to a schema not restored ({where}): "
            + ("kept, pointing at the objects that exist" if same_site else "left empty on another site"),
        )
    if request.mode != ROLLBACK:  # a rollback compares the objects that exist and puts their values back
        for key in selection.still_exist:
            warnings.add("exists", f"{key} exists on the target: nothing to recreate")
    schema_plans = [_schema_plan(inputs, position, warnings) for position in range(len(schemas))]
    _config_warnings(inputs, warnings)
    _value_warnings(inputs, warnings)
    warn_hidden_characters([_Names.of(schema_plan) for schema_plan in schema_plans], warnings.add)
    items, counts = warnings.items, dict(warnings.counts)
    damaged = _damaged_lines(integrity)
    if damaged:
        assert integrity is not None
        items = damaged + items
        counts["damaged source"] = len(integrity.damaged)
    return RestorePlan(
        restore_id=restore_id,
        mode=request.mode,
        dry_run=request.dry_run,
        target=PlanTarget(
            conn_id=conn_id,
            site_url=target.site_url,
            workspace_id=target.workspace_id,
            same_site=same_site,
        ),
        order=tuple(schema.old_key for schema in schemas),
        schema_cycles=tuple(tuple(cycle) for cycle in cycles),
        schemas=tuple(schema_plans),
        pulled_in=tuple(scope.pulled_in),
        warnings=tuple(items),
        warning_counts=counts,
    )


def _damaged_lines(integrity: SourceIntegrity | None) -> list[str]:
    if integrity is None:
        return []
    return [
        line.strip()
        if line.startswith(" ")
        else f"{line}: accept_damaged is set, only what is sound is restored (the items below are left out)"
        for line in integrity.lines()
    ]


@dataclass
class _Names:
    """A planned schema's names, as :func:`warn_hidden_characters` reads them."""

    old_key: str
    name: str
    object_types: list[JsonDict]

    @classmethod
    def of(cls, schema_plan: SchemaPlan) -> _Names:
        return cls(
            schema_plan.old_key, schema_plan.name, [{"name": t.name} for t in schema_plan.object_types]
        )


def _schema_plan(inputs: _Inputs, position: int, warnings: _Warnings) -> SchemaPlan:
    request, selection, schema = inputs.request, inputs.selection, inputs.schemas[position]
    snapshot = schema.source
    mine = {old: obj for old, obj in selection.objects.items() if selection.schema_of[old] == position}
    per_type = Counter(str(obj.get("objectTypeId")) for obj in mine.values())
    mapping = request.mapping(schema.old_key)
    existing = inputs.target.schema(mapping.new_key)
    existing_types: set[str] = set()
    if existing is not None and request.mode != NEW_SCHEMA:
        existing_types = {
            str(t.get("name", "")).lower() for t in inputs.target.object_types_of.get(mapping.new_key, [])
        }
    object_types = []
    for type_id in schema.types_parent_first(inputs.scope.included.get(schema.old_key, set())):
        name = schema.type_name(type_id)
        parent = schema.object_types[type_id].get("parentObjectTypeId")
        object_types.append(
            ObjectTypePlan(
                type_id=type_id,
                name=name,
                parent=schema.type_name(parent) if parent else None,
                action="exists" if name.lower() in existing_types else "create",
                objects=per_type.get(type_id, 0),
            )
        )
    edges = {old: [r for r in object_refs(obj) if r in selection.objects] for old, obj in mine.items()}
    entries = inputs.entries.get(schema.old_key, EntryCounts())
    if request.include_comments and not snapshot.includes("comments"):
        warnings.add("no comments", f"{schema.old_key}: the snapshot did not back up comments")
    if request.history_as_comments and not snapshot.includes("history"):
        warnings.add("no history", f"{schema.old_key}: the snapshot did not back up history")
    if snapshot.snapshot.reconstructed:
        warnings.add("reconstructed source", f"{schema.old_key}: {reconstructed_note(snapshot.snapshot)}")
    if request.mode == NEW_SCHEMA:
        action = "create schema"
        restrictions = [r.name for r in restrictions_of([schema], inputs.scope)]
        name = new_schema_name(mapping, schema.schema.get("name"), same_site=inputs.same_site)
    else:
        action = f"existing schema {existing.get('id') if existing else '?'}"
        restrictions = []
        name = str((existing or {}).get("name", schema.schema.get("name")))
        if existing is not None and str(existing.get("id")) != snapshot.snapshot.schema_id:
            warnings.add(
                "schema replaced",
                f"{schema.old_key}: the schema on the target (id {existing.get('id')}) is not the "
                "one backed up "
                f"(id {snapshot.snapshot.schema_id}); objects are matched by id and may all "
                "count as missing",
            )
    return SchemaPlan(
        index=snapshot.index,
        old_key=schema.old_key,
        new_key=mapping.new_key,
        name=name,
        snapshot_id=snapshot.snapshot.snapshot_id,
        snapshot=snapshot.describe(),
        action=action,
        object_types=tuple(object_types),
        objects=len(mine),
        cyclic=len(cyclic_nodes(mine, edges)),
        comments=entries.comments,
        history_comments=entries.history_comments,
        deferred_restrictions=tuple(restrictions),
    )


def new_schema_name(mapping: SchemaMapping, backed_up_name: str | None, *, same_site: bool) -> str:
    """Return the name a ``new_schema`` restore gives a schema: the mapping's, else the one it was backed up
    with (and its new key, on the same site)."""
    if mapping.new_name:
        return mapping.new_name
    name = str(backed_up_name or mapping.new_key)
    if same_site and mapping.new_key != mapping.old_key:
        return f"{name} ({mapping.new_key})"
    return name


def reconstructed_note(snapshot: Snapshot) -> str:
    """Say that a snapshot was reconstructed by a backfill, quoting its fidelity report."""
    fidelity = snapshot.fidelity
    reasons = fidelity.get("not_exact_by_reason") or {}
    missing = (fidelity.get("missing_objects") or {}).get("labels") or []
    older = (fidelity.get("from_older_snapshot") or {}).get("count") or 0
    parts = [
        f"snapshot {snapshot.snapshot_id} was reconstructed (a backfill): the schema as of "
        f"{snapshot.state_at.isoformat() if snapshot.state_at else '?'}, rewound from snapshot "
        f"{fidelity.get('base_snapshot_id', '?')} by object history; "
        f"{fidelity.get('values_rewound', 0)} values rewound, {fidelity.get('not_exact', 0)} not exactly"
    ]
    if reasons:
        parts.append(" (" + "; ".join(f"{count} {reason}" for reason, count in sorted(reasons.items())) + ")")
    if missing:
        shown = ", ".join(str(label) for label in missing[:10])
        parts.append(f"; {len(missing)} objects it referenced are missing (deleted since: {shown})")
    if older:
        parts.append(f"; {older} objects taken from an older snapshot")
    parts.append("; configuration, comment texts and connected tickets are as in the base snapshot")
    return "".join(parts)


def _config_warnings(inputs: _Inputs, warnings: _Warnings) -> None:
    target = inputs.target
    for schema in inputs.schemas:
        for kind, items, target_items in (
            ("status", schema.global_status_types, target.global_status_types),
            ("reference type", schema.global_reference_types, target.global_reference_types),
        ):
            for item in items:
                _global_warning(kind, item, match_global(item, target_items, same_site=inputs.same_site),
                                warnings)  # fmt: skip
        if inputs.same_site:
            continue
        for type_id in inputs.scope.included.get(schema.old_key, set()):
            icon = schema.object_types[type_id].get("icon") or {}
            if icon.get("name") not in target.icons:
                warnings.add(
                    "icon",
                    f"{schema.old_key}/{schema.type_name(type_id)}: icon {icon.get('name')!r} not found",
                )


def _global_warning(kind: str, item: JsonDict, match: GlobalMatch | None, warnings: _Warnings) -> None:
    name = item.get("name")
    if match is None:
        warnings.add(
            f"{kind} missing", f"global {kind} {name!r} is not on the target: created there as a global one"
        )
    elif match.how == BY_CASE:
        warnings.add(
            f"{kind} by case",
            f"global {kind} {name!r} is not on the target; its {match.target.get('name')!r} (id "
            f"{match.target_id}) differs in case only and is used (the site refuses a second such name)",
        )
    elif match.how == BY_NAME:
        warnings.add(
            f"{kind} by name", f"global {kind} {name!r} mapped by name to the target's id {match.target_id}"
        )


def _value_warnings(inputs: _Inputs, warnings: _Warnings) -> None:
    directory, selection = inputs.target.directory, inputs.selection
    # A new schema's reference attributes point at the rebuilt types: objects left behind cannot fill them.
    request_new_types = inputs.request.mode == NEW_SCHEMA or not inputs.same_site
    for obj in selection.objects.values():
        for attribute in obj.get("attributes") or []:
            for value in attribute.get("values") or []:
                if "user" in value:
                    match = directory.user(value.get("user"))
                    person = describe_person(value.get("user"))
                    if match.account_id is None:
                        warnings.add(
                            "user missing", f"user {person} is not on the target ({match.how}): left empty"
                        )
                    elif match.how != "account id":
                        warnings.add("user by " + match.how, f"user {person} matched by {match.how}")
                elif "groupName" in value and directory.group(value.get("groupName")) is None:
                    warnings.add(
                        "group missing", f"group {value.get('groupName')} is not on the target: left empty"
                    )
                elif "referencedObjectId" in value:
                    referenced = str(value["referencedObjectId"])
                    if referenced in selection.objects:
                        continue
                    restored_in = _restored_type(attribute, inputs.schemas)
                    if referenced not in selection.keys and restored_in is not None:
                        warnings.add(
                            "snapshot gap",
                            f"{obj.get('objectKey')} references object {referenced}, which is not in the "
                            f"chosen snapshot of {restored_in}"
                            + (": left empty" if request_new_types else " (kept if it exists on the target)"),
                        )
                    elif not inputs.same_site:
                        warnings.add(
                            "reference outside",
                            f"{obj.get('objectKey')} references "
                            f"{selection.keys.get(referenced, referenced)}, "
                            "which this restore does not create: left empty on another site",
                        )


def _restored_type(attribute: JsonDict, schemas: Iterable[SchemaSource]) -> str | None:
    """Return the schema key a reference attribute's target type belongs to, if that schema is restored."""
    attribute_id = str(attribute.get("objectTypeAttributeId"))
    schemas = list(schemas)
    for schema in schemas:
        definition = schema.attributes.get(attribute_id)
        if definition is None:
            continue
        target_type = definition.get("referenceObjectTypeId")
        for other in schemas:
            if target_type in other.object_types:
                return other.old_key
    return None

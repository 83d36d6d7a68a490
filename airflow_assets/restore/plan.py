"""The restore plan: what will be created, in which order, and every warning; the dry run's output.

It is built from reads only (the snapshots and the target) and stored with the restore before any write.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_assets.restore.config_match import BY_CASE, BY_NAME, GlobalMatch, match_global
from airflow_assets.restore.directory import describe_person
from airflow_assets.restore.graph import cyclic_nodes
from airflow_assets.restore.hidden_characters import warn_hidden_characters
from airflow_assets.restore.request import NEW_SCHEMA
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.scope import object_refs
from airflow_assets.restore.structure import new_schema_name, restrictions_of
from airflow_assets.store.snapshots import Snapshot

if TYPE_CHECKING:
    from airflow_assets.restore.session import RestoreSession

JsonDict = dict[str, Any]
MAX_WARNINGS = 500


@dataclass
class SchemaPlan:
    """What the restore does to one schema."""

    old_key: str
    new_key: str
    name: str
    snapshot: JsonDict
    action: str
    object_types: list[JsonDict]
    objects: int
    cyclic: int
    comments: int
    history_comments: int
    deferred_restrictions: list[str]

    def as_dict(self) -> JsonDict:
        """Return the schema's plan as JSON-compatible values."""
        return dict(self.__dict__)


@dataclass
class RestorePlan:
    """The whole plan of a restore run."""

    restore_id: str
    mode: str
    dry_run: bool
    target: JsonDict
    order: list[str]
    schema_cycles: list[list[str]]
    schemas: list[SchemaPlan]
    pulled_in: list[str]
    warnings: list[str] = field(default_factory=list)
    warning_counts: dict[str, int] = field(default_factory=dict)

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
            "target": self.target,
            "order": self.order,
            "schema_cycles": self.schema_cycles,
            "schemas": [schema.as_dict() for schema in self.schemas],
            "pulled_in": self.pulled_in,
            "objects": self.objects,
            "warnings": self.warnings[:MAX_WARNINGS],
            "warning_counts": self.warning_counts,
        }

    def describe(self) -> str:
        """Return the plan as the task log shows it."""
        lines = [
            f"Restore plan ({self.mode}{', DRY RUN: nothing will be written' if self.dry_run else ''}) "
            f"into {self.target.get('site_url')} "
            f"({'same site' if self.target.get('same_site') else 'migration'})",
            f"Order of schemas: {' -> '.join(self.order)}"
            + (f" (reference cycles: {self.schema_cycles})" if self.schema_cycles else ""),
        ]
        for schema in self.schemas:
            snap = schema.snapshot
            lines.append(
                f"- {schema.old_key} -> {schema.new_key} ({schema.action}, name {schema.name!r}) "
                "from snapshot "
                f"{snap.get('snapshot_id')} taken {snap.get('taken_at')} ({snap.get('kind')})"
            )
            lines.append(
                f"  {schema.objects} objects ({schema.cyclic} on reference cycles: two calls each), "
                f"{schema.comments} comments, {schema.history_comments} history comments"
            )
            for object_type in schema.object_types:
                lines.append(
                    f"    {object_type['name']}: {object_type['action']}, {object_type['objects']} objects"
                )
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


def build_plan(session: RestoreSession, cycles: list[list[str]]) -> RestorePlan:
    """Build the plan of a session (reads only)."""
    request, target, scope, selection = session.request, session.target, session.scope, session.selection
    same_site = session.same_site
    warnings = _Warnings()
    for where in sorted({f"{where} -> object type {type_id}" for type_id, where in scope.external.items()}):
        warnings.add(
            "other schemas",
            f"references to a schema not restored ({where}): "
            + ("kept, pointing at the objects that exist" if same_site else "left empty on another site"),
        )
    for key in selection.still_exist:
        warnings.add("exists", f"{key} exists on the target: nothing to recreate")
    schemas = [_schema_plan(session, source, warnings) for source in session.sources]
    _config_warnings(session, warnings)
    _value_warnings(session, warnings)
    warn_hidden_characters(schemas, warnings.add)
    return RestorePlan(
        restore_id=session.settings.restore_id,
        mode=request.mode,
        dry_run=request.dry_run,
        target={
            "conn_id": session.settings.target_conn_id,
            "site_url": target.site_url,
            "workspace_id": target.workspace_id,
            "same_site": same_site,
        },
        order=[source.old_key for source in session.sources],
        schema_cycles=cycles,
        schemas=schemas,
        pulled_in=list(scope.pulled_in),
        warnings=warnings.items,
        warning_counts=dict(warnings.counts),
    )


def _schema_plan(session: RestoreSession, source: SchemaSource, warnings: _Warnings) -> SchemaPlan:
    request, selection = session.request, session.selection
    index = session.sources.index(source)
    mine = {old: obj for old, obj in selection.objects.items() if selection.source_of[old] == index}
    per_type = Counter(str(obj.get("objectTypeId")) for obj in mine.values())
    existing = session.target.schema(source.new_key)
    existing_types: set[str] = set()
    if existing is not None and request.mode != NEW_SCHEMA:
        existing_types = {
            str(t.get("name", "")).lower() for t in session.client.get_object_types(str(existing["id"]))
        }
    object_types = []
    for type_id in source.types_parent_first(session.scope.included.get(source.old_key, set())):
        name = source.type_name(type_id)
        object_types.append(
            {
                "name": name,
                "parent": source.type_name(source.object_types[type_id]["parentObjectTypeId"])
                if source.object_types[type_id].get("parentObjectTypeId")
                else None,
                "action": "exists" if name.lower() in existing_types else "create",
                "objects": per_type.get(type_id, 0),
            }
        )
    edges = {old: [r for r in object_refs(obj) if r in selection.objects] for old, obj in mine.items()}
    comments = history = 0
    if request.include_comments and source.source.includes("comments"):
        comments = sum(1 for entry in source.source.entries("comment") if str(entry.get("objectId")) in mine)
    if request.history_as_comments and source.source.includes("history"):
        history = len({str(e.get("objectId")) for e in source.source.entries("history")} & set(mine))
    if request.include_comments and not source.source.includes("comments"):
        warnings.add("no comments", f"{source.old_key}: the snapshot did not back up comments")
    if request.history_as_comments and not source.source.includes("history"):
        warnings.add("no history", f"{source.old_key}: the snapshot did not back up history")
    if source.source.snapshot.reconstructed:
        warnings.add(
            "reconstructed source", f"{source.old_key}: {reconstructed_note(source.source.snapshot)}"
        )
    if request.mode == NEW_SCHEMA:
        action = "create schema"
        restrictions = [r.name for r in restrictions_of([source], session.scope)]
    else:
        action = f"existing schema {existing.get('id') if existing else '?'}"
        restrictions = []
        if existing is not None and str(existing.get("id")) != source.source.snapshot.schema_id:
            warnings.add(
                "schema replaced",
                f"{source.old_key}: the schema on the target (id {existing.get('id')}) is not the "
                "one backed up "
                f"(id {source.source.snapshot.schema_id}); objects are matched by id and may all "
                "count as missing",
            )
    return SchemaPlan(
        old_key=source.old_key,
        new_key=source.new_key,
        name=new_schema_name(source, same_site=session.same_site)
        if request.mode == NEW_SCHEMA
        else str((existing or {}).get("name", source.schema.get("name"))),
        snapshot=source.source.describe(),
        action=action,
        object_types=object_types,
        objects=len(mine),
        cyclic=len(cyclic_nodes(mine, edges)),
        comments=comments,
        history_comments=history,
        deferred_restrictions=restrictions,
    )


def reconstructed_note(snapshot: Snapshot) -> str:
    """Say that a snapshot was reconstructed by a backfill, quoting its fidelity report."""
    fidelity = snapshot.document.get("fidelity") or {}
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


def _config_warnings(session: RestoreSession, warnings: _Warnings) -> None:
    target = session.target
    for source in session.sources:
        for kind, items, target_items in (
            ("status", source.global_status_types, target.global_status_types),
            ("reference type", source.global_reference_types, target.global_reference_types),
        ):
            for item in items:
                _global_warning(kind, item, match_global(item, target_items, same_site=session.same_site),
                                warnings)  # fmt: skip
        if session.same_site:
            continue
        for type_id in session.scope.included.get(source.old_key, set()):
            icon = source.object_types[type_id].get("icon") or {}
            if icon.get("name") not in target.icons:
                warnings.add(
                    "icon",
                    f"{source.old_key}/{source.type_name(type_id)}: icon {icon.get('name')!r} not found",
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


def _value_warnings(session: RestoreSession, warnings: _Warnings) -> None:
    directory, selection = session.target.directory, session.selection
    # A new schema's reference attributes point at the rebuilt types: objects left behind cannot fill them.
    request_new_types = session.request.mode == NEW_SCHEMA or not session.same_site
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
                    target = str(value["referencedObjectId"])
                    if target in selection.objects:
                        continue
                    if target not in selection.keys and _restored_type(attribute, session) is not None:
                        warnings.add(
                            "snapshot gap",
                            f"{obj.get('objectKey')} references object {target}, which is not in the chosen "
                            f"snapshot of {_restored_type(attribute, session)}"
                            + (": left empty" if request_new_types else " (kept if it exists on the target)"),
                        )
                    elif not session.same_site:
                        warnings.add(
                            "reference outside",
                            f"{obj.get('objectKey')} references {selection.keys.get(target, target)}, "
                            "which this restore does not create: left empty on another site",
                        )


def _restored_type(attribute: JsonDict, session: RestoreSession) -> str | None:
    """Return the schema key a reference attribute's target type belongs to, if that schema is restored."""
    attribute_id = str(attribute.get("objectTypeAttributeId"))
    for source in session.sources:
        definition = source.attributes.get(attribute_id)
        if definition is None:
            continue
        target_type = definition.get("referenceObjectTypeId")
        for other in session.sources:
            if target_type in other.object_types:
                return other.old_key
    return None

"""What a restore run was asked to do: the DAG's params parsed once into a typed :class:`RestoreRequest`.

The DAG's Param schema already refuses malformed input at trigger time; this module checks what a JSON
schema cannot (combinations, duplicates, key formats) and names the parameter in every message, so the
first task fails before any write.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.messages import cut, shown
from airflow_assets.restore.mapping_text import (
    EXAMPLE,
    MappingEntry,
    MappingTextError,
    mapping_entries,
    read_line,
)

NEW_SCHEMA = "new_schema"
RECREATE_MISSING = "recreate_missing"
ROLLBACK = "rollback"
MODES = (NEW_SCHEMA, RECREATE_MISSING, ROLLBACK)
IN_PLACE = (RECREATE_MISSING, ROLLBACK)  # the modes that write into the existing schema, on its own site
LATEST = "latest"
KEEP, SNAPSHOT = "keep", "snapshot"
ON_CONFLICT = (KEEP, SNAPSHOT)

# Assets schema keys: upper-case letters and digits, starting with a letter (2-10 characters on Cloud).
SCHEMA_KEY = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
OBJECT_KEY = re.compile(r"^([A-Z][A-Z0-9]{1,9})-([0-9]+)$")
# Airflow's connection ids: letters, digits, "_", "." and "-", at most 250 characters.
CONN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
# Characters Assets refuses in schema and object type names.
FORBIDDEN_NAME_CHARS = set('=;:?."')


class RestoreParamError(AssetsConfigError):
    """A restore parameter is invalid; nothing was written.

    :param param: the parameter, as the trigger form names it (e.g. ``schema_mappings[1].new_key``).
    :param message: what is wrong and what to do.
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        self.message = message
        super().__init__(f"parameter {param}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.param, self.message))


@dataclass(frozen=True)
class SchemaMapping:
    """One schema to restore: the key it had in the snapshot, and the key and name it gets.

    :param old_key: the key the schema had when it was backed up.
    :param new_key: the key to restore it under (``old_key`` in ``recreate_missing``).
    :param new_name: the name of a schema created by ``new_schema`` (None: the snapshot's name, with
        " (restored)" when the key changes on the same site).
    """

    old_key: str
    new_key: str
    new_name: str | None = None


@dataclass(frozen=True)
class SnapshotChoice:
    """Which snapshot of each schema: the latest, one by id, or the latest taken at or before a moment."""

    latest: bool = False
    snapshot_id: str | None = None
    at: datetime | None = None

    def describe(self) -> str:
        """Return the choice as the form shows it."""
        if self.latest:
            return LATEST
        if self.at is not None:
            return f"latest at or before {self.at.isoformat()}"
        return f"snapshot {self.snapshot_id}"


@dataclass(frozen=True)
class RollbackScope:
    """What a ``rollback`` puts back, beyond the object filters.

    :param changed_by: account ids or display names: only their changes go back (empty: anybody's).
    :param changed_from: only changes made at or after this moment (None: open).
    :param changed_to: only changes made at or before this moment (None: open).
    :param on_conflict: ``keep``: an attribute changed in the window and again later by someone else is
        listed and left; ``snapshot``: it goes back to the snapshot's value too.
    :param delete_created: delete the objects created since the snapshot (or, with a window, in it).
    :param aql: an AQL filter evaluated on the live site: only the objects it finds are compared.
    :param relink_issues: point the Jira issues that named a recreated object at it again.
    """

    changed_by: tuple[str, ...] = ()
    changed_from: datetime | None = None
    changed_to: datetime | None = None
    on_conflict: str = KEEP
    delete_created: bool = False
    aql: str | None = None
    relink_issues: bool = False

    @property
    def windowed(self) -> bool:
        """Tell whether only some changes go back (by account or time), read from history."""
        return bool(self.changed_by) or self.changed_from is not None or self.changed_to is not None

    def as_dict(self) -> dict[str, Any]:
        """Return the scope as JSON-compatible values (stored with the plan)."""
        return {
            "changed_by": list(self.changed_by),
            "changed_from": self.changed_from.isoformat() if self.changed_from else None,
            "changed_to": self.changed_to.isoformat() if self.changed_to else None,
            "on_conflict": self.on_conflict,
            "delete_created": self.delete_created,
            "aql": self.aql,
            "relink_issues": self.relink_issues,
        }


@dataclass(frozen=True)
class RestoreRequest:
    """A restore run's parameters, checked.

    :param snapshot: which snapshot of each schema.
    :param mappings: the schemas to restore.
    :param mode: ``new_schema`` or ``recreate_missing``.
    :param source_site: the config's site the snapshots come from (None: the only site with the key).
    :param target_conn_id: the ``jira_assets`` connection to restore into (None: the source site's).
    :param object_types: only these object types (by name; the plan adds what they need).
    :param object_keys: only these objects (by their key in the snapshot).
    :param include_comments: restore comments as comments naming their author and time.
    :param history_as_comments: add one comment per object with its history.
    :param dry_run: plan and report, write nothing.
    :param accept_damaged: restore what is sound of a damaged snapshot and report the rest (default:
        a damaged snapshot is refused before any write).
    :param rollback: what a ``rollback`` puts back (its window, conflicts, deletions); also
        ``relink_issues`` of ``recreate_missing``.
    """

    snapshot: SnapshotChoice
    mappings: tuple[SchemaMapping, ...]
    mode: str = NEW_SCHEMA
    source_site: str | None = None
    target_conn_id: str | None = None
    object_types: tuple[str, ...] = ()
    object_keys: tuple[str, ...] = ()
    include_comments: bool = True
    history_as_comments: bool = False
    dry_run: bool = True
    accept_damaged: bool = False
    rollback: RollbackScope = field(default_factory=RollbackScope)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def mapping(self, old_key: str) -> SchemaMapping:
        """Return the mapping of a schema key of the snapshot."""
        for mapping in self.mappings:
            if mapping.old_key == old_key:
                return mapping
        raise KeyError(old_key)

    def as_dict(self) -> dict[str, Any]:
        """Return the request as JSON-compatible values (stored with the plan)."""
        return {
            "snapshot": self.snapshot.describe(),
            "schema_mappings": [
                {"old_key": m.old_key, "new_key": m.new_key, "new_name": m.new_name} for m in self.mappings
            ],
            "mode": self.mode,
            "source_site": self.source_site,
            "target_conn_id": self.target_conn_id,
            "object_types": list(self.object_types),
            "object_keys": list(self.object_keys),
            "include_comments": self.include_comments,
            "history_as_comments": self.history_as_comments,
            "dry_run": self.dry_run,
            "accept_damaged": self.accept_damaged,
            "rollback": self.rollback.as_dict(),
        }


def parse_request(params: Mapping[str, Any]) -> RestoreRequest:
    """Turn a run's params into a :class:`RestoreRequest`.

    :raises RestoreParamError: the first invalid parameter, named.
    """
    mode = _text(params, "mode", NEW_SCHEMA)
    if mode not in MODES:
        raise RestoreParamError("mode", f"must be one of {', '.join(MODES)}, not {shown(mode)}")
    snapshot = parse_snapshot(params.get("snapshot", LATEST))
    mappings = _mappings(params.get("schema_mappings"), mode)
    object_types = _names(params, "object_types")
    object_keys = _names(params, "object_keys")
    old_keys = {m.old_key for m in mappings}
    for index, key in enumerate(object_keys):
        match = OBJECT_KEY.match(key)
        if match is None:
            raise RestoreParamError(
                f"object_keys[{index}]", f"{shown(key)} is not an object key like ITAM-42"
            )
        if match.group(1) not in old_keys:
            raise RestoreParamError(
                f"object_keys[{index}]",
                f"{key} belongs to schema {match.group(1)}, which schema_mappings does not restore "
                f"(it restores {', '.join(sorted(old_keys))})",
            )
    for index, name in enumerate(object_types):
        if not name.strip():
            raise RestoreParamError(f"object_types[{index}]", "an object type name may not be empty")
    rollback = _rollback_scope(params, mode, snapshot)
    if mode == ROLLBACK and snapshot.latest and rollback.changed_from is not None:
        # The values from before the window: a snapshot taken during it already holds some of its changes.
        snapshot = SnapshotChoice(at=rollback.changed_from)
    return RestoreRequest(
        snapshot=snapshot,
        mappings=mappings,
        mode=mode,
        source_site=_optional_text(params, "source_site"),
        target_conn_id=_conn_id(params, "target_conn_id"),
        object_types=object_types,
        object_keys=object_keys,
        include_comments=_flag(params, "include_comments", True),
        history_as_comments=_flag(params, "history_as_comments", False),
        dry_run=_flag(params, "dry_run", True),
        accept_damaged=_flag(params, "accept_damaged", False),
        rollback=rollback,
    )


def _rollback_scope(params: Mapping[str, Any], mode: str, snapshot: SnapshotChoice) -> RollbackScope:
    """Read the rollback fields; refuse them in a mode that would ignore them."""
    scope = RollbackScope(
        changed_by=_names(params, "changed_by"),
        changed_from=_moment(params, "changed_from"),
        changed_to=_moment(params, "changed_to"),
        on_conflict=_text(params, "on_conflict", KEEP) or KEEP,
        delete_created=_flag(params, "delete_created", False),
        aql=_optional_text(params, "aql"),
        relink_issues=_flag(params, "relink_issues", False),
    )
    if scope.on_conflict not in ON_CONFLICT:
        raise RestoreParamError(
            "on_conflict", f"must be {' or '.join(ON_CONFLICT)}, not {shown(scope.on_conflict)}"
        )
    if mode != ROLLBACK:
        given = [
            name
            for name, value in (
                ("changed_by", scope.changed_by),
                ("changed_from", scope.changed_from),
                ("changed_to", scope.changed_to),
                ("delete_created", scope.delete_created),
                ("aql", scope.aql),
                ("on_conflict", scope.on_conflict != KEEP),
            )
            if value
        ]
        if given:
            raise RestoreParamError(given[0], f"only mode rollback uses it (this run's mode is {mode})")
        if scope.relink_issues and mode != RECREATE_MISSING:
            raise RestoreParamError(
                "relink_issues", "only modes rollback and recreate_missing recreate objects issues can name"
            )
        return scope
    if scope.changed_from and scope.changed_to and scope.changed_from > scope.changed_to:
        raise RestoreParamError(
            "changed_to",
            f"{scope.changed_to.isoformat()} is before changed_from ({scope.changed_from.isoformat()})",
        )
    if scope.changed_by and scope.changed_from is None and snapshot.latest:
        raise RestoreParamError(
            "changed_from",
            "with changed_by, say from when (changed_from) or which snapshot to return to (snapshot): "
            "the latest snapshot may already hold the changes to undo",
        )
    if scope.changed_from is not None and snapshot.at is not None and snapshot.at > scope.changed_from:
        raise RestoreParamError(
            "snapshot",
            f"{snapshot.at.isoformat()} is after changed_from ({scope.changed_from.isoformat()}): the "
            "snapshot must hold the values from before the window",
        )
    return scope


def _moment(params: Mapping[str, Any], name: str) -> datetime | None:
    text = _optional_text(params, name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RestoreParamError(
            name, f"{shown(text)} is not an ISO 8601 timestamp such as 2026-12-07T09:30:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_snapshot(raw: Any) -> SnapshotChoice:
    """Read the ``snapshot`` parameter: ``latest``, a snapshot id, or an ISO 8601 timestamp."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", LATEST)):
        return SnapshotChoice(latest=True)
    if not isinstance(raw, str):
        raise RestoreParamError(
            "snapshot", f"must be 'latest', a snapshot id or a timestamp, not {shown(raw)}"
        )
    text = raw.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$", text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RestoreParamError(
                "snapshot", f"{shown(text)} looks like a timestamp but is not a valid one"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return SnapshotChoice(at=moment)
    if text.count(":") < 2:
        raise RestoreParamError(
            "snapshot",
            f"{shown(text)} is neither 'latest', a snapshot id (<workspace>:<schema id>:<run id>, "
            "see `airflow-assets snapshots list`) nor an ISO timestamp such as 2026-11-30T02:00:00Z",
        )
    return SnapshotChoice(snapshot_id=text)


def _mappings(raw: Any, mode: str) -> tuple[SchemaMapping, ...]:
    """Read ``schema_mappings``: lines ``OLD -> NEW "name"``, a list of them, or a JSON list of objects."""
    try:
        entries = mapping_entries(raw)
    except MappingTextError as error:
        raise RestoreParamError(error.where, error.message) from None
    if not entries:
        raise RestoreParamError("schema_mappings", f"list at least one schema, one per line, e.g. {EXAMPLE}")
    mappings = [_mapping(entry, mode) for entry in entries]
    for attribute in ("old_key", "new_key"):
        seen: dict[str, str] = {}
        for entry, mapping in zip(entries, mappings, strict=True):
            value = getattr(mapping, attribute)
            where = entry.where if entry.line is not None else f"{entry.where}.{attribute}"
            if value in seen:
                raise RestoreParamError(where, f"{cut(value)} is listed twice (also in {seen[value]})")
            seen[value] = entry.where
    return tuple(mappings)


def _mapping(entry: MappingEntry, mode: str) -> SchemaMapping:
    """Check one mapping; a line's errors name the line and quote it."""
    line = entry.line
    if line is not None:
        try:
            fields: Mapping[str, Any] = read_line(line, entry.where)
        except MappingTextError as error:
            raise RestoreParamError(error.where, error.message) from None
    elif isinstance(entry.value, Mapping):
        fields = entry.value
    else:
        raise RestoreParamError(
            entry.where, f"must be a line like {EXAMPLE} or an object {{old_key, new_key, new_name}}"
        )

    def refuse(name: str, message: str) -> RestoreParamError:
        if line is None:
            return RestoreParamError(f"{entry.where}.{name}", message)
        return RestoreParamError(entry.where, f"{shown(line)}: {message}")

    unknown = set(fields) - {"old_key", "new_key", "new_name"}
    if unknown:
        raise RestoreParamError(entry.where, f"unknown field(s) {cut(', '.join(sorted(map(str, unknown))))}")
    old_key = _key(fields.get("old_key"), "old_key", refuse, required=True)
    new_key = _key(fields.get("new_key"), "new_key", refuse, required=False)
    new_name = fields.get("new_name")
    if new_name is not None and not isinstance(new_name, str):
        raise refuse("new_name", "must be text")
    new_name = (new_name or "").strip() or None
    if mode in IN_PLACE:
        if new_key not in (None, old_key):
            raise refuse(
                "new_key",
                f"{mode} restores into the existing schema {old_key}: leave new_key empty or "
                f"set it to {old_key} (use mode new_schema to restore into {new_key})",
            )
        if new_name is not None:
            raise refuse("new_name", f"{mode} keeps the existing schema's name: leave new_name empty")
        new_key = old_key
    elif new_key is None:
        suggestion = f"{old_key}2"[:10]
        raise refuse(
            "new_key", f"new_schema creates a schema: give the key it gets, e.g. {old_key} -> {suggestion}"
        )
    if new_name is not None:
        bad = sorted(set(new_name) & FORBIDDEN_NAME_CHARS)
        if bad:
            raise refuse("new_name", f"may not contain {' '.join(bad)}")
    assert old_key is not None and new_key is not None
    return SchemaMapping(old_key, new_key, new_name)


def _key(
    raw: Any, name: str, refuse: Callable[[str, str], RestoreParamError], *, required: bool
) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise refuse(name, "is required")
        return None
    if not isinstance(raw, str) or not SCHEMA_KEY.match(raw.strip()):
        raise refuse(
            name,
            f"{shown(raw)} is not a schema key (2-10 upper-case letters and digits, starting with a letter)",
        )
    return raw.strip()


def _text(params: Mapping[str, Any], name: str, default: str) -> str:
    value = params.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise RestoreParamError(name, f"must be text, not {shown(value)}")
    return value.strip()


def _optional_text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RestoreParamError(name, f"must be text, not {shown(value)}")
    return value.strip() or None


def _conn_id(params: Mapping[str, Any], name: str) -> str | None:
    value = _optional_text(params, name)
    if value is not None and not CONN_ID.match(value):
        raise RestoreParamError(
            name, f"{shown(value)} is not a connection id (letters, digits, '_', '.' and '-', at most 250)"
        )
    return value


def _flag(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RestoreParamError(name, f"must be true or false, not {shown(value)}")
    return value


def _names(params: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = params.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, Sequence) or any(not isinstance(item, str) for item in value):
        raise RestoreParamError(name, "must be a list of text")
    names = [item.strip() for item in value]
    seen: set[str] = set()
    for index, item in enumerate(names):
        if item in seen:
            raise RestoreParamError(f"{name}[{index}]", f"{shown(item)} is listed twice")
        seen.add(item)
    return tuple(names)

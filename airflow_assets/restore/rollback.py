"""Roll a live schema back to a snapshot of it, in place: a ``rollback``'s plan, writes and check.

The comparison is :mod:`airflow_assets.restore.rollback_diff`'s: one paged read of the live schema, objects
matched by id, equal content hashes costing nothing. This module decides what of the differences goes back,
stores every change of the plan (one JSON line per object not unchanged, in the restore's files: what
``airflow-assets restores show ID --changes`` lists), and later writes them:

- a changed object gets one ``PUT object/{id}`` holding only the attributes that go back, built from the
  snapshot; before each batch of writes the objects are read again (one AQL request per batch), and an object
  whose attributes no longer hold what the plan saw is left alone and reported (someone changed it since);
- every write goes through the ledger: an intent before the ``PUT``, its completion after. A resumed run skips
  what completed and reads again what was open: an object that already holds the snapshot's values is done
  without a second write;
- objects created since are deleted only with ``delete_created`` (through the ledger too);
- objects deleted since are created again by the restore's object step (as ``recreate_missing``); the
  references of live objects to them come back through these ``PUT`` bodies, with the new ids.

With ``changed_by`` / ``changed_from`` / ``changed_to`` only the attributes changed in that window by those
accounts go back (:mod:`airflow_assets.restore.rollback_window`), read from the history of the backup taken
at the start of the run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.exceptions import AssetsBadRequestError
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.ledger import Created, Ledger
from airflow_assets.restore.request import RestoreParamError, RestoreRequest, RollbackScope
from airflow_assets.restore.rollback_diff import (
    CHANGED,
    CREATED_SINCE,
    DELETED_SINCE,
    AttributeChange,
    DiffFilter,
    ObjectChange,
    Rewrite,
    diff_schema,
    in_place_maps,
)
from airflow_assets.restore.rollback_window import (
    ChangeWindow,
    classify_stored,
    created_in_window,
    creation,
    load_entries,
)
from airflow_assets.restore.values import ValueMaps
from airflow_assets.store.layout import CONFIG_KINDS
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]

CHANGES_FILE = "changes.jsonl"
FIRST_LISTED = 50

# What happens to an object that is not unchanged.
PUT = "put"  # some of its attributes go back
RECREATE = "recreate"  # deleted since: created again (new id and key)
DELETE = "delete"  # created since: deleted (delete_created)
KEEP = "keep"  # listed only: nothing goes back (conflicts, other accounts' changes, created since...)


# -- the value maps ------------------------------------------------------------------------------------


def rollback_maps(
    config: SchemaConfig,
    live_attribute_ids: Collection[str],
    *,
    attributes: Mapping[str, str] | None = None,
    created: Mapping[str, Created] | None = None,
) -> ValueMaps:
    """Return the value maps of a rollback: ids stay, except what the rollback created again.

    :param config: the snapshot's configuration.
    :param live_attribute_ids: the attributes that exist live (they map to themselves).
    :param attributes: snapshot attribute id -> live id of an attribute deleted since and created again (or
        itself, in the plan: an attribute deleted since is compared as if it held nothing live).
    :param created: snapshot object id -> what it was created again as: references to it are sent (and
        compared) as its new id.
    """
    objects = dict(created or {})

    def reference(object_id: str) -> str | None:
        done = objects.get(object_id)
        return done.new_id if done is not None else object_id

    return in_place_maps(config, live_attribute_ids, reference, recreated=attributes)


# -- the plan --------------------------------------------------------------------------------------------


@dataclass
class SchemaRollback:
    """The rollback plan of one schema: counts per object type, the first changes, where the rest is.

    :param old_key: the schema's key.
    :param schema_id: the live schema (the snapshot's).
    :param snapshot_id: the state it goes back to.
    :param history_snapshot_id: the snapshot whose history decided a window (None: no window).
    :param per_type: object type name -> counts (``put_back``, ``recreate``, ``delete``, ``conflicts``,
        ``kept_created``, ``kept_deleted``, ``left``), and ``attributes``: attribute name -> objects
        getting it back.
    :param first_changes: the first changes, old -> new values.
    :param conflicts: the first conflicts, with who changed the attribute later.
    :param totals: the counts over every type.
    :param config: what of the configuration goes back (names, settings, order) and what cannot.
    """

    old_key: str
    schema_id: str
    snapshot_id: str
    history_snapshot_id: str | None = None
    per_type: dict[str, JsonDict] = field(default_factory=dict)
    first_changes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    live_requests: int = 0
    config: JsonDict = field(default_factory=dict)

    def as_dict(self) -> JsonDict:
        """Return the plan as stored (JSON-compatible)."""
        return {
            "old_key": self.old_key,
            "schema_id": self.schema_id,
            "snapshot_id": self.snapshot_id,
            "history_snapshot_id": self.history_snapshot_id,
            "per_type": self.per_type,
            "first_changes": self.first_changes,
            "conflicts": self.conflicts,
            "totals": self.totals,
            "live_requests": self.live_requests,
            "config": self.config,
        }

    def count(self, type_name: str, what: str, by: int = 1) -> None:
        counts = self.per_type.setdefault(type_name, {"attributes": {}})
        counts[what] = counts.get(what, 0) + by
        self.totals[what] = self.totals.get(what, 0) + by


# Decides, for a batch of objects that are not unchanged, what goes back: object id -> attribute id -> (PUT
# or KEEP, why). An object created since is decided under the attribute id "*" (DELETE or KEEP, why).
Decide = Callable[[Sequence[ObjectChange]], Mapping[str, Mapping[str, tuple[str, str]]]]
CREATED_VERDICT = "*"
DECIDE_BATCH = 500


def everything(changes: Sequence[ObjectChange]) -> Mapping[str, Mapping[str, tuple[str, str]]]:
    """Without a window every differing attribute goes back, and every object created since may go."""
    return {
        change.object_id: {a.attribute_id: (PUT, "") for a in change.attributes}
        | {CREATED_VERDICT: (DELETE, "")}
        for change in changes
    }


def diff_filter(
    client: AssetsClient, config: SchemaConfig, schema_id: str, request: RestoreRequest
) -> DiffFilter:
    """Return which objects a rollback compares: the request's types, keys and live AQL filter.

    :raises RestoreParamError: an AQL filter the site refuses.
    """
    type_ids: set[str] = set()
    for name in request.object_types:
        type_ids |= {
            type_id
            for type_id, object_type in config.object_types.items()
            if str(object_type.get("name", "")).casefold() == name.casefold()
        }
    object_ids: frozenset[str] | None = None
    aql = request.rollback.aql
    if aql:
        found: set[str] = set()
        try:
            for page in client.iter_aql_pages(
                f"objectSchemaId = {schema_id} AND ({aql})", page_size=1000, include_attributes=False
            ):
                found.update(str(value.get("id")) for value in page.values)
        except AssetsBadRequestError as error:
            raise RestoreParamError("aql", f"the site refused the AQL filter: {error}") from None
        object_ids = frozenset(found)
    return DiffFilter(
        type_ids=frozenset(type_ids), object_keys=frozenset(request.object_keys), object_ids=object_ids
    )


def recreates_deleted(scope: RollbackScope) -> bool:
    """Tell whether a rollback creates again the objects deleted since its snapshot.

    A deletion leaves no history on the site (Atlassian deletes an object's history with it), so it cannot
    be told whose it was: with ``changed_by`` deleted objects are listed, not created again. An AQL filter
    finds live objects only, so it never selects a deleted one.
    """
    return not scope.changed_by and not scope.aql


def plan_schema(
    client: AssetsClient,
    reader: SnapshotReader,
    snapshot: Snapshot,
    request: RestoreRequest,
    old_key: str,
    *,
    decide: Decide = everything,
    write_line: Callable[[str], None],
    history_snapshot_id: str | None = None,
    ours: Collection[str] = (),
) -> SchemaRollback:
    """Compare the live schema with ``snapshot``, decide what goes back, and stream every change out.

    :param decide: what of a batch of changes goes back (a window's rule reads their history in one go).
    :param write_line: receives one JSON line per object that is not unchanged.
    :param ours: ids of the objects this restore created (a plan made again after its objects step): never
        taken for objects created since, which ``delete_created`` would delete.
    """
    ours = frozenset(ours)
    config = SchemaConfig(reader.config(snapshot, CONFIG_KINDS))
    live_ids = [str(a.get("id")) for a in client.get_schema_attributes(snapshot.schema_id)]
    gone = {a: a for a in config.attributes if a not in set(live_ids)}
    maps = rollback_maps(config, live_ids, attributes=gone)
    selection = diff_filter(client, config, snapshot.schema_id, request)
    plan = SchemaRollback(old_key, snapshot.schema_id, snapshot.snapshot_id, history_snapshot_id)
    type_names = {t: str(o.get("name") or t) for t, o in config.object_types.items()}
    scope = request.rollback
    recreate = recreates_deleted(scope)

    pending: list[ObjectChange] = []

    def flush() -> None:
        verdicts = decide(pending)
        for change in pending:
            record(change, verdicts.get(change.object_id, {}))
        pending.clear()

    def collect(change: ObjectChange) -> None:
        pending.append(change)
        if len(pending) >= DECIDE_BATCH:
            flush()

    def record(change: ObjectChange, verdicts: Mapping[str, tuple[str, str]]) -> None:
        type_name = type_names.get(change.type_id, change.type_id)
        line: JsonDict = {
            "schema": old_key, "id": change.object_id, "key": change.object_key, "type": change.type_id,
            "kind": change.kind,
        }  # fmt: skip
        if change.kind == CHANGED:
            put = [a for a in change.attributes if verdicts.get(a.attribute_id, (KEEP, ""))[0] == PUT]
            kept = [a for a in change.attributes if a not in put]
            line["put"] = [_attribute(a) for a in put]
            line["kept"] = [
                {
                    **_attribute(a),
                    "reason": verdicts.get(a.attribute_id, (KEEP, "not changed in the window"))[1],
                }
                for a in kept
            ]
            conflicts = [k for k in line["kept"] if k["reason"].startswith("conflict")]
            line["action"] = PUT if put else KEEP
            if put:
                plan.count(type_name, "put_back")
                attributes = plan.per_type[type_name]["attributes"]
                for attribute in put:
                    attributes[attribute.name] = attributes.get(attribute.name, 0) + 1
                if len(plan.first_changes) < FIRST_LISTED:
                    shown = "; ".join(attribute.line() for attribute in put)
                    plan.first_changes.append(f"{change.object_key}: {shown}")
            if conflicts:
                plan.count(type_name, "conflicts")
                for conflict in conflicts:
                    if len(plan.conflicts) < FIRST_LISTED:
                        plan.conflicts.append(f"{change.object_key}.{conflict['name']}: {conflict['reason']}")
            if kept and not conflicts:
                plan.count(type_name, "left")
        elif change.kind == DELETED_SINCE:
            line["action"] = RECREATE if recreate else KEEP
            plan.count(type_name, "recreate" if recreate else "kept_deleted")
            if recreate and len(plan.first_changes) < FIRST_LISTED:
                plan.first_changes.append(f"{change.object_key}: deleted since: created again")
        elif change.object_id in ours:
            line["action"], line["reason"] = KEEP, "created again by this restore"
        else:
            verdict, why = verdicts.get(CREATED_VERDICT, (KEEP, "not created in the window"))
            delete = scope.delete_created and verdict == DELETE
            line["action"] = DELETE if delete else KEEP
            if not delete:
                line["reason"] = why if scope.delete_created else "delete_created is off"
            plan.count(type_name, "delete" if delete else "kept_created")
            if delete and len(plan.first_changes) < FIRST_LISTED:
                plan.first_changes.append(f"{change.object_key}: created since: deleted")
        write_line(json.dumps(line, sort_keys=True))

    diff = diff_schema(client, reader, snapshot, selection, maps=maps, on_change=collect, first_changes=0)
    if pending:
        flush()
    plan.live_requests = diff.live_requests
    for counts in diff.counts.values():
        plan.totals["compared"] = plan.totals.get("compared", 0) + sum(counts.values())
    return plan


def _attribute(change: AttributeChange) -> JsonDict:
    return {"id": change.attribute_id, "name": change.name, "old": list(change.old), "new": list(change.new)}


def read_changes(ledger: Ledger) -> Iterator[JsonDict]:
    """Yield the stored changes of a rollback, one object each (nothing before its plan)."""
    text = ledger.read_file(CHANGES_FILE) or ""
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


# -- a window: which changes go back ---------------------------------------------------------------------


def window_decider(
    client: AssetsClient,
    reader: SnapshotReader,
    snapshot: Snapshot,
    scope: RollbackScope,
    history_id: str | None,
) -> Decide:
    """Return the rule of a windowed rollback: only attributes the window's accounts changed in it go back.

    The history is read from ``history_id`` (the backup the run took before planning), or else from the
    newest complete snapshot of the schema; it must be newer than ``snapshot``.

    :raises RestoreParamError: no snapshot newer than ``snapshot`` holds the history to read.
    """
    history = reader.get(history_id) if history_id else reader.latest(snapshot.schema_key, site=snapshot.site)
    if history is None or history.seq <= snapshot.seq or history.schema_id != snapshot.schema_id:
        raise RestoreParamError(
            "changed_from",
            f"no snapshot of {snapshot.schema_key} newer than {snapshot.snapshot_id} holds the history of "
            "the changes to undo: back the schema up first (the rollback DAG's backup_before task does)",
        )
    window = ChangeWindow(
        accounts=frozenset(scope.changed_by), start=scope.changed_from, end=scope.changed_to
    )
    config = SchemaConfig(reader.config(snapshot, CONFIG_KINDS))
    live_names = {
        str(a.get("id")): str(a.get("name") or "") for a in client.get_schema_attributes(snapshot.schema_id)
    }
    state_at = snapshot.state_at
    assert state_at is not None

    def names_of(attribute_id: str) -> set[str]:
        names = {str((config.attributes.get(attribute_id) or {}).get("name") or "")}
        names.add(live_names.get(attribute_id, ""))
        return {name for name in names if name}

    def decide(changes: Sequence[ObjectChange]) -> Mapping[str, Mapping[str, tuple[str, str]]]:
        verdicts: dict[str, dict[str, tuple[str, str]]] = {change.object_id: {} for change in changes}
        changed = [change for change in changes if change.kind == CHANGED]
        keys = {change.object_id: change.object_key for change in changes}
        plan = classify_stored(
            reader, history,
            [Rewrite(c.object_id, c.type_id, tuple(a.attribute_id for a in c.attributes)) for c in changed],
            names_of, window, snapshot_state_at=state_at, on_conflict=scope.on_conflict, key_of=keys.get,
        )  # fmt: skip
        for change in changed:
            for attribute in change.attributes:
                verdicts[change.object_id][attribute.attribute_id] = (
                    KEEP,
                    f"not changed {window.describe()}",
                )
        for conflict in plan.conflicts:
            if not conflict.overridden:
                verdicts[conflict.object_id][conflict.attribute_id] = (KEEP, f"conflict: {conflict.reason}")
        for rewrite in plan.rewrites:
            for attribute_id in rewrite.attribute_ids:
                verdicts[rewrite.object_id][attribute_id] = (PUT, "")
        created = [change.object_id for change in changes if change.kind == CREATED_SINCE]
        if created:
            found = [
                (object_id, *creation(entries))
                for object_id, entries in load_entries(reader, history, created)
            ]
            chosen = set(created_in_window(found, window))
            for object_id in created:
                verdicts[object_id][CREATED_VERDICT] = (
                    (DELETE, "") if object_id in chosen else (KEEP, f"not created {window.describe()}")
                )
        return verdicts

    return decide

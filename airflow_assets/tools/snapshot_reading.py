"""Read snapshots for the ``snapshots`` commands: find one by id, its configuration, what changed between two.

Shared by ``snapshots list``, ``show`` and ``diff``. Nothing heavy is imported at module level (pymongo,
Airflow and rich come in when a command runs), so ``airflow-assets --help`` stays fast.

What changed between two snapshots of one schema (sequence numbers ``a < b``) is found from spans alone: an
item changed only if one of its spans starts or ends in ``(a, b]``. Those spans are few (a run that changes
nothing writes none), and an item's version at ``a`` and at ``b`` is among them; so comparing costs one pass
over the changes, never over the whole schema, and only differing versions are ever read.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_assets.tools import EXIT_FAILURE, EXIT_USAGE

if TYPE_CHECKING:
    from pymongo.database import Database
    from rich.console import Console

    from airflow_assets.model.schema_config import SchemaConfig
    from airflow_assets.store.snapshots import Snapshot

OBJECT = "object"
# Configuration kinds a diff compares, in the order it reports them, with a readable name.
CONFIG_KINDS = (
    ("schema", "schema"),
    ("schema_properties", "schema properties"),
    ("object_type", "object type"),
    ("attribute", "attribute"),
    ("status_type", "status type"),
    ("global_status_type", "global status type"),
    ("reference_type", "reference type"),
    ("global_reference_type", "global reference type"),
)
# Object fields (besides attribute values) a diff reports.
OBJECT_FIELDS = ("objectKey", "label", "objectTypeId", "created", "updated", "hasAvatar", "avatarUUID")
SHORT_ID_LENGTH = 8
SPAN_FIELDS = {"_id": 0, "item_id": 1, "from_seq": 1, "to_seq": 1, "hash": 1, "type_id": 1}


class ToolError(Exception):
    """A command cannot go on: print ``message`` (and ``details``) and exit with ``exit_code``."""

    def __init__(self, message: str, exit_code: int, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details = list(details)


def run_tool(name: str, args: argparse.Namespace, body: Any) -> int:
    """Run ``body(db, args)`` against the backup store; turn every expected failure into a message and code.

    :param name: the command (``snapshots list``) that prefixes error messages.
    :param body: a callable taking the pymongo ``Database`` and the parsed arguments, returning an exit code.
    """
    from pymongo.errors import PyMongoError

    from airflow_assets.config.problems import BackupConfigError

    try:
        with open_store(args) as db:
            return int(body(db, args))
    except ToolError as error:
        _complain(name, error.message, error.details)
        return error.exit_code
    except BackupConfigError as error:
        source = f" {error.source}" if error.source else ""
        _complain(name, f"invalid backup configuration{source}:", error.problems)
        return EXIT_USAGE
    except PyMongoError as error:
        _complain(name, f"cannot read the backup store: {mongo_problem(error)}", [])
        return EXIT_FAILURE
    except LookupError as error:
        if isinstance(error, (KeyError, IndexError)):
            raise
        # A span naming a version that is gone: the store is damaged (`snapshots verify` says where).
        _complain(name, str(error), [])
        return EXIT_FAILURE
    except OSError as error:
        # A folder an export cannot write.
        _complain(name, str(error).splitlines()[0] if str(error) else type(error).__name__, [])
        return EXIT_FAILURE


def mongo_problem(error: Exception) -> str:
    """Return a pymongo error in one short line (no topology dump, no configured timeouts)."""
    from pymongo.errors import ServerSelectionTimeoutError

    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, ServerSelectionTimeoutError):
        # "<host>: <reason> (configured timeouts: ...), Timeout: 3.0s, Topology Description: <...>"
        reason, _, rest = text.partition(", Timeout: ")
        waited = rest.split(",")[0] if rest else ""
        reason = reason.split(" (configured timeouts:")[0]
        text = f"no MongoDB server answered ({reason}" + (f"; gave up after {waited}" if waited else "") + ")"
    return text


def _complain(name: str, message: str, details: Sequence[str]) -> None:
    print(f"airflow-assets {name}: {message}", file=sys.stderr)
    for line in details:
        print(f"  {line}", file=sys.stderr)


@contextmanager
def open_store(args: argparse.Namespace) -> Iterator[Database]:
    """Yield the backup database named by ``--config``, as the DAGs reach it (its Airflow connection)."""
    from airflow.exceptions import AirflowConfigException
    from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

    from airflow_assets.tools.backup_store import backup_database, read_config
    from airflow_assets.tools.connections import connection_problem, not_defined

    config = read_config(args)
    conn_id = config.mongo.conn_id
    try:
        with backup_database(config) as db:
            yield db
    except AirflowNotFoundException as error:
        raise ToolError(not_defined(conn_id), EXIT_USAGE) from error
    except (AirflowException, AirflowConfigException) as error:
        # A connection that cannot be read, or of another type than mongo: fix the connection first.
        raise ToolError(connection_problem(conn_id, error), EXIT_USAGE) from error


# -- finding snapshots ------------------------------------------------------------------------------------


def short_id(snapshot_id: str) -> str:
    """Return a snapshot's short id: the first 8 hex digits of its id's SHA-256 (stable, never wraps)."""
    import hashlib

    return hashlib.sha256(snapshot_id.encode()).hexdigest()[:SHORT_ID_LENGTH]


def resolve_snapshot(db: Database, text: str) -> Snapshot:
    """Return the snapshot whose id or short id is ``text``, or whose id ends with it (e.g. its run id).

    :raises ToolError: (exit 2) no snapshot matches, or several do (they are listed).
    """
    from airflow_assets.store.layout import SNAPSHOTS
    from airflow_assets.store.snapshots import SnapshotStore

    wanted = text.strip()
    if not wanted:
        raise ToolError("a snapshot id is empty", EXIT_USAGE)
    snapshots = SnapshotStore(db)
    exact = snapshots.get(wanted)
    if exact is not None:
        return exact
    # Manifests are one per run and schema: few enough to match here, on any compatible server.
    fields = {"schema_key": 1, "seq": 1}
    matches = [
        document
        for document in db[SNAPSHOTS].find({}, fields)
        if short_id(str(document["_id"])) == wanted or str(document["_id"]).endswith(wanted)
    ]
    if len(matches) == 1:
        # Read the whole manifest (its steps too) as an exact id would have.
        found = snapshots.get(str(matches[0]["_id"]))
        if found is not None:
            return found
    if not matches:
        raise ToolError(
            f"no snapshot {wanted!r}: give a snapshot id or short id (`airflow-assets snapshots list` shows "
            "them) or a unique end of an id, e.g. its run id",
            EXIT_USAGE,
        )
    candidates = sorted(matches, key=lambda document: (document["schema_key"], -int(document["seq"])))
    raise ToolError(
        f"{wanted!r} matches {len(matches)} snapshots; give more of the id, or a short id:",
        EXIT_USAGE,
        [_candidate(document) for document in candidates],
    )


def _candidate(document: dict[str, Any]) -> str:
    snapshot_id = str(document["_id"])
    return f"{short_id(snapshot_id)}  {snapshot_id}  ({document['schema_key']} #{document['seq']})"


def previous_complete(db: Database, snapshot: Snapshot) -> Snapshot | None:
    """Return the newest complete snapshot of the same schema older than ``snapshot``."""
    from airflow_assets.store.snapshots import SnapshotStore

    return next(
        SnapshotStore(db).complete_before(snapshot.workspace_id, snapshot.schema_id, snapshot.seq), None
    )


# -- a snapshot's configuration -----------------------------------------------------------------------------


@dataclass
class SnapshotConfig:
    """The configuration a snapshot holds, by kind and item id (object types, attributes, statuses...).

    Lookups are :class:`~airflow_assets.model.schema_config.SchemaConfig`'s; this keeps the items by id,
    which a diff compares.
    """

    items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @cached_property
    def config(self) -> SchemaConfig:
        """Return the configuration indexed (built once, from :attr:`items`)."""
        from airflow_assets.model.schema_config import SchemaConfig

        return SchemaConfig({kind: list(by_id.values()) for kind, by_id in self.items.items()})

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        """Return the items of ``kind`` by id."""
        return self.items.get(kind, {})

    def type_name(self, type_id: str | None) -> str:
        """Return an object type's name (its id when this snapshot does not hold it)."""
        name = self.config.type_name(type_id)
        return f"type {type_id}" if name is None else name

    def attribute_name(self, attribute_id: str) -> str | None:
        """Return an attribute's name, or None."""
        return self.config.attribute_name(attribute_id)

    def status_name(self, status_id: str) -> str | None:
        """Return a status's name (the schema's or a global one), or None."""
        status = self.config.status(status_id)
        return None if status is None else str(status.get("name"))


def read_snapshot_config(db: Database, snapshot: Snapshot) -> SnapshotConfig:
    """Read every configuration item a snapshot holds (small: types, attributes, statuses, references)."""

    versions = snapshot.versions(db)
    items = {
        kind: {str(data.get("id")): data for data in versions.read(kind, snapshot.seq)}
        for kind, _ in CONFIG_KINDS
    }
    return SnapshotConfig(items)


def read_versions(db: Database, hashes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return the content of versions by hash, each hashed again as it is read.

    :raises DamagedContentError: a version is missing, or its content no longer hashes to its name.
    """
    from airflow_assets.store.layout import VERSIONS
    from airflow_assets.store.versions import BATCH, DamagedContentError, version_damage

    wanted = sorted(set(hashes))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), BATCH):
        for document in db[VERSIONS].find({"_id": {"$in": wanted[start : start + BATCH]}}):
            damage = version_damage(document)
            if damage is not None:
                raise damage
            found[document["_id"]] = document["data"]
    missing = set(wanted) - set(found)
    if missing:
        first = sorted(missing)[0]
        raise DamagedContentError(
            f"{len(missing)} version(s) are missing from the backup store, e.g. {first}: "
            "the store is damaged (run `airflow-assets snapshots verify`)",
            kind="?", item_id="?", digest=first, problem="missing",
        )  # fmt: skip
    return found


def objects_at(db: Database, snapshot: Snapshot, object_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return the content of the given objects that ``snapshot`` holds, by id."""
    from airflow_assets.store.layout import SPANS
    from airflow_assets.store.versions import BATCH

    wanted = sorted(set(object_ids))
    hashes: dict[str, str] = {}
    for start in range(0, len(wanted), BATCH):
        query = {
            **_scope(snapshot, OBJECT),
            "item_id": {"$in": wanted[start : start + BATCH]},
            "from_seq": {"$lte": snapshot.seq},
            "to_seq": {"$gt": snapshot.seq},
        }
        for span in db[SPANS].find(query, SPAN_FIELDS):
            hashes[span["item_id"]] = span["hash"]
    contents = read_versions(db, hashes.values())
    return {item_id: contents[digest] for item_id, digest in hashes.items()}


def _scope(snapshot: Snapshot, kind: str) -> dict[str, Any]:
    return {"ws": snapshot.workspace_id, "schema_id": snapshot.schema_id, "kind": kind}


# -- what changed between snapshots -----------------------------------------------------------------------


@dataclass
class Changes:
    """Items that differ between two snapshots: item id -> (span at the older one, span at the newer one).

    A span is a dict with ``item_id``, ``hash``, ``type_id``, ``from_seq``, ``to_seq``; None where the item
    is absent.
    """

    added: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Return the counts: added, removed, changed."""
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed)}


def changes_between(
    db: Database, scope: Snapshot, kind: str, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], Changes]:
    """Return what changed in the items of ``kind`` of a schema for each pair ``(older seq, newer seq)``.

    One query for all pairs: the spans that start or end between the oldest and the newest sequence number.

    :param scope: any snapshot of the schema (its workspace and schema id are used).
    :param pairs: (a, b) with a < b, not overlapping one another (consecutive snapshots, or one pair); a
        pair's changes are the items whose version at a differs from the one at b.
    """
    from airflow_assets.store.layout import SPANS

    results = {pair: Changes() for pair in pairs}
    if not pairs:
        return results
    ordered_pairs = sorted(pairs, key=lambda pair: pair[1])
    ends = [b for _, b in ordered_pairs]
    low, high = min(a for a, _ in pairs), ends[-1]
    spans_by_item: dict[str, dict[int, dict[str, Any]]] = {}
    # Two range queries rather than one $or: the first uses the (kind, from_seq) index on every server.
    for bound in ("from_seq", "to_seq"):
        query = {**_scope(scope, kind), bound: {"$gt": low, "$lte": high}}
        for span in db[SPANS].find(query, SPAN_FIELDS):
            spans_by_item.setdefault(span["item_id"], {})[int(span["from_seq"])] = span
    for item_id, spans in spans_by_item.items():
        starts = sorted(spans)
        ordered = [spans[start] for start in starts]
        touched: set[tuple[int, int]] = set()
        for span in ordered:
            for event in (int(span["from_seq"]), int(span["to_seq"])):
                index = bisect.bisect_left(ends, event)
                if index < len(ordered_pairs) and ordered_pairs[index][0] < event:
                    touched.add(ordered_pairs[index])
        for pair in touched:
            before = _visible(ordered, starts, pair[0])
            after = _visible(ordered, starts, pair[1])
            changes = results[pair]
            if before is None and after is not None:
                changes.added[item_id] = after
            elif before is not None and after is None:
                changes.removed[item_id] = before
            elif before is not None and after is not None and before["hash"] != after["hash"]:
                changes.changed[item_id] = (before, after)
    return results


def _visible(spans: Sequence[dict[str, Any]], starts: Sequence[int], seq: int) -> dict[str, Any] | None:
    """Return the span of an item that holds at ``seq`` (an item's spans never overlap)."""
    index = bisect.bisect_right(starts, seq) - 1
    if index < 0:
        return None
    span = spans[index]
    return span if int(span["to_seq"]) > seq else None


# -- output -----------------------------------------------------------------------------------------------


def console() -> Console:
    """Return a rich console for tables: wide enough for snapshot ids when the output is not a terminal."""
    from rich.console import Console

    terminal = Console(highlight=False)
    if terminal.is_terminal:
        return terminal
    return Console(highlight=False, width=max(terminal.width, 200))


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON (dates as ISO 8601)."""
    print(json.dumps(value, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def when(value: Any) -> str:
    """Render a stored date (datetime or string) to the second."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)[:19].replace("T", " ")


def iso(value: Any) -> str | None:
    """Return a stored date as ISO 8601 for JSON."""
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)

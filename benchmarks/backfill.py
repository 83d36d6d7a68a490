"""Benchmark backfilling past days of a schema from one real snapshot and its stored history.

Set-up: the sandbox's demo seed, scaled to ``--objects`` N, gets ``--days`` days of churn before it serves:
on each day (12:00 UTC, d days before now) ``--churn`` x N objects of the ITAM schema, chosen by a seeded
random generator, get a new value of a plain text attribute (Serial number, Version), and a share of them a
new value of a reference attribute within the schema (Runs on, Depends on), each recorded in history at
that day's moment. The sandbox then runs in its own process with ``--latency-ms`` and the documented
per-endpoint limits scaled by ``--scale`` (the sliding window shrinks to 60/scale seconds, the client paces
to the same window). One real snapshot of ITAM is taken now (config, objects, history, finalize; comments
and tickets left out), in its own process as an Airflow task would; then every day's moment (00:00 UTC,
before that day's edits; newest first) is reconstructed in this process with ``reconstruct_run``. Prints:

- the churn applied (objects, history entries) and the real snapshot's wall time and API calls;
- per reconstructed snapshot: its moment, wall time, API calls (all, and history calls: the stored history
  is used, so the target is none), values and objects rewound, values not rewound exactly, objects it
  holds, and the peak RSS of this process so far;
- mean and max seconds per reconstructed snapshot, mean API calls per snapshot and their endpoint classes,
  and the bytes the reconstructed snapshots added to the database (``dbStats`` before and after).

Usage: python benchmarks/backfill.py [--objects 20000] [--days 30] [--churn 0.01] [--scale 4] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import pymongo
from bench_support import Site, bench_mongo, client_for, cpu_seconds, peak_rss_mib, server_pids
from pymongo.database import Database

if TYPE_CHECKING:
    from airflow_assets.sandbox.model import Site as SandboxSite

SCHEMA_KEY = "ITAM"
SITE_NAME = "bench"
DAG_ID = "jira_assets_backup_bench_itam"
DB_NAME = "bench"
INCLUDE = {"history": True, "comments": False, "connected_tickets": False}
HISTORY_CLASS = "GET object/{id}/history"
REFERENCE_SHARE = 0.25  # of the objects edited on a day, those whose type has a reference within the schema
EDIT_HOUR = 12  # the day's edits happen at 12:00 UTC; its moment to reconstruct is 00:00 UTC, before them
# Attribute types of the sandbox's records: a plain attribute (Text, Textarea) and a reference.
PLAIN, REFERENCE = 0, 1
TEXT_TYPES = (0, 9)


# -- the churn, applied to the site before it serves ----------------------------------------------------


def edit_day(day: int, now: datetime) -> datetime:
    """Return the moment of the edits ``day`` days before ``now``."""
    return (now - timedelta(days=day)).replace(hour=EDIT_HOUR, minute=0, second=0, microsecond=0)


def moment_of(day: int, now: datetime) -> datetime:
    """Return the moment reconstructed for ``day`` days before ``now``: that day's start, before its edits."""
    return (now - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)


def apply_churn(site: SandboxSite, now: datetime, days: int, per_day: int, seed: int) -> dict[str, Any]:
    """Edit ``per_day`` objects of the schema on each of ``days`` days before ``now``, oldest day first, as
    of that day's moment; return what was done."""
    rng = random.Random(seed)
    schema_id = next(schema.id for schema in site.schemas.values() if schema.key == SCHEMA_KEY)
    type_ids = {type_id for type_id, kind in site.object_types.items() if kind.schema_id == schema_id}
    records = sorted(
        (record for record in site.objects.values() if record.schema_id == schema_id),
        key=lambda record: record.object_id,
    )
    by_type: dict[str, list[Any]] = {}
    for record in records:
        by_type.setdefault(record.object_type_id, []).append(record)
    text_of: dict[str, Any] = {}
    reference_of: dict[str, Any] = {}
    for type_id in type_ids:
        attributes = [a for a in site.effective_attributes(type_id) if a.editable and not a.label]
        text_of[type_id] = next(
            (a for a in attributes if a.kind == PLAIN and a.default_type in TEXT_TYPES), None
        )
        references = [
            a for a in attributes if a.kind == REFERENCE and by_type.get(a.reference_object_type_id or "")
        ]
        # A single-valued reference first (its history entry replaces a value), else a multi-valued one.
        references.sort(key=lambda a: a.maximum_cardinality != 1)
        reference_of[type_id] = references[0] if references else None
    entries_before = sum(len(entries) for entries in site.history.values())
    edited = Counter[str]()
    for day in range(days, 0, -1):
        at = edit_day(day, now)
        for record in rng.sample(records, min(per_day, len(records))):
            attributes = []
            text = text_of.get(record.object_type_id)
            if text is not None:
                value = f"CH{day:02d}-{record.object_id}"
                attributes.append(
                    {"objectTypeAttributeId": text.id, "objectAttributeValues": [{"value": value}]}
                )
                edited[text.name] += 1
            reference = reference_of.get(record.object_type_id)
            if reference is not None and rng.random() < REFERENCE_SHARE:
                target = rng.choice(by_type[reference.reference_object_type_id])
                attributes.append(
                    {"objectTypeAttributeId": reference.id, "objectAttributeValues": [{"value": target.key}]}
                )
                edited[reference.name] += 1
            if attributes:
                site.update_object(str(record.object_id), {"attributes": attributes}, at=at)
    return {
        "schema_objects": len(records),
        "edited": dict(edited),
        "history_entries": sum(len(entries) for entries in site.history.values()) - entries_before,
    }


# -- the sandbox, in its own process ---------------------------------------------------------------------


def _serve(objects: int, latency_ms: float, scale: float, churn: dict[str, Any], conn: Connection) -> None:
    """Build and churn a sandbox in this (child) process and serve it; answer "stats" over ``conn`` until
    "stop"."""
    from airflow_assets.sandbox.launch import build_app, build_site
    from airflow_assets.sandbox.realism import RealismConfig
    from airflow_assets.sandbox.server import serve_in_thread

    started = time.perf_counter()
    site, _ = build_site(seed="demo", objects=objects)
    built = time.perf_counter() - started
    now = datetime.fromisoformat(churn["now"])
    applied = apply_churn(site, now, churn["days"], churn["per_day"], churn["seed"])
    applied["build_seconds"] = built
    applied["churn_seconds"] = time.perf_counter() - started - built
    realism = RealismConfig(latency_ms=latency_ms, rate_limits=True, window_seconds=60.0 / scale)
    app = build_app(site, realism)
    with serve_in_thread(app, "127.0.0.1", 0) as url:
        conn.send((url, site.email, site.api_token, applied))
        while True:
            command = conn.recv()
            if command == "stop":
                return
            conn.send(app.stats.snapshot())


@contextmanager
def sandbox(
    objects: int, latency_ms: float, scale: float, churn: dict[str, Any]
) -> Iterator[tuple[Site, dict[str, Any], Connection, int]]:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(objects, latency_ms, scale, churn, child), daemon=True
    )
    process.start()
    try:
        url, email, token, applied = parent.recv()
        assert process.pid is not None
        yield Site(url, email, token), applied, parent, process.pid
    finally:
        parent.send("stop")
        process.join(timeout=30)


def accepted(stats: Connection) -> Counter[str]:
    """Return the requests the sandbox let through so far, per endpoint class."""
    stats.send("stats")
    return Counter(stats.recv()["accepted"])


# -- the real snapshot, in its own process ----------------------------------------------------------------


def run_snapshot(args: argparse.Namespace) -> None:
    """Take one real snapshot of the schema (a child process of the benchmark); print its figures as JSON."""
    from airflow_assets.backup.activity import export_activity
    from airflow_assets.backup.finalize import finalize
    from airflow_assets.backup.objects import export_objects
    from airflow_assets.backup.run import BackupRun
    from airflow_assets.backup.schema_config import BackupTarget, export_config

    site = Site(**json.loads(args.site))
    db: Database[dict[str, Any]] = pymongo.MongoClient(args.mongo)[DB_NAME]
    seconds: dict[str, float] = {}
    with client_for(site, args.scale) as client:
        now = datetime.now(UTC)
        run = BackupRun(DAG_ID, f"manual__{now.isoformat()}", "manual", now, now, now, now)
        target = BackupTarget(SITE_NAME, SCHEMA_KEY, INCLUDE, 7, "0 2 * * *", "UTC")
        started = time.perf_counter()
        config = export_config(client, db, target, run)
        seconds["config"] = time.perf_counter() - started
        started = time.perf_counter()
        listed = export_objects(client, db, config.snapshot_id).listed
        seconds["objects"] = time.perf_counter() - started
        started = time.perf_counter()
        export_activity(client, db, config.snapshot_id, "history")
        seconds["history"] = time.perf_counter() - started
        started = time.perf_counter()
        finalize(client, db, config.snapshot_id)
        seconds["finalize"] = time.perf_counter() - started
    result = {
        "snapshot_id": config.snapshot_id,
        "objects": listed,
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
    }
    print("RESULT " + json.dumps(result, default=str), flush=True)


def snapshot_in_child(site: Site, mongo_uri: str, scale: float) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--step", "snapshot", "--site", json.dumps(site.__dict__),
        "--mongo", mongo_uri, "--scale", str(scale),
    ]  # fmt: skip
    process = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if process.returncode != 0:
        raise SystemExit(f"the real snapshot failed with exit code {process.returncode}")
    line = next(line for line in process.stdout.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


# -- the reconstructions, in this process ---------------------------------------------------------------


@dataclass
class Rebuilt:
    moment: datetime
    seconds: float
    calls: Counter[str]
    summary: dict[str, Any]
    cpu: dict[str, float]
    peak_rss_mib: float


def reconstruct_days(
    site: Site,
    stats: Connection,
    db: Database[dict[str, Any]],
    scale: float,
    moments: list[datetime],
    pids: dict[str, int],
) -> list[Rebuilt]:
    """Reconstruct every moment in turn, each as a backfill run of its own; return the figures of each.

    :param pids: the processes whose CPU time each reconstruction takes is measured, by name.
    """
    from airflow_assets.backfill.reconstruct import reconstruct_run
    from airflow_assets.backup.run import BackupRun

    rebuilt = []
    with client_for(site, scale) as client:
        for moment in moments:
            run_id = f"backfill__{moment.isoformat()}"
            run = BackupRun(DAG_ID, run_id, "backfill", moment, moment, moment, datetime.now(UTC))
            before = accepted(stats)
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.perf_counter()
            summary = reconstruct_run(client, db, SCHEMA_KEY, run, moment, base_wait=0)
            seconds = time.perf_counter() - started
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            calls = accepted(stats)
            calls.subtract(before)
            # ru_maxrss of this process: it spawned its children, so no pages are shared with them.
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rebuilt.append(Rebuilt(moment, seconds, +calls, summary.as_dict(), cpu, rss))
    return rebuilt


def stored(db: Database[dict[str, Any]]) -> tuple[int, int]:
    """Return the database's data size in bytes and its documents."""
    stats = db.command("dbStats")
    return int(stats["dataSize"]), int(stats["objects"])


def print_table(rebuilt: list[Rebuilt]) -> None:
    names = list(rebuilt[0].cpu) if rebuilt else []
    cpu_header = "CPU s: " + " / ".join(names)
    print(
        f"     {'moment':<16} {'seconds':>7} {'API calls':>9} {'history':>7} {'values rewound':>14} "
        f"{'objects rewound':>15} {'not exact':>9} {'objects':>7} {'peak RSS MiB':>12}   {cpu_header}"
    )
    for item in rebuilt:
        summary = item.summary
        cpu = " / ".join(f"{item.cpu[name]:.1f}" for name in names)
        print(
            f"     {item.moment:%Y-%m-%d %H:%M} {item.seconds:>7.2f} {item.calls.total():>9} "
            f"{item.calls[HISTORY_CLASS]:>7} {summary['values_rewound']:>14} "
            f"{summary['objects_rewound']:>15} {summary['not_exact']:>9} {summary['objects']:>7} "
            f"{item.peak_rss_mib:>12.0f}   {cpu}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30, help="days of churn, each one reconstructed")
    parser.add_argument("--churn", type=float, default=0.01, help="objects edited per day, as a share of N")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--scale", type=float, default=4.0, help="multiply every documented rate limit")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random choice of edited objects")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--site", help=argparse.SUPPRESS)
    parser.add_argument("--mongo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "snapshot":
        run_snapshot(args)
        return
    n, scale, days = args.objects, args.scale, args.days
    per_day = max(1, round(n * args.churn))
    now = datetime.now(UTC)
    print(
        f"== backfill of {days} days of a {n}-object sandbox ({SCHEMA_KEY} holds its IT assets), "
        f"{per_day} objects edited per day ({args.churn:.1%} of {n}), {args.latency_ms:g} ms latency, "
        f"documented rate limits x {scale:g} (sliding window {60 / scale:g} s)"
    )
    churn = {"now": now.isoformat(), "days": days, "per_day": per_day, "seed": args.seed}
    started = time.perf_counter()
    with (
        bench_mongo(DB_NAME) as mongo,
        sandbox(n, args.latency_ms, scale, churn) as (site, applied, stats, sandbox_pid),
    ):
        edited = ", ".join(f"{name} {count}" for name, count in sorted(applied["edited"].items()))
        print(
            f"   set-up: demo site built in {applied['build_seconds']:.1f} s; churn applied in "
            f"{applied['churn_seconds']:.1f} s: {applied['schema_objects']} {SCHEMA_KEY} objects, values "
            f"changed: {edited}; {applied['history_entries']} history entries"
        )
        db: Database[dict[str, Any]] = pymongo.MongoClient(mongo.uri)[DB_NAME]
        before = accepted(stats)
        snapshot_started = time.perf_counter()
        real = snapshot_in_child(site, mongo.uri, scale)
        snapshot_seconds = time.perf_counter() - snapshot_started
        calls = accepted(stats)
        calls.subtract(before)
        phases = ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in real["seconds"].items())
        busiest = ", ".join(f"{klass} {count}" for klass, count in calls.most_common(4) if count)
        real_bytes, _ = stored(db)
        print(
            f"   real snapshot now: {real['objects']} objects in {snapshot_seconds:.1f} s ({phases}); "
            f"{calls.total()} API calls ({busiest}); {real_bytes:,} bytes; "
            f"peak RSS {real['peak_rss_mib']:.0f} MiB"
        )
        moments = [moment_of(day, now) for day in range(1, days + 1)]
        bytes_before, documents_before = stored(db)
        pids = {"benchmark": os.getpid(), **server_pids(mongo), "sandbox": sandbox_pid}
        rebuilt = reconstruct_days(site, stats, db, scale, moments, pids)
        bytes_after, documents_after = stored(db)
    print("   reconstructed snapshots (newest first; each moment is 00:00 UTC, before that day's edits):")
    print_table(rebuilt)
    seconds = [item.seconds for item in rebuilt]
    total_calls: Counter[str] = Counter()
    for item in rebuilt:
        total_calls.update(item.calls)
    reported = sum(item.summary["history_calls"] for item in rebuilt)
    per_class = ", ".join(f"{klass} {count}" for klass, count in total_calls.most_common())
    grown = bytes_after - bytes_before
    print(
        f"   per reconstructed snapshot: mean {sum(seconds) / len(seconds):.2f} s, max {max(seconds):.2f} s; "
        f"mean API calls {total_calls.total() / len(rebuilt):.1f} (in all: {per_class or 'none'}); "
        f"history calls in all: {total_calls[HISTORY_CLASS]} seen by the sandbox, {reported} reported "
        "(target 0)"
    )
    cpu = {name: sum(item.cpu[name] for item in rebuilt) for name in rebuilt[0].cpu}
    print(
        f"   CPU during the {len(rebuilt)} reconstructions ({sum(seconds):.0f} s wall, "
        f"{os.cpu_count()} cores): " + ", ".join(f"{name} {used:.0f} s" for name, used in cpu.items())
    )
    print(
        f"   bytes stored by the {len(rebuilt)} reconstructed snapshots: {grown:,} "
        f"({grown / len(rebuilt):,.0f} per snapshot = {grown / len(rebuilt) / real_bytes:.2%} of the real "
        f"snapshot's {real_bytes:,}); {documents_after - documents_before:,} documents"
    )
    print(f"   total wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()

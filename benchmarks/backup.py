"""Benchmark a schema backup against the sandbox (its own process) and the embedded MongoDB.

Every step runs in its own process, as Airflow runs every task; history and comments run side by side.
The sandbox enforces the documented per-endpoint limits, scaled by ``--scale`` (the sliding window
shrinks to 60/scale seconds, the client paces to the same window) so that a run takes minutes. Prints:

- the full backup's wall time, objects/min, and its ratio to the bound the rate limits set (target >= 0.9):
  per phase, the busiest endpoint class's calls divided by its limit; phases run one after the other;
- the incremental run's time after ``--changed`` (1 %) of the objects were edited (target <= 1/10 of full);
- API calls per object;
- peak RSS of each step's process at N and at ``--rss-factor`` x N objects, both without latency and with the
  limits x 1000 so that the larger run takes minutes too (target: flat);
- bytes stored after the full run and after an unchanged run;
- with ``--encryption``: the cost of encryption at rest, a full backup plain and encrypted side by side
  (under the same latency and limits, and again with no latency and limits x 1000 where only CPU and the
  store count), the ratio of their times, of the bytes stored and of ``snapshots verify``'s read of them;
  ``--encryption-only`` prints just that.

Usage: python benchmarks/backup.py [--objects 20000] [--latency-ms 100] [--scale 4] [--rss-factor 4]
       [--encryption | --encryption-only]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import pymongo
from bench_support import Site, bench_mongo, client_for, peak_rss_mib

from airflow_assets.api import RateLimits
from airflow_assets.store.encryption import Keyring, use_keyring

SCHEMA_KEY = "ITAM"
INCLUDE = {"history": True, "comments": True, "connected_tickets": False}
STEPS_ALONE = ("export_config", "export_objects")
STEPS_SIDE_BY_SIDE = ("export_history", "export_comments")


def _serve(objects: int, latency_ms: float, scale: float, conn: Connection) -> None:
    """Run a sandbox in this (child) process; answer "stats" requests over ``conn`` until "stop"."""
    from airflow_assets.sandbox.launch import build_app, build_site
    from airflow_assets.sandbox.realism import RealismConfig
    from airflow_assets.sandbox.server import serve_in_thread

    site, _ = build_site(seed="demo", objects=objects)
    realism = RealismConfig(latency_ms=latency_ms, rate_limits=True, window_seconds=60.0 / scale)
    app = build_app(site, realism)
    with serve_in_thread(app, "127.0.0.1", 0) as url:
        conn.send((url, site.email, site.api_token))
        while True:
            command = conn.recv()
            if command == "stop":
                return
            conn.send(app.stats.snapshot())


@contextmanager
def sandbox(objects: int, latency_ms: float, scale: float) -> Iterator[tuple[Site, Connection]]:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(objects, latency_ms, scale, child), daemon=True
    )
    process.start()
    try:
        url, email, token = parent.recv()
        yield Site(url, email, token), parent
    finally:
        parent.send("stop")
        process.join(timeout=30)


# -- one step, in its own process -----------------------------------------------------------------


def run_step(args: argparse.Namespace) -> None:
    """Run one backup step (a child process of the benchmark); print its summary and peak RSS as JSON."""
    from airflow_assets.backup.activity import export_activity
    from airflow_assets.backup.finalize import finalize
    from airflow_assets.backup.objects import export_objects
    from airflow_assets.backup.run import BackupRun
    from airflow_assets.backup.schema_config import BackupTarget, export_config
    from airflow_assets.store import SnapshotStore

    site = Site(**json.loads(args.site))
    client = client_for(site, args.scale)
    db = pymongo.MongoClient(args.mongo)[args.db]
    if args.encryption_key:
        # As hooks.backup_store does with the jira_assets_encryption_key connection.
        use_keyring(db, Keyring.from_secrets(args.encryption_key.encode()))
    dag_id = "benchmark"
    if args.step == "export_config":
        now = datetime.now(UTC)
        run = BackupRun(dag_id, args.run_id, "manual", now, now, now, now)
        target = BackupTarget("bench", SCHEMA_KEY, INCLUDE, args.full_sweep_every, "0 2 * * *", "UTC")
        result: Any = export_config(client, db, target, run).as_dict()
    else:
        snapshot_id = SnapshotStore(db).id_for_run(dag_id, args.run_id)
        if args.step == "export_objects":
            result = export_objects(client, db, snapshot_id).as_dict()
        elif args.step == "finalize":
            result = finalize(client, db, snapshot_id).as_dict()
        else:
            result = export_activity(client, db, snapshot_id, args.step.removeprefix("export_")).as_dict()
    print("RESULT " + json.dumps({"result": result, "peak_rss_mib": peak_rss_mib()}, default=str), flush=True)


def _launch(
    step: str, site: Site, mongo: str, db: str, run_id: str, scale: float, sweep: int, key: str = ""
) -> subprocess.Popen[str]:
    command = [
        sys.executable, __file__, "--step", step, "--site", json.dumps(site.__dict__), "--mongo", mongo,
        "--db", db, "--run-id", run_id, "--scale", str(scale), "--full-sweep-every", str(sweep),
        "--encryption-key", key,
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _collect(process: subprocess.Popen[str], step: str) -> dict[str, Any]:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"step {step} failed with exit code {process.returncode}")
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


@dataclass
class RunFigures:
    seconds: float
    phases: list[tuple[str, float, Counter[str]]]
    results: dict[str, dict[str, Any]]


def backup_run(
    site: Site, stats: Connection, mongo: str, db: str, run_id: str, scale: float, sweep: int, key: str = ""
) -> RunFigures:
    """Run every step of one backup, phase by phase; return timings, calls per phase and step results."""
    phases = [*((step,) for step in STEPS_ALONE), STEPS_SIDE_BY_SIDE, ("finalize",)]
    figures = RunFigures(0.0, [], {})
    started = time.perf_counter()
    for phase in phases:
        stats.send("stats")
        before = Counter(stats.recv()["accepted"])
        phase_started = time.perf_counter()
        processes = {step: _launch(step, site, mongo, db, run_id, scale, sweep, key) for step in phase}
        for step, process in processes.items():
            figures.results[step] = _collect(process, step)
        stats.send("stats")
        calls = Counter(stats.recv()["accepted"])
        calls.subtract(before)
        figures.phases.append((" | ".join(phase), time.perf_counter() - phase_started, calls))
    figures.seconds = time.perf_counter() - started
    return figures


def bound_seconds(figures: RunFigures, scale: float) -> float:
    """Return the least time the rate limits allow for the same calls, phase after phase."""
    limits = RateLimits()
    total = 0.0
    for _, _, calls in figures.phases:
        per_class = [
            count / (limits.limit_for(klass) * scale / 60) for klass, count in calls.items() if count > 0
        ]
        total += max(per_class, default=0.0)
    return total


def stored_bytes(db: pymongo.database.Database) -> int:
    return int(db.command("dbStats")["dataSize"])


def edit_objects(site: Site, scale: float, share: float) -> int:
    """Change a text attribute of ``share`` of the schema's objects through the API; return how many."""
    with client_for(site, scale) as client:
        schema = next(s for s in client.iter_object_schemas() if s["objectSchemaKey"] == SCHEMA_KEY)
        laptop = next(t for t in client.get_object_types(schema["id"]) if t["name"] == "Laptop")
        serial = next(
            a for a in client.get_object_type_attributes(laptop["id"]) if a["name"] == "Serial number"
        )
        total = client.count_objects(f"objectSchemaId = {schema['id']}")
        wanted = max(1, round(total * share))
        ids = [o["id"] for o in client.iter_objects(f"objectTypeId = {laptop['id']}", page_size=1000)][
            :wanted
        ]
        for object_id in ids:
            value = [{"value": f"EDITED-{object_id}"}]
            body = {"attributes": [{"objectTypeAttributeId": serial["id"], "objectAttributeValues": value}]}
            client.update_object(object_id, body)
        return len(ids)


def print_phases(figures: RunFigures) -> None:
    for name, seconds, calls in figures.phases:
        busiest = ", ".join(f"{klass} {count}" for klass, count in calls.most_common(3) if count)
        print(f"     {name:<34} {seconds:7.1f} s   calls: {busiest}")


BENCH_KEY = "benchmark-encryption-key-0123456789abcdef"


def verify_seconds(mongo: str, db_name: str, key: str) -> tuple[float, int]:
    """Return the time ``snapshots verify`` takes to read and hash every version of a database, and how many.

    The versions counted are the distinct ones the checker read (a version two snapshots share, once).
    """
    from airflow_assets.store import SnapshotStore
    from airflow_assets.store.check import SnapshotChecker

    db = pymongo.MongoClient(mongo)[db_name]
    if key:
        use_keyring(db, Keyring.from_secrets(key.encode()))
    started = time.perf_counter()
    hashed = 0
    checker = SnapshotChecker(db)
    for snapshot in SnapshotStore(db).list():
        result = checker.check(snapshot)
        if result.problems:
            raise SystemExit(f"verify found problems in {db_name}: {result.problems[:3]}")
        hashed += result.versions_hashed
    return time.perf_counter() - started, hashed


def encryption_cost(mongo: str, n: int, latency_ms: float, scale: float, rounds: int = 2) -> None:
    """Print a full backup's time, bytes and verify time plain and encrypted, and their ratios.

    Plain and encrypted alternate, each into a fresh database, ``rounds`` times; the best time of each
    counts (the first run of a sandbox warms its caches).
    """
    # The conditions asked for, then the CPU-bound case (once, if they are the same).
    for latency, limits in dict.fromkeys(((float(latency_ms), float(scale)), (0.0, 1000.0))):
        label = f"{latency:g} ms latency, limits x {limits:g}"
        best = {"plain": [float("inf")] * 2, "encrypted": [float("inf")] * 2}
        sizes: dict[str, int] = {}
        objects, hashed = 0, 0
        with sandbox(n, latency, limits) as (site, stats):
            for round_ in range(rounds):
                for name, key in (("plain", ""), ("encrypted", BENCH_KEY)):
                    db = f"crypt_{name}_{int(latency)}"
                    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo)
                    client.drop_database(db)
                    run = backup_run(site, stats, mongo, db, f"full-{round_}", limits, 7, key)
                    # verify is short: the best of three reads says more than one.
                    checks = [verify_seconds(mongo, db, key) for _ in range(3)]
                    check, hashed = min(c[0] for c in checks), checks[0][1]
                    objects = run.results["export_objects"]["result"]["listed"]
                    sizes[name] = stored_bytes(client[db])
                    best[name] = [min(best[name][0], run.seconds), min(best[name][1], check)]
        (plain_s, plain_v), (crypt_s, crypt_v) = best["plain"], best["encrypted"]
        print(f"   encryption at rest ({label}), full backup of {objects} objects, best of {rounds}:")
        print(
            f"     backup: plain {plain_s:.1f} s, encrypted {crypt_s:.1f} s: ratio {crypt_s / plain_s:.3f} "
            f"({objects / crypt_s * 60:,.0f} objects/min encrypted)"
        )
        print(
            f"     bytes stored: plain {sizes['plain']:,}, encrypted {sizes['encrypted']:,}: "
            f"ratio {sizes['encrypted'] / sizes['plain']:.3f}"
        )
        print(
            f"     verify (read, decrypt, hash {hashed:,} versions): plain {plain_v:.2f} s, encrypted "
            f"{crypt_v:.2f} s: ratio {crypt_v / plain_v:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--scale", type=float, default=4.0, help="multiply every documented rate limit")
    parser.add_argument("--changed", type=float, default=0.01, help="share of objects edited before run 2")
    parser.add_argument("--rss-factor", type=int, default=4, help="also measure peak RSS at this many x N")
    parser.add_argument("--encryption", action="store_true", help="also measure encryption at rest's cost")
    parser.add_argument("--encryption-only", action="store_true", help="measure only encryption's cost")
    parser.add_argument("--encryption-key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--site", help=argparse.SUPPRESS)
    parser.add_argument("--mongo", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    parser.add_argument("--full-sweep-every", type=int, default=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        run_step(args)
        return
    n, scale = args.objects, args.scale
    crypt = [f"crypt_{name}_{lat}" for name in ("plain", "encrypted") for lat in (int(args.latency_ms), 0)]
    if args.encryption_only:
        print(f"== encryption at rest: a {n}-object sandbox ({SCHEMA_KEY}), plain and encrypted")
        with bench_mongo(*crypt) as mongo:
            encryption_cost(mongo.uri, n, args.latency_ms, scale)
        return
    print(
        f"== backup of a {n}-object sandbox ({SCHEMA_KEY} holds its IT assets), "
        f"{args.latency_ms:g} ms latency, documented rate limits x {scale:g} "
        f"(sliding window {60 / scale:g} s), history and comments included"
    )
    sizes = sorted({n, n * args.rss_factor})
    with bench_mongo(
        "bench", *(f"memory_{size}" for size in sizes), *(crypt if args.encryption else [])
    ) as mongo:
        peaks: dict[int, dict[str, float]] = {}
        with sandbox(n, args.latency_ms, scale) as (site, stats):
            db = pymongo.MongoClient(mongo.uri)["bench"]
            full = backup_run(site, stats, mongo.uri, "bench", "full", scale, 7)
            objects = full.results["export_objects"]["result"]["listed"]
            bound = bound_seconds(full, scale)
            rate = objects / full.seconds * 60
            print(f"   full backup: {objects} objects in {full.seconds:.1f} s = {rate:,.0f} objects/min")
            ratio = bound / full.seconds
            print(f"   bound set by the rate limits: {bound:.1f} s; ratio {ratio:.2f} (target >= 0.9)")
            print_phases(full)
            calls = sum(sum(c.values()) for _, _, c in full.phases)
            print(f"   API calls per object (full): {calls / objects:.2f} ({calls} calls)")
            after_full = stored_bytes(db)

            edited = edit_objects(site, scale, args.changed)
            incremental = backup_run(site, stats, mongo.uri, "bench", "incremental", scale, 7)
            calls = sum(sum(c.values()) for _, _, c in incremental.phases)
            ratio = incremental.seconds / full.seconds
            print(
                f"   incremental after editing {edited} objects ({args.changed:.0%}): "
                f"{incremental.seconds:.1f} s = {ratio:.3f} of the full run (target <= 0.1); "
                f"{calls} API calls = {calls / objects:.3f} per object"
            )
            print_phases(incremental)
            before_unchanged = stored_bytes(db)
            unchanged = backup_run(site, stats, mongo.uri, "bench", "unchanged", scale, 7)
            grown = stored_bytes(db) - before_unchanged
            print(f"   unchanged run: {unchanged.seconds:.1f} s")
            print(
                f"   bytes stored: {after_full:,} after the full run; an unchanged run added {grown:,} "
                f"({grown / after_full:.3%} of the full snapshot; target < 1%)"
            )
        # Memory at N and at rss_factor x N under the same conditions (no latency, limits x 1000, so the
        # larger run takes minutes too): flat means the same peaks.
        for size in sizes:
            with sandbox(size, 0.0, 1000.0) as (site, stats):
                run = backup_run(site, stats, mongo.uri, f"memory_{size}", "full", 1000.0, 7)
                peaks[size] = {step: r["peak_rss_mib"] for step, r in run.results.items()}
                print(
                    f"   ({size}-object full run for memory: no latency, limits x 1000, {run.seconds:.0f} s)"
                )
        if args.encryption:
            encryption_cost(mongo.uri, n, args.latency_ms, scale)
        print("   peak RSS of each step's process (MiB):")
        sizes = sorted(peaks)
        print(f"     {'step':<18}" + "".join(f"{size:>12,}" for size in sizes))
        for step in (*STEPS_ALONE, *STEPS_SIDE_BY_SIDE, "finalize"):
            print(f"     {step:<18}" + "".join(f"{peaks[size][step]:>12.0f}" for size in sizes))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()

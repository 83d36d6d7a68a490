"""Benchmark a restore of the demo schemas against the sandbox (its own process) and the embedded MongoDB.

Set-up: the sandbox's demo seed, scaled to ``--objects``, spreads its objects over PEOPLE, LOC and ITAM with
references across them; each schema gets a complete snapshot (config, objects, history, comments, tickets,
finalize) taken fast, without latency and with the limits x 1000. Then the same sandbox process switches
to ``--latency-ms`` and the documented per-endpoint limits scaled by ``--scale`` (the sliding window shrinks
to 60/scale seconds, the client paces to the same window), and a restore of all three schemas into new keys
runs in one session, in its own process as an Airflow task would. Prints:

- objects restored, the objects step's wall time, objects/min, and its ratio to the bound the create and
  update limits set (target >= 0.9): creates and cycle links share one pool, so the bound is the slower of
  ``create_calls / limit(POST object/create)`` and ``update_calls / limit(PUT object/{id})``;
- object create/update calls per object (target < 1.2), comment writes, verify reads, lookup reads;
- the verify result (the benchmark exits non-zero when verify finds differences);
- the peak RSS of the restore's process.

Usage: python benchmarks/restore.py [--objects 10000] [--latency-ms 100] [--scale 4] [--max-workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import pymongo
from bench_support import (
    Site,
    bench_mongo,
    client_for,
    cpu_seconds,
    peak_rss_mib,
    sandbox_process,
    server_pids,
)
from pymongo.database import Database

from airflow_assets.api import AssetsClient, RateLimits
from airflow_assets.api.endpoints import OBJECT_CREATE, OBJECT_UPDATE

SITE_NAME = "bench"
SCHEMA_KEYS = ("PEOPLE", "LOC", "ITAM")
NEW_KEY_SUFFIX = "R"
INCLUDE = {"history": True, "comments": True, "connected_tickets": True}
# The set-up backup runs without latency and with every limit x 1000, so it takes seconds, not minutes.
SETUP_SCALE = 1000.0
DB_NAME = "bench"
RESTORE_STEPS = ("plan", "structure", "objects", "comments", "restrictions", "verify", "report")


# -- the pieces of benchmarks/backup.py this benchmark shares (benchmarks/ is not a package) -------------


# -- the sandbox, in its own process, its realism switched between set-up and restore -------------------


class SwitchableApp:
    """An ASGI app that forwards every request to the realism middleware currently in place."""

    def __init__(self, current: Any) -> None:
        self.current = current

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.current(scope, receive, send)


def _serve(objects: int, conn: Connection) -> None:
    """Run a sandbox in this (child) process; answer commands over ``conn`` until "stop".

    Commands: ``("stats",)`` -> the current middleware's counters; ``("realism", latency_ms, scale)`` -> wrap
    the same site in a new middleware with that latency and the documented limits x ``scale``.
    """
    from airflow_assets.sandbox.launch import build_app, build_site
    from airflow_assets.sandbox.realism import RealismConfig, RealismMiddleware
    from airflow_assets.sandbox.server import serve_in_thread

    site, summary = build_site(seed="demo", objects=objects)
    fast = RealismConfig(rate_limits=True, window_seconds=60.0 / SETUP_SCALE)
    middleware = build_app(site, fast)
    app = SwitchableApp(middleware)
    counts = dict(summary.object_counts) if summary is not None else {}
    with serve_in_thread(app, "127.0.0.1", 0) as url:
        conn.send((url, site.email, site.api_token, counts))
        while True:
            command = conn.recv()
            if command[0] == "stop":
                return
            if command[0] == "realism":
                _, latency_ms, scale = command
                realism = RealismConfig(latency_ms=latency_ms, rate_limits=True, window_seconds=60.0 / scale)
                # The same site behind a fresh middleware: new counters, a new sliding window.
                app.current = RealismMiddleware(middleware.app, realism)
                conn.send(True)
            else:
                conn.send(app.current.stats.snapshot())


def sandbox_stats(conn: Connection) -> dict[str, Any]:
    conn.send(("stats",))
    return dict(conn.recv())


# -- set-up: a complete snapshot of every schema ---------------------------------------------------------


def back_up(site: Site, mongo_uri: str) -> int:
    """Back up every demo schema of the site in plain Python, as the backup DAGs do; return the objects
    the snapshots hold."""
    from airflow_assets.backup.activity import export_activity
    from airflow_assets.backup.finalize import finalize
    from airflow_assets.backup.objects import export_objects
    from airflow_assets.backup.run import BackupRun
    from airflow_assets.backup.schema_config import BackupTarget, export_config

    db: Database[dict[str, Any]] = pymongo.MongoClient(mongo_uri)[DB_NAME]
    listed = 0
    with client_for(site, SETUP_SCALE) as client:
        for key in SCHEMA_KEYS:
            now = datetime.now(UTC)
            run = BackupRun(
                f"jira_assets_backup_{SITE_NAME}_{key.lower()}", "setup", "manual", now, now, now, now
            )
            target = BackupTarget(
                site=SITE_NAME,
                schema_key=key,
                include=INCLUDE,
                full_sweep_every=7,
                schedule="0 2 * * *",
                timezone="UTC",
            )
            config = export_config(client, db, target, run)
            listed += export_objects(client, db, config.snapshot_id).listed
            for what in ("history", "comments", "tickets"):
                export_activity(client, db, config.snapshot_id, what)
            finalize(client, db, config.snapshot_id)
    return listed


# -- the restore, in its own process ---------------------------------------------------------------------


class CreateTrace:
    """Record when each object create was sent and answered (the client's view: pacing, HTTP, parsing)."""

    def __init__(self, client: AssetsClient) -> None:
        self.calls: list[tuple[float, float]] = []
        self._create = client.create_object

        def traced(body: Mapping[str, Any]) -> dict[str, Any]:
            sent = time.perf_counter()
            try:
                return dict(self._create(body))
            finally:
                self.calls.append((sent, time.perf_counter()))

        client.create_object = traced  # type: ignore[method-assign]

    def quarters(self, started: float, ended: float) -> list[dict[str, float]]:
        """Return, per quarter of the step's wall time, the creates answered per minute and their mean
        time from call to answer."""
        length = (ended - started) / 4
        figures = []
        for quarter in range(4):
            low, high = started + quarter * length, started + (quarter + 1) * length
            inside = [answered - sent for sent, answered in self.calls if low <= answered < high]
            figures.append(
                {
                    "per_min": len(inside) / length * 60 if length else 0.0,
                    "mean_ms": sum(inside) / len(inside) * 1000 if inside else 0.0,
                }
            )
        return figures


def run_restore(args: argparse.Namespace) -> None:
    """Run every step of one restore (a child process of the benchmark); print the results as JSON."""
    from airflow_assets.restore import RestoreSession, SessionSettings, parse_request

    site = Site(**json.loads(args.site))
    options = {} if args.max_workers is None else {"max_workers": args.max_workers}
    client = client_for(site, args.scale, **options)
    db: Database[dict[str, Any]] = pymongo.MongoClient(args.mongo)[DB_NAME]
    request = parse_request(
        {
            "schema_mappings": [{"old_key": key, "new_key": key + NEW_KEY_SUFFIX} for key in SCHEMA_KEYS],
            "dry_run": False,
            "include_comments": True,
        }
    )
    settings = SessionSettings(
        restore_id="bench-1", sites=(SITE_NAME,), target_conn_id="benchmark", max_workers=args.max_workers
    )
    session = RestoreSession(request, db, client, settings)
    trace = CreateTrace(client)
    pids = {"restore": os.getpid(), **json.loads(args.pids)}
    seconds: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}
    cpu: dict[str, dict[str, float]] = {}

    def timed(step: str, action: Any) -> Any:
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        result = action()
        ended = time.perf_counter()
        seconds[step] = ended - started
        spans[step] = (started, ended)
        cpu[step] = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        return result

    hashing = _time_hashing()
    started_at = datetime.now(UTC)
    timed("plan", session.plan)
    plan_hashing = dict(hashing)
    timed("structure", session.build_structure)
    objects = timed("objects", session.restore_objects)
    comments = timed("comments", session.restore_comments)
    timed("restrictions", session.apply_restrictions)
    report = timed("verify", session.verify)
    final = timed("report", lambda: session.report(started_at))
    result = {
        "seconds": seconds,
        "objects": objects.as_dict(),
        "comments": comments.as_dict(),
        "verify": report.as_dict(),
        "differences": report.differences[:10],
        "objects_restored": final["objects_restored"],
        "workers": settings.max_workers or client.max_workers,
        "objects_cpu": cpu["objects"],
        "create_quarters": trace.quarters(*spans["objects"]),
        "peak_rss_mib": peak_rss_mib(),
        "plan_hashing": plan_hashing,
        "all_hashing": dict(hashing),
    }
    print("RESULT " + json.dumps(result, default=str), flush=True)


def _time_hashing() -> dict[str, float]:
    """Count, from now on, the time spent hashing stored content again: on every read, and in the check."""
    import airflow_assets.store.check as check
    import airflow_assets.store.versions as versions

    totals = {"read_seconds": 0.0, "read_versions": 0.0, "check_seconds": 0.0, "check_versions": 0.0}

    def timed(original: Any, what: str) -> Any:
        def timed_hash(**fields: Any) -> str:
            started = time.perf_counter()
            digest = original(**fields)
            totals[f"{what}_seconds"] += time.perf_counter() - started
            totals[f"{what}_versions"] += 1
            return str(digest)

        return timed_hash

    versions.content_hash = timed(versions.content_hash, "read")
    check.content_hash = timed(check.content_hash, "check")
    return totals


def restore_in_child(
    site: Site, mongo_uri: str, scale: float, max_workers: int | None, pids: dict[str, int]
) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--step", "restore", "--site", json.dumps(site.__dict__),
        "--mongo", mongo_uri, "--scale", str(scale), "--pids", json.dumps(pids),
    ]  # fmt: skip
    if max_workers is not None:
        command += ["--max-workers", str(max_workers)]
    process = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if process.returncode != 0:
        raise SystemExit(f"the restore failed with exit code {process.returncode}")
    line = next(line for line in process.stdout.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


def bound_minutes(create_calls: int, update_calls: int, scale: float) -> tuple[float, int, int]:
    """Return the least minutes the create and update limits x ``scale`` allow for these calls, and the
    two limits per minute; both kinds of call run side by side in one pool."""
    limits = RateLimits()
    create_limit = int(limits.limit_for(OBJECT_CREATE.rate_class) * scale)
    update_limit = int(limits.limit_for(OBJECT_UPDATE.rate_class) * scale)
    return max(create_calls / create_limit, update_calls / update_limit), create_limit, update_limit


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--scale", type=float, default=4.0, help="multiply every documented rate limit")
    parser.add_argument(
        "--max-workers", type=int, default=None, help="threads of the restore (default: the client's)"
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--site", help=argparse.SUPPRESS)
    parser.add_argument("--mongo", help=argparse.SUPPRESS)
    parser.add_argument("--pids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "restore":
        run_restore(args)
        return
    n, scale = args.objects, args.scale
    new_keys = ", ".join(key + NEW_KEY_SUFFIX for key in SCHEMA_KEYS)
    print(
        f"== restore of a {n}-object sandbox ({', '.join(SCHEMA_KEYS)} into {new_keys}, one session), "
        f"{args.latency_ms:g} ms latency, documented rate limits x {scale:g} "
        f"(sliding window {60 / scale:g} s), comments included"
    )
    with (
        bench_mongo(DB_NAME) as mongo,
        sandbox_process(_serve, n) as running,
    ):
        site, counts, stats = running.site, running.seeded, running.conn
        started = time.perf_counter()
        listed = back_up(site, mongo.uri)
        setup_seconds = time.perf_counter() - started
        per_schema = ", ".join(f"{key} {counts.get(key, 0)}" for key in SCHEMA_KEYS)
        print(
            f"   set-up: snapshots of {listed} objects ({per_schema}) in {setup_seconds:.1f} s"
            f" (no latency, limits x {SETUP_SCALE:g})"
        )
        stats.send(("realism", args.latency_ms, scale))
        stats.recv()
        pids = {"sandbox": running.pid, **server_pids(mongo)}
        result = restore_in_child(site, mongo.uri, scale, args.max_workers, pids)
        sandbox_calls = sandbox_stats(stats)
    objects, comments, verify = result["objects"], result["comments"], result["verify"]
    seconds = result["seconds"]
    restored = int(result["objects_restored"])
    objects_seconds = float(seconds["objects"])
    rate = restored / objects_seconds * 60 if objects_seconds else 0.0
    print(
        f"   objects restored: {restored} of {objects['selected']} selected "
        f"({objects['cyclic']} on reference cycles) in {objects_seconds:.1f} s = {rate:,.0f} objects/min "
        f"({result['workers']} workers)"
    )
    creates, updates = int(objects["create_calls"]), int(objects["update_calls"])
    bound, create_limit, update_limit = bound_minutes(creates, updates, scale)
    ratio = bound * 60 / objects_seconds if objects_seconds else 0.0
    print(
        f"   bound set by the rate limits: max({creates} creates / {create_limit:,}/min, {updates} updates / "
        f"{update_limit:,}/min) = {bound * 60:.1f} s; ratio {ratio:.2f} (target >= 0.9)"
    )
    quarters = ", ".join(
        f"{quarter['per_min']:,.0f}/min at {quarter['mean_ms']:.0f} ms"
        for quarter in result["create_quarters"]
    )
    print(f"   creates answered per quarter of the step, and their mean time from call to answer: {quarters}")
    cpu = result["objects_cpu"]
    print(
        f"   CPU during the objects step ({objects_seconds:.1f} s wall, {os.cpu_count()} cores): "
        + ", ".join(f"{name} {used:.1f} s" for name, used in cpu.items())
    )
    per_object = (creates + updates) / restored if restored else 0.0
    print(
        f"   object create/update calls per object: {per_object:.3f} ({creates} + {updates}; target < 1.2); "
        f"inbound updates {objects['inbound_updates']}"
    )
    print(
        f"   other calls: comment writes {comments['comment_calls']} "
        f"({comments['comments_created']} comments), verify reads {verify['read_calls']}, "
        f"lookup reads {objects['lookup_reads']}"
    )
    verdict = "ok" if verify["ok"] else "NOT OK"
    print(
        f"   verify: {verdict}, {verify['differences']} differences ({verify['objects_checked']} objects, "
        f"{verify['comments_checked']} comments checked)"
    )
    for difference in result["differences"]:
        print(f"     {difference}")
    plan_hashing, all_hashing = result["plan_hashing"], result["all_hashing"]
    plan_seconds = seconds["plan"]
    read_s, read_n = plan_hashing["read_seconds"], plan_hashing["read_versions"]
    check_s, check_n = plan_hashing["check_seconds"], plan_hashing["check_versions"]
    print(
        f"   re-hashing on read: {read_s:.2f} s for {read_n:,.0f} versions read by the plan = "
        f"{read_s / plan_seconds:.1%} of its {plan_seconds:.1f} s (target < 10%); "
        f"{all_hashing['read_seconds']:.2f} s for {all_hashing['read_versions']:,.0f} in the whole restore"
    )
    print(
        f"   the plan's check of its source snapshots: {check_n:,.0f} versions hashed in {check_s:.2f} s = "
        f"{check_s / plan_seconds:.1%} of the plan"
    )
    steps = ", ".join(f"{step} {seconds[step]:.1f}" for step in RESTORE_STEPS)
    print(f"   steps (s): {steps}; total {sum(seconds.values()):.1f}")
    busiest = Counter(sandbox_calls["accepted"]).most_common(6)
    print(
        "   sandbox calls during the restore: "
        + ", ".join(f"{klass} {count}" for klass, count in busiest)
        + f"; 429s: {sandbox_calls['rate_limited']}"
    )
    print(f"   peak RSS of the restore process: {result['peak_rss_mib']:.0f} MiB")
    if not verify["ok"]:
        raise SystemExit("verify found differences")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()

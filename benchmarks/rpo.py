"""Benchmark the RPO of a 15-minute schedule with the rolling sweep, on a big schema under steady churn.

Set-up: the sandbox's demo seed, scaled so that ITAM alone holds ``--objects`` objects, serves in its own
process. ITAM's first backup (the full sweep) runs fast (no latency, every limit x 1000) and is not measured.
Then the sandbox switches to ``--latency-ms`` and the documented limits, and the measured part starts.

**Time compression by a factor f (``--scale``)**: the documented limits x f (the sliding window shrinks to
60/f s, the client paces to the same window), the latency / f (100 ms becomes 100/f ms, so the client's
default 16 threads keep as many calls in flight per limit as at full size), the schedule / f and the churn
rate x f. So a run makes the same calls as a real one, in 1/f of the time. Every time printed is *measured
x f*, in real-schedule units: "run p95 4.0 min" means a real run would take about 4 minutes. What is not
compressed is the CPU time of the client, the sandbox and MongoDB: x f, it overstates a real run (more so
the larger f; the figure is conservative).

**Churn**, made by a thread inside the sandbox process at a steady rate (``--churn``, default 1 % of the
objects per real hour), on ITAM's laptops: edits (a Serial number), comments (which do not touch
``updated``: only the sweep reads them), creates, deletes of objects edited at least one schedule period
earlier, and deletes right after an edit (within 1/20 of a period).

**Runs**: ``--runs`` backups of ITAM on the schedule (``--schedule-minutes``, default 15, / f), each made
of the real step functions as the DAG's tasks call them: export_config, export_objects, then export_history
and export_comments side by side (two threads, one client each, as two tasks), then finalize. A run that
overruns delays the next, as Airflow's one active run at a time would. ``sweep: rolling`` with
``full_sweep_every`` = ``--sweep-every`` (default 96: every object swept once a day).

Prints:

- per run the wall time: p50, p95, max (real-schedule units), and the objects each run re-read;
- the RPO: for each change, the time from the change until the first complete snapshot that holds it
  (p50, p95, max) for edits, creates and deletes (target: max <= schedule + p95 run time), and apart
  for comments on unchanged objects, which wait for their slice (bound: N runs);
- the changes no snapshot holds (an edit lost with its object deleted before the next run);
- the share of deleted objects whose last history entry a complete snapshot holds: for objects a run read
  between their last edit and the delete (target 100 %), and apart for those deleted before any run could.

Usage: python benchmarks/rpo.py [--objects 100000] [--runs 16] [--scale 10] [--sweep-every 96]
       [--latency-ms 100] [--churn 0.01] [--schedule-minutes 15]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import pymongo
from bench_support import Site, bench_mongo, client_for, sandbox_process
from pymongo.database import Database
from rollback import demo_total_for

SCHEMA_KEY = "ITAM"
DAG_ID = "jira_assets_backup_bench_itam"
DB_NAME = "bench_rpo"
INCLUDE = {"history": True, "comments": True, "connected_tickets": False}
CHURN_TYPE = "Laptop"
EDITED = "Serial number"
SETUP_SCALE = 1000.0
# Shares of the churn's events (summing to 1).
MIX = {"edit": 0.45, "comment": 0.25, "create": 0.10, "delete": 0.10, "edit_delete": 0.10}


# -- the sandbox and its churn, in their own process -----------------------------------------------------


class Churn:
    """Make changes to the site at a steady rate in a thread; record each with its time and what it made."""

    def __init__(self, site: Any, type_id: str, seed: int) -> None:
        self.site = site
        self.type_id = type_id
        self.random = random.Random(seed)
        self.events: list[dict[str, Any]] = []
        self.stop = threading.Event()
        attributes = {a.name: a.id for a in site.effective_attributes(type_id)}
        self.edited, self.name = attributes[EDITED], attributes["Name"]
        self.live = sorted(o for o, record in site.objects.items() if str(record.object_type_id) == type_id)
        self.edited_at: dict[int, float] = {}
        self.thread: threading.Thread | None = None

    def start(self, per_second: float, period: float) -> None:
        """Start making ``per_second`` changes a second; ``period`` is the compressed schedule."""
        self.thread = threading.Thread(target=self._loop, args=(per_second, period), daemon=True)
        self.thread.start()

    def _loop(self, per_second: float, period: float) -> None:
        pending_deletes: list[tuple[float, int]] = []
        next_at = time.time()
        while not self.stop.is_set():
            now = time.time()
            for due, object_id in [d for d in pending_deletes if d[0] <= now]:
                pending_deletes.remove((due, object_id))
                self._delete(object_id, "delete_after_edit")
            if now < next_at:
                self.stop.wait(min(next_at - now, 0.05))
                continue
            next_at += 1.0 / per_second
            kind = self.random.choices(list(MIX), weights=list(MIX.values()))[0]
            if kind == "create":
                body = {
                    "objectTypeId": self.type_id,
                    "attributes": [
                        {
                            "objectTypeAttributeId": self.name,
                            "objectAttributeValues": [{"value": f"new {now}"}],
                        }
                    ],
                }
                created = self.site.create_object(body)
                self.live.append(int(created["id"]))
                self._record("create", int(created["id"]), str(created["id"]))
            elif kind == "delete":
                # An object edited two periods ago or more: a run has had the time to read its last edit.
                old = [o for o, at in self.edited_at.items() if now - at >= 2 * period and o in self.live]
                if old:
                    self._delete(self.random.choice(old), "delete")
            elif kind == "comment":
                object_id = self.random.choice(self.live)
                comment = self.site.add_comment({"comment": f"churn {now}", "objectId": str(object_id)})
                self._record("comment", object_id, str(comment["id"]))
            else:
                object_id = self.random.choice(self.live)
                self._edit(object_id, now)
                if kind == "edit_delete":
                    pending_deletes.append((now + period / 20, object_id))
                    self.live.remove(object_id)  # no other change meanwhile

    def _edit(self, object_id: int, now: float) -> None:
        body = {
            "attributes": [
                {"objectTypeAttributeId": self.edited, "objectAttributeValues": [{"value": f"SN-{now}"}]}
            ]
        }
        self.site.update_object(str(object_id), body)
        self.edited_at[object_id] = now
        self._record("edit", object_id, str(self.site.history[object_id][-1].id))

    def _delete(self, object_id: int, kind: str) -> None:
        entries = self.site.history.get(object_id) or []
        last = str(entries[-1].id) if entries else ""
        self.site.delete_object(str(object_id))
        if object_id in self.live:
            self.live.remove(object_id)
        self.edited_at.pop(object_id, None)
        self._record(kind, object_id, str(object_id), last_history=last)

    def _record(self, kind: str, object_id: int, item: str, **extra: Any) -> None:
        self.events.append(
            {"kind": kind, "object_id": str(object_id), "item": item, "t": time.time(), **extra}
        )


def _serve(objects: int, conn: Connection) -> None:
    """Run a sandbox in this (child) process; answer commands over ``conn`` until "stop".

    Commands: ``("realism", latency_ms, scale)``; ``("churn", per_second, period)`` starts the churn;
    ``("events", start)`` -> the churn's events from index ``start``; ``("halt",)`` stops the churn.
    """
    from airflow_assets.sandbox.launch import build_app, build_site
    from airflow_assets.sandbox.realism import RealismConfig, RealismMiddleware
    from airflow_assets.sandbox.server import serve_in_thread

    site, summary = build_site(seed="demo", objects=demo_total_for(objects))
    assert summary is not None
    middleware = build_app(site, RealismConfig(rate_limits=True, window_seconds=60.0 / SETUP_SCALE))

    class Switchable:
        current: Any = middleware

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.current(scope, receive, send)

    app = Switchable()
    churn = Churn(site, summary.type_ids[CHURN_TYPE], seed=18)
    seeded = {"object_counts": dict(summary.object_counts)}
    with serve_in_thread(app, "127.0.0.1", 0) as url:
        conn.send((url, site.email, site.api_token, seeded))
        while True:
            command = conn.recv()
            if command[0] == "stop":
                churn.stop.set()
                return
            if command[0] == "realism":
                _, latency_ms, scale = command
                realism = RealismConfig(latency_ms=latency_ms, rate_limits=True, window_seconds=60.0 / scale)
                app.current = RealismMiddleware(middleware.app, realism)
                conn.send(True)
            elif command[0] == "churn":
                churn.start(command[1], command[2])
                conn.send(True)
            elif command[0] == "halt":
                churn.stop.set()
                conn.send(True)
            elif command[0] == "events":
                conn.send(list(churn.events[command[1] :]))


# -- the backup runs ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """One run: when it started and completed (epoch seconds), its snapshot, what it read."""

    run_id: str
    started: float
    finished: float
    snapshot_id: str
    seq: int
    sweep_slice: str
    objects_read: int
    activity_objects: int


def back_up(site: Site, db: Database, target: Any, run_id: str, scale: float, workers: int) -> RunResult:
    """Run the backup's steps as the DAG's tasks do (history and comments side by side); time it."""
    from airflow_assets.backup.activity import export_activity
    from airflow_assets.backup.finalize import finalize
    from airflow_assets.backup.objects import export_objects
    from airflow_assets.backup.run import BackupRun
    from airflow_assets.backup.schema_config import export_config
    from airflow_assets.store import SnapshotStore

    started = time.time()
    now = datetime.now(UTC)
    run = BackupRun(DAG_ID, run_id, "manual", now, now, now, now)
    with client_for(site, scale, max_workers=workers) as client:
        config = export_config(client, db, target, run)
        objects = export_objects(client, db, config.snapshot_id)
        errors: list[BaseException] = []

        def activity(what: str) -> None:
            try:
                with client_for(site, scale, max_workers=workers) as own:
                    export_activity(own, db, config.snapshot_id, what)
            except BaseException as error:  # re-raised by the run below
                errors.append(error)

        threads = [threading.Thread(target=activity, args=(what,)) for what in ("history", "comments")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        finalize(client, db, config.snapshot_id)
    snapshot = SnapshotStore(db).get(config.snapshot_id)
    assert snapshot is not None and snapshot.finished_at is not None
    swept = snapshot.document.get("sweep_slice") or {}
    return RunResult(
        run_id=run_id,
        started=started,
        finished=snapshot.finished_at.timestamp(),
        snapshot_id=snapshot.snapshot_id,
        seq=snapshot.seq,
        sweep_slice=f"{swept['index']}/{swept['of']}" if swept else snapshot.kind,
        objects_read=int(objects.read),
        activity_objects=int(snapshot.steps.get("export_history", {}).get("objects", 0)),
    )


# -- which changes a snapshot holds --------------------------------------------------------------------------


@dataclass
class Change:
    """One change of the churn, and when a complete snapshot first held it (epoch seconds)."""

    kind: str
    object_id: str
    item: str
    at: float
    last_history: str = ""
    held_at: float | None = None


@dataclass
class Ledger:
    """Every change so far, checked against each new complete snapshot."""

    changes: list[Change] = field(default_factory=list)

    def add(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.changes.append(
                Change(
                    event["kind"],
                    event["object_id"],
                    event["item"],
                    event["t"],
                    event.get("last_history", ""),
                )
            )

    def check(self, db: Database, run: RunResult) -> None:
        """Mark the changes the run's snapshot holds (made before it completed, not held before)."""
        from airflow_assets.store import SnapshotStore

        snapshot = SnapshotStore(db).get(run.snapshot_id)
        assert snapshot is not None
        versions = snapshot.versions(db)
        waiting = [c for c in self.changes if c.held_at is None and c.at < run.finished]
        by_kind: dict[str, list[Change]] = {}
        for change in waiting:
            by_kind.setdefault(change.kind, []).append(change)
        held: set[tuple[str, str]] = set()
        for kind, stored_kind in (("edit", "history"), ("comment", "comment"), ("create", "object")):
            items = [c.item for c in by_kind.get(kind, [])]
            held |= {(kind, item) for item in versions.visible_items(stored_kind, snapshot.seq, items)}
        for kind in ("delete", "delete_after_edit"):
            items = [c.item for c in by_kind.get(kind, [])]
            present = versions.visible_items("object", snapshot.seq, items)
            held |= {(kind, item) for item in items if item not in present}
        for change in waiting:
            if (change.kind, change.item) in held:
                change.held_at = run.finished

    def last_history_captured(self, db: Database, runs: list[RunResult]) -> dict[str, tuple[int, int]]:
        """Return, per kind of delete, (objects whose last history entry some snapshot holds, deletes).

        A delete is ``after_a_run`` when a run started after the object's last edit and completed before
        the delete (the run could read that edit), ``right_after_an_edit`` otherwise.
        """
        from airflow_assets.store import SnapshotStore

        edits: dict[str, list[float]] = {}
        for change in self.changes:
            if change.kind == "edit":
                edits.setdefault(change.object_id, []).append(change.at)
        kinds: dict[str, list[Change]] = {"after_a_run": [], "right_after_an_edit": []}
        for change in self.changes:
            if change.kind not in ("delete", "delete_after_edit") or not change.last_history:
                continue
            edited = max((at for at in edits.get(change.object_id, []) if at < change.at), default=0.0)
            between = any(edited < run.started and run.finished < change.at for run in runs)
            kinds["after_a_run" if between else "right_after_an_edit"].append(change)
        found: set[str] = set()
        wanted = {c.last_history for deletes in kinds.values() for c in deletes}
        for run in runs:
            snapshot = SnapshotStore(db).get(run.snapshot_id)
            assert snapshot is not None
            found |= set(snapshot.versions(db).visible_items("history", snapshot.seq, sorted(wanted - found)))
        return {
            kind: (sum(1 for c in deletes if c.last_history in found), len(deletes))
            for kind, deletes in kinds.items()
        }


# -- figures -------------------------------------------------------------------------------------------------


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (math.nan, math.nan, math.nan)
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered), p95, ordered[-1]


def _minutes(seconds: float, scale: float) -> str:
    return f"{seconds * scale / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=100_000, help="objects of the backed-up schema")
    parser.add_argument("--runs", type=int, default=16, help="measured runs on the schedule")
    parser.add_argument("--scale", type=float, default=10.0, help="time compression factor f")
    parser.add_argument("--sweep-every", type=int, default=96, help="full_sweep_every: N of the rotation")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--churn", type=float, default=0.01, help="changes per real hour, share of objects")
    parser.add_argument("--schedule-minutes", type=float, default=15.0, help="the real schedule")
    args = parser.parse_args()
    from airflow_assets.backup.schema_config import BackupTarget

    scale = args.scale
    period = args.schedule_minutes * 60 / scale  # the compressed schedule, seconds
    per_second = args.objects * args.churn / 3600 * scale
    latency = args.latency_ms / scale
    workers = (
        16  # the client's default: with the latency / f, as many calls in flight per limit as at full size
    )
    print(
        f"== RPO of a {args.schedule_minutes:g}-minute schedule: {SCHEMA_KEY} with {args.objects:,} objects, "
        f"{args.latency_ms:g} ms latency, the documented limits, rolling sweep N = {args.sweep_every}"
    )
    print(
        f"   time compressed by f = {scale:g}: limits x {scale:g} (window {60 / scale:g} s), latency "
        f"{latency:g} ms, schedule {period:.1f} s, churn {args.churn:.1%}/h x {scale:g} = {per_second:.2f} "
        f"changes/s, {workers} client threads; times below are measured x {scale:g} (real-schedule units)"
    )
    target = BackupTarget(
        "bench", SCHEMA_KEY, INCLUDE, args.sweep_every, f"*/{args.schedule_minutes:g} * * * *", "UTC"
    )
    with bench_mongo(DB_NAME) as mongo, sandbox_process(_serve, args.objects) as running:
        db: Database[dict[str, Any]] = pymongo.MongoClient(mongo.uri)[DB_NAME]
        print(f"   sandbox: {running.seeded['object_counts']} objects per schema", flush=True)
        started = time.perf_counter()
        first = back_up(running.site, db, target, "setup-full", SETUP_SCALE, 16)
        print(
            f"   first (full) backup, fast and not measured: {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        running.ask("realism", latency, scale)
        running.ask("churn", per_second, period)
        ledger = Ledger()
        runs: list[RunResult] = []
        seen = 0
        begin = time.time()
        late: list[float] = []
        for number in range(args.runs):
            tick = begin + number * period
            if time.time() < tick:
                time.sleep(tick - time.time())
            late.append(max(0.0, time.time() - tick))
            run = back_up(running.site, db, target, f"run-{number + 1}", scale, workers)
            runs.append(run)
            events = running.ask("events", seen)
            seen += len(events)
            ledger.add(events)
            ledger.check(db, run)
            print(
                f"   run {number + 1:>3}: {_minutes(run.finished - run.started, scale):>9}, "
                f"slice {run.sweep_slice:>7}, "
                f"{run.objects_read:>6} objects read, {run.activity_objects:>6} histories read, "
                f"started {_minutes(late[-1], scale)} late",
                flush=True,
            )
        running.ask("halt")
        # The changes made after the last run started wait for a run that never comes: left out below.
        cutoff = runs[-1].started
        durations = [run.finished - run.started for run in runs]
        p50, p95, top = _quantiles(durations)
        print(
            f"   run wall time: p50 {_minutes(p50, scale)}, p95 {_minutes(p95, scale)}, "
            f"max {_minutes(top, scale)} "
            f"(schedule {args.schedule_minutes:g} min); first measured run's slice {runs[0].sweep_slice}, "
            f"full backup before: {first.sweep_slice}"
        )
        target_max = args.schedule_minutes * 60 / scale + p95
        counted = Counter(c.kind for c in ledger.changes if c.at < cutoff)
        print(f"   changes made before the last run started: {dict(counted)}")
        for label, kinds in (
            ("edits, creates, deletes", ("edit", "create", "delete", "delete_after_edit")),
            ("comments on unchanged objects", ("comment",)),
        ):
            chosen = [c for c in ledger.changes if c.kind in kinds and c.at < cutoff]
            held = [c.held_at - c.at for c in chosen if c.held_at is not None]
            q50, q95, qmax = _quantiles(held)
            print(
                f"   RPO, {label}: p50 {_minutes(q50, scale)}, p95 {_minutes(q95, scale)}, max "
                f"{_minutes(qmax, scale)} over {len(held)} held of {len(chosen)}"
            )
        print(
            f"   target for edits, creates, deletes: max <= schedule + p95 run = "
            f"{_minutes(target_max, scale)}; comments wait for their slice: bound N x schedule = "
            f"{args.sweep_every * args.schedule_minutes / 60:g} h"
        )
        lost = [c for c in ledger.changes if c.kind == "edit" and c.held_at is None and c.at < cutoff]
        deleted = {c.object_id for c in ledger.changes if c.kind in ("delete", "delete_after_edit")}
        print(
            f"   edits no snapshot holds: {len(lost)} "
            f"({sum(1 for c in lost if c.object_id in deleted)} of them on objects deleted before "
            "the next run)"
        )
        captured = ledger.last_history_captured(db, runs)
        for kind, label in (
            ("after_a_run", "a run read them between their last edit and the delete (target 100 %)"),
            ("right_after_an_edit", "deleted before a run could read their last edit"),
        ):
            found, total = captured[kind]
            share = f"{found / total:.1%}" if total else "n/a"
            print(
                f"   deleted objects whose last history entry a snapshot holds, {label}: "
                f"{found}/{total} = {share}"
            )


if __name__ == "__main__":
    main()

"""Benchmark a rollback by window and account of one big schema against the sandbox and the embedded MongoDB.

Scenario 1 of the rollback issue: an "import" by account A overwrote 3 attributes on 1,000 objects of a
20,000-object schema within one hour. Later another account B edited other attributes of 20 of them, and one
of the 3 attributes on 5 of those 20. A rollback by window and account puts the 3 attributes back on 995
objects and 2 of them on the other 5 (1,000 objects written), keeps B's edits, and reports the 5 conflicts.

Set-up: the sandbox's demo seed, scaled so that ITAM alone holds ``--objects`` objects (the seed spreads the
rest over PEOPLE and LOC), serves in its own process. ITAM is backed up (the snapshot to return to); then the
sandbox process itself makes the edits as the given accounts at given moments (one day ahead of now, so
every edit falls after the first snapshot's state): the import of Version, Homepage and Notes of
``--imported`` Applications by A in [T, T+1h], B's edits after T+1h. ITAM is backed up again (its history
is what the window reads). Both backups run fast, without latency and with every limit x 1000.

Then the sandbox switches to ``--latency-ms`` and the documented limits x ``--scale`` (the sliding window
shrinks to 60/scale seconds, the client paces to the same window), and the rollback (not a dry run) runs in
its own process, as an Airflow task would: params ``{"mode": "rollback", "schema_mappings": "ITAM",
"snapshot": <first snapshot>, "changed_by": [A], "changed_from": T, "changed_to": T+1h}``. Prints:

- the plan's time (the plan step alone: the live read, the history, the decisions);
- writes per changed object: the ``PUT object/{id}`` answered 2xx by the sandbox, counted per object id, over
  the objects put back (target <= 1.05), and the writes to objects that are not in the plan (target 0);
- objects/min of the writes step, and its ratio to the bound the documented ``PUT object/{id}`` limit x scale
  sets (target >= 0.9), with where the step's time went (the batches' re-reads, the writes);
- the conflicts reported (expect 5), the objects put back (expect 1,000: 995 with all 3 attributes);
- B's edits still in place; the verify result (the benchmark exits non-zero on any difference);
- the peak RSS of the rollback's process.

Usage: python benchmarks/rollback.py [--objects 20000] [--imported 1000] [--latency-ms 100] [--scale 4]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import pymongo
from bench_support import (
    SandboxProcess,
    Site,
    bench_mongo,
    client_for,
    cpu_seconds,
    peak_rss_mib,
    sandbox_process,
    server_pids,
)
from pymongo.database import Database

from airflow_assets.api import RateLimits
from airflow_assets.api.endpoints import OBJECT_UPDATE

SITE_NAME = "bench"
SCHEMA_KEY = "ITAM"
IMPORT_TYPE = "Application"
IMPORTED = ("Version", "Homepage", "Notes")  # text, url and textarea: plain text values
OTHER_EDIT = "Name"  # what B edits besides one of the imported attributes
CONFLICTED = "Notes"
INCLUDE = {"history": True, "comments": False, "connected_tickets": False}
# The set-up backups run without latency and with every limit x 1000, so they take seconds, not minutes.
SETUP_SCALE = 1000.0
DB_NAME = "bench_rollback"
STEPS = ("plan", "structure", "objects", "rollback", "verify")
PUT_PATH = re.compile(r"/object/(\d+)$")


# -- the sandbox, in its own process ---------------------------------------------------------------------


def demo_total_for(schema_objects: int) -> int:
    """Return the demo seed's ``objects=`` under which ITAM holds at least ``schema_objects`` objects.

    The seed splits the objects left after its fixed-size types over the bulk types by ``BULK_SHARES``;
    ITAM holds the servers, applications and laptops, less the two laptops it deletes at the end.
    """
    from airflow_assets.sandbox import seed

    cities = sum(len(cities) for _, _, cities in seed._COUNTRIES)
    fixed = len(seed._COUNTRIES) + cities + sum(seed._OFFICES_PER_CITY) + len(seed._DEPARTMENTS)

    def itam(total: int) -> int:
        bulk = total - fixed + 2
        counts = {name: int(bulk * share) for name, share in seed.BULK_SHARES.items()}
        counts["Laptop"] += bulk - sum(counts.values())
        return counts["Server"] + counts["Application"] + counts["Laptop"] - 2

    shares = seed.BULK_SHARES["Server"] + seed.BULK_SHARES["Application"] + seed.BULK_SHARES["Laptop"]
    total = max(seed.MIN_OBJECTS, int(schema_objects / shares) + fixed - 10)
    while itam(total) < schema_objects:
        total += 1
    return total


class CountingApp:
    """An ASGI app that forwards every request to the realism middleware currently in place, and counts
    the ``PUT object/{id}`` the site answered 2xx, per object id (the realism stats count per class only)."""

    def __init__(self, current: Any) -> None:
        self.current = current
        self.puts: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        found = PUT_PATH.search(scope.get("path", "")) if scope.get("type") == "http" else None
        if found is None or scope.get("method") != "PUT":
            await self.current(scope, receive, send)
            return
        object_id = found.group(1)

        async def counted(message: Any) -> None:
            if message.get("type") == "http.response.start" and 200 <= int(message["status"]) < 300:
                self.puts[object_id] += 1
            await send(message)

        await self.current(scope, receive, counted)


def _serve(objects: int, conn: Connection) -> None:
    """Run a sandbox in this (child) process; answer commands over ``conn`` until "stop".

    Commands: ``("stats",)`` -> the current middleware's counters and the PUTs per object id;
    ``("realism", latency_ms, scale)`` -> the same site behind a new middleware with that latency and the
    documented limits x ``scale``; ``("update", edits)`` -> apply ``(object id, body, account id, ISO
    moment)`` edits as those accounts at those moments (``Site.update_object``), answer how many.
    """
    from airflow_assets.sandbox.launch import build_app, build_site
    from airflow_assets.sandbox.realism import RealismConfig, RealismMiddleware
    from airflow_assets.sandbox.server import serve_in_thread

    site, summary = build_site(seed="demo", objects=objects)
    assert summary is not None
    fast = RealismConfig(rate_limits=True, window_seconds=60.0 / SETUP_SCALE)
    middleware = build_app(site, fast)
    app = CountingApp(middleware)
    seeded = {
        "object_counts": dict(summary.object_counts),
        "type_counts": dict(summary.type_counts),
        "type_ids": dict(summary.type_ids),
        "users": list(summary.users),
    }
    with serve_in_thread(app, "127.0.0.1", 0) as url:
        conn.send((url, site.email, site.api_token, seeded))
        while True:
            command = conn.recv()
            if command[0] == "stop":
                return
            if command[0] == "realism":
                _, latency_ms, scale = command
                realism = RealismConfig(latency_ms=latency_ms, rate_limits=True, window_seconds=60.0 / scale)
                # The same site behind a fresh middleware: new counters, a new sliding window.
                app.current = RealismMiddleware(middleware.app, realism)
                app.puts.clear()
                conn.send(True)
            elif command[0] == "update":
                for object_id, body, actor, at in command[1]:
                    site.update_object(object_id, body, actor=actor, at=datetime.fromisoformat(at))
                conn.send(len(command[1]))
            else:
                conn.send({**app.current.stats.snapshot(), "puts": dict(app.puts)})


# -- set-up: the snapshot to return to, the edits, the snapshot holding their history -----------------------


def back_up(site: Site, mongo_uri: str, run_id: str) -> tuple[str, int]:
    """Back up ITAM in plain Python, as the backup DAG does; return the snapshot id and its objects."""
    from airflow_assets.backup.adhoc import backup_now, present_run
    from airflow_assets.backup.schema_config import BackupTarget

    db: Database[dict[str, Any]] = pymongo.MongoClient(mongo_uri)[DB_NAME]
    target = BackupTarget(
        site=SITE_NAME, schema_key=SCHEMA_KEY, include=INCLUDE, full_sweep_every=7, schedule="0 2 * * *",
        timezone="UTC",
    )  # fmt: skip
    with client_for(site, SETUP_SCALE) as client:
        done = backup_now(
            client, db, target, present_run(f"jira_assets_backup_{SITE_NAME}_itam", run_id), key=None
        )
    return done.snapshot_id, int(done.counts.get("objects", 0))


@dataclass(frozen=True)
class Scenario:
    """The edits made, and what the rollback should do with them."""

    start: datetime  # T: the window is [T, T + 1 h]
    importer: str  # account A
    other: str  # account B
    imported: list[str]  # object ids the import overwrote
    others: list[str]  # of those, the objects B edited later (another attribute)
    conflicts: list[str]  # of those, the objects where B also edited one of the imported attributes
    attributes: dict[str, str]  # attribute name -> id (the Application type's)


def make_edits(running: SandboxProcess, imported: int, others: int, conflicts: int) -> Scenario:
    """Make the scenario's edits in the sandbox process, as A and B at moments one day ahead."""
    seeded = running.seeded
    type_id = seeded["type_ids"][IMPORT_TYPE]
    importer, other = seeded["users"][0], seeded["users"][1]
    with client_for(running.site, SETUP_SCALE) as client:
        attributes = {str(a["name"]): str(a["id"]) for a in client.get_object_type_attributes(type_id)}
        ids = sorted(
            (str(o["id"]) for o in client.iter_objects(f"objectTypeId = {type_id}", page_size=1000)), key=int
        )
    if len(ids) < imported:
        raise SystemExit(f"ITAM holds {len(ids)} {IMPORT_TYPE} objects, fewer than --imported {imported}")
    # The import touches objects spread over the whole type, not the first ones.
    step = len(ids) / imported
    chosen = [ids[int(number * step)] for number in range(imported)]
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    spacing = 3000.0 / imported  # every edit of the import inside [T, T + 50 min]
    edits: list[tuple[str, dict[str, Any], str, str]] = []
    for number, object_id in enumerate(chosen):
        values = {
            "Version": f"{number % 9 + 1}.99.{number}-import",
            "Homepage": f"https://import.example.com/apps/{number}",
            "Notes": f"Imported from the asset register, row {number + 2}.",
        }
        moment = start + timedelta(seconds=number * spacing)
        edits.append((object_id, _body(attributes, values), importer, moment.isoformat()))
    # B, later: another attribute of ``others`` objects, and an imported one on ``conflicts`` of them.
    edited = chosen[:: max(1, imported // others)][:others]
    for number, object_id in enumerate(edited):
        moment = start + timedelta(hours=2, minutes=number)
        values = {OTHER_EDIT: f"Renamed by hand {number}"}
        edits.append((object_id, _body(attributes, values), other, moment.isoformat()))
    conflicted = edited[:conflicts]
    for number, object_id in enumerate(conflicted):
        moment = start + timedelta(hours=3, minutes=number)
        values = {CONFLICTED: f"Fixed by hand {number}"}
        edits.append((object_id, _body(attributes, values), other, moment.isoformat()))
    running.ask("update", edits)
    return Scenario(start, importer, other, chosen, edited, conflicted, attributes)


def _body(attributes: dict[str, str], values: dict[str, str]) -> dict[str, Any]:
    return {
        "attributes": [
            {"objectTypeAttributeId": attributes[name], "objectAttributeValues": [{"value": value}]}
            for name, value in values.items()
        ]
    }


# -- the rollback, in its own process ------------------------------------------------------------------


class StepTrace:
    """Record the time of the writes step's parts: the batches' re-reads and the object updates."""

    def __init__(self, client: Any) -> None:
        import airflow_assets.restore.rollback_writes as rollback

        self.reads: list[float] = []
        self.puts: list[tuple[float, float]] = []
        walk = rollback.LiveWalk
        update = client.update_object
        trace = self

        class TracedWalk(walk):  # type: ignore[misc, valid-type]
            def objects(self) -> Iterator[dict[str, Any]]:
                started = time.perf_counter()
                found = list(super().objects())
                trace.reads.append(time.perf_counter() - started)
                return iter(found)

        def traced(object_id: str, body: Any) -> Any:
            sent = time.perf_counter()
            try:
                return update(object_id, body)
            finally:
                self.puts.append((sent, time.perf_counter()))

        rollback.LiveWalk = TracedWalk  # type: ignore[misc]
        client.update_object = traced

    def as_dict(self) -> dict[str, Any]:
        waits = [answered - sent for sent, answered in self.puts]
        return {
            "reads": len(self.reads),
            "read_seconds": sum(self.reads),
            "puts": len(self.puts),
            "put_mean_ms": sum(waits) / len(waits) * 1000 if waits else 0.0,
            "put_span": (max(a for _, a in self.puts) - min(s for s, _ in self.puts)) if self.puts else 0.0,
        }


def run_rollback(args: argparse.Namespace) -> None:
    """Run every step of the rollback (a child process of the benchmark); print the results as JSON."""
    from airflow_assets.restore import RestoreSession, SessionSettings, parse_request
    from airflow_assets.restore.rollback import read_changes

    site = Site(**json.loads(args.site))
    options = {} if args.max_workers is None else {"max_workers": args.max_workers}
    client = client_for(site, args.scale, **options)
    db: Database[dict[str, Any]] = pymongo.MongoClient(args.mongo)[DB_NAME]
    request = parse_request(json.loads(args.params))
    settings = SessionSettings(
        restore_id="bench-rollback", sites=(SITE_NAME,), target_conn_id="benchmark",
        max_workers=args.max_workers,
    )  # fmt: skip
    session = RestoreSession(request, db, client, settings)
    trace = StepTrace(client)
    pids = {"rollback": os.getpid(), **json.loads(args.pids)}
    seconds: dict[str, float] = {}
    cpu: dict[str, dict[str, float]] = {}

    def timed(step: str, action: Any) -> Any:
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        profiler = cProfile.Profile() if args.profile and step in ("plan", "rollback") else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        result = action()
        seconds[step] = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{args.profile}.{step}")
        cpu[step] = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        return result

    timed("plan", session.plan)
    timed("structure", session.build_structure)
    timed("objects", session.restore_objects)
    writes = timed("rollback", session.roll_back)
    report = timed("verify", session.verify)
    (plan,) = session.rollback_plans
    changes = list(read_changes(session.ledger))
    result = {
        "seconds": seconds,
        "cpu": cpu,
        "totals": plan["totals"],
        "conflicts": plan["conflicts"],
        "live_requests": plan["live_requests"],
        "writes": writes.as_dict(),
        "warnings": writes.warnings[:10],
        "trace": trace.as_dict(),
        "put_ids": sorted({c["id"] for c in changes if c.get("action") == "put"}),
        "put_attributes": Counter(len(c.get("put") or []) for c in changes if c.get("action") == "put"),
        "kept_reasons": Counter(k["reason"].split(":")[0] for c in changes for k in c.get("kept") or []),
        "verify": report.as_dict(),
        "differences": report.differences[:10],
        "workers": args.max_workers or client.max_workers,
        "peak_rss_mib": peak_rss_mib(),
    }
    print("RESULT " + json.dumps(result, default=str), flush=True)


def rollback_in_child(
    site: Site, mongo_uri: str, params: dict[str, Any], args: argparse.Namespace, pids: dict[str, int]
) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--step", "rollback", "--site", json.dumps(site.__dict__),
        "--mongo", mongo_uri, "--scale", str(args.scale), "--pids", json.dumps(pids),
        "--params", json.dumps(params),
    ]  # fmt: skip
    if args.max_workers is not None:
        command += ["--max-workers", str(args.max_workers)]
    if args.profile:
        command += ["--profile", args.profile]
    process = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if process.returncode != 0:
        raise SystemExit(f"the rollback failed with exit code {process.returncode}")
    line = next(line for line in process.stdout.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


# -- the figures ---------------------------------------------------------------------------------------


def live_values(
    site: Site, object_ids: list[str], attribute_ids: list[str]
) -> dict[str, dict[str, list[str]]]:
    """Return object id -> attribute id -> the values it holds now (read fast, after the measured run)."""
    found: dict[str, dict[str, list[str]]] = {}
    with client_for(site, SETUP_SCALE) as client:
        for start in range(0, len(object_ids), 200):
            chunk = object_ids[start : start + 200]
            query = f"objectId in ({', '.join(chunk)})"
            for obj in client.iter_objects(query, page_size=200):
                found[str(obj["id"])] = {
                    str(a["objectTypeAttributeId"]): [str(v.get("value")) for v in a["objectAttributeValues"]]
                    for a in obj["attributes"]
                    if str(a["objectTypeAttributeId"]) in attribute_ids
                }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=20_000, help="objects in the rolled-back schema")
    parser.add_argument("--imported", type=int, default=1_000, help="objects the import overwrote")
    parser.add_argument("--others", type=int, default=20, help="of those, objects B edited later")
    parser.add_argument("--conflicts", type=int, default=5, help="of those, where B edited an imported one")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--scale", type=float, default=4.0, help="multiply every documented rate limit")
    parser.add_argument(
        "--max-workers", type=int, default=None, help="threads of the rollback (default: the client's)"
    )
    parser.add_argument(
        "--profile",
        help="write cProfile stats of the plan and the writes (main thread) to PROFILE.plan/.rollback",
    )
    for hidden in ("--step", "--site", "--mongo", "--pids", "--params"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "rollback":
        run_rollback(args)
        return
    if not 0 < args.conflicts <= args.others <= args.imported:
        raise SystemExit("need 0 < --conflicts <= --others <= --imported")
    scale = args.scale
    total = demo_total_for(args.objects)
    print(
        f"== rollback by window and account of {args.imported} imported objects of a {args.objects}-object "
        f"{SCHEMA_KEY} (demo seed of {total} objects), {args.latency_ms:g} ms latency, documented rate "
        f"limits x {scale:g} (sliding window {60 / scale:g} s)",
        flush=True,
    )
    with bench_mongo(DB_NAME) as mongo, sandbox_process(_serve, total) as running:
        site = running.site
        started = time.perf_counter()
        first, listed = back_up(site, mongo.uri, "before")
        print(
            f"   set-up: snapshot {first} of {listed} objects "
            f"({running.seeded['type_counts'][IMPORT_TYPE]} {IMPORT_TYPE}s) in "
            f"{time.perf_counter() - started:.1f} s (no latency, limits x {SETUP_SCALE:g})",
            flush=True,
        )
        started = time.perf_counter()
        scenario = make_edits(running, args.imported, args.others, args.conflicts)
        second, _ = back_up(site, mongo.uri, "after")
        print(
            f"   set-up: A overwrote {', '.join(IMPORTED)} on {len(scenario.imported)} objects in "
            f"[{scenario.start:%Y-%m-%d %H:%M}, +1 h]; B later edited {OTHER_EDIT} on {len(scenario.others)} "
            f"of them and {CONFLICTED} on {len(scenario.conflicts)} of those; incremental snapshot {second}: "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        params = {
            "mode": "rollback",
            "schema_mappings": SCHEMA_KEY,
            "snapshot": first,
            "changed_by": [scenario.importer],
            "changed_from": scenario.start.isoformat(),
            "changed_to": (scenario.start + timedelta(hours=1)).isoformat(),
            "dry_run": False,
        }
        running.ask("realism", args.latency_ms, scale)
        pids = {"sandbox": running.pid, **server_pids(mongo)}
        result = rollback_in_child(site, mongo.uri, params, args, pids)
        calls = running.ask("stats")
        ids = [*scenario.imported]
        after = live_values(site, ids, list(scenario.attributes.values()))
    ok = report(args, scenario, result, calls, after)
    if not ok:
        raise SystemExit("the rollback did not do what the scenario expects (see above)")


def report(
    args: argparse.Namespace,
    scenario: Scenario,
    result: dict[str, Any],
    calls: dict[str, Any],
    after: dict[str, dict[str, list[str]]],
) -> bool:
    """Print the figures; return whether every check passed."""
    seconds, totals, writes, trace = result["seconds"], result["totals"], result["writes"], result["trace"]
    checks: list[tuple[str, bool]] = []
    print(
        f"   plan: {seconds['plan']:.1f} s ({totals.get('compared', 0)} objects compared, "
        f"{result['live_requests']} live AQL requests); CPU: "
        + ", ".join(f"{name} {used:.1f} s" for name, used in result["cpu"]["plan"].items())
    )
    planned = set(result["put_ids"])
    puts: dict[str, int] = calls["puts"]
    to_planned = sum(count for object_id, count in puts.items() if object_id in planned)
    to_others = sum(count for object_id, count in puts.items() if object_id not in planned)
    put_back = int(writes["objects_put_back"])
    per_object = to_planned / put_back if put_back else 0.0
    print(
        f"   writes per changed object: {per_object:.3f} ({to_planned} PUT object/{{id}} answered 2xx / "
        f"{put_back} objects put back; target <= 1.05); at most {max(puts.values(), default=0)} on one "
        f"object; writes to objects not in the plan: {to_others} (target 0)"
    )
    checks += [("writes per object <= 1.05", 0 < per_object <= 1.05), ("no stray writes", to_others == 0)]
    limit = int(RateLimits().limit_for(OBJECT_UPDATE.rate_class) * args.scale)
    step = float(seconds["rollback"])
    rate = put_back / step * 60 if step else 0.0
    bound = to_planned / limit * 60
    ratio = bound / step if step else 0.0
    print(
        f"   writes step: {put_back} objects in {step:.1f} s = {rate:,.0f} objects/min "
        f"({result['workers']} workers); bound {to_planned} PUTs / {limit:,}/min = {bound:.1f} s; "
        f"ratio {ratio:.2f} (target >= 0.9)"
    )
    print(
        f"     of which: {trace['reads']} batch re-reads {trace['read_seconds']:.1f} s; {trace['puts']} PUTs "
        f"over {trace['put_span']:.1f} s, {trace['put_mean_ms']:.0f} ms each from call to answer; CPU: "
        + ", ".join(f"{name} {used:.1f} s" for name, used in result["cpu"]["rollback"].items())
    )
    full = int(result["put_attributes"].get(str(len(IMPORTED)), 0))
    conflicts = int(totals.get("conflicts", 0))
    print(
        f"   objects put back: {put_back} (plan: {totals.get('put_back', 0)}), {full} with all "
        f"{len(IMPORTED)} attributes (expect {len(scenario.imported) - len(scenario.conflicts)}); "
        f"conflicts reported: {conflicts} (expect {len(scenario.conflicts)}); "
        f"changed since the plan {writes['changed_since_plan']}, already back {writes['already_back']}"
    )
    for conflict in result["conflicts"][:3]:
        print(f"     {conflict}")
    expected_full = len(scenario.imported) - len(scenario.conflicts)
    checks += [
        ("objects put back", put_back == len(scenario.imported) == totals.get("put_back")),
        ("all 3 attributes back", full == expected_full),
        ("conflicts", conflicts == len(scenario.conflicts)),
    ]
    name_id, conflict_id = scenario.attributes[OTHER_EDIT], scenario.attributes[CONFLICTED]
    kept_names = sum(
        1 for n, o in enumerate(scenario.others) if after[o].get(name_id) == [f"Renamed by hand {n}"]
    )
    kept_fixes = sum(
        1 for n, o in enumerate(scenario.conflicts) if after[o].get(conflict_id) == [f"Fixed by hand {n}"]
    )
    imported_left = sum(
        1
        for o in scenario.imported
        for value in after[o].get(scenario.attributes["Version"], [])
        if value.endswith("-import")
    )
    print(
        f"   B's edits kept: {kept_names}/{len(scenario.others)} {OTHER_EDIT}s, {kept_fixes}/"
        f"{len(scenario.conflicts)} {CONFLICTED}; imported Versions left live: {imported_left} (expect 0)"
    )
    checks += [
        ("B's edits kept", kept_names == len(scenario.others) and kept_fixes == len(scenario.conflicts)),
        ("import undone", imported_left == 0),
    ]
    verify = result["verify"]
    print(
        f"   verify: {'ok' if verify['ok'] else 'NOT OK'}, {verify['differences']} differences "
        f"({verify['objects_checked']} objects checked) in {seconds['verify']:.1f} s"
    )
    for difference in result["differences"]:
        print(f"     {difference}")
    checks.append(("verify", bool(verify["ok"])))
    for warning in result["warnings"]:
        print(f"     warning: {warning}")
    steps = ", ".join(f"{name} {seconds[name]:.1f}" for name in STEPS)
    print(f"   steps (s): {steps}; total {sum(seconds.values()):.1f}")
    busiest = Counter(calls["accepted"]).most_common(6)
    print(
        "   sandbox calls during the rollback: "
        + ", ".join(f"{klass} {count}" for klass, count in busiest)
        + f"; 429s: {calls['rate_limited']}"
    )
    print(f"   peak RSS of the rollback process: {result['peak_rss_mib']:.0f} MiB")
    failed = [name for name, passed in checks if not passed]
    if failed:
        print(f"   FAILED: {', '.join(failed)}")
    return not failed


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()

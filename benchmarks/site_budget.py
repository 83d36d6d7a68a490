"""Benchmark one site's schemas backed up at once on the Celery stack: how close to the rate-limit bound.

A sandbox (its own process) with ``--objects`` objects in 3 schemas (PEOPLE, LOC, ITAM), ``--latency-ms`` per
request and the documented per-endpoint limits enforced over a sliding window (``--scale`` > 1 shrinks the
sandbox's window to 60/scale s and raises the connection's ``rate_limit_scale`` to match). Airflow runs with
the CeleryExecutor (PostgreSQL, Redis, two workers) as ``airflow_assets.devtools.celery_stack`` starts it; the
site's three backup DAGs are triggered at once, each run a first (full) backup into a fresh database. Every
task leases its calls from the site's one budget in MongoDB. For each ``--parallel`` value it prints:

- wall time from the triggers to the last run's end;
- calls per endpoint class (the sandbox's counters) and each class's calls / limit in minutes;
- the bound (the largest of those, and of all calls over the overall limit) and wall / bound (target <= 1.1);
- 429s the sandbox sent (target 0);
- where the time went: per task, summed over the schemas, the seconds waiting queued and running.

Needs PostgreSQL, Redis and the celery extra (as tests/integration/test_celery_stack.py). Takes about 3 to
4 minutes per ``--parallel`` value at 2,000 objects and the documented limits, plus ~40 s of stack start.

Usage: python benchmarks/site_budget.py [--objects 2000] [--latency-ms 100] [--scale 1] [--parallel 1 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_support import bench_mongo, sandbox_process
from restore import _serve

from airflow_assets.api.pacing import DEFAULT_LIMITS, TOTAL_CLASS, RateLimits
from airflow_assets.devtools.celery_stack import celery_stack, unavailable_reason
from airflow_assets.devtools.demo import DEMO_DAG_FILE

SCHEMAS = ("PEOPLE", "LOC", "ITAM")
SITE = "demo"
DAGS = {f"jira_assets_backup_{SITE}_{key.lower()}": key for key in SCHEMAS}
CONFIG = """\
mongo: {{conn_id: jira_assets_backup, database: {database}}}
sites:
  {site}:
    conn_id: jira_assets_default
    schedule: '0 0 29 2 *'
    parallel_schemas: {parallel}
    schemas: [PEOPLE, LOC, ITAM]
    include: {{history: true, comments: true}}
"""
ASSETS_PREFIX = "/jsm/assets/workspace/w/v1/"
# The per-object steps and the endpoint class each one spends its calls on.
ACTIVITY_TASKS = {"export_history": "GET object/{id}/history", "export_comments": "GET comment/object/{id}"}


def class_limit(rate_class: str, scale: float) -> float:
    """Return the per-minute limit of a sandbox rate class, x ``scale``."""
    from airflow_assets.sandbox.realism import endpoint_class

    method, _, template = rate_class.partition(" ")
    path = template.replace("{id}", "1")
    path = path if path.startswith("/") else ASSETS_PREFIX + path
    return endpoint_class(method, path)[1] * scale


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")) if moment else None


def one_run(args: argparse.Namespace, parallel: int, workdir: Path) -> dict[str, Any]:
    """Back up the site's three schemas at once with ``parallel_schemas = parallel``; return the figures."""
    database = f"site_budget_p{parallel}_{int(time.time())}"
    dags = workdir / "dags"
    dags.mkdir(parents=True)
    (dags / "jira_assets_backup.py").write_text(DEMO_DAG_FILE)
    config = dags / "jira_assets.yaml"
    config.write_text(CONFIG.format(database=database, site=SITE, parallel=parallel))
    with bench_mongo(database) as mongo, sandbox_process(_serve, args.objects) as running:
        site = running.site
        from airflow_assets.devtools.connections import sandbox_connection

        class Address:  # what sandbox_connection reads of a running sandbox
            url, email, api_token = site.url, site.email, site.token

        env = {
            "JIRA_ASSETS_CONFIG": str(config),
            "AIRFLOW_CONN_JIRA_ASSETS_DEFAULT": sandbox_connection(
                Address(),  # type: ignore[arg-type]
                rate_limit_scale=args.scale,
            ),
            "AIRFLOW_CONN_JIRA_ASSETS_BACKUP": mongo.airflow_conn_uri(database),
        }
        # Worker slots for every task the pool admits (2 per schema), over two workers.
        concurrency = max(2, parallel)
        with celery_stack(workdir, dags_folder=dags, env=env, concurrency=concurrency) as stack:
            stack.start()
            stack.run(str(Path(sys.executable).with_name("airflow-assets")), "pools", "create")
            stack.wait_until_healthy()
            stack.wait_for_dags(list(DAGS))
            for dag_id in DAGS:
                stack.unpause(dag_id)
            running.ask("realism", args.latency_ms, args.scale)
            started = time.time()
            runs = {dag_id: stack.trigger(dag_id) for dag_id in DAGS}
            states = stack.wait_for_runs(runs, timeout=args.timeout)
            polled_end = time.time()
            stats = running.ask("stats")
            instances = {dag_id: stack.task_instances(dag_id, run_id) for dag_id, run_id in runs.items()}
            dag_runs = {
                dag_id: stack.api("GET", f"dags/{dag_id}/dagRuns/{run_id}") for dag_id, run_id in runs.items()
            }
    ends = [_parse(run.get("end_date")) for run in dag_runs.values()]
    ended = max(end.timestamp() for end in ends if end is not None) if all(ends) else polled_end
    return {
        "states": states,
        "wall": ended - started,
        "started": started,
        "stats": stats,
        "instances": instances,
        "counts": running.seeded,
    }


def report(parallel: int, result: dict[str, Any], scale: float) -> float:
    """Print one run's figures; return wall / bound."""
    stats, wall = result["stats"], result["wall"]
    accepted: dict[str, int] = dict(stats.get("accepted") or {})
    print(f"-- parallel_schemas {parallel}: runs {result['states']}")
    print(f"   wall time {wall:.1f} s (triggers to the last run's end)")
    bounds: dict[str, float] = {}
    for rate_class, calls in sorted(accepted.items(), key=lambda item: -item[1]):
        limit = class_limit(rate_class, scale)
        bounds[rate_class] = calls / limit
        print(f"   {rate_class:45s} {calls:6d} calls  limit {limit:6.0f}/min  {calls / limit * 60:6.1f} s")
    total = sum(accepted.values())
    total_limit = (RateLimits().total_limit or 10_000) * scale
    bounds[TOTAL_CLASS] = total / total_limit
    print(
        f"   {'all calls':45s} {total:6d} calls  limit {total_limit:6.0f}/min  "
        f"{total / total_limit * 60:6.1f} s"
    )
    binding = max(bounds, key=lambda name: bounds[name])
    bound = bounds[binding] * 60
    ratio = wall / bound if bound else float("inf")
    print(f"   bound {bound:.1f} s ({binding}); wall / bound = {ratio:.2f} (target <= 1.1)")
    print(f"   429s: {stats.get('rate_limited', 0)} {stats.get('rate_limited_by_class') or ''}")
    queued: dict[str, float] = defaultdict(float)
    ran: dict[str, float] = defaultdict(float)
    first_start, last_end = float("inf"), 0.0
    for tis in result["instances"].values():
        for ti in tis:
            start, end = _parse(ti.get("start_date")), _parse(ti.get("end_date"))
            # Scheduled: waiting for a pool slot; queued: waiting for a worker slot.
            queued_at = _parse(ti.get("scheduled_when") or ti.get("queued_when"))
            if start and end:
                ran[ti["task_id"]] += (end - start).total_seconds()
                first_start = min(first_start, start.timestamp())
                last_end = max(last_end, end.timestamp())
            if start and queued_at:
                queued[ti["task_id"]] += (start - queued_at).total_seconds()
    _timeline(result, bounds, started=result["started"], ended=result["started"] + wall)
    print("   per task, summed over the 3 schemas: waiting (pool and worker) / running")
    for task_id in sorted(ran, key=lambda name: -ran[name]):
        print(f"     {task_id:28s} waiting {queued[task_id]:6.1f} s   running {ran[task_id]:6.1f} s")
    return ratio


def _timeline(result: dict[str, Any], bounds: dict[str, float], *, started: float, ended: float) -> None:
    """Print where the wall time went around the per-object steps, which carry nearly every call."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for tis in result["instances"].values():
        for ti in tis:
            start, end = _parse(ti.get("start_date")), _parse(ti.get("end_date"))
            if start and end and ti["task_id"] in ACTIVITY_TASKS:
                spans[ti["task_id"]].append((start.timestamp(), end.timestamp()))
    every = [span for task_spans in spans.values() for span in task_spans]
    if not every:
        return
    first, last = min(begin for begin, _ in every), max(end for _, end in every)
    print(
        f"   timeline: {first - started:.1f} s before the first per-object step started (task start-ups, "
        f"export_config, export_objects), {last - first:.1f} s of per-object steps, "
        f"{ended - last:.1f} s after (finalize)"
    )
    for task_id, task_spans in sorted(spans.items()):
        busy = _union(task_spans)
        rate_class = ACTIVITY_TASKS[task_id]
        floor = bounds.get(rate_class, 0.0) * 60
        print(
            f"   {task_id}: some schema's step running {busy:.1f} s of those {last - first:.1f} s; its calls "
            f"need {floor:.1f} s at the limit of {rate_class}"
        )


def _union(spans: list[tuple[float, float]]) -> float:
    """Return the length of the union of time spans."""
    total, reach = 0.0, float("-inf")
    for begin, end in sorted(spans):
        if end > reach:
            total += end - max(begin, reach)
            reach = end
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every documented rate limit")
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 3], help="parallel_schemas values")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the runs")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        raise SystemExit(f"the Celery stack needs PostgreSQL, Redis and the celery extra: {reason}")
    print(
        f"== {len(SCHEMAS)} schemas of one site backed up at once on the Celery stack (2 workers): "
        f"{args.objects} objects, {args.latency_ms:g} ms latency, documented limits x {args.scale:g} "
        f"(sliding window {60 / args.scale:g} s), history and comments included; limits: "
        + ", ".join(f"{name} {limit}" for name, limit in DEFAULT_LIMITS.items() if "aql" in name)
        + ", 1000 elsewhere",
        flush=True,
    )
    ratios = {}
    for parallel in args.parallel:
        began = time.time()
        with tempfile.TemporaryDirectory(prefix="site-budget-") as workdir:
            result = one_run(args, parallel, Path(workdir))
        counts = ", ".join(f"{key} {result['counts'].get(key, 0)}" for key in SCHEMAS)
        print(f"   objects: {counts}; this run took {time.time() - began:.0f} s with the stack's start")
        ratios[parallel] = report(parallel, result, args.scale)
    print("== wall / bound: " + ", ".join(f"parallel_schemas {p}: {r:.2f}" for p, r in ratios.items()))


if __name__ == "__main__":
    main()

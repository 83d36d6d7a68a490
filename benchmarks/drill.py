"""Benchmark restore drills: the RTO of each demo schema, as the ``jira_assets_drill`` DAG measures it.

Set-up as ``benchmarks/restore.py`` (the same sandbox process and snapshots): the demo seed scaled to
``--objects`` in PEOPLE, LOC and ITAM, each backed up fast. Then the sandbox switches to ``--latency-ms``
and the documented limits x ``--scale``, and one drill per schema runs (``restore.drill.run_drill``: the
latest snapshot into a scratch schema on the same sandbox, verify, the record, the scratch schema deleted).
Prints per schema the RTO (wall time, plan to verify), objects, objects/min, the bound the create and update
limits set for its object writes, the ratio bound / RTO, and the drill's time with its cleanup.

Usage: python benchmarks/drill.py [--objects 2000] [--latency-ms 100] [--scale 4] [--max-objects N]
"""

from __future__ import annotations

import argparse
import time

import pymongo
from bench_support import bench_mongo, client_for, sandbox_process
from restore import DB_NAME, SCHEMA_KEYS, SITE_NAME, _serve, back_up

from airflow_assets.restore.drill import DrillTarget, run_drill


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--scale", type=float, default=4.0, help="multiply every documented rate limit")
    parser.add_argument("--max-objects", type=int, default=10_000)
    args = parser.parse_args()
    print(
        f"== restore drills of a {args.objects}-object sandbox ({', '.join(SCHEMA_KEYS)}), "
        f"{args.latency_ms:g} ms latency, documented rate limits x {args.scale:g}, "
        f"max_objects {args.max_objects}"
    )
    with bench_mongo(DB_NAME) as mongo, sandbox_process(_serve, args.objects) as running:
        site = running.site
        listed = back_up(site, mongo.uri)
        print(f"   set-up: snapshots of {listed} objects ({running.seeded})")
        running.ask("realism", args.latency_ms, args.scale)
        db = pymongo.MongoClient(mongo.uri)[DB_NAME]
        total_rto = 0.0
        for key in SCHEMA_KEYS:
            client = client_for(site, args.scale)
            target = DrillTarget(
                dag_id="jira_assets_drill", run_id="bench", site=SITE_NAME, schema_key=key,
                target_conn_id="bench", max_objects=args.max_objects, sites=(SITE_NAME,),
            )  # fmt: skip
            started = time.perf_counter()
            result = run_drill(db, target, lambda _, client=client: client)
            whole = time.perf_counter() - started
            total_rto += result.seconds
            partial = f" (partial: {result.objects} of {result.objects_total})" if result.partial else ""
            print(
                f"   {key}: {result.status}, verify {'ok' if result.verify_ok else 'FAILED'}; "
                f"RTO {result.seconds:.1f} s for {result.objects} objects{partial} = "
                f"{result.objects_per_min:,.0f} objects/min; bound {result.bound_seconds:.1f} s, ratio "
                f"{result.ratio} ({', '.join(f'{k} {v:.1f} s' for k, v in result.bound_parts.items())}); "
                f"scratch deleted {result.scratch_deleted} (drill with cleanup {whole:.1f} s)"
            )
            print("      steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.step_seconds.items()))
        print(f"   all three schemas restored, verified and deleted: RTO sum {total_rto:.1f} s")


if __name__ == "__main__":
    main()

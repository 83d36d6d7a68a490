"""Benchmark the sandbox's demo seed and its AQL search over the site it builds.

Prints the seconds and peak memory to build a site of N objects, then the seconds a few typical backup
queries take to match every object (the sandbox evaluates AQL by scanning, so this bounds each AQL page).

Usage: python benchmarks/sandbox_seed.py [--objects 50000]
"""

from __future__ import annotations

import argparse
import resource
import time

from airflow_assets.sandbox.launch import build_site

QUERIES = (
    "objectSchemaId = 3",
    'objectSchemaId = 3 AND Name like "1"',
    'objectType = "Laptop" AND Updated > "2020-01-01"',
)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=50_000)
    args = parser.parse_args()

    before = _peak_rss_mib()
    started = time.perf_counter()
    site, summary = build_site(seed="demo", objects=args.objects)
    elapsed = time.perf_counter() - started
    assert summary is not None
    print(f"== sandbox seed: demo scaled to {args.objects} objects")
    rate = summary.total_objects / elapsed
    print(f"   built {summary.total_objects} objects in {elapsed:.1f} s ({rate:,.0f}/s)")
    print(f"   per schema: {summary.object_counts}")
    print(f"   history edits {summary.updates}, comments {summary.comments}, tickets {summary.tickets}")
    print(f"   peak RSS: {before:.0f} MiB before, {_peak_rss_mib():.0f} MiB after")
    print("== sandbox AQL: one full scan per query")
    for query in QUERIES:
        started = time.perf_counter()
        matched = len(site.search(query))
        print(f"   {time.perf_counter() - started:5.2f} s  {matched:>6} matched  {query}")


if __name__ == "__main__":
    main()

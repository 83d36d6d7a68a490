"""Benchmark the sandbox's demo seed: seconds and peak memory to build a site of N objects.

Usage: python benchmarks/sandbox_seed.py [--objects 50000]
"""

from __future__ import annotations

import argparse
import resource
import time

from airflow_assets.sandbox.launch import build_site


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
    _, summary = build_site(seed="demo", objects=args.objects)
    elapsed = time.perf_counter() - started
    assert summary is not None
    print(f"== sandbox seed: demo scaled to {args.objects} objects")
    rate = summary.total_objects / elapsed
    print(f"   built {summary.total_objects} objects in {elapsed:.1f} s ({rate:,.0f}/s)")
    print(f"   per schema: {summary.object_counts}")
    print(f"   history edits {summary.updates}, comments {summary.comments}, tickets {summary.tickets}")
    print(f"   peak RSS: {before:.0f} MiB before, {_peak_rss_mib():.0f} MiB after")


if __name__ == "__main__":
    main()

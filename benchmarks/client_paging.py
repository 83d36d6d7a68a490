"""Benchmark the Assets client against the sandbox (a separate process, like a remote site).

1. Paging: objects read per second paging every object of sandboxes of each ``--objects`` size with
   ``--latency-ms`` latency per request, and the peak RSS of the paging process (flat memory: equal peaks).
2. Concurrent map: history calls per minute against a 1,000/min per-endpoint limit enforced by the sandbox,
   and how many 429s the client met (target: >= 90 % of the limit, no more than a handful of 429s).

Usage: python benchmarks/client_paging.py [--objects 5000 20000] [--latency-ms 50] [--map-seconds 75]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import multiprocessing
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from airflow_assets.api import AssetsClient

LINE = re.compile(
    r"sandbox listening on (?P<url>\S+) workspace=(?P<ws>\S+) email=(?P<email>\S+) token=(?P<token>\S+)"
)


@dataclass(frozen=True)
class Site:
    url: str
    email: str
    token: str


@contextmanager
def sandbox_process(*flags: str) -> Iterator[Site]:
    """Run ``airflow-assets sandbox serve`` in its own process until the block exits."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_assets.cli", "sandbox", "serve", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = LINE.search(process.stdout.readline())
        if not match:
            raise SystemExit("the sandbox did not start")
        yield Site(match["url"], match["email"], match["token"])
    finally:
        process.terminate()
        process.wait(timeout=30)


def client_for(site: Site, **options: object) -> AssetsClient:
    return AssetsClient(
        site_url=site.url,
        email=site.email,
        api_token=site.token,
        api_base_url=site.url + "/jsm/assets/workspace/{workspaceId}/v1",
        **options,  # type: ignore[arg-type]
    )


class RetryCounter(logging.Handler):
    """Count the client's retry warnings by cause."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.rate_limited = 0
        self.other = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retry" not in record.getMessage():
            return
        if ": HTTP 429;" in record.getMessage():
            self.rate_limited += 1
        else:
            self.other += 1


def page_everything(site: Site, page_size: int) -> tuple[int, int, float, float]:
    """Page every object of the site; return (objects, pages, seconds, peak RSS in MiB of this process)."""
    with client_for(site) as client:
        schema_ids = [schema["id"] for schema in client.iter_object_schemas()]
        started = time.perf_counter()
        read = pages = 0
        for schema_id in schema_ids:
            for page in client.iter_aql_pages(f"objectSchemaId = {schema_id}", page_size=page_size):
                pages += 1
                read += len(page.values)
        elapsed = time.perf_counter() - started
    return read, pages, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_paging(sizes: list[int], latency_ms: float, page_size: int) -> None:
    # Each size pages in a fresh process, so its peak RSS is its own: flat memory means equal peaks.
    spawn = multiprocessing.get_context("spawn")
    for objects in sizes:
        print(f"== paging: {objects} objects, {latency_ms:g} ms latency, page size {page_size}")
        started = time.perf_counter()
        with sandbox_process("--objects", str(objects), "--latency-ms", str(latency_ms)) as site:
            print(f"   sandbox seeded and up in {time.perf_counter() - started:.1f} s")
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                read, pages, elapsed, peak = pool.submit(page_everything, site, page_size).result()
        print(f"   read {read} objects in {pages} pages in {elapsed:.2f} s: {read / elapsed:,.0f} objects/s")
        print(f"   client process peak RSS: {peak:.0f} MiB")


def bench_concurrent_map(
    limit_per_minute: int, seconds: float, latency_ms: float, workers: int, fault_rate: float, ordered: bool
) -> None:
    print(
        f"== concurrent map ({'in order' if ordered else 'as completed'}): GET object/{{id}}/history, "
        f"sandbox limit {limit_per_minute}/min per endpoint, {latency_ms:g} ms latency, "
        f"fault rate {fault_rate:g}, {workers} workers, {seconds:g} s"
    )
    counter = RetryCounter()
    logging.getLogger("airflow_assets").addHandler(counter)
    flags = (
        *("--rate-limit-per-minute", str(limit_per_minute), "--latency-ms", str(latency_ms)),
        *("--fault-rate", str(fault_rate), "--random-seed", "1"),
    )
    with sandbox_process(*flags) as site, client_for(site, max_workers=workers) as client:
        itam = next(s["id"] for s in client.iter_object_schemas() if s["objectSchemaKey"] == "ITAM")
        ids = [obj["id"] for obj in client.iter_objects(f"objectSchemaId = {itam}", page_size=500)]
        deadline = time.monotonic() + seconds

        def until_deadline() -> Iterator[str]:
            for object_id in itertools.cycle(ids):
                if time.monotonic() >= deadline:
                    return
                yield object_id

        started = time.monotonic()
        calls = sum(
            1 for _ in client.map_concurrent(client.get_object_history, until_deadline(), ordered=ordered)
        )
        elapsed = time.monotonic() - started
    per_minute = calls / elapsed * 60
    share = per_minute / limit_per_minute
    print(f"   {calls} calls in {elapsed:.1f} s: {per_minute:,.0f} calls/min = {share:.1%} of the limit")
    print(f"   429s met: {counter.rate_limited}; other retries: {counter.other}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--objects",
        type=int,
        nargs="+",
        default=[5_000, 20_000],
        help="sandbox sizes to page (peaks compared)",
    )
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=1000, help="per-endpoint limit per minute for the map")
    parser.add_argument("--map-seconds", type=float, default=75.0, help="how long to run the map")
    parser.add_argument("--workers", type=int, default=16, help="map threads (the client's default)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="sandbox faults during the map")
    parser.add_argument("--unordered", action="store_true", help="map as completed instead of in order")
    parser.add_argument("--skip-paging", action="store_true")
    parser.add_argument("--skip-map", action="store_true")
    args = parser.parse_args()
    if not args.skip_paging:
        bench_paging(args.objects, args.latency_ms, args.page_size)
    if not args.skip_map:
        bench_concurrent_map(
            args.limit, args.map_seconds, args.latency_ms, args.workers, args.fault_rate, not args.unordered
        )


if __name__ == "__main__":
    main()

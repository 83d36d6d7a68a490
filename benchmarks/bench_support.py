"""What the benchmarks share: the MongoDB server, the sandbox's address, a client of it, per-process figures.

The benchmarks run as scripts (``python benchmarks/backup.py``), which puts this folder on the import path.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import pymongo

from airflow_assets.api import AssetsClient, RateLimits
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo, embedded_mongo


@contextmanager
def bench_mongo(*databases: str) -> Iterator[EmbeddedMongo]:
    """Start the embedded MongoDB (or take AIRFLOW_ASSETS_MONGO_URI's server) and print which serves.

    On an existing server the benchmark's ``databases`` must not exist yet, and are dropped afterwards.
    """
    with tempfile.TemporaryDirectory() as storage, embedded_mongo(storage) as mongo:
        print(f"   MongoDB: {mongo.kind}" + (f" ({mongo.reason})" if mongo.reason else ""), flush=True)
        if mongo.started_here:
            yield mongo
            return
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo.uri)
        with client:
            taken = sorted(set(databases) & set(client.list_database_names()))
            if taken:
                raise SystemExit(f"the benchmark's databases exist on {mongo.kind}: {', '.join(taken)}")
            try:
                yield mongo
            finally:
                for name in databases:
                    client.drop_database(name)


def server_pids(mongo: EmbeddedMongo) -> dict[str, int]:
    """Return the MongoDB server's process id to measure, when the benchmark started it."""
    return {"mongo": mongo.process.pid} if mongo.process is not None else {}


@dataclass(frozen=True)
class Site:
    """Where a sandbox serves, and its credentials."""

    url: str
    email: str
    token: str


def client_for(site: Site, scale: float, **options: Any) -> AssetsClient:
    """Return a client of the sandbox that paces to the documented limits x ``scale``."""
    return AssetsClient(
        site_url=site.url,
        email=site.email,
        api_token=site.token,
        api_base_url=site.url + "/jsm/assets/workspace/{workspaceId}/v1",
        limits=RateLimits(window_seconds=60.0 / scale),
        **options,
    )


def peak_rss_mib() -> float:
    """Return this process's peak RSS. VmHWM belongs to the memory map that exec made; ru_maxrss would
    also count the parent's pages that the fork before exec shared."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system, every thread) a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        # Fields after the command name: state is the 3rd field, utime the 14th, stime the 15th.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class SandboxProcess:
    """A sandbox serving in a child process: where, what ``serve`` said of its seed, the pipe, the pid."""

    site: Site
    seeded: Any
    conn: Connection
    pid: int

    def ask(self, *command: Any) -> Any:
        """Send a command to the sandbox process and return its answer."""
        self.conn.send(command)
        return self.conn.recv()


@contextmanager
def sandbox_process(serve: Callable[[int, Connection], None], objects: int) -> Iterator[SandboxProcess]:
    """Run ``serve(objects, conn)`` in a child process until the block exits.

    ``serve`` first sends ``(url, email, token, seeded)``, then answers commands on ``conn`` until
    ``("stop",)``.
    """
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(objects, child), daemon=True)
    process.start()
    try:
        url, email, token, seeded = parent.recv()
        assert process.pid is not None
        yield SandboxProcess(Site(url, email, token), seeded, parent, process.pid)
    finally:
        parent.send(("stop",))
        process.join(timeout=30)

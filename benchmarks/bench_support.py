"""What the benchmarks share: the sandbox's address, a client of it, and per-process figures.

The benchmarks run as scripts (``python benchmarks/backup.py``), which puts this folder on the import path.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from typing import Any

from airflow_assets.api import AssetsClient, RateLimits


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

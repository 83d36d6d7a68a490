"""One task of a site in its own process: read object histories through the shared rate budget.

Run as ``python budget_worker.py '<json settings>'`` by tests/integration/test_shared_budget.py. It prints
``ready`` once built, starts at the agreed moment, and ends with one JSON line: the send time of every call.
"""

from __future__ import annotations

import json
import sys
import time

import pymongo

from airflow_assets.api import AssetsClient, RateLimits, RetryPolicy
from airflow_assets.store.rate_budget import MongoRateBudget


def main(raw: str) -> None:
    """Run the worker the settings describe."""
    settings = json.loads(raw)
    offset = float(settings.get("clock_offset", 0.0))
    mongo = pymongo.MongoClient(settings["mongo_uri"])
    budget = MongoRateBudget(
        mongo[settings["db"]],
        slot_seconds=settings["slot_seconds"],
        skew_seconds=settings["skew_seconds"],
        clock=lambda: time.time() + offset,
    )
    limits = RateLimits(
        limits={},
        default_limit=settings["limit"],
        total_limit=None,
        window_seconds=settings["window_seconds"],
        target_fraction=settings["target_fraction"],
    )
    client = AssetsClient(
        site_url=settings["site_url"],
        email=settings["email"],
        api_token=settings["api_token"],
        api_base_url=settings["site_url"] + "/jsm/assets/workspace/{workspaceId}/v1",
        limits=limits,
        retry=RetryPolicy(max_attempts=8, initial_wait=0.2, max_wait=2.0, max_retry_after=5.0),
        max_workers=8,
        shared_budget=budget if settings.get("shared", True) else None,
    )
    _ = client.workspace_id  # discovered before the start: only history calls are timed
    budget.now()  # the server's clock read before the start too
    print("ready", flush=True)
    sent: list[float] = []

    def history(object_id: str) -> object:
        answer = client.get_object_history(object_id)
        sent.append(time.time())
        return answer

    delay = settings["start_at"] - time.time()
    if delay > 0:
        time.sleep(delay)
    started = time.time()
    done = sum(1 for _ in client.map_concurrent(history, settings["ids"]))
    print(
        json.dumps({"done": done, "started": started, "ended": time.time(), "sent": sorted(sent)}), flush=True
    )


if __name__ == "__main__":
    main(sys.argv[1])

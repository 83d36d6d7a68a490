"""The bounded concurrent map: input order, bounded in-flight items, failures, early stop."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_assets.api import AssetsClient, map_as_completed, map_ordered
from airflow_assets.exceptions import AssetsConfigError, AssetsNotFoundError


def slow_square(value: int) -> int:
    time.sleep(random.uniform(0, 0.004))
    return value * value


def test_results_come_in_input_order() -> None:
    results = list(map_ordered(slow_square, range(200), max_workers=8))
    assert results == [(i, i * i) for i in range(200)]


def test_items_in_flight_stay_bounded_for_a_huge_generator() -> None:
    pulled = 0
    running = 0
    most_running = 0
    lock = threading.Lock()

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in range(10_000_000):
            pulled += 1
            yield i

    def work(value: int) -> int:
        nonlocal running, most_running
        with lock:
            running += 1
            most_running = max(most_running, running)
        time.sleep(0.001)
        with lock:
            running -= 1
        return value

    mapped = map_ordered(work, items(), max_workers=4, max_in_flight=10)
    for yielded, (item, result) in enumerate(mapped, start=1):
        assert item == result
        assert pulled - yielded <= 10
        if yielded == 300:
            break
    mapped.close()
    assert most_running <= 4
    assert pulled <= 310


def test_first_failure_is_raised_in_order_after_earlier_items() -> None:
    def fail_on_five(value: int) -> int:
        if value == 5:
            raise ValueError("five")
        return value

    seen = []
    with pytest.raises(ValueError, match="five"):
        for item, _ in map_ordered(fail_on_five, range(20), max_workers=4):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_failures_can_be_yielded_instead() -> None:
    def fail_on_odd(value: int) -> int:
        if value % 2:
            raise KeyError(value)
        return value

    results = list(map_ordered(fail_on_odd, range(6), max_workers=3, return_exceptions=True))
    assert [item for item, _ in results] == list(range(6))
    assert all(isinstance(result, KeyError) == bool(item % 2) for item, result in results)


def test_stopping_early_cancels_what_has_not_started() -> None:
    calls = 0
    lock = threading.Lock()

    def count(value: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.002)
        return value

    mapped = map_ordered(count, range(1000), max_workers=2, max_in_flight=4)
    for item, _ in mapped:
        if item == 2:
            break
    mapped.close()
    assert calls <= 3 + 4


def test_bad_worker_counts_are_refused() -> None:
    with pytest.raises(AssetsConfigError, match="max_workers"):
        map_ordered(slow_square, [1], max_workers=0)
    with pytest.raises(AssetsConfigError, match="max_in_flight"):
        map_ordered(slow_square, [1], max_workers=1, max_in_flight=0)


def test_client_map_covers_latency_with_workers(site: Any, make_client: Callable[..., AssetsClient]) -> None:
    client = make_client(workspace_id="ws-0001")
    site.latency = 0.05
    started = time.monotonic()
    ids = (str(i) for i in range(40))
    results = list(client.map_concurrent(client.get_object_history, ids, max_workers=10))
    elapsed = time.monotonic() - started
    assert [item for item, _ in results] == [str(i) for i in range(40)]
    assert all(history[0]["path"] == f"object/{item}/history" for item, history in results)
    assert elapsed < 40 * 0.05 / 2  # serial would take 2 s; ten workers take about 0.2 s


def test_client_map_reports_per_item_errors(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/2/history", {"status": 404, "body": {"errorMessages": ["gone"]}})
    results = dict(client.map_concurrent(client.get_object_history, ["1", "2", "3"], return_exceptions=True))
    assert isinstance(results["2"], AssetsNotFoundError)
    assert isinstance(results["1"], list) and isinstance(results["3"], list)


def test_as_completed_keeps_working_past_a_slow_item() -> None:
    release = threading.Event()

    def stuck_on_zero(value: int) -> int:
        if value == 0:
            # An item in a long retry backoff: it only finishes once the others have come out.
            assert release.wait(10), "the map stalled behind the slow item"
        return value

    seen: list[int] = []
    mapped = map_as_completed(stuck_on_zero, range(100), max_workers=4, max_in_flight=8)
    for item, result in mapped:
        assert item == result
        seen.append(item)
        if len(seen) == 99:
            release.set()

    assert sorted(seen) == list(range(100))
    assert seen[-1] == 0


def test_as_completed_bounds_items_in_flight_and_raises_a_failure() -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield i

    def fail_on_fifty(value: int) -> int:
        if value == 50:
            raise AssetsNotFoundError(status=404, method="GET", endpoint=f"object/{value}")
        return value

    yielded = 0
    with pytest.raises(AssetsNotFoundError):
        for _ in map_as_completed(fail_on_fifty, items(), max_workers=3, max_in_flight=6):
            yielded += 1
            assert pulled - yielded <= 6
    assert pulled < 1_000


def test_client_map_yields_as_completed_when_order_does_not_matter() -> None:
    client = AssetsClient(
        site_url="https://example.atlassian.net", email="a@example.com", api_token="token-1"
    )
    results = dict(client.map_concurrent(slow_square, range(50), ordered=False))
    assert results == {i: i * i for i in range(50)}

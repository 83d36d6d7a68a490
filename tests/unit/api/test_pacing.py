"""Client-side pacing: an evenly spaced bucket per endpoint class, shared, paused by a 429 on its class."""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from airflow_assets.api import AssetsClient, Pacer, PacerRegistry, RateLimits, RetryPolicy

WINDOW = 0.5
LIMIT = 20
# 20 requests per half second; aiming at 90% keeps the test's margin above scheduler jitter.
SMALL = RateLimits(
    limits={}, default_limit=LIMIT, window_seconds=WINDOW, target_fraction=0.9, total_limit=None
)


class FakeClock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_window(times: Sequence[float], window: float) -> int:
    """Return the largest number of events in any half-open window of the given length."""
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, start + window) - i for i, start in enumerate(ordered))


def test_default_spacing_follows_the_documented_limits() -> None:
    limits = RateLimits()
    assert limits.spacing("POST object/aql", 1.0) == (pytest.approx(60 / 980), 10)
    assert limits.spacing("POST object/aql/totalcount", 0.5) == (pytest.approx(60 / 245), 2)
    assert limits.spacing("GET object/{id}", 1.0) == (pytest.approx(60 / 1960), 20)
    assert limits.spacing("GET object/{id}/history", 1.0) == (pytest.approx(60 / 980), 10)
    assert limits.spacing("*", 1.0) == (pytest.approx(60 / 9800), 100)
    assert RateLimits(enabled=False).spacing("POST object/aql", 1.0) == (0.0, 1)


@pytest.mark.parametrize(
    ("rate_class", "share"),
    [("POST object/aql", 1.0), ("GET object/{id}", 0.25), ("POST object/aql/totalcount", 0.1)],
)
def test_no_sliding_window_ever_exceeds_the_limit(rate_class: str, share: float) -> None:
    limits = RateLimits()
    clock = FakeClock()
    interval, burst = limits.spacing(rate_class, share)
    pacer = Pacer(interval=interval, burst=burst, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(3 * int(limits.limit_for(rate_class) * share)):
        pacer.acquire()
        times.append(clock.now)
    allowed = limits.limit_for(rate_class) * share
    assert allowed * 0.95 <= max_in_window(times, 60.0) <= allowed


def test_pacer_bursts_then_spaces_and_holds_during_a_pause() -> None:
    clock = FakeClock()
    pacer = Pacer(interval=1.0, burst=3, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(6):
        pacer.acquire()
        times.append(clock.now)
    assert times == [0, 0, 0, 1, 2, 3]
    pacer.pause(5.0)
    pacer.acquire()
    assert clock.now == 8.0


def test_registry_shares_per_site_and_class_and_keeps_the_strictest_pace() -> None:
    registry = PacerRegistry()
    first = registry.pacer("https://a", "GET object/{id}", interval=0.1, burst=5)
    assert registry.pacer("https://a", "GET object/{id}", interval=0.1, burst=5) is first
    assert registry.pacer("https://b", "GET object/{id}", interval=0.1, burst=5) is not first
    assert registry.pacer("https://a", "POST object/aql", interval=0.1, burst=5) is not first
    registry.pacer("https://a", "GET object/{id}", interval=0.2, burst=2)
    assert (first.interval, first.burst) == (0.2, 2)
    registry.pacer("https://a", "GET object/{id}", interval=0.05, burst=9)
    assert (first.interval, first.burst) == (0.2, 2)


def test_threads_never_exceed_the_limit_over_real_http(
    site: Any, make_client: Callable[..., AssetsClient]
) -> None:
    client = make_client(limits=SMALL, workspace_id="ws-0001")
    started = time.monotonic()
    results = list(client.map_concurrent(client.get_object, [str(i) for i in range(40)], max_workers=8))
    elapsed = time.monotonic() - started
    assert len(results) == 40
    times = [call.at for call in site.calls_to("GET", prefix="object/")]
    assert max_in_window(times, WINDOW) <= LIMIT
    # ...and the budget is kept busy: 39 intervals at 90% of the limit, plus little overhead.
    interval = WINDOW / (LIMIT * 0.9)
    assert elapsed < 39 * interval + 0.4


def test_clients_of_one_site_share_the_budget(site: Any, make_client: Callable[..., AssetsClient]) -> None:
    registry = PacerRegistry()
    clients = [make_client(limits=SMALL, workspace_id="ws-0001", pacers=registry) for _ in range(2)]

    def work(client: AssetsClient) -> None:
        for i in range(15):
            client.get_object(str(i))

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max_in_window([call.at for call in site.calls], WINDOW) <= LIMIT


def test_endpoint_classes_have_separate_budgets(site: Any, make_client: Callable[..., AssetsClient]) -> None:
    client = make_client(limits=SMALL, workspace_id="ws-0001")
    calls: list[Callable[[str], Any]] = [client.get_object, client.get_object_history] * 15
    list(client.map_concurrent(lambda call: call("7"), calls, max_workers=8))
    objects = [call.at for call in site.calls_to("GET", "object/7")]
    histories = [call.at for call in site.calls_to("GET", "object/7/history")]
    assert max_in_window(objects, WINDOW) <= LIMIT and max_in_window(histories, WINDOW) <= LIMIT
    # Together they went faster than one class alone could.
    assert max_in_window(objects + histories, WINDOW) > LIMIT


def start_until_logged(
    call: Callable[[str], object], argument: str, *, message: str, caplog: pytest.LogCaptureFixture
) -> threading.Thread:
    """Start ``call(argument)`` in a thread and return once a log record contains ``message``."""
    thread = threading.Thread(target=call, args=(argument,))
    thread.start()
    deadline = time.monotonic() + 2
    while not any(message in record.getMessage() for record in caplog.records):
        assert time.monotonic() < deadline, f"no log record said {message!r} within 2 s"
        time.sleep(0.005)
    return thread


def test_429_pauses_every_thread_of_that_class_only(
    site: Any, make_client: Callable[..., AssetsClient], caplog: pytest.LogCaptureFixture
) -> None:
    pause = 0.4
    client = make_client(
        workspace_id="ws-0001", retry=RetryPolicy(initial_wait=0.001, max_wait=0.01, max_retry_after=pause)
    )
    site.script("GET", "object/1", {"status": 429, "headers": {"Retry-After": "5"}})
    caplog.set_level(logging.WARNING, logger="airflow_assets")
    first = start_until_logged(client.get_object, "1", message="HTTP 429", caplog=caplog)
    limited_at = site.calls_to("GET", "object/1")[0].at
    others = [threading.Thread(target=client.get_object, args=(str(i),)) for i in (2, 3, 4)]
    others.append(threading.Thread(target=client.get_object_history, args=("2",)))
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join()
    same_class = [call.at for call in site.calls_to("GET", prefix="object/") if "/history" not in call.path]
    assert len(same_class) == 5
    assert all(at >= limited_at + pause - 0.01 for at in same_class[1:])
    (history,) = site.calls_to("GET", "object/2/history")
    assert history.at < limited_at + pause / 2


@pytest.mark.parametrize(("headers", "class_paused"), [({}, False), ({"Retry-After": "5"}, True)])
def test_a_503_pauses_the_class_only_when_the_server_asks_to_hold(
    site: Any,
    make_client: Callable[..., AssetsClient],
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    class_paused: bool,
) -> None:
    hold = 0.4
    client = make_client(
        workspace_id="ws-0001", retry=RetryPolicy(initial_wait=hold, max_wait=hold, max_retry_after=hold)
    )
    site.script("GET", "object/1", {"status": 503, "headers": headers})
    caplog.set_level(logging.WARNING, logger="airflow_assets")
    first = start_until_logged(client.get_object, "1", message="HTTP 503", caplog=caplog)
    failed_at = site.calls_to("GET", "object/1")[0].at
    other = threading.Thread(target=client.get_object, args=("2",))
    other.start()
    for thread in (first, other):
        thread.join()

    (second,) = site.calls_to("GET", "object/2")
    if class_paused:
        assert second.at >= failed_at + hold * 0.7 - 0.01
    else:
        # Only the call that met the bare 503 backs off; its neighbours keep the budget busy.
        assert second.at < failed_at + hold / 2

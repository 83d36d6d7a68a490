"""Bounded concurrent maps for per-object calls (history, comments, reads): in order or as completed."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Literal, TypeVar, overload

from airflow_assets.exceptions import AssetsConfigError

T = TypeVar("T")
R = TypeVar("R")


@overload
def map_ordered(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    max_workers: int,
    max_in_flight: int | None = None,
    return_exceptions: Literal[False] = False,
) -> Generator[tuple[T, R], None, None]: ...


@overload
def map_ordered(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    max_workers: int,
    max_in_flight: int | None = None,
    return_exceptions: Literal[True],
) -> Generator[tuple[T, R | Exception], None, None]: ...


@overload
def map_ordered(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    max_workers: int,
    max_in_flight: int | None = None,
    return_exceptions: bool,
) -> Generator[tuple[T, R | Exception], None, None]: ...


def map_ordered(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    max_workers: int,
    max_in_flight: int | None = None,
    return_exceptions: bool = False,
) -> Generator[tuple[T, R], None, None] | Generator[tuple[T, R | Exception], None, None]:
    """Call ``fn`` on every item in worker threads; yield ``(item, result)`` in input order.

    ``items`` is consumed lazily: at most ``max_in_flight`` items (default eight times ``max_workers``) are
    submitted or finished but not yet yielded, so memory stays flat for any number of items. The callee
    (the client) paces its own requests, so the workers never exceed the rate budget; they only cover latency.
    An item stuck in a retry backoff holds back the yield of those after it (not their calls) until the window
    is full; :func:`map_as_completed` has no such stall when order does not matter.

    :param fn: the per-item call.
    :param items: any iterable, a generator included.
    :param max_workers: threads calling ``fn`` at once.
    :param max_in_flight: items taken from ``items`` but not yet yielded.
    :param return_exceptions: yield ``(item, exception)`` for a failed item and go on; when False, the first
        failure in input order is raised after the items before it were yielded, and the rest are cancelled.
    """
    window = _window(max_workers, max_in_flight)
    return _map(fn, iter(items), max_workers=max_workers, window=window, return_exceptions=return_exceptions)


def map_as_completed(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    max_workers: int,
    max_in_flight: int | None = None,
    return_exceptions: bool = False,
) -> Generator[tuple[T, R | Exception], None, None]:
    """Call ``fn`` on every item in worker threads; yield ``(item, result)`` as each call finishes.

    Like :func:`map_ordered` but without its ordering: a slow item (one in a retry backoff) never keeps the
    workers idle, so the rate budget stays busy. Same laziness, window and failure semantics.

    :param fn: the per-item call.
    :param items: any iterable, a generator included.
    :param max_workers: threads calling ``fn`` at once.
    :param max_in_flight: items taken from ``items`` but not yet yielded.
    :param return_exceptions: yield ``(item, exception)`` for a failed item and go on; when False, the first
        failure raises and the rest are cancelled.
    """
    window = _window(max_workers, max_in_flight)
    return _map(
        fn,
        iter(items),
        max_workers=max_workers,
        window=window,
        return_exceptions=return_exceptions,
        ordered=False,
    )


def _window(max_workers: int, max_in_flight: int | None) -> int:
    if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
        raise AssetsConfigError(f"max_workers must be an integer >= 1, got {max_workers!r}")
    # A wide window lets the workers run ahead of an item stuck in a backoff; items are ids, results small.
    window = max_in_flight if max_in_flight is not None else 8 * max_workers
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise AssetsConfigError(f"max_in_flight must be an integer >= 1, got {max_in_flight!r}")
    return window


def _map(
    fn: Callable[[T], R],
    items: Iterator[T],
    *,
    max_workers: int,
    window: int,
    return_exceptions: bool,
    ordered: bool = True,
) -> Generator[tuple[T, R | Exception], None, None]:
    running: dict[Future[R], T] = {}  # in submission order
    executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="assets-map")
    exhausted = False
    try:
        while True:
            while not exhausted and len(running) < window:
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                running[executor.submit(fn, item)] = item
            if not running:
                return
            if ordered:
                ready: Iterable[Future[R]] = [next(iter(running))]
            else:
                ready, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ready:
                item = running.pop(future)
                try:
                    result = future.result()
                except Exception as error:
                    if not return_exceptions:
                        raise
                    yield item, error
                else:
                    yield item, result
    finally:
        # Also runs when the consumer stops early (generator closed): drop what has not started.
        for future in running:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)

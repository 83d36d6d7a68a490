"""prefetch keeps order, raises a producer error in its place, and lets the producer go when closed early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from airflow_assets.api.listing import prefetch


def test_items_come_in_order_and_the_next_is_produced_while_the_caller_works() -> None:
    produced: list[int] = []

    def numbers() -> Iterator[int]:
        for number in range(5):
            produced.append(number)
            yield number

    seen = []
    for number in prefetch(numbers()):
        time.sleep(0.05)  # the caller's work: meanwhile the next item is produced
        seen.append((number, len(produced)))

    assert [number for number, _ in seen] == [0, 1, 2, 3, 4]
    assert seen[0][1] >= 2  # while item 0 was handled, item 1 was already produced


def test_a_producer_error_is_raised_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 unreadable")

    seen = []
    with pytest.raises(ValueError, match="page 2 unreadable"):
        for number in prefetch(failing()):
            seen.append(number)
    assert seen == [1]


def test_closing_early_stops_the_producer() -> None:
    before = threading.active_count()

    def endless() -> Iterator[int]:
        number = 0
        while True:
            number += 1
            yield number

    results = prefetch(endless())
    assert next(results) == 1
    results.close()

    assert threading.active_count() == before

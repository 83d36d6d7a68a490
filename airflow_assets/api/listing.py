"""Walk objects (of a type, or any AQL scope) in ``objectId`` windows that a change on the site cannot shift.

``startAt`` paging skips objects when the site changes during the walk: deleting one object already read
moves every later one a place forward, and the next page starts one too far. Here every request asks for
a window ``objectId > low AND objectId <= high`` that fits in one page (``isLast``), so what one answer
holds does not depend on what happened before it. A window that comes back full is asked again smaller;
sparse windows grow, so a type whose ids are spread across a large workspace costs few calls. The walk ends
when nothing exists above the last window.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from queue import Empty, Queue
from typing import Any, Protocol, TypeVar

from airflow_assets.api.records import AqlPage
from airflow_assets.model.normalize import UnexpectedAnswerError, ids_of, object_number

T = TypeVar("T")
# Windows never grow past this width (ids are 64-bit at most; this keeps the arithmetic plain).
MAX_WIDTH = 1 << 40
# Aim for windows this full, so a little growth between listing and reading does not overflow them.
TARGET_FILL = 0.7


class AqlPager(Protocol):
    """The one client call the walk needs (``AssetsClient.aql_page``)."""

    def aql_page(
        self, ql_query: str, *, start_at: int = 0, max_results: int = 100, include_attributes: bool = True
    ) -> AqlPage: ...


@dataclass(frozen=True)
class Window:
    """Every object of one type with ``low < objectId <= high`` (``high`` None: no upper bound).

    :param type_id: the object type.
    :param low: exclusive lower bound.
    :param high: inclusive upper bound, or None for the last window.
    :param objects: the objects, as the API answered them.
    """

    type_id: str
    low: int
    high: int | None
    objects: Sequence[Mapping[str, Any]]

    def span_query(self) -> dict[str, Any]:
        """Return the store query selecting this window's objects."""
        bounds: dict[str, int] = {"$gt": self.low}
        if self.high is not None:
            bounds["$lte"] = self.high
        return {"type_id": self.type_id, "n": bounds}


class WalkStats:
    """AQL requests walks made (shared by the threads walking lanes side by side)."""

    def __init__(self) -> None:
        self.requests = 0
        self.refetched = 0
        self._lock = threading.Lock()

    def count(self, *, requests: int = 0, refetched: int = 0) -> None:
        """Add to the counts."""
        with self._lock:
            self.requests += requests
            self.refetched += refetched


@dataclass(frozen=True)
class Lane:
    """The objects of a type with ``low < objectId <= high`` (``high`` None: no upper bound), walked in order.

    :param type_id: the object type.
    :param low: exclusive lower bound.
    :param high: inclusive upper bound, or None for the last lane.
    :param scope: the AQL that selects the objects instead of the type (e.g. a whole schema).
    """

    type_id: str
    low: int = 0
    high: int | None = None
    scope: str | None = None

    @property
    def aql(self) -> str:
        """Return the AQL that selects the lane's objects, before the ``objectId`` bounds."""
        return self.scope or f"objectTypeId = {self.type_id}"


def plan_lanes(
    client: AqlPager,
    type_id: str,
    *,
    expected: int,
    lane_objects: int,
    max_lanes: int,
    stats: WalkStats,
    scope: str | None = None,
) -> list[Lane]:
    """Split a large type into id ranges of about ``lane_objects`` objects each, to walk side by side.

    The oldest and the newest object (by ``Created``, which follows id order as ids are handed out at
    creation) bound the ids; the lanes cut that range evenly. The first lane starts at 0 and the last has
    no upper bound, so the lanes cover every id whatever the order turns out to be: a wrong guess only
    costs balance, never an object.

    :param scope: split the objects this AQL selects instead of the type's (e.g. a whole schema).
    """
    whole = [Lane(type_id, scope=scope)]
    if expected <= lane_objects or max_lanes <= 1:
        return whole
    base = whole[0].aql
    stats.count(requests=2)
    first = client.aql_page(f"{base} order by Created asc", max_results=1, include_attributes=False)
    last = client.aql_page(f"{base} order by Created desc", max_results=1, include_attributes=False)
    if not first.values or not last.values:
        return whole
    low, high = object_number(ids_of(first.values)[0]), object_number(ids_of(last.values)[0])
    count = min(max_lanes, -(-expected // lane_objects))
    if high - low < count:
        return whole
    cuts = [low - 1 + (high - low + 1) * k // count for k in range(1, count)]
    bounds = [0, *cuts, None]
    return [Lane(type_id, bounds[k] or 0, bounds[k + 1], scope) for k in range(count)]


def walk_type(
    client: AqlPager,
    type_id: str,
    *,
    page_size: int,
    include_attributes: bool,
    expected: int | None = None,
    stats: WalkStats | None = None,
) -> Iterator[Window]:
    """Yield the windows that together hold every object of ``type_id`` (not of its child types).

    :param client: the Assets client.
    :param type_id: the object type.
    :param page_size: objects per request (a server that caps it lower is followed).
    :param include_attributes: fetch attribute values too.
    :param expected: how many objects the type has, if known: a small type is read in one request.
    :param stats: counts requests into this when given.
    """
    lane = Lane(type_id)
    yield from walk_lane(
        client,
        lane,
        page_size=page_size,
        include_attributes=include_attributes,
        expected=expected,
        stats=stats,
    )


def walk_lane(
    client: AqlPager,
    lane: Lane,
    *,
    page_size: int,
    include_attributes: bool,
    expected: int | None = None,
    stats: WalkStats | None = None,
) -> Iterator[Window]:
    """Yield the windows that together hold every object of a lane, in id order (see :func:`walk_type`)."""
    stats = stats if stats is not None else WalkStats()
    type_id, base = lane.type_id, lane.aql

    def ask(query: str, size: int, attributes: bool) -> AqlPage:
        stats.count(requests=1)
        return client.aql_page(query, max_results=size, include_attributes=attributes)

    whole_type = lane.low == 0 and lane.high is None
    if whole_type and expected is not None and expected <= page_size * TARGET_FILL:
        page = ask(base, page_size, include_attributes)
        if page.is_last:
            yield Window(type_id, 0, None, page.values)
            return
        stats.count(refetched=1)
    low, width, highest_seen = lane.low, page_size, lane.low
    while True:
        high = low + width if lane.high is None else min(low + width, lane.high)
        page = ask(f"{base} AND objectId > {low} AND objectId <= {high}", page_size, include_attributes)
        if not page.is_last:
            if 0 < len(page.values) < page_size:
                # The server caps the page size: follow it, or every window would look full.
                page_size = len(page.values)
            if high - low <= page_size:
                raise UnexpectedAnswerError(
                    f"AQL window objectId > {low} AND objectId <= {high} of {base} holds more than "
                    f"{high - low} objects and a page of {page_size}: ids are not unique numbers?"
                )
            stats.count(refetched=1)
            shrunk = (high - low) * TARGET_FILL * page_size / max(len(page.values), page_size)
            width = max(page_size, int(shrunk))
            continue
        yield Window(type_id, low, high, page.values)
        numbers = [object_number(object_id) for object_id in ids_of(page.values)]
        highest_seen = max([highest_seen, *numbers])
        low = high
        if lane.high is not None and low >= lane.high:
            return
        # Size the next window from this one's density, within a factor of four either way.
        target = page_size * TARGET_FILL
        scaled = width * target / max(len(numbers), 1)
        width = int(min(MAX_WIDTH, max(page_size, min(scaled, width * 4), width / 4)))
        if lane.high is None and low >= highest_seen:
            probe = ask(f"{base} AND objectId > {low}", 1, False)
            if not probe.values:
                yield Window(type_id, low, None, [])
                return
            highest_seen = max(highest_seen, *(object_number(i) for i in ids_of(probe.values)))


def fetch_by_ids(
    client: AqlPager, type_id: str, object_ids: Sequence[str], *, stats: WalkStats | None = None
) -> list[Mapping[str, Any]]:
    """Return the objects (with attributes) of ``object_ids`` that still exist, in one request."""
    if not object_ids:
        return []
    stats = stats if stats is not None else WalkStats()
    stats.count(requests=1)
    query = f"objectTypeId = {type_id} AND objectId in ({', '.join(object_ids)})"
    page = client.aql_page(query, max_results=len(object_ids), include_attributes=True)
    if not page.is_last:
        raise UnexpectedAnswerError(f"AQL for {len(object_ids)} ids of type {type_id} answered more objects")
    return list(page.values)


def prefetch(items: Iterator[T]) -> Iterator[T]:
    """Yield from ``items``, producing the next one in a thread while the caller handles the current one.

    An error raised while producing is raised to the caller in order; closing the result stops the producer.
    """
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put((True, item))
        except BaseException as error:
            queue.put((False, error))
            return
        queue.put((False, None))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, value = queue.get()
            if not ok:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            # Unblock a producer waiting to hand over an item nobody will take.
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)

"""A site's shared rate budget in MongoDB: one counter document per site, endpoint class and time slot.

Every worker reaches the backup store, so the tasks of one site, whatever process or machine runs them, lease
their calls from the same counters (see :mod:`airflow_assets.api.shared_budget` for the arithmetic). A lease
is one atomic conditional ``$inc`` of a slot's counter (single-document, no transaction). The clock is the
database server's (read with ``hello``), so processes whose own clocks disagree still agree on the slots.
Writers delete slots older than a few windows themselves: no TTL index (not on every MongoDB-compatible
service for arbitrary fields).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from airflow_assets.store.layout import RATE_BUDGET

log = logging.getLogger(__name__)

# How often each process re-reads the server's clock (drift of local clocks over this time is negligible).
CLOCK_REFRESH_SECONDS = 300.0
# How often each process deletes slots of a site and class that ended long ago, and how old they must be.
CLEANUP_EVERY_SECONDS = 30.0
KEEP_SECONDS = 600.0
# A conditional take that lost the race to another writer is retried with what is left, a few times.
TAKE_ATTEMPTS = 4
SLOT_DIGITS = 15


class MongoRateBudget:
    """The :class:`~airflow_assets.api.shared_budget.SharedBudget` of every task that uses this database.

    :param db: the backup database.
    :param slot_seconds: length of a slot (None: the window of the limits / 120).
    :param skew_seconds: tolerated difference of arrival times (None: half a slot).
    :param clock: the local wall clock (tests pass a skewed one); corrected by the server's.
    """

    def __init__(
        self,
        db: Database,
        *,
        slot_seconds: float | None = None,
        skew_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._slots = db[RATE_BUDGET]
        self._db = db
        self.slot_seconds = slot_seconds
        self.skew_seconds = skew_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._offset: float | None = None
        self._offset_read_at = 0.0
        self._cleaned: dict[tuple[str, str], float] = {}

    def __repr__(self) -> str:
        return f"MongoRateBudget(db={self._db.name!r})"

    def now(self) -> float:
        """Return the database server's clock in seconds since the epoch (estimated locally)."""
        local = self._clock()
        with self._lock:
            if self._offset is None or local - self._offset_read_at > CLOCK_REFRESH_SECONDS:
                self._offset = self._server_offset()
                self._offset_read_at = local
            offset = self._offset
        return local + offset

    def take(self, site: str, rate_class: str, slot: int, wanted: int, capacity: int) -> int:
        """Lease up to ``wanted`` calls of ``slot``, its count kept within ``capacity``; return how many."""
        key = _slot_id(site, rate_class, slot)
        want = min(wanted, capacity)
        for _ in range(TAKE_ATTEMPTS):
            if want < 1:
                return 0
            try:
                taken = self._slots.find_one_and_update(
                    {"_id": key, "used": {"$lte": capacity - want}},
                    {
                        "$inc": {"used": want},
                        "$setOnInsert": {"site": site, "rate_class": rate_class, "slot": slot},
                    },
                    upsert=True,
                    projection={"_id": 1},
                )
            except DuplicateKeyError:
                # The slot exists with less room than asked (or another writer created it first).
                taken = None
            else:
                if taken is None:
                    # Inserted: the first lease of this slot (the count started at ``want``).
                    self._clean(site, rate_class, slot)
                return want
            current = self._slots.find_one({"_id": key}, projection={"used": 1})
            used = current.get("used", 0) if current else 0
            if isinstance(used, bool) or not isinstance(used, int | float):
                # Not a count this code wrote: take the slot as spent rather than guess (never over a limit).
                log.warning("slot %s of the shared rate budget holds no count (%r); skipping it", key, used)
                return 0
            want = min(wanted, capacity - int(used))
        return 0

    def _server_offset(self) -> float:
        """Return server clock minus local clock, measured across one round trip."""
        before = self._clock()
        answer: dict[str, object] = {}
        for command in ("hello", "isMaster"):  # isMaster: servers and services older than hello
            try:
                answer = self._db.client.admin.command(command)
                break
            except PyMongoError as error:
                log.debug("%s failed (%s)", command, type(error).__name__)
        after = self._clock()
        server = answer.get("localTime")
        if not isinstance(server, datetime):
            log.warning(
                "the backup store does not report its clock; the shared rate budget uses this machine's "
                "clock (keep the workers' clocks in sync, e.g. with NTP)"
            )
            return 0.0
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        return server.timestamp() - (before + after) / 2

    def _clean(self, site: str, rate_class: str, slot: int) -> None:
        """Delete this site's and class's slots that ended long ago (at most twice a minute per process)."""
        now = self._clock()
        with self._lock:
            if now - self._cleaned.get((site, rate_class), 0.0) < CLEANUP_EVERY_SECONDS:
                return
            self._cleaned[(site, rate_class)] = now
        slot_seconds = self.slot_seconds or 0.5
        oldest_kept = max(0, slot - int(KEEP_SECONDS / slot_seconds))
        # Slot ids sort as numbers (zero-padded), so the _id index finds the old ones of this site and class.
        self._slots.delete_many(
            {"_id": {"$gte": _slot_id(site, rate_class, 0), "$lt": _slot_id(site, rate_class, oldest_kept)}}
        )


def _slot_id(site: str, rate_class: str, slot: int) -> str:
    return f"{site}|{rate_class}|{slot:0{SLOT_DIGITS}d}"

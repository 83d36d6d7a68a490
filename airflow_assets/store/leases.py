"""A fenced per-schema lease in MongoDB: backups and pruning of one schema never write at the same time.

A backup run re-uses stored versions (a version unchanged since an earlier snapshot is not written again);
pruning deletes versions no span names any more. Without the lease, pruning could delete a version in the
moment between a backup finding it stored and the backup's new span naming it. Every task of a backup run
takes the lease under the run's snapshot id (so they share it); pruning takes it under its own name.

The lease is **fenced** (restic fixed the same hole, issue 2715): every acquisition that does not join a
live lease of the same holder raises its ``token``, and the lease document is never deleted, so the token
only grows. A writer checks, before and after each batch of writes, that the token it acquired is still
the current one (:meth:`SchemaLease.check`). A writer that was paused past its lease (a VM pause, a swap
storm: its renewal timer stopped too) finds, when it resumes, either its own token still current (nobody
took the lease meanwhile: nothing was deleted under it, and the lease is renewed) or a newer one: then it
raises :class:`LeaseLostError` and writes nothing more. A confirmed write (see
:mod:`airflow_assets.store.versions`) happens only after the check that follows its batch, so what a
fenced-out writer did is redone by the next try. The lease is short and renewed in the background; the
renewer also compares the wall clock with the expiry, since a pause stops timers but not the clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.store.layout import LEASES

log = logging.getLogger(__name__)

# Short, because it is renewed every third of it: a run whose worker was killed holds the schema this long.
DEFAULT_TTL = timedelta(seconds=90)
_FREED = datetime(1970, 1, 1, tzinfo=UTC)


class LeaseHeldError(JiraAssetsError):
    """The schema's lease is held by someone else."""

    def __init__(self, message: str, *, holder: str = "") -> None:
        super().__init__(message)
        self.holder = holder

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_held, (str(self), self.holder))


def _rebuild_held(message: str, holder: str) -> LeaseHeldError:
    return LeaseHeldError(message, holder=holder)


class LeaseLostError(JiraAssetsError):
    """The lease this writer held was taken by another (it lapsed): stop writing; a retry starts afresh."""


class Fence:
    """What a store writer calls around its writes; the default never objects (readers, tests of layout)."""

    def check(self) -> None:
        """Raise if writing must stop."""


class SchemaLease(Fence):
    """The fenced lease of one schema, held under ``holder`` and renewed in the background while entered.

    :param db: the backup database.
    :param workspace_id: the workspace of the schema.
    :param schema_id: the schema (or ``<schema>/<lane>`` for the reconstructed lane).
    :param holder: who holds it: a snapshot id for backups (all tasks of a run share it), ``prune:...``.
    :param ttl: how long the lease lasts without renewal.
    :param wait: how long :meth:`acquire` waits for another holder to let go before giving up.
    :param clock: the current time (tests).
    """

    def __init__(
        self,
        db: Database,
        workspace_id: str,
        schema_id: str,
        holder: str,
        *,
        ttl: timedelta = DEFAULT_TTL,
        wait: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._leases = db[LEASES]
        self.lease_id = f"{workspace_id}:{schema_id}"
        self.holder = holder
        self.ttl = ttl
        self.wait = wait
        self._clock = clock
        self.token: int | None = None
        self._expires_at: datetime | None = None
        self._lost = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """Join the live lease of this holder, or take the lease if it is free or expired (a new token)."""
        now = self._clock()
        joined = self._leases.find_one_and_update(
            {"_id": self.lease_id, "holder": self.holder, "expires_at": {"$gte": now}},
            # A lease written before tokens existed gets token 0, which the next taker raises.
            {"$set": {"expires_at": now + self.ttl, "renewed_at": now}, "$max": {"token": 0}},
            return_document=ReturnDocument.AFTER,
        )
        if joined is None:
            try:
                joined = self._leases.find_one_and_update(
                    {"_id": self.lease_id, "expires_at": {"$lt": now}},
                    {
                        "$set": {"holder": self.holder, "expires_at": now + self.ttl, "renewed_at": now},
                        "$inc": {"token": 1},
                    },
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                return False
        if joined is None:  # pragma: no cover - an upsert returning the document after it
            return False
        self.token = int(joined.get("token") or 0)
        self._expires_at = now + self.ttl
        self._lost = ""
        return True

    def acquire(self) -> None:
        """Take the lease, waiting up to ``wait`` seconds for another holder.

        :raises LeaseHeldError: someone else still holds it.
        """
        deadline = time.monotonic() + self.wait
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                current = self._leases.find_one({"_id": self.lease_id}) or {}
                holder = str(current.get("holder", "?"))
                raise LeaseHeldError(
                    f"schema lease {self.lease_id} is held by {holder} until {current.get('expires_at')}; "
                    "a backup and pruning of one schema never run at the same time: retry later",
                    holder=holder,
                )
            time.sleep(min(2.0, max(0.05, deadline - time.monotonic())))

    def renew(self) -> bool:
        """Extend the lease if its token is still ours (also after it expired); else mark it lost."""
        if self.token is None or self._lost:
            return False
        now = self._clock()
        result = self._leases.update_one(
            {"_id": self.lease_id, "holder": self.holder, "token": self.token},
            {"$set": {"expires_at": now + self.ttl, "renewed_at": now}},
        )
        if result.matched_count:
            self._expires_at = now + self.ttl
            return True
        current = self._leases.find_one({"_id": self.lease_id}) or {}
        self._lost = (
            f"the lease of {self.lease_id} was taken by {current.get('holder') or 'nobody'} "
            f"(token {current.get('token')}, ours was {self.token}) while this writer ({self.holder}) "
            "was not renewing it"
        )
        log.error("%s: this task stops writing", self._lost)
        return False

    def check(self) -> None:
        """Make sure the lease is still ours before (or after) a write.

        Reads the lease by ``_id`` and compares its token; when the wall clock is past the expiry this
        writer knows of (its renewals stopped: a pause), renews first, fenced by the token.

        :raises LeaseLostError: another holder took the lease since this writer acquired it.
        """
        if self.token is None:
            raise LeaseLostError(f"lease {self.lease_id} was never acquired by {self.holder}")
        if not self._lost:
            now = self._clock()
            if self._expires_at is None or now >= self._expires_at - self.ttl / 3:
                self.renew()
            else:
                current = self._leases.find_one({"_id": self.lease_id}, {"holder": 1, "token": 1})
                if not current or current.get("holder") != self.holder or current.get("token") != self.token:
                    self.renew()  # records why it was lost
        if self._lost:
            raise LeaseLostError(
                f"{self._lost}; what it wrote since is redone by the next try (nothing it wrote is confirmed)"
            )

    @property
    def lost(self) -> str:
        """Return why the lease was lost, or an empty string."""
        return self._lost

    def release(self) -> None:
        """Let go of the lease if it is ours (the document stays: its token keeps growing)."""
        query: dict[str, object] = {"_id": self.lease_id, "holder": self.holder}
        if self.token is not None:
            query["token"] = self.token
        self._leases.update_one(query, {"$set": {"holder": None, "expires_at": _FREED}})

    def __enter__(self) -> SchemaLease:
        self.acquire()
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{self.lease_id}", daemon=True)
        self._renewer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Stop renewing; the lease itself is released by whoever ends the run (finalize, teardown), or
        # expires: the tasks of one backup run share it and must not free it for each other.
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)

    def _renew(self) -> None:
        interval = max(0.2, self.ttl.total_seconds() / 3)
        while not self._stop.wait(interval):
            if not self.renew():
                return


def lease_holder(db: Database, lease_id: str) -> str:
    """Return who holds a lease now (a snapshot id, or ``prune:...``), or ``?`` when nobody does."""
    lease = db[LEASES].find_one({"_id": lease_id}, {"holder": 1}) or {}
    return str(lease.get("holder") or "?")

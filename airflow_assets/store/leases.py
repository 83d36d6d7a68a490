"""A per-schema lease in MongoDB: backups and pruning of one schema never run at the same time.

A backup run re-uses stored versions (a version unchanged since an earlier snapshot is not written again);
pruning deletes versions no span names any more. Without the lease, pruning could delete a version in the
moment between a backup finding it stored and the backup's new span naming it. Every task of a backup run
takes the lease under the run's snapshot id (so they share it); pruning takes it under its own name. A
lease expires unless renewed, so a killed task never blocks the schema for longer than ``ttl``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.store.layout import LEASES

DEFAULT_TTL = timedelta(minutes=10)


class LeaseHeldError(JiraAssetsError):
    """The schema's lease is held by someone else."""

    def __init__(self, message: str, *, holder: str = "") -> None:
        super().__init__(message)
        self.holder = holder

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_held, (str(self), self.holder))


def _rebuild_held(message: str, holder: str) -> LeaseHeldError:
    return LeaseHeldError(message, holder=holder)


class SchemaLease:
    """The lease of one schema, held under ``holder`` and renewed in the background while entered.

    :param db: the backup database.
    :param workspace_id: the workspace of the schema.
    :param schema_id: the schema.
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
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """Take (or renew) the lease if it is free, expired or already ours."""
        now = self._clock()
        try:
            self._leases.find_one_and_update(
                {"_id": self.lease_id, "$or": [{"holder": self.holder}, {"expires_at": {"$lt": now}}]},
                {"$set": {"holder": self.holder, "expires_at": now + self.ttl, "renewed_at": now}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
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

    def release(self) -> None:
        """Let go of the lease if it is ours."""
        self._leases.delete_one({"_id": self.lease_id, "holder": self.holder})

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
        interval = max(1.0, self.ttl.total_seconds() / 3)
        while not self._stop.wait(interval):
            self.try_acquire()

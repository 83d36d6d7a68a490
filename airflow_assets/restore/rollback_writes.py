"""The writes of a rollback: its stored ``put`` and ``delete`` lines, through the ledger.

A changed object gets one ``PUT object/{id}`` holding only the attributes that go back, built from the
snapshot. Batches of objects are read again (one AQL request each) while the writes of the batch before run,
and an object whose attributes no longer hold what the plan saw is left alone and reported. Every write has an
intent in the ledger before it and a completion after (ten at a time): a resumed run skips what completed and
reads the rest again, so an object that already holds the snapshot's values is completed without a write.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.exceptions import AssetsApiError, AssetsBadRequestError, AssetsNotFoundError
from airflow_assets.model.attributes import ATTR_REFERENCE, attribute_kind
from airflow_assets.restore.ledger import Created, Ledger
from airflow_assets.restore.request import RestoreParamError
from airflow_assets.restore.rollback import DELETE, PUT
from airflow_assets.restore.rollback_diff import (
    LiveWalk,
    Rewrite,
    write_body,
    written_values,
)
from airflow_assets.restore.values import ValueMaps
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]

ROLLBACK_PUT = "rollback_put"
ROLLBACK_DELETE = "rollback_delete"
WRITE_BATCH = 250  # objects read again (one AQL request) and then written per batch
SETTLE_EVERY = 10  # writes recorded complete in the ledger at a time (a resumed run reads the rest again)


@dataclass
class RollbackWrites:
    """What the rollback's writes did.

    :param objects_put_back: objects written (one ``PUT`` each).
    :param already_back: objects that held the snapshot's values already (a resumed run): not written.
    :param changed_since_plan: objects someone changed after the plan: left alone (listed in warnings).
    :param deleted: objects created since, deleted.
    :param writes: ``PUT`` and ``DELETE`` requests sent.
    """

    objects_put_back: int = 0
    already_back: int = 0
    changed_since_plan: int = 0
    deleted: int = 0
    writes: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> JsonDict:
        """Return the counts (warnings are stored apart)."""
        return {
            "objects_put_back": self.objects_put_back,
            "already_back": self.already_back,
            "changed_since_plan": self.changed_since_plan,
            "deleted": self.deleted,
            "writes": self.writes,
            "warnings": len(self.warnings),
        }


class RollbackWriter:
    """Write a rollback's stored changes into the live schema.

    :param client: the live site's client.
    :param ledger: the restore's ledger (intents and completions of every write).
    :param reader: reads the snapshot the objects go back to.
    :param snapshot: that snapshot.
    :param maps: :func:`rollback_maps` with the attributes and objects the restore created again.
    :param gone: objects deleted since that stay deleted: a reference to one is left out of a body.
    """

    def __init__(
        self,
        client: AssetsClient,
        ledger: Ledger,
        reader: SnapshotReader,
        snapshot: Snapshot,
        maps: ValueMaps,
        *,
        max_workers: int | None = None,
        batch: int = WRITE_BATCH,
        gone: Collection[str] = (),
    ) -> None:
        self.client = client
        self.gone = frozenset(gone)
        self.ledger = ledger
        self.reader = reader
        self.snapshot = snapshot
        self.maps = maps
        self.max_workers = max_workers
        self.batch = batch
        self.summary = RollbackWrites()

    def run(self, changes: Iterator[JsonDict]) -> RollbackWrites:
        """Put back and delete what the stored changes of this schema say (every step safe to repeat)."""
        done_put = set(self.ledger.created(ROLLBACK_PUT))
        done_delete = set(self.ledger.created(ROLLBACK_DELETE))
        deletes: list[JsonDict] = []

        def batches() -> Iterator[list[JsonDict]]:
            puts: list[JsonDict] = []
            for change in changes:
                if change.get("action") == PUT and change["id"] not in done_put:
                    puts.append(change)
                    if len(puts) >= self.batch:
                        yield puts
                        puts = []
                elif change.get("action") == DELETE and change["id"] not in done_delete:
                    deletes.append(change)
            if puts:
                yield puts

        self._put(batches())
        if deletes:
            self._delete(deletes)
        return self.summary

    def _put(self, batches: Iterator[Sequence[JsonDict]]) -> None:
        """Write every batch's bodies as one stream: a batch is read again (and its intents stored) while the
        writes of the batches before it are still under way, so the re-reads never idle the write budget."""
        keys: dict[str, str] = {}

        def bodies() -> Iterator[tuple[str, JsonDict]]:
            for changes in batches:
                ready = self._prepare(changes)
                if ready:
                    named = {change["id"]: str(change.get("key") or change["id"]) for change in changes}
                    keys.update((object_id, named[object_id]) for object_id, _ in ready)
                    self.ledger.open_many(
                        ROLLBACK_PUT, [(object_id, {"key": keys[object_id]}) for object_id, _ in ready]
                    )
                yield from ready

        def put(item: tuple[str, JsonDict]) -> Any:
            return self.client.update_object(item[0], item[1])

        completed: list[tuple[str, Created]] = []
        failure: Exception | None = None

        def settle() -> None:
            if completed:
                self.ledger.complete_many(ROLLBACK_PUT, completed)
                self.summary.objects_put_back += len(completed)
                completed.clear()

        try:
            for (object_id, _), result in self.client.map_concurrent(
                put, bodies(), max_workers=self.max_workers, return_exceptions=True, ordered=False
            ):
                self.summary.writes += 1
                key = keys.pop(object_id, object_id)
                if isinstance(result, AssetsBadRequestError):
                    self.summary.warnings.append(f"{key}: the site refused the write: {result}")
                    self.ledger.drop(ROLLBACK_PUT, object_id)
                elif isinstance(result, Exception):
                    failure = failure or result  # the intent stays open: the retry reads the object again
                else:
                    completed.append((object_id, Created(object_id, key)))
                    if len(completed) >= SETTLE_EVERY:
                        settle()
        finally:
            settle()
        if failure is not None:
            raise failure

    def _prepare(self, changes: Sequence[JsonDict]) -> list[tuple[str, JsonDict]]:
        """Read a batch's objects again; return the bodies of those still as the plan saw them."""
        ids = [change["id"] for change in changes]
        live = {
            str(obj["id"]): obj
            for obj in LiveWalk(self.client, self.snapshot.schema_id, object_ids=ids).objects()
        }
        held = self.reader.objects_by_id(self.snapshot, ids)
        bodies: list[tuple[str, JsonDict]] = []
        for change in changes:
            object_id = change["id"]
            obj, now = held.get(object_id), live.get(object_id)
            if obj is None:
                raise RestoreParamError(
                    "snapshot", f"object {object_id} is no longer in snapshot {self.snapshot.snapshot_id}"
                )
            if now is None:
                self._warn(change, "was deleted after the plan: not put back")
                continue
            state = self._state(change, now)
            if state == "back":
                self.ledger.complete(ROLLBACK_PUT, object_id, Created(object_id, change.get("key")))
                self.summary.already_back += 1
                continue
            if state == "changed":
                self.summary.changed_since_plan += 1
                self._warn(change, "was changed after the plan: left as it is (run the rollback again)")
                continue
            rewrite = Rewrite(object_id, change["type"], tuple(a["id"] for a in change["put"]))
            body = write_body(obj, rewrite, self.maps, self.gone)
            if body.writes:
                bodies.append((object_id, body.body))
            for dropped in body.dropped:
                self.summary.warnings.append(dropped)
        return bodies

    def _state(self, change: JsonDict, live: JsonDict) -> str:
        """Return ``planned`` (as the plan saw it), ``back`` (holds the snapshot's values) or ``changed``."""
        now = written_values(live, self.maps)
        planned = back = True
        for attribute in change["put"]:
            target = self.maps.attributes.get(attribute["id"], attribute["id"])
            values = list(now.get(target, ()))
            old = sorted(self._sent(attribute["id"], value) for value in attribute["old"])
            planned &= values == sorted(attribute["new"])
            back &= values == old
        return "back" if back else "planned" if planned else "changed"

    def _sent(self, attribute_id: str, value: str) -> str:
        """Return a snapshot's written value as it is sent now (a reference to a recreated object moves)."""
        if attribute_kind(self.maps.attribute_defs.get(attribute_id) or {}) != ATTR_REFERENCE:
            return value
        sent = self.maps.reference(value)
        return sent if sent is not None else value

    def _delete(self, changes: Sequence[JsonDict]) -> None:
        self.ledger.open_many(
            ROLLBACK_DELETE, [(change["id"], {"key": change.get("key")}) for change in changes]
        )
        for change in changes:
            try:
                self.client.delete_object(change["id"])
                self.summary.writes += 1
            except AssetsNotFoundError:
                pass  # gone already (an earlier try whose answer was lost, or someone else)
            except AssetsApiError as error:
                self._warn(change, f"could not be deleted: {error}")
                continue
            self.ledger.complete(ROLLBACK_DELETE, change["id"], Created(change["id"], change.get("key")))
            self.summary.deleted += 1

    def _warn(self, change: JsonDict, text: str) -> None:
        self.summary.warnings.append(f"{change.get('key') or change['id']} {text}")

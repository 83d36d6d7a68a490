"""Forget snapshots by a retention policy, then reclaim the space no remaining snapshot needs (restic).

:func:`forget` only removes manifests: the complete snapshots the policy no longer keeps, and the failed
ones older than the schema's newest complete snapshot (never restorable). :func:`prune` then deletes the
closed spans that no remaining snapshot reads, and the versions that no span names any more. Both have a
dry run that writes nothing and reports the same decisions; both are safe to re-run, also after a crash.

Pruning takes the schema's lease (:class:`~airflow_assets.store.leases.SchemaLease`) under its own name, so
it never runs while a backup of the schema does: a backup re-uses stored versions, and a version that only
a forgotten snapshot named could otherwise be deleted in the moment between the backup finding it stored
and its new span naming it. A schema whose lease a backup holds is skipped and reported.

Neither acts on a damaged schema (restic's prune refuses the same way): before deciding anything, forget
checks the complete snapshots it would keep, and prune the complete snapshots that remain, by the check
of ``snapshots verify`` (:mod:`airflow_assets.store.check`); a schema with damage is left alone, its
damaged items are marked so that the next backup reads them again (:mod:`airflow_assets.store.repair`),
and ``snapshots repair`` says which snapshots stay damaged. Forget never forgets the newest sound
snapshot of a schema, whatever the policy says.

Only plain operations are used (``find``, ``count_documents``, ``delete_many`` with ``$in``): no
multi-document transactions, so any MongoDB-compatible server will do. Open spans (``to_seq == OPEN``)
are never deleted: they are what the next backup compares against.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.store.check import SnapshotCheck, SnapshotChecker
from airflow_assets.store.encryption import keyring_of
from airflow_assets.store.layout import LEASES, PROGRESS, SNAPSHOTS, SPANS, VERSIONS, ensure_indexes
from airflow_assets.store.leases import LeaseHeldError, SchemaLease
from airflow_assets.store.repair import damaged_items, mark_for_reread
from airflow_assets.store.retention import (
    KeptSnapshot,
    RetentionRules,
    SnapshotRef,
    check_policy,
    select,
    utc,
)
from airflow_assets.store.snapshots import COMPLETE, DAMAGED, FAILED, RUNNING, Snapshot, SnapshotStore
from airflow_assets.store.versions import BATCH, OPEN, RECONSTRUCTED_LANE, VersionStore

log = logging.getLogger(__name__)

# The rule under which the newest complete snapshot of a schema is kept when the policy would not keep it.
NEWEST = "newest"
# Closed spans read per page while looking for the ones no snapshot needs (small documents, projected).
SPAN_PAGE = 2000
# Why a schema was left alone by prune (or forget).
BACKUP_RUNNING = "backup running"
DAMAGED_SCHEMA = "damaged"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- reports ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaForget:
    """What :func:`forget` decided for one schema.

    :param workspace_id: the workspace.
    :param schema_id: the schema.
    :param schema_key: the schema's key in its newest manifest.
    :param kept: the complete snapshots kept, newest first, each with the rules that keep it.
    :param forgotten: the ids of the complete snapshots forgotten, newest first.
    :param failed_removed: the ids of the failed manifests removed (older than the newest complete one).
    :param running: how many running snapshots were left alone.
    :param notes: anything the operator should know (e.g. the newest snapshot kept against the policy).
    """

    workspace_id: str
    schema_id: str
    schema_key: str
    kept: tuple[KeptSnapshot, ...]
    forgotten: tuple[str, ...]
    failed_removed: tuple[str, ...]
    running: int
    notes: tuple[str, ...] = ()
    refused: str = ""

    def line(self) -> str:
        """Return the decision as one readable line."""
        if self.refused:
            return (
                f"schema {self.schema_key} ({self.workspace_id}:{self.schema_id}): nothing forgotten, "
                f"{self.refused}"
            )
        kept = ", ".join(f"seq {entry.snapshot.seq} ({'+'.join(entry.rules)})" for entry in self.kept)
        text = (
            f"schema {self.schema_key} ({self.workspace_id}:{self.schema_id}): keep {len(self.kept)} "
            f"[{kept or 'none'}], forget {len(self.forgotten)}, remove {len(self.failed_removed)} failed"
        )
        if self.running:
            text += f", {self.running} running left alone"
        return text + "".join(f"; {note}" for note in self.notes)


@dataclass(frozen=True)
class ForgetReport:
    """What :func:`forget` did (or, in a dry run, would do), per schema.

    :param dry_run: nothing was written.
    :param decided_at: when the decisions were taken.
    :param schemas: one entry per schema with manifests.
    """

    dry_run: bool
    decided_at: datetime
    schemas: tuple[SchemaForget, ...]

    @property
    def kept(self) -> int:
        """Return how many complete snapshots are kept in all."""
        return sum(len(schema.kept) for schema in self.schemas)

    @property
    def forgotten(self) -> int:
        """Return how many complete snapshots are forgotten in all."""
        return sum(len(schema.forgotten) for schema in self.schemas)

    @property
    def failed_removed(self) -> int:
        """Return how many failed manifests are removed in all."""
        return sum(len(schema.failed_removed) for schema in self.schemas)

    @property
    def removed_ids(self) -> tuple[str, ...]:
        """Return the ids of every manifest removed (or, in a dry run, to be removed): for :func:`prune`."""
        return tuple(
            snapshot_id
            for schema in self.schemas
            for snapshot_id in (*schema.forgotten, *schema.failed_removed)
        )

    def lines(self) -> list[str]:
        """Return the report as readable lines, a header and one line per schema."""
        verb = "would forget" if self.dry_run else "forgot"
        header = (
            f"{'dry run: ' if self.dry_run else ''}{verb} {self.forgotten} snapshots and "
            f"{self.failed_removed} failed manifests of {len(self.schemas)} schemas; {self.kept} kept"
        )
        return [header, *(schema.line() for schema in self.schemas)]

    def summary(self) -> dict[str, Any]:
        """Return counts only, JSON-compatible (for XCom)."""
        return {
            "dry_run": self.dry_run,
            "schemas": len(self.schemas),
            "snapshots_kept": self.kept,
            "snapshots_forgotten": self.forgotten,
            "failed_removed": self.failed_removed,
        }


@dataclass
class SchemaPrune:
    """What :func:`prune` did (or would do) for one schema.

    :param workspace_id: the workspace.
    :param schema_id: the schema.
    :param schema_key: the schema's key in its newest manifest.
    :param skipped: why the schema was left alone (``backup running: ...``), or empty.
    :param snapshots: how many snapshots (complete or running) still need data.
    :param spans_deleted: closed spans no remaining snapshot reads.
    :param versions_deleted: versions no remaining span names.
    """

    workspace_id: str
    schema_id: str
    schema_key: str
    skipped: str = ""
    snapshots: int = 0
    spans_deleted: int = 0
    versions_deleted: int = 0
    items_marked: int = 0

    def line(self) -> str:
        """Return the result as one readable line."""
        name = f"schema {self.schema_key} ({self.workspace_id}:{self.schema_id})"
        if self.skipped:
            return f"{name}: skipped, {self.skipped}"
        return (
            f"{name}: {self.spans_deleted} spans and {self.versions_deleted} versions unused by its "
            f"{self.snapshots} remaining snapshots"
        )


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` did (or, in a dry run, would do), per schema.

    :param dry_run: nothing was deleted.
    :param schemas: one entry per schema with manifests.
    """

    dry_run: bool
    schemas: tuple[SchemaPrune, ...] = field(default_factory=tuple)

    @property
    def spans_deleted(self) -> int:
        """Return how many spans were (or would be) deleted in all."""
        return sum(schema.spans_deleted for schema in self.schemas)

    @property
    def versions_deleted(self) -> int:
        """Return how many versions were (or would be) deleted in all."""
        return sum(schema.versions_deleted for schema in self.schemas)

    @property
    def skipped(self) -> tuple[SchemaPrune, ...]:
        """Return the schemas left alone (a backup held their lease)."""
        return tuple(schema for schema in self.schemas if schema.skipped)

    def lines(self) -> list[str]:
        """Return the report as readable lines, a header and one line per schema."""
        verb = "would delete" if self.dry_run else "deleted"
        header = (
            f"{'dry run: ' if self.dry_run else ''}{verb} {self.spans_deleted} spans and "
            f"{self.versions_deleted} versions in {len(self.schemas) - len(self.skipped)} schemas"
        )
        if self.skipped:
            header += f"; {len(self.skipped)} skipped (run prune again after their backups)"
        return [header, *(schema.line() for schema in self.schemas)]

    def summary(self) -> dict[str, Any]:
        """Return counts only, JSON-compatible (for XCom)."""
        return {
            "dry_run": self.dry_run,
            "schemas": len(self.schemas),
            "spans_deleted": self.spans_deleted,
            "versions_deleted": self.versions_deleted,
            "skipped": [schema.schema_key for schema in self.skipped],
        }


# -- forget ----------------------------------------------------------------------------------------------


def forget(
    db: Database,
    policy: RetentionRules,
    *,
    dry_run: bool,
    now: datetime | None = None,
    checker: SnapshotChecker | None = None,
) -> ForgetReport:
    """Remove the manifests of the complete snapshots ``policy`` does not keep, and of old failed ones.

    Running snapshots are never touched; the newest complete snapshot of a schema is always kept. The
    data the removed manifests referred to stays until :func:`prune`.

    :param db: the backup database.
    :param policy: the retention policy (:class:`airflow_assets.config.storage.RetentionPolicy`).
    :param dry_run: decide and report, but delete nothing.
    :param now: when the decision is taken (reported; default: now).
    :param checker: the soundness check to use (shared with :func:`prune`: versions are hashed once).
    :raises RetentionPolicyError: the policy keeps nothing.
    """
    check_policy(policy)
    checker = checker or SnapshotChecker(db)
    decided_at = utc(now) if now is not None else datetime.now(UTC)
    schemas = []
    for (workspace_id, schema_id), manifests in _manifests_by_schema(db).items():
        decision = _forget_schema(workspace_id, schema_id, manifests, policy)
        decision = _sound_decision(db, checker, decision, dry_run=dry_run)
        if not dry_run and not decision.refused:
            _remove_manifests(db, decision.forgotten, COMPLETE)
            _remove_manifests(db, decision.failed_removed, FAILED)
            _remove_manifests(db, decision.failed_removed, DAMAGED)
        log.info("%s%s", "dry run: " if dry_run else "", decision.line())
        schemas.append(decision)
    return ForgetReport(dry_run=dry_run, decided_at=decided_at, schemas=tuple(schemas))


def _sound_decision(
    db: Database, checker: SnapshotChecker, decision: SchemaForget, *, dry_run: bool
) -> SchemaForget:
    """Refuse a decision that keeps a damaged snapshot.

    With the newest complete snapshot always kept, this is what keeps the newest sound one: either every
    kept snapshot is sound, or nothing is forgotten.
    """
    store = SnapshotStore(db)
    kept = [store.get(entry.snapshot.snapshot_id) for entry in decision.kept]
    damaged = [check for check in checker.check_all(s for s in kept if s is not None) if not check.intact]
    if not damaged:
        return decision
    if not dry_run:
        _mark_damaged_items(db, decision.workspace_id, decision.schema_id, damaged)
    problems = [problem for check in damaged for problem in check.problems]
    return dataclasses.replace(
        decision,
        forgotten=(),
        failed_removed=(),
        refused=(
            f"{DAMAGED_SCHEMA}: {len(damaged)} snapshots it would keep are not sound ({len(problems)} "
            f"problems, e.g. {problems[0].describe()}); run `airflow-assets snapshots repair`"
        ),
    )


def _mark_damaged_items(
    db: Database, workspace_id: str, schema_id: str, checks: Sequence[SnapshotCheck]
) -> int:
    """Mark what damaged snapshots lack so that the next backup of the schema reads it again."""
    return mark_for_reread(VersionStore(db, workspace_id, schema_id), damaged_items(checks)).items


def _manifests_by_schema(db: Database) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Return the manifests' small fields per (workspace, schema), oldest first."""
    fields = dict.fromkeys(
        ("workspace_id", "schema_id", "schema_key", "seq", "status", "started_at", "state_at", "finished_at"),
        1,
    )
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for document in db[SNAPSHOTS].find({}, fields):
        grouped[(str(document["workspace_id"]), str(document["schema_id"]))].append(document)
    for manifests in grouped.values():
        manifests.sort(key=lambda document: int(document["seq"]))
    return dict(sorted(grouped.items()))


def _started_at(document: Mapping[str, Any]) -> datetime:
    # The moment a snapshot holds: a backfill's snapshots of past days are kept as those days.
    moment = document.get("state_at") or document.get("started_at") or document.get("finished_at")
    return utc(moment) if isinstance(moment, datetime) else _EPOCH


def _forget_schema(
    workspace_id: str, schema_id: str, manifests: Sequence[Mapping[str, Any]], policy: RetentionRules
) -> SchemaForget:
    complete = [
        SnapshotRef(str(doc["_id"]), _started_at(doc), int(doc["seq"]))
        for doc in manifests
        if doc["status"] == COMPLETE
    ]
    schema_key = str(manifests[-1].get("schema_key", "?"))
    running = sum(1 for doc in manifests if doc["status"] == RUNNING)
    if not complete:
        return SchemaForget(workspace_id, schema_id, schema_key, (), (), (), running)
    decision = select(complete, policy)
    kept = list(decision.keep)
    forgotten = list(decision.forget)
    notes = []
    newest = max(complete, key=lambda ref: ref.seq)
    if newest in forgotten:
        # Start times may disagree with the order runs began in (a retried run keeps its first start).
        forgotten.remove(newest)
        kept.append(KeptSnapshot(newest, (NEWEST,)))
        kept.sort(key=lambda entry: (entry.snapshot.started_at, entry.snapshot.seq), reverse=True)
        notes.append(
            f"the policy would forget the newest complete snapshot {newest.snapshot_id} (seq {newest.seq}); "
            "it is kept: a schema always keeps its newest complete snapshot"
        )
    failed = tuple(
        str(doc["_id"])
        for doc in manifests
        if doc["status"] in (FAILED, DAMAGED) and int(doc["seq"]) < newest.seq
    )
    return SchemaForget(
        workspace_id,
        schema_id,
        schema_key,
        tuple(kept),
        tuple(ref.snapshot_id for ref in forgotten),
        failed,
        running,
        tuple(notes),
    )


def _remove_manifests(db: Database, snapshot_ids: Sequence[str], status: str) -> None:
    for start in range(0, len(snapshot_ids), BATCH):
        chunk = list(snapshot_ids[start : start + BATCH])
        # Checkpoints first: a crash in between leaves a manifest that the next forget removes again.
        for snapshot_id in chunk:
            # Checkpoint ids are "<snapshot id>|<step>": every id from "<id>|" up to "<id>}" ('|' + 1).
            db[PROGRESS].delete_many({"_id": {"$gte": f"{snapshot_id}|", "$lt": f"{snapshot_id}}}"}})
        # The status guard keeps a manifest whose state changed meanwhile.
        db[SNAPSHOTS].delete_many({"_id": {"$in": chunk}, "status": status})


# -- prune -----------------------------------------------------------------------------------------------


def prune(
    db: Database,
    *,
    dry_run: bool,
    lease_wait: float = 0.0,
    assume_forgotten: Iterable[str] = (),
    checker: SnapshotChecker | None = None,
) -> PruneReport:
    """Delete the spans no remaining snapshot reads and the versions no remaining span names.

    Each schema is pruned under its lease, taken as ``prune:<uuid>``; a schema whose lease a backup holds
    is skipped and reported as ``backup running``. A dry run takes no lease (it writes nothing), reports
    a schema whose lease a backup holds as skipped, and counts what would be deleted.

    :param db: the backup database.
    :param dry_run: count, but delete nothing.
    :param lease_wait: seconds to wait for a backup to release a schema's lease before skipping it.
    :param assume_forgotten: snapshot ids to treat as removed: a dry run of :func:`forget` passes
        :attr:`ForgetReport.removed_ids`, so the dry run of prune counts what the real pair would delete.
    :param checker: the soundness check to use (shared with :func:`forget`: versions are hashed once).
    """
    forgotten = frozenset(assume_forgotten)
    checker = checker or SnapshotChecker(db)
    if not dry_run:
        ensure_indexes(db)
    results = []
    for (workspace_id, schema_id), manifests in _manifests_by_schema(db).items():
        result = SchemaPrune(workspace_id, schema_id, str(manifests[-1].get("schema_key", "?")))
        lease = SchemaLease(db, workspace_id, schema_id, f"prune:{uuid.uuid4()}", wait=lease_wait)
        if _refuse_damage(db, result, forgotten, checker, dry_run=dry_run):
            # What prune relies on is not sound: nothing of the schema is deleted.
            log.warning("%s", result.line())
            results.append(result)
            continue
        if dry_run:
            holder = _backup_holding(db, lease)
            if holder:
                result.skipped = f"{BACKUP_RUNNING} (lease held by {holder})"
            else:
                _prune_schema(db, result, dry_run=True, forgotten=forgotten)
        else:
            # The reconstructed lane has its own writer (a backfill): its lease is taken too.
            lane = SchemaLease(db, workspace_id, _lane(schema_id), lease.holder, wait=lease_wait)
            try:
                with lease, lane:
                    _prune_schema(db, result, dry_run=False, forgotten=forgotten, fence=lease)
            except LeaseHeldError as held:
                result.skipped = f"{BACKUP_RUNNING} (lease held by {held.holder})"
            finally:
                lane.release()
                lease.release()
        log.info("%s%s", "dry run: " if dry_run else "", result.line())
        results.append(result)
    return PruneReport(dry_run=dry_run, schemas=tuple(results))


def _backup_holding(db: Database, lease: SchemaLease) -> str:
    """Return who holds ``lease`` now (a running backup), or an empty string; writes nothing."""
    current = db[LEASES].find_one({"_id": lease.lease_id})
    if not current or not isinstance(current.get("expires_at"), datetime):
        return ""
    return str(current.get("holder", "?")) if utc(current["expires_at"]) >= datetime.now(UTC) else ""


class _Needs:
    """The sequence numbers whose snapshots still need data, and which spans they read."""

    def __init__(self, seqs: Sequence[int]) -> None:
        self.seqs = sorted(set(seqs))

    def unused(self, span: Mapping[str, Any]) -> bool:
        """Tell whether no needed snapshot reads ``span``; an open span is always in use."""
        from_seq, to_seq = int(span["from_seq"]), int(span["to_seq"])
        if to_seq >= OPEN:
            return False
        first = bisect_left(self.seqs, from_seq)
        return first == len(self.seqs) or self.seqs[first] >= to_seq


def _remaining(db: Database, result: SchemaPrune, forgotten: frozenset[str]) -> list[Snapshot]:
    """Return the schema's snapshots that still need data: complete, running (to be retried) or damaged."""
    snapshots = db[SNAPSHOTS].find(
        {
            "workspace_id": result.workspace_id,
            "schema_id": result.schema_id,
            "status": {"$in": [COMPLETE, RUNNING, DAMAGED]},
        }
    )
    return [
        Snapshot.from_document(doc, keyring=keyring_of(db))
        for doc in snapshots
        if doc["_id"] not in forgotten
    ]


def _refuse_damage(
    db: Database, result: SchemaPrune, forgotten: frozenset[str], checker: SnapshotChecker, *, dry_run: bool
) -> bool:
    """Check the complete snapshots that will remain; report the schema skipped if one is damaged.

    Runs before the lease is taken, so backups of the schema do not wait for the check: a snapshot that
    completes meanwhile was checked by its own finalize, and damage already found stays found.
    """
    checks = [checker.check(s) for s in _remaining(db, result, forgotten) if s.status == COMPLETE]
    damaged = [check for check in checks if not check.intact]
    if not damaged:
        return False
    problems = [problem for check in damaged for problem in check.problems]
    result.skipped = (
        f"{DAMAGED_SCHEMA}: {len(damaged)} of its {len(checks)} complete snapshots are not sound "
        f"({len(problems)} problems, e.g. {problems[0].describe()}); nothing deleted, run "
        "`airflow-assets snapshots repair`"
    )
    if not dry_run:
        result.items_marked = _mark_damaged_items(db, result.workspace_id, result.schema_id, damaged)
    return True


def _prune_schema(
    db: Database,
    result: SchemaPrune,
    *,
    dry_run: bool,
    forgotten: frozenset[str],
    fence: SchemaLease | None = None,
) -> None:
    # Read under the lease: no backup can start or complete a snapshot of this schema meanwhile. A running
    # snapshot (a backup whose lease expired, to be retried) needs its data as much as a complete one.
    remaining = _remaining(db, result, forgotten)
    seqs = [snapshot.seq for snapshot in remaining]
    result.snapshots = len(seqs)
    needs = _Needs(seqs)
    # Real and reconstructed snapshots number apart (the lane's numbers are negative): one set of needs
    # serves the spans of both.
    for scope in (result.schema_id, _lane(result.schema_id)):
        for page in _closed_span_pages(db, result.workspace_id, scope):
            unused = [span for span in page if needs.unused(span)]
            for start in range(0, len(unused), BATCH):
                batch = unused[start : start + BATCH]
                if fence is not None:
                    fence.check()
                result.versions_deleted += _delete_versions(db, result, needs, batch, dry_run=dry_run)
                result.spans_deleted += _delete_spans(db, batch, dry_run=dry_run)


def _lane(schema_id: str) -> str:
    return f"{schema_id}/{RECONSTRUCTED_LANE}"


def _closed_span_pages(db: Database, workspace_id: str, schema_id: str) -> Iterator[list[dict[str, Any]]]:
    """Yield the schema's closed spans (id, hash, from_seq, to_seq) a page at a time, in id order.

    Paging by id, not one long cursor: the spans of a page may be deleted before the next page is read.
    """
    # Span ids begin with "<ws>|<schema>|": the pages walk that range of the primary index, not all of it.
    prefix = f"{workspace_id}|{schema_id}|"
    end = prefix[:-1] + "}"  # "|" + 1
    query: dict[str, Any] = {"ws": workspace_id, "schema_id": schema_id, "to_seq": {"$lt": OPEN}}
    fields = {"hash": 1, "from_seq": 1, "to_seq": 1}
    after: str | None = None
    while True:
        spec = {**query, "_id": {"$gt" if after else "$gte": after or prefix, "$lt": end}}
        page = list(db[SPANS].find(spec, fields).sort("_id", 1).limit(SPAN_PAGE))
        if not page:
            return
        yield page
        after = page[-1]["_id"]


def _delete_versions(
    db: Database,
    result: SchemaPrune,
    needs: _Needs,
    batch: Sequence[Mapping[str, Any]],
    *,
    dry_run: bool,
) -> int:
    """Delete the versions that only unused spans name; return how many (would) go.

    Versions go before their spans: a crash in between leaves unused spans naming missing versions, which
    no snapshot reads and the next prune deletes; the other order could leave versions nothing names.
    """
    hashes = sorted({str(span["hash"]) for span in batch})
    naming: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    fields = {"ws": 1, "schema_id": 1, "hash": 1, "from_seq": 1, "to_seq": 1}
    for span in db[SPANS].find({"hash": {"$in": hashes}}, fields):
        naming[str(span["hash"])].append(span)
    in_batch = {span["_id"] for span in batch}
    doomed = []
    for digest in hashes:
        spans = naming.get(digest, [])
        still_named = any(
            span["ws"] != result.workspace_id
            or span["schema_id"] not in (result.schema_id, _lane(result.schema_id))
            or not needs.unused(span)
            for span in spans
        )
        # Counted once, in the batch of the first span (in id order) that names it: a dry run deletes
        # nothing, so a later batch would see the same version again.
        first_here = not spans or min(span["_id"] for span in spans) in in_batch
        if not still_named and first_here:
            doomed.append(digest)
    if not doomed:
        return 0
    if dry_run:
        return int(db[VERSIONS].count_documents({"_id": {"$in": doomed}}))
    return int(db[VERSIONS].delete_many({"_id": {"$in": doomed}}).deleted_count)


def _delete_spans(db: Database, batch: Sequence[Mapping[str, Any]], *, dry_run: bool) -> int:
    if dry_run:
        return len(batch)
    ids = [span["_id"] for span in batch]
    # The to_seq guard: an open span is never deleted, whatever happened since it was read.
    return int(db[SPANS].delete_many({"_id": {"$in": ids}, "to_seq": {"$lt": OPEN}}).deleted_count)

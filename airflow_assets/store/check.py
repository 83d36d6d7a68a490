"""Prove that snapshots are sound, as restic's ``check`` does: every version they name exists and is intact.

A complete snapshot is sound when every version it names exists and still hashes to its name, its
manifest's counts match what it holds, and its root digest (:mod:`airflow_assets.store.digest`) matches
the items it holds: a span re-pointed at another genuine version, a span removed together with lowered
counts, or a failed snapshot marked ``complete`` by hand all fail the last test.

A snapshot with sequence number ``s`` holds every span with ``from_seq <= s < to_seq``; each span names a
version by the hash of its content. :class:`SnapshotChecker` reads those spans kind by kind, fetches the
versions they name in batches by ``_id`` (answered from the primary index), recomputes each hash exactly
as the backup computed it, and compares what it counted with the counts the manifest recorded. A version
is hashed once per checker, however many snapshots share it: checking every snapshot of a schema costs
little more than checking the newest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pymongo.database import Database

from airflow_assets.ids import id_order
from airflow_assets.store.digest import KEYED, RootDigest, key_id, same_root
from airflow_assets.store.encryption import Keyring, SealedValueError, is_sealed, keyring_of, unseal
from airflow_assets.store.layout import CONFIG_KINDS, CONTENT_KINDS, SNAPSHOTS, SPANS, VERSIONS
from airflow_assets.store.snapshots import COMPLETE, Snapshot, SnapshotStore
from airflow_assets.store.versions import BATCH, recompute_name, version_place

# Every kind a backup stores (README "Storage in MongoDB"); configuration first, then content.
KINDS = (*CONFIG_KINDS, *CONTENT_KINDS)
# The manifest's counts and the kind each one counts.
COUNTED_KINDS = {"history_entries": "history", "comments": "comment", "tickets": "ticket"}

MISSING = "missing"
HASH_MISMATCH = "hash mismatch"
COUNT_MISMATCH = "count mismatch"
ROOT_MISMATCH = "root mismatch"
UNAUTHENTICATED = "not authenticated"
DAMAGED = "damaged"


@dataclass(frozen=True)
class Problem:
    """One damaged or missing document, and the snapshot that needs it.

    :param snapshot_id: the snapshot that reads the document.
    :param collection: ``versions``, ``spans`` or ``snapshots``.
    :param document_id: the ``_id`` of the document at fault.
    :param problem: ``missing``, ``hash mismatch``, ``count mismatch``, ``root mismatch``,
        ``not authenticated`` or ``damaged``.
    :param detail: what was expected and what was found, in words.
    :param kind: the item kind, for a problem of one item (a version).
    :param item_id: the item, for a problem of one item.
    """

    snapshot_id: str
    collection: str
    document_id: str
    problem: str
    detail: str
    kind: str = ""
    item_id: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the problem as JSON-compatible values."""
        return asdict(self)

    def describe(self) -> str:
        """Return the problem as one line."""
        where = f"{self.collection} {self.document_id}"
        return f"{where}: {self.problem}: {self.detail} (snapshot {self.snapshot_id})"


@dataclass
class SnapshotCheck:
    """What checking one snapshot found.

    :param items: the spans (items) the snapshot holds.
    :param versions_hashed: versions whose hash this check recomputed (those shared with an already
        checked snapshot are not hashed again).
    """

    snapshot_id: str
    schema_key: str
    seq: int
    status: str
    items: int = 0
    versions_hashed: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        """Tell whether nothing is wrong (its root authenticated, when snapshots are keyed)."""
        return not self.problems

    @property
    def intact(self) -> bool:
        """Tell whether nothing is missing or altered, authenticated or not (what prune relies on)."""
        return all(problem.problem == UNAUTHENTICATED for problem in self.problems)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-compatible values."""
        return {
            "snapshot_id": self.snapshot_id,
            "schema_key": self.schema_key,
            "seq": self.seq,
            "status": self.status,
            "items": self.items,
            "versions_hashed": self.versions_hashed,
            "sound": self.sound,
            "problems": [problem.as_dict() for problem in self.problems],
            "notes": list(self.notes),
        }


@dataclass
class _Tally:
    per_kind: dict[str, int] = field(default_factory=dict)
    per_type: dict[str, int] = field(default_factory=dict)


class SnapshotChecker:
    """Check snapshots of one backup database; remembers the versions it has hashed.

    :param db: the backup database.
    :param key: the snapshot key (HMAC) when one is configured; roots made with a key need it.
    """

    def __init__(self, db: Database, *, key: bytes | None = None) -> None:
        self.db = db
        self.key = key
        self._spans = db[SPANS]
        self._versions = db[VERSIONS]
        self._keyring = keyring_of(db)
        # Digests (as bytes: half the memory of hex) of versions found intact, and the damage of the others.
        self._intact: set[bytes] = set()
        self._damaged: dict[str, tuple[str, str]] = {}

    def check(self, snapshot: Snapshot) -> SnapshotCheck:
        """Check one snapshot: its versions exist and hash right, and its manifest counts what it holds."""
        result = SnapshotCheck(snapshot.snapshot_id, snapshot.schema_key, snapshot.seq, snapshot.status)
        tally = _Tally()
        root = RootDigest(self._root_key(snapshot))
        for kind in KINDS:
            batch: list[Mapping[str, Any]] = []
            for span in self._visible_spans(snapshot, kind):
                root.add(kind, str(span.get("item_id")), str(span.get("hash")))
                tally.per_kind[kind] = tally.per_kind.get(kind, 0) + 1
                if kind == "object":
                    type_id = str(span.get("type_id"))
                    tally.per_type[type_id] = tally.per_type.get(type_id, 0) + 1
                batch.append(span)
                if len(batch) >= BATCH:
                    self._check_versions(snapshot, kind, batch, result)
                    batch = []
            if batch:
                self._check_versions(snapshot, kind, batch, result)
        result.items = sum(tally.per_kind.values())
        if snapshot.status == COMPLETE:
            result.problems.extend(_count_problems(snapshot, tally))
            self._check_root(snapshot, root, result)
        else:
            result.notes.append(
                f"snapshot is {snapshot.status}: never offered for restore, its counts are not checked"
            )
        return result

    def _root_key(self, snapshot: Snapshot) -> bytes | None:
        stored = snapshot.document.get("root")
        keyed = isinstance(stored, Mapping) and stored.get("alg") == KEYED
        return self.key if keyed else None

    def _check_root(self, snapshot: Snapshot, root: RootDigest, result: SnapshotCheck) -> None:
        stored = snapshot.document.get("root")
        where = (snapshot.snapshot_id, SNAPSHOTS, snapshot.snapshot_id)
        if not isinstance(stored, Mapping):
            since = SnapshotStore(self.db).roots_since(snapshot)
            if since is not None and snapshot.seq >= since:
                result.problems.append(
                    Problem(
                        *where,
                        DAMAGED,
                        f"the manifest has no root digest, yet every snapshot of the schema from seq {since} "
                        "on was completed with one: it was not completed by finalize",
                    )
                )
            else:
                result.notes.append("completed before root digests were written: its root is not checked")
            return
        if stored.get("alg") == KEYED:
            if self.key is None or stored.get("key_id") != key_id(self.key):
                have = f"key {key_id(self.key)}" if self.key else "no key"
                result.problems.append(
                    Problem(
                        *where,
                        UNAUTHENTICATED,
                        f"the root was made with snapshot key {stored.get('key_id')} and this check has "
                        f"{have}: configure that key (the jira_assets_snapshot_key connection) to verify it",
                    )
                )
                return
        elif self.key is not None:
            # Not a note: whoever can edit the database can replace a keyed root by a plain one.
            result.problems.append(
                Problem(
                    *where,
                    UNAUTHENTICATED,
                    "its root digest is a plain SHA-256, not an HMAC with the configured snapshot key: it "
                    "was completed before the key was configured, or its root was replaced (restore it "
                    "with accept_damaged, or let retention forget it)",
                )
            )
        counts = snapshot.document.get("counts")
        computed = root.root(snapshot.document, counts if isinstance(counts, Mapping) else {})
        if not same_root(stored, computed):
            result.problems.append(
                Problem(
                    *where,
                    ROOT_MISMATCH,
                    f"the manifest's root digest does not match the {root.items} items the snapshot holds "
                    f"(the root says {stored.get('items')}): spans were re-pointed, removed or added, or the "
                    "manifest was edited",
                )
            )

    def check_all(self, snapshots: Iterable[Snapshot]) -> Iterator[SnapshotCheck]:
        """Check each snapshot in turn."""
        for snapshot in snapshots:
            yield self.check(snapshot)

    def _visible_spans(self, snapshot: Snapshot, kind: str) -> Iterator[Mapping[str, Any]]:
        query = {
            "ws": snapshot.workspace_id,
            "schema_id": snapshot.versions(self.db).span_schema,
            "kind": kind,
            "from_seq": {"$lte": snapshot.seq},
            "to_seq": {"$gt": snapshot.seq},
        }
        projection = {"hash": 1, "item_id": 1, "type_id": 1}
        yield from self._spans.find(query, projection)

    def _check_versions(
        self, snapshot: Snapshot, kind: str, spans: Sequence[Mapping[str, Any]], result: SnapshotCheck
    ) -> None:
        wanted = {
            str(span["hash"])
            for span in spans
            if isinstance(span.get("hash"), str)
            and span["hash"] not in self._damaged
            and _digest(span["hash"]) not in self._intact
        }
        fetched = {doc["_id"]: doc for doc in self._versions.find({"_id": {"$in": sorted(wanted)}})}
        for span in spans:
            digest = span.get("hash")
            if not isinstance(digest, str) or not digest:
                result.problems.append(
                    Problem(
                        snapshot.snapshot_id,
                        SPANS,
                        str(span["_id"]),
                        DAMAGED,
                        "the span names no version",
                        kind,
                        str(span.get("item_id")),
                    )
                )
                continue
            if digest in wanted:
                wanted.discard(digest)
                document = fetched.get(digest)
                if document is None:
                    self._damaged[digest] = (MISSING, f"{kind} {span.get('item_id')} (span {span['_id']})")
                else:
                    result.versions_hashed += 1
                    mismatch = _hash_problem(snapshot, kind, span, document, self._keyring)
                    if mismatch is None:
                        self._intact.add(_digest(digest))
                    else:
                        self._damaged[digest] = (HASH_MISMATCH, mismatch)
            damage = self._damaged.get(digest)
            if damage is not None:
                problem, detail = damage
                if problem == MISSING:
                    detail = f"{kind} {span.get('item_id')} (span {span['_id']}) names it"
                result.problems.append(
                    Problem(
                        snapshot.snapshot_id,
                        VERSIONS,
                        digest,
                        problem,
                        detail,
                        kind,
                        str(span.get("item_id")),
                    )
                )


def _digest(hex_digest: str) -> bytes:
    try:
        return bytes.fromhex(hex_digest)
    except ValueError:
        return hex_digest.encode()


def _hash_problem(
    snapshot: Snapshot,
    kind: str,
    span: Mapping[str, Any],
    document: Mapping[str, Any],
    keyring: Keyring | None,
) -> str | None:
    """Recompute a version's hash as the backup did (decrypting it first); return what is wrong, or None."""
    item_id = str(span.get("item_id"))
    data: Any = document.get("data")
    if "sealed" in document:
        if not is_sealed(document["sealed"]):
            return f"{kind} {item_id}: the encrypted content is not a sealed value"
        try:
            data = unseal(
                keyring, document["sealed"], place=version_place(document), what=f"{kind} {item_id}"
            )
        except SealedValueError as error:
            return str(error)
    if not isinstance(data, Mapping):
        return f"{kind} {item_id}: the version has no content"
    # Hashed as the snapshot names it (its workspace, schema and item), not by the fields the version carries.
    named = {
        "_id": document["_id"],
        "kind": kind,
        "ws": snapshot.workspace_id,
        "schema_id": snapshot.schema_id,
    }
    try:
        recomputed = recompute_name({**named, "item_id": item_id}, data, keyring=keyring)
    except (TypeError, ValueError) as error:
        return f"{kind} {item_id}: the content cannot be hashed ({error})"
    if recomputed != document["_id"]:
        return f"{kind} {item_id}: the content now hashes to {recomputed}"
    return None


def _count_problems(snapshot: Snapshot, tally: _Tally) -> list[Problem]:
    counts = snapshot.document.get("counts")
    if not isinstance(counts, Mapping):
        return [
            Problem(
                snapshot.snapshot_id, SNAPSHOTS, snapshot.snapshot_id, DAMAGED, "the manifest has no counts"
            )
        ]
    found: list[tuple[str, Any, int]] = [
        ("counts.objects", counts.get("objects"), tally.per_kind.get("object", 0))
    ]
    per_type = counts.get("per_type")
    if isinstance(per_type, Mapping):
        for type_id in sorted(set(per_type) | set(tally.per_type), key=id_order):
            found.append(
                (f"counts.per_type.{type_id}", per_type.get(type_id, 0), tally.per_type.get(type_id, 0))
            )
    else:
        found.append(("counts.per_type", per_type, -1))
    for name, kind in COUNTED_KINDS.items():
        found.append((f"counts.{name}", counts.get(name), tally.per_kind.get(kind, 0)))
    return [
        Problem(
            snapshot.snapshot_id,
            SNAPSHOTS,
            snapshot.snapshot_id,
            COUNT_MISMATCH,
            f"{name} is {recorded!r} but the store holds {held}",
        )
        for name, recorded, held in found
        if recorded != held
    ]

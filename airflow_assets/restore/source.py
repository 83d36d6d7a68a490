"""Find the snapshot each mapped schema is restored from, and read what it holds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from airflow_assets.messages import shown
from airflow_assets.restore.integrity import DamageLog
from airflow_assets.restore.request import RestoreParamError, RestoreRequest, SchemaMapping
from airflow_assets.store import SnapshotStore, VersionStore
from airflow_assets.store.layout import CONFIG_KINDS, SNAPSHOTS
from airflow_assets.store.snapshots import COMPLETE, DAMAGED, Snapshot

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class SourceSnapshot:
    """The snapshot one mapped schema is restored from, and how to read it.

    :param index: the mapping's position in ``schema_mappings`` (for messages).
    :param mapping: the schema mapping.
    :param snapshot: the snapshot manifest.
    :param damage: with ``accept_damaged``: collects the damaged items reads leave out (None: a damaged
        item stops the read).
    """

    index: int
    mapping: SchemaMapping
    snapshot: Snapshot
    versions: VersionStore
    damage: DamageLog | None = field(default=None, compare=False)
    _config: dict[str, list[JsonDict]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def site(self) -> str:
        """Return the config's site name the snapshot was taken on."""
        return str(self.snapshot.document.get("site") or "")

    @property
    def taken_at(self) -> datetime | None:
        """Return the moment the snapshot holds (UTC): its run's start, or a reconstructed one's moment."""
        return _state_at(self.snapshot.document)

    def config(self, kind: str) -> list[JsonDict]:
        """Return every item of a configuration kind (``object_type``, ``attribute``, ``status_type``...).

        The first call reads every configuration kind in one query; the others are answered from it.
        """
        if not self._config:
            self._config.update(
                self.versions.read_kinds(CONFIG_KINDS, self.snapshot.seq, on_damage=self.damage)
            )
        if kind not in self._config:
            return list(self.versions.read(kind, self.snapshot.seq, on_damage=self.damage))
        return list(self._config[kind])

    def schema(self) -> JsonDict:
        """Return the schema as backed up."""
        schemas = self.config("schema")
        if not schemas:
            raise LookupError(
                f"snapshot {self.snapshot.snapshot_id} holds no schema: the backup store is damaged"
            )
        return schemas[0]

    def objects(self) -> Iterator[JsonDict]:
        """Yield every object the snapshot holds, in id order."""
        return self.versions.read("object", self.snapshot.seq, sort="n", on_damage=self.damage)

    def count_objects(self) -> int:
        """Return how many objects the snapshot holds."""
        return self.versions.count_visible("object", self.snapshot.seq)

    def entries(self, kind: str) -> Iterator[JsonDict]:
        """Yield every ``comment`` or ``history`` entry the snapshot holds (grouped by object id)."""
        return self.versions.read(kind, self.snapshot.seq, sort="parent_id", on_damage=self.damage)

    def includes(self, what: str) -> bool:
        """Tell whether the snapshot backed up ``history``, ``comments`` or ``connected_tickets``."""
        return bool(self.snapshot.include.get(what))

    def describe(self) -> JsonDict:
        """Return what the plan and report say about this source."""
        taken = self.taken_at
        return {
            "old_key": self.mapping.old_key,
            "snapshot_id": self.snapshot.snapshot_id,
            "site": self.site,
            "schema_id": self.snapshot.schema_id,
            "seq": self.snapshot.seq,
            "kind": self.snapshot.kind,
            "taken_at": taken.isoformat() if taken else None,
            **_fidelity_figures(self.snapshot),
        }


def resolve_sources(db: Database, request: RestoreRequest, sites: Sequence[str]) -> list[SourceSnapshot]:
    """Find the complete snapshot of every mapped schema that ``request.snapshot`` names.

    :param sites: the site names of the backup config.
    :raises RestoreParamError: an unknown site, key or snapshot, named by its parameter.
    """
    if request.source_site is not None and request.source_site not in sites:
        raise RestoreParamError(
            "source_site",
            f"{shown(request.source_site)} is not a site of the backup config ({', '.join(sites)})",
        )
    store = SnapshotStore(db)
    sources = []
    for index, mapping in enumerate(request.mappings):
        snapshot = _choose(db, store, request, index, mapping)
        versions = snapshot.versions(db)
        damage = DamageLog() if request.accept_damaged else None
        sources.append(SourceSnapshot(index, mapping, snapshot, versions, damage))
    taken_sites = {source.site for source in sources}
    if len(taken_sites) > 1:
        raise RestoreParamError(
            "source_site",
            f"the chosen snapshots come from several sites ({', '.join(sorted(taken_sites))}): "
            "restore the schemas of one site per run, or set source_site",
        )
    return sources


def _choose(
    db: Database, store: SnapshotStore, request: RestoreRequest, index: int, mapping: SchemaMapping
) -> Snapshot:
    where = f"schema_mappings[{index}].old_key"
    choice = request.snapshot
    if choice.snapshot_id is not None:
        snapshot = store.get(choice.snapshot_id)
        if snapshot is None:
            raise RestoreParamError("snapshot", f"no snapshot has the id {choice.snapshot_id}")
        if snapshot.schema_key != mapping.old_key:
            if len(request.mappings) == 1:
                raise RestoreParamError(
                    where,
                    f"snapshot {choice.snapshot_id} is of schema {snapshot.schema_key}, not "
                    f"{mapping.old_key}",
                )
            # Several schemas and one id: the others take their snapshot nearest before it.
            return _latest(db, request, index, mapping, _state_at(snapshot.document))
        if snapshot.status == DAMAGED and not request.accept_damaged:
            raise RestoreParamError(
                "snapshot",
                f"snapshot {choice.snapshot_id} is damaged ({snapshot.document.get('damage')}): set "
                "accept_damaged: true to restore what is sound, or choose another snapshot",
            )
        if snapshot.status not in (COMPLETE, DAMAGED):
            raise RestoreParamError(
                "snapshot",
                f"snapshot {choice.snapshot_id} is {snapshot.status}: only complete snapshots restore",
            )
        if request.source_site is not None and snapshot.document.get("site") != request.source_site:
            raise RestoreParamError(
                "source_site",
                f"snapshot {choice.snapshot_id} was taken on site {snapshot.document.get('site')}, "
                f"not {request.source_site}",
            )
        return snapshot
    return _latest(db, request, index, mapping, choice.at)


def _latest(
    db: Database, request: RestoreRequest, index: int, mapping: SchemaMapping, at: datetime | None
) -> Snapshot:
    where = f"schema_mappings[{index}].old_key"
    query: dict[str, Any] = {"schema_key": mapping.old_key, "status": COMPLETE}
    if request.source_site is not None:
        query["site"] = request.source_site
    # Newest state first: a reconstructed snapshot holds the moment it was rewound to, not its run's start.
    documents = sorted(
        db[SNAPSHOTS].find(query, sort=[("started_at", DESCENDING)]),
        key=lambda document: _state_at(document) or _EPOCH,
        reverse=True,
    )
    if not documents:
        keys = sorted(db[SNAPSHOTS].distinct("schema_key", {"status": COMPLETE}))
        on_site = f" on site {request.source_site}" if request.source_site else ""
        raise RestoreParamError(
            where,
            f"no complete snapshot of schema {mapping.old_key}{on_site} "
            f"(schemas with snapshots: {', '.join(keys) or 'none'})",
        )
    sites = sorted({str(document.get("site")) for document in documents})
    if request.source_site is None and len(sites) > 1:
        raise RestoreParamError(
            "source_site",
            f"schema {mapping.old_key} has snapshots on several sites ({', '.join(sites)}): say which",
        )
    if at is not None:
        documents = [d for d in documents if (_state_at(d) or at) <= at]
        if not documents:
            raise RestoreParamError(
                "snapshot",
                f"no complete snapshot of schema {mapping.old_key} was taken at or before {at.isoformat()}",
            )
    return Snapshot.from_document(documents[0])


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _fidelity_figures(snapshot: Snapshot) -> JsonDict:
    """Return the fidelity figures of a reconstructed snapshot (nothing for a real one)."""
    if not snapshot.reconstructed:
        return {}
    fidelity = snapshot.document.get("fidelity") or {}
    return {
        "reconstructed_from": fidelity.get("base_snapshot_id"),
        "values_rewound": fidelity.get("values_rewound", 0),
        "not_exact": fidelity.get("not_exact", 0),
        "not_exact_by_reason": dict(fidelity.get("not_exact_by_reason") or {}),
        "missing_objects": (fidelity.get("missing_objects") or {}).get("referenced", 0),
    }


def _state_at(document: Mapping[str, Any]) -> datetime | None:
    return _utc(document.get("state_at")) or _utc(document.get("started_at"))


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

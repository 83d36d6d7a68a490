"""Find the snapshot each mapped schema is restored from, and read what it holds."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.messages import shown
from airflow_assets.restore.integrity import DamageLog
from airflow_assets.restore.request import RestoreParamError, RestoreRequest, SchemaMapping
from airflow_assets.store import VersionStore
from airflow_assets.store.layout import CONFIG_KINDS
from airflow_assets.store.reader import SnapshotReader, newest_at_or_before
from airflow_assets.store.snapshots import DAMAGED, Snapshot

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
        return self.snapshot.site or ""

    @property
    def taken_at(self) -> datetime | None:
        """Return the moment the snapshot holds (UTC): its run's start, or a reconstructed one's moment."""
        return self.snapshot.state_at

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


def resolve_sources(
    db: Database, request: RestoreRequest, sites: Sequence[str], *, exclude: Collection[str] = ()
) -> list[SourceSnapshot]:
    """Find the complete snapshot of every mapped schema that ``request.snapshot`` names.

    :param sites: the site names of the backup config.
    :param exclude: snapshot ids "latest" or a moment never picks (the backup a rollback took of the state
        it undoes).
    :raises RestoreParamError: an unknown site, key or snapshot, named by its parameter.
    """
    if request.source_site is not None and request.source_site not in sites:
        raise RestoreParamError(
            "source_site",
            f"{shown(request.source_site)} is not a site of the backup config ({', '.join(sites)})",
        )
    reader = SnapshotReader(db)
    sources = []
    for index, mapping in enumerate(request.mappings):
        snapshot = _choose(reader, request, index, mapping, frozenset(exclude))
        damage = DamageLog() if request.accept_damaged else None
        sources.append(SourceSnapshot(index, mapping, snapshot, reader.lane(snapshot), damage))
    taken_sites = {source.site for source in sources}
    if len(taken_sites) > 1:
        raise RestoreParamError(
            "source_site",
            f"the chosen snapshots come from several sites ({', '.join(sorted(taken_sites))}): "
            "restore the schemas of one site per run, or set source_site",
        )
    return sources


def _choose(
    reader: SnapshotReader,
    request: RestoreRequest,
    index: int,
    mapping: SchemaMapping,
    exclude: frozenset[str],
) -> Snapshot:
    where = f"schema_mappings[{index}].old_key"
    choice = request.snapshot
    if choice.snapshot_id is not None:
        snapshot = reader.get(choice.snapshot_id)
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
            return _latest(reader, request, index, mapping, snapshot.state_at, exclude)
        if snapshot.status == DAMAGED and not request.accept_damaged:
            raise RestoreParamError(
                "snapshot",
                f"snapshot {choice.snapshot_id} is damaged ({snapshot.damage}): set "
                "accept_damaged: true to restore what is sound, or choose another snapshot",
            )
        if not reader.readable(snapshot, accept_damaged=request.accept_damaged):
            raise RestoreParamError(
                "snapshot",
                f"snapshot {choice.snapshot_id} is {snapshot.status}: only complete snapshots restore",
            )
        if request.source_site is not None and snapshot.site != request.source_site:
            raise RestoreParamError(
                "source_site",
                f"snapshot {choice.snapshot_id} was taken on site {snapshot.site}, not {request.source_site}",
            )
        return snapshot
    return _latest(reader, request, index, mapping, choice.at, exclude)


def _latest(
    reader: SnapshotReader,
    request: RestoreRequest,
    index: int,
    mapping: SchemaMapping,
    at: datetime | None,
    exclude: frozenset[str] = frozenset(),
) -> Snapshot:
    where = f"schema_mappings[{index}].old_key"
    candidates = [
        snapshot
        for snapshot in reader.complete(mapping.old_key, site=request.source_site)
        if snapshot.snapshot_id not in exclude
    ]
    if not candidates:
        on_site = f" on site {request.source_site}" if request.source_site else ""
        raise RestoreParamError(
            where,
            f"no complete snapshot of schema {mapping.old_key}{on_site} "
            f"(schemas with snapshots: {', '.join(reader.schema_keys()) or 'none'})",
        )
    sites = sorted({str(snapshot.site) for snapshot in candidates})
    if request.source_site is None and len(sites) > 1:
        raise RestoreParamError(
            "source_site",
            f"schema {mapping.old_key} has snapshots on several sites ({', '.join(sites)}): say which",
        )
    chosen = newest_at_or_before(candidates, at)
    if chosen is None:
        assert at is not None
        raise RestoreParamError(
            "snapshot",
            f"no complete snapshot of schema {mapping.old_key} was taken at or before {at.isoformat()}",
        )
    return chosen


def _fidelity_figures(snapshot: Snapshot) -> JsonDict:
    """Return the fidelity figures of a reconstructed snapshot (nothing for a real one)."""
    if not snapshot.reconstructed:
        return {}
    fidelity = snapshot.fidelity
    return {
        "reconstructed_from": fidelity.get("base_snapshot_id"),
        "values_rewound": fidelity.get("values_rewound", 0),
        "not_exact": fidelity.get("not_exact", 0),
        "not_exact_by_reason": dict(fidelity.get("not_exact_by_reason") or {}),
        "missing_objects": (fidelity.get("missing_objects") or {}).get("referenced", 0),
    }

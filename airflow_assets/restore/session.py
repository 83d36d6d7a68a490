"""One restore run: its request, snapshots, target and ledger, and the steps the DAG's tasks call.

Every task builds a :class:`RestoreSession` afresh (tasks may run on different machines) and calls one
step; what the steps share lives in MongoDB (the plan, the ledger's id maps), never in memory between
tasks. Nothing is written to the target before :meth:`RestoreSession.plan` has passed; every later step
runs from the plan it stored.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.api.endpoints import OBJECT as OBJECT_READ
from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.model.attributes import referenced_type
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.comments import CommentsSummary, restore_comments
from airflow_assets.restore.config_revert import revert_config
from airflow_assets.restore.graph import strongly_connected
from airflow_assets.restore.integrity import check_sources
from airflow_assets.restore.ledger import Ledger
from airflow_assets.restore.objects import OBJECT, SETTLE_SECONDS, ObjectRestorer, ObjectsSummary
from airflow_assets.restore.pinned import pinned_snapshots
from airflow_assets.restore.plan import RestorePlan, build_plan, new_schema_name, on_same_site
from airflow_assets.restore.refusals import check_new_globals, check_new_schema
from airflow_assets.restore.relink import RelinkSummary, relink_issues, tickets_of
from airflow_assets.restore.request import (
    IN_PLACE,
    NEW_SCHEMA,
    RECREATE_MISSING,
    ROLLBACK,
    RestoreParamError,
    RestoreRequest,
)
from airflow_assets.restore.restrictions import restrictions_of
from airflow_assets.restore.rollback import (
    CHANGES_FILE,
    RECREATE,
    Decide,
    SchemaRollback,
    everything,
    plan_schema,
    read_changes,
    rollback_maps,
    window_decider,
)
from airflow_assets.restore.rollback_verify import verify_schema
from airflow_assets.restore.rollback_writes import RollbackWriter, RollbackWrites
from airflow_assets.restore.schema_source import SchemaSource, load_schema_source
from airflow_assets.restore.scope import ObjectSet, TypeScope, count_entries, scope_types, select_objects
from airflow_assets.restore.source import SourceSnapshot, resolve_sources
from airflow_assets.restore.structure import (
    ATTRIBUTE,
    SCHEMA,
    StructureBuilder,
    StructureMaps,
    StructureSummary,
    apply_restrictions,
)
from airflow_assets.restore.target import TargetSite, read_target
from airflow_assets.restore.values import ValueMaps
from airflow_assets.restore.verify import Verifier, VerifyReport
from airflow_assets.store.layout import CONFIG_KINDS
from airflow_assets.store.reader import SnapshotReader

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]
KEY_MAP_FILE = "key_map.csv"


class RestoreVerifyError(JiraAssetsError):
    """Verify found differences between the target and the snapshot."""


@dataclass(frozen=True)
class SessionSettings:
    """How a session reaches its parts.

    :param restore_id: the restore's id (``<dag id>:<run id>``).
    :param sites: the site names of the backup config.
    :param target_conn_id: the connection the target client was built from (for messages and the plan);
        empty: the session finds it (:attr:`RestoreSession.target_conn_id`).
    :param site_connections: config site name -> its ``jira_assets`` connection (the default target).
    :param max_workers: threads that create objects and comments.
    :param settle_seconds: how long to wait before looking again for an object whose create lost its answer.
    :param snapshot_key: the snapshot key, to authenticate the source snapshots' root digests.
    """

    restore_id: str
    sites: Sequence[str]
    target_conn_id: str = ""
    site_connections: Mapping[str, str] = field(default_factory=dict)
    snapshot_key: bytes | None = field(default=None, repr=False)
    max_workers: int | None = None
    settle_seconds: float = SETTLE_SECONDS


class PlanNotStoredError(JiraAssetsError, LookupError):
    """A step after the plan found no stored plan it can read: the plan task runs (again) first."""


class RestoreSession:
    """A restore run's shared state and steps.

    :meth:`plan` resolves the snapshots the request names and stores the plan; every other step runs from the
    stored plan (its snapshots, keys, names, object types), so a task that builds its session afresh does what
    was planned.

    :param client: the target's client; None with ``connect``, which builds it from :attr:`target_conn_id`.
    :param connect: returns the client of a connection id.
    """

    def __init__(
        self,
        request: RestoreRequest,
        db: Database,
        client: AssetsClient | None,
        settings: SessionSettings,
        *,
        connect: Callable[[str], AssetsClient] | None = None,
    ) -> None:
        self.request = request
        self.db = db
        self.settings = settings
        self.ledger = Ledger(db, settings.restore_id)
        self.on_created: Callable[[str], None] | None = None
        self._client = client
        self._connect = connect
        self._planning = False
        self._plan: RestorePlan | None = None

    # -- what every step needs -----------------------------------------------------------------------

    @property
    def stored_plan(self) -> RestorePlan:
        """Return the plan this restore stored (read once).

        :raises PlanNotStoredError: no plan is stored.
        """
        if self._plan is None:
            document = self.ledger.document().get("plan")
            if not document:
                raise PlanNotStoredError(
                    f"restore {self.settings.restore_id} has no stored plan: run its plan task first"
                )
            try:
                self._plan = RestorePlan.from_dict(document)
            except (KeyError, TypeError, ValueError) as error:
                raise PlanNotStoredError(
                    f"restore {self.settings.restore_id} has a stored plan this version cannot read "
                    f"(no {error}: planned by an earlier version of airflow-assets?): trigger the restore "
                    "again, or clear its plan task to plan it anew"
                ) from None
        return self._plan

    @cached_property
    def target_conn_id(self) -> str:
        """Return the target's connection: the given one, the run's, else that of the snapshots' site.

        :raises RestoreParamError: the snapshots' site has no connection in the backup config.
        """
        conn_id = self.settings.target_conn_id or self.request.target_conn_id
        if conn_id:
            return conn_id
        if not self._planning:
            return self.stored_plan.target.conn_id
        site = self.snapshots[0].site
        if site not in self.settings.site_connections:
            raise RestoreParamError(
                "target_conn_id",
                f"the snapshots come from site {site!r}, which the backup config no longer names: "
                "give target_conn_id",
            )
        return self.settings.site_connections[site]

    @cached_property
    def client(self) -> AssetsClient:
        """Return the target's client."""
        if self._client is not None:
            return self._client
        if self._connect is None:
            raise ValueError("a restore session needs a client, or connect to build one")
        return self._connect(self.target_conn_id)

    @cached_property
    def snapshots(self) -> list[SourceSnapshot]:
        """Return the snapshot each mapped schema is restored from (manifests only: nothing read yet).

        The plan finds those the request names; every later step those the stored plan pinned.
        """
        if self._planning:
            return resolve_sources(
                self.db, self.request, self.settings.sites, exclude=self.backup_before.values()
            )
        return pinned_snapshots(self.db, self.request, self.stored_plan, self.settings.sites)

    @property
    def backup_before(self) -> dict[str, str]:
        """Return the snapshot a rollback took of each schema before planning (schema key -> snapshot id)."""
        return dict(self.ledger.document().get("backup_before") or {})

    @cached_property
    def schemas(self) -> list[SchemaSource]:
        """Return the mapped schemas' configuration, referenced schemas first."""
        found = [load_schema_source(snapshot) for snapshot in self.snapshots]
        if not self._planning:
            return found  # already in the plan's order
        order, _ = schema_order(found)
        return order

    @cached_property
    def scope(self) -> TypeScope:
        """Return the object types the restore covers (those the plan lists, after the plan)."""
        if self._planning:
            return scope_types(self.schemas, self.request)
        plan = self.stored_plan
        return TypeScope(
            included={schema.old_key: schema.type_ids for schema in plan.schemas},
            pulled_in=list(plan.pulled_in),
        )

    @cached_property
    def target(self) -> TargetSite:
        """Return what was read of the target site (once per task)."""
        written_into: list[str] = []
        if self._planning and self.request.mode != NEW_SCHEMA:
            # The plan tells which object types the schemas a recreate_missing restore writes into have.
            written_into = [mapping.new_key for mapping in self.request.mappings]
        return read_target(self.client, types_of=written_into)

    @property
    def same_site(self) -> bool:
        """Tell whether the target is the site the snapshots were taken on."""
        if self._planning:
            return on_same_site(self.target, self.schemas)
        return self.stored_plan.target.same_site

    @cached_property
    def live(self) -> dict[str, set[str]] | None:
        """Return, in the modes that write in place, the ids of the objects that exist now, per schema key."""
        if self.request.mode not in IN_PLACE:
            return None
        live: dict[str, set[str]] = {}
        for schema in self.schemas:
            existing = self.target.schema(schema.old_key)
            ids: set[str] = set()
            if existing is not None:
                query = f"objectSchemaId = {existing['id']}"
                for page in self.client.iter_aql_pages(query, page_size=1000, include_attributes=False):
                    ids.update(str(value.get("id")) for value in page.values)
            live[schema.old_key] = ids
        return live

    @cached_property
    def selection(self) -> ObjectSet:
        """Return the objects the restore creates.

        Read again by every step that needs it rather than stored with the plan: the objects' bodies are
        far too big for it, and the pinned snapshots never change. In ``recreate_missing`` the target is
        asked again which objects exist (those an earlier try of the step created still count).
        """
        live = self.live
        if live is None:
            return select_objects(self.schemas, self.scope, self.request)
        schemas = self.schemas
        done = set(self.ledger.created(OBJECT))
        if self.request.mode == ROLLBACK:
            # What the rollback's plan decided to create again (its diff covers the filters and the window).
            wanted = done | {c["id"] for c in read_changes(self.ledger) if c.get("action") == RECREATE}
            if not wanted and not self.request.object_keys:
                return ObjectSet({}, {})  # nothing to create again: the snapshot need not be read
            return select_objects(
                self.schemas, self.scope, self.request, is_wanted=lambda _, o: o["id"] in wanted
            )

        def missing(position: int, obj: JsonDict) -> bool:
            return obj["id"] in done or obj["id"] not in live.get(schemas[position].old_key, set())

        return select_objects(self.schemas, self.scope, self.request, is_wanted=missing)

    def value_maps(self, maps: StructureMaps) -> Callable[[Callable[[str], str | None]], ValueMaps]:
        """Return a factory of the value maps for a reference resolver."""
        definitions = {a_id: a for schema in self.schemas for a_id, a in schema.attributes.items()}
        directory = self.target.directory

        def build(reference: Callable[[str], str | None]) -> ValueMaps:
            return ValueMaps(
                attributes=maps.attributes,
                attribute_defs=definitions,
                statuses=maps.statuses,
                reference=reference,
                user=lambda person: directory.user(person).account_id,
                group=directory.group,
            )

        return build

    # -- steps ----------------------------------------------------------------------------------------

    def plan(self) -> RestorePlan:
        """Check everything that needs data and store the plan; raise before any write on bad input."""
        for name in ("snapshots", "schemas", "scope", "target", "selection", "live", "target_conn_id"):
            self.__dict__.pop(
                name, None
            )  # planned afresh from the request (a retry may find newer snapshots)
        self._planning, self._plan = True, None
        try:
            if self.request.mode == ROLLBACK:
                # First what differs: the objects the restore creates again are those the diff finds deleted.
                self.plan_rollback()
            plan = self._build_plan()
        finally:
            self._planning = False
        self._plan = plan
        self.ledger.save({"plan": plan.as_dict(), "request": self.request.as_dict(), "status": "planned"})
        return plan

    def plan_rollback(self) -> list[SchemaRollback]:
        """Compare each live schema with its snapshot; store what goes back (every change) and the counts."""
        self.ledger.ensure_indexes()
        self._check_target()  # the live schema exists on this site and may be managed, before reading it
        reader = SnapshotReader(self.db)
        lines: list[str] = []
        plans = []
        taken = self.backup_before
        ours = {created.new_id for created in self.ledger.created(OBJECT).values()}
        for source in self.snapshots:
            key = source.mapping.old_key
            history_id = taken.get(key)
            plan = plan_schema(
                self.client, reader, source.snapshot, self.request, key,
                decide=self._decider(reader, source, history_id), write_line=lines.append,
                history_snapshot_id=history_id, ours=ours,
            )  # fmt: skip
            schema = next(s for s in self.schemas if s.old_key == key)
            revert = revert_config(self.client, self.ledger, schema, self.scope.included[key], dry_run=True)
            plan.config = _first(revert.as_dict())
            plans.append(plan)
        self.ledger.save_file(CHANGES_FILE, "".join(line + "\n" for line in lines))
        self.ledger.save({"rollback": {"schemas": [p.as_dict() for p in plans], "changes": len(lines)}})
        return plans

    def _decider(self, reader: SnapshotReader, source: SourceSnapshot, history_id: str | None) -> Decide:
        """Return what decides which changes go back: all of them, or a window's (read from history)."""
        scope = self.request.rollback
        if not scope.windowed:
            return everything
        return window_decider(self.client, reader, source.snapshot, scope, history_id)

    @property
    def rollback_plans(self) -> list[JsonDict]:
        """Return the stored rollback plan of each schema (empty before the plan, or in another mode)."""
        return list((self.ledger.document().get("rollback") or {}).get("schemas") or [])

    def _build_plan(self) -> RestorePlan:
        # The target's connection first: a wrong one fails before the snapshots are checked.
        log.info("restoring into %s (%s)", self.target_conn_id, self.client.site_url)
        self.ledger.ensure_indexes()
        integrity = check_sources(
            self.db,
            [snapshot.snapshot for snapshot in self.snapshots],
            key=self.settings.snapshot_key,
            accept_damaged=self.request.accept_damaged,
        )
        self._check_target()
        _, cycles = schema_order(self.schemas)
        return build_plan(
            self.request,
            self.schemas,
            self.scope,
            self.selection,
            self.target,
            entries=count_entries(self.schemas, self.selection, self.request),
            restore_id=self.settings.restore_id,
            conn_id=self.target_conn_id,
            cycles=cycles,
            integrity=integrity,
        )

    def _check_target(self) -> None:
        names: dict[str, int] = {}
        if self.request.mode == NEW_SCHEMA:
            check_new_globals(self.schemas, self.target, same_site=self.same_site)
        for schema in self.schemas:
            index = schema.source.index
            existing = self.target.schema(schema.new_key)
            if self.request.mode == NEW_SCHEMA:
                old_id = schema.source.snapshot.schema_id
                ours = self.ledger.get(SCHEMA, old_id) is not None or any(
                    intent.old_id == old_id for intent in self.ledger.open_intents(SCHEMA)
                )
                if existing is not None and not ours:
                    raise RestoreParamError(
                        f"schema_mappings[{index}].new_key",
                        f"a schema with the key {schema.new_key} exists on {self.target.site_url} "
                        f"({existing.get('name')!r}): choose a free key, or use mode recreate_missing to "
                        "bring deleted objects back into it",
                    )
                mapping = self.request.mapping(schema.old_key)
                name = new_schema_name(mapping, schema.schema.get("name"), same_site=self.same_site)
                ours_id = str(existing["id"]) if existing is not None and ours else None
                check_new_schema(schema, name, self.target, self.scope, ours=ours_id, names_before=names)
                names.setdefault(name.casefold(), index)
                continue
            if not self.same_site:
                raise RestoreParamError(
                    "target_conn_id",
                    f"{self.request.mode} works on the site the snapshot was taken on; "
                    f"{self.target.site_url} is another site (use new_schema to migrate)",
                )
            if existing is None:
                raise RestoreParamError(
                    f"schema_mappings[{index}].old_key",
                    f"schema {schema.old_key} does not exist on {self.target.site_url} any more: "
                    "use mode new_schema to restore it whole",
                )
            if existing.get("canManage") is False:
                raise RestoreParamError(
                    "target_conn_id",
                    f"the account of {self.target_conn_id or 'the target connection'} may not manage "
                    f"schema {schema.old_key} (Assets schema manager role needed)",
                )

    def build_structure(self) -> StructureSummary:
        """Create the schemas, status and reference types, object types and attributes."""
        summary = StructureBuilder(
            self.client, self.ledger, self.stored_plan, self.schemas, self.target
        ).build()
        if self.stored_plan.mode == ROLLBACK:
            reverted = []
            for schema in self.schemas:
                revert = revert_config(
                    self.client, self.ledger, schema, self.scope.included[schema.old_key], dry_run=False
                )
                for change in revert.changes[:200]:
                    log.info("%s: configuration put back: %s", schema.old_key, change)
                summary.warnings.extend(revert.refused)
                reverted.append({"schema": schema.old_key, **_first(revert.as_dict())})
            self.ledger.save({"steps.config": reverted})
        self.ledger.push_warnings("structure", summary.warnings)
        self.ledger.save({"steps.structure": summary.as_dict()})
        return summary

    def restorer(self) -> ObjectRestorer:
        """Return the object restorer of this session."""
        maps = StructureMaps.load(self.ledger)
        return ObjectRestorer(
            self.client,
            self.ledger,
            self.schemas,
            self.selection,
            maps,
            self.value_maps(maps),
            same_site=self.same_site,
            live=self.live,
            max_workers=self.settings.max_workers,
            on_created=self.on_created,
            settle_seconds=self.settings.settle_seconds,
        )

    def restore_objects(self) -> ObjectsSummary:
        """Create the objects (and, in ``recreate_missing``, the references others had to them)."""
        restorer = self.restorer()
        summary = restorer.run()
        mode, request = self.stored_plan.mode, self.request
        filtered = bool(request.object_types or request.object_keys or request.rollback.aql)
        if mode == RECREATE_MISSING or (mode == ROLLBACK and filtered and self.ledger.created(OBJECT)):
            # A rollback's own writes put back the references of the objects it compared; those its filters
            # left out get theirs back here, as in recreate_missing.
            compared = {c["id"] for c in read_changes(self.ledger)} if mode == ROLLBACK else set()

            def every_object() -> Any:
                for schema in self.schemas:
                    for obj in schema.source.objects():
                        if obj["id"] not in compared:
                            yield obj

            restorer.restore_inbound(every_object)
        self.ledger.push_warnings("objects", summary.warnings)
        self.ledger.save({"steps.objects": summary.as_dict()})
        return summary

    def relink(self) -> RelinkSummary | None:
        """Point the Jira issues that named a recreated object at its new id (``relink_issues``)."""
        if not self.request.rollback.relink_issues or self.stored_plan.mode not in IN_PLACE:
            return None
        reader = SnapshotReader(self.db)
        created = self.ledger.created(OBJECT)
        recreated = {old: done.new_id for old, done in created.items() if old in self.selection.schema_of}
        tickets = itertools.chain.from_iterable(
            tickets_of(
                reader, schema.source.snapshot, [o for o in recreated if self.selection.schema_of[o] == i]
            )
            for i, schema in enumerate(self.schemas)
        )
        summary = relink_issues(self.client, tickets, recreated, dry_run=False)
        self.ledger.push_warnings("relink", [*summary.unreadable, *summary.failed])
        self.ledger.save({"steps.relink": summary.as_dict()})
        return summary

    def rollback_maps(self, source: SourceSnapshot) -> ValueMaps:
        """Return the maps a rollback writes and compares with: the attributes and objects created again."""
        config = SchemaConfig({kind: source.config(kind) for kind in CONFIG_KINDS})
        live = [str(a.get("id")) for a in self.client.get_schema_attributes(source.snapshot.schema_id)]
        recreated = {
            old: created.new_id
            for old, created in self.ledger.created(ATTRIBUTE).items()
            if old in config.attributes and created.new_id != old
        }
        return rollback_maps(config, live, attributes=recreated, created=self.ledger.created(OBJECT))

    def roll_back(self) -> RollbackWrites:
        """Put back the changed objects and delete the created ones, as the stored rollback plan says."""
        total = RollbackWrites()
        if self.stored_plan.mode != ROLLBACK:
            return total
        reader = SnapshotReader(self.db)
        created = self.ledger.created(OBJECT)
        gone = {
            change["id"]
            for change in read_changes(self.ledger)
            if change["kind"] == "deleted_since" and change["id"] not in created
        }
        for source in self.snapshots:
            key = source.mapping.old_key
            writer = RollbackWriter(
                self.client, self.ledger, reader, source.snapshot, self.rollback_maps(source),
                max_workers=self.settings.max_workers, gone=gone,
            )  # fmt: skip
            done = writer.run(change for change in read_changes(self.ledger) if change["schema"] == key)
            for name in ("objects_put_back", "already_back", "changed_since_plan", "deleted", "writes"):
                setattr(total, name, getattr(total, name) + getattr(done, name))
            total.warnings.extend(done.warnings)
        self.ledger.push_warnings("rollback", total.warnings)
        self.ledger.save({"steps.rollback": total.as_dict()})
        return total

    def restore_comments(self) -> CommentsSummary:
        """Restore comments and history comments of the created objects."""
        summary = CommentsSummary()
        if self.request.include_comments or self.request.history_as_comments:
            created = self.ledger.created(OBJECT)
            for position, schema in enumerate(self.schemas):
                mine = {old: c for old, c in created.items() if self.selection.schema_of.get(old) == position}
                restore_comments(
                    self.client, self.ledger, schema.source, mine,
                    comments=self.request.include_comments, history=self.request.history_as_comments,
                    summary=summary,
                )  # fmt: skip
        self.ledger.save({"steps.comments": summary.as_dict()})
        return summary

    def apply_restrictions(self) -> tuple[int, list[str]]:
        """Set cardinality minimums, uniqueness and regexes after the data (``new_schema``)."""
        if self.stored_plan.mode != NEW_SCHEMA:
            return 0, []
        applied, warnings = apply_restrictions(
            self.client, self.ledger, restrictions_of(self.schemas, self.scope)
        )
        self.ledger.push_warnings("restrictions", warnings)
        self.ledger.save({"steps.restrictions": {"applied": applied, "refused": len(warnings)}})
        return applied, warnings

    def verify(self) -> VerifyReport:
        """Compare the target with the snapshots; store and return the report."""
        maps = StructureMaps.load(self.ledger)
        restorer = self.restorer()
        restorer.load_created()
        # Verify compares page by page in one thread: the references it will meet are read side by side first.
        restorer.prefetch_references(self.selection.objects.values())
        verifier = Verifier(
            self.client, self.ledger, self.request, self.schemas, self.scope, self.selection, maps,
            self.value_maps(maps), restorer.reference,
        )  # fmt: skip
        report = verifier.run(comments=self.request.include_comments)
        report.count_reads(OBJECT_READ.rate_class, restorer.summary.lookup_reads)
        if self.stored_plan.mode == ROLLBACK:
            reader = SnapshotReader(self.db)
            created = self.ledger.created(OBJECT)
            for source in self.snapshots:
                key = source.mapping.old_key
                differences, compared = verify_schema(
                    self.client, reader, source.snapshot, self.request,
                    (change for change in read_changes(self.ledger) if change["schema"] == key),
                    self.rollback_maps(source), created,
                )  # fmt: skip
                for difference in differences:
                    report.differences.append(f"{key}: {difference}")
                report.objects_checked += compared
        self.ledger.save({"steps.verify": report.as_dict()})
        return report

    def report(self, started_at: datetime | None = None) -> JsonDict:
        """Write the key map CSV and the restore report; return the report."""
        created = self.ledger.created(OBJECT)
        planned = self.stored_plan.schemas
        rows = io.StringIO()
        writer = csv.writer(rows)
        writer.writerow(["old_key", "new_key", "old_id", "new_id", "schema_old_key", "schema_new_key"])
        for old_id in sorted(created, key=lambda i: int(i) if i.isdigit() else 0):
            if old_id not in self.selection.objects:
                continue
            schema = planned[self.selection.schema_of[old_id]]
            new = created[old_id]
            writer.writerow(
                [
                    self.selection.keys.get(old_id),
                    new.new_key,
                    old_id,
                    new.new_id,
                    schema.old_key,
                    schema.new_key,
                ]
            )
        parts = self.ledger.save_file(KEY_MAP_FILE, rows.getvalue())
        document = self.ledger.document()
        warnings = [w for step in (document.get("warnings") or {}).values() for w in step]
        report = {
            "restore_id": self.settings.restore_id,
            "finished_at": datetime.now(UTC),
            "started_at": started_at,
            "duration_s": round((datetime.now(UTC) - started_at).total_seconds(), 1) if started_at else None,
            "objects_restored": len([o for o in created if o in self.selection.objects]),
            "steps": document.get("steps") or {},
            "warnings": len(warnings),
            "key_map": {"file": KEY_MAP_FILE, "rows": len(created), "parts": parts},
            "verify": (document.get("steps") or {}).get("verify"),
        }
        self.ledger.forget_settled_intents()
        self.ledger.save({"report": report, "status": "done"})
        return report


def _first(summary: JsonDict, count: int = 50) -> JsonDict:
    """Return a summary with its lists cut to their first ``count`` items (and their lengths)."""
    cut_down: JsonDict = {}
    for name, value in summary.items():
        if isinstance(value, list):
            cut_down[name] = value[:count]
            cut_down[f"{name}_count"] = len(value)
        else:
            cut_down[name] = value
    return cut_down


def schema_order(schemas: Sequence[SchemaSource]) -> tuple[list[SchemaSource], list[list[str]]]:
    """Return the schemas referenced-first, and the groups that reference each other in a cycle."""
    owner = {type_id: s.old_key for s in schemas for type_id in s.object_types}
    by_key = {s.old_key: s for s in schemas}
    edges: dict[str, list[str]] = {}
    for schema in schemas:
        for attribute in schema.attributes.values():
            target = referenced_type(attribute)
            if target in owner and owner[target] != schema.old_key:
                edges.setdefault(schema.old_key, []).append(owner[target])
    components = strongly_connected([s.old_key for s in schemas], edges)
    order = [by_key[key] for component in components for key in sorted(component)]
    cycles = [sorted(component) for component in components if len(component) > 1]
    return order, cycles

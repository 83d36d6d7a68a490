"""Operators of a backup DAG: each one a thin layer over one step of :mod:`airflow_assets.backup`.

Connections are resolved when a task runs, never when the DAG file is parsed. Each task returns a small
JSON summary (counts, ids) to XCom; payloads stay in MongoDB.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from airflow.sdk import BaseHook, BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from pymongo.database import Database

from airflow_assets.backfill.reconstruct import reconstruct_run
from airflow_assets.backup.activity import ACTIVITY_KINDS, export_activity
from airflow_assets.backup.finalize import finalize, mark_failed
from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.run import BackupRun, PastRunSkipped
from airflow_assets.backup.schema_config import BackupTarget, export_config
from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.hooks import JiraAssetsHook
from airflow_assets.hooks.backup_store import backup_database
from airflow_assets.hooks.snapshot_key import snapshot_key
from airflow_assets.operators.lineage import (
    NotesLineage,
    TaskLineage,
    assets_schema,
    backup_lineage,
    mongo_connection_namespace,
    store_collections,
)
from airflow_assets.store import SnapshotStore
from airflow_assets.store.layout import SNAPSHOT_COLLECTIONS
from airflow_assets.store.rate_budget import MongoRateBudget
from airflow_assets.store.snapshots import RUN_BACKFILL_BASE, Snapshot
from airflow_assets.store.versions import DamagedContentError

_Execute = TypeVar("_Execute", bound=Callable[..., Any])


def _step(execute: _Execute) -> _Execute:
    """Run a backup step; when it succeeds, note its lineage (:class:`NotesLineage`).

    Fail the task without retries on what a retry cannot mend: bad config or connections, damaged data.
    A lost lease (:class:`~airflow_assets.store.LeaseLostError`) is retried: the retry takes the lease anew.
    """

    @functools.wraps(execute)
    def wrapper(operator: _BackupStepOperator, context: Context) -> Any:
        try:
            result = execute(operator, context)
        except (AssetsConfigError, DamagedContentError) as error:
            raise AirflowFailException(str(error)) from None
        operator.note_lineage(context["dag_run"].dag_id, context["dag_run"].run_id)
        return result

    return wrapper  # type: ignore[return-value]


class _BackupStepOperator(NotesLineage, BaseOperator):
    """What every backup step shares: the Jira Assets and MongoDB connections.

    :param jira_assets_conn_id: the ``jira_assets`` connection of the site.
    :param mongo_conn_id: the ``mongo`` connection of the backup store.
    :param mongo_database: the database backups are kept in.
    :param budget_share: the fraction of each per-endpoint rate limit this task may use.
    """

    template_fields: Sequence[str] = ("jira_assets_conn_id", "mongo_conn_id", "mongo_database")
    ui_color = "#e8f0fe"
    # The step reads the schema and writes its snapshot (the teardown only marks the snapshot failed).
    reports_lineage = True

    def __init__(
        self,
        *,
        jira_assets_conn_id: str = JiraAssetsHook.default_conn_name,
        mongo_conn_id: str = "jira_assets_backup",
        mongo_database: str = "jira_assets",
        budget_share: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.jira_assets_conn_id = jira_assets_conn_id
        self.mongo_conn_id = mongo_conn_id
        self.mongo_database = mongo_database
        self.budget_share = budget_share

    @cached_property
    def hook(self) -> JiraAssetsHook:
        """Return the Jira Assets hook (built when the task runs)."""
        return JiraAssetsHook(self.jira_assets_conn_id, budget_share=self.budget_share)

    @contextmanager
    def database(self) -> Iterator[Database]:
        """Open the backup database for the length of the block; the site's API calls share its budget."""
        with backup_database(self.mongo_conn_id, self.mongo_database) as db:
            # Every task of the site, in whatever worker, leases its calls from the same counters.
            self.hook.shared_budget = MongoRateBudget(db)
            yield db

    def snapshot_id(self, db: Database, context: Context) -> str:
        """Return the id of the snapshot this DAG run writes.

        :raises AirflowSkipException: the run takes no real snapshot (a run of a past date whose base
            exists: export_config said so, and reconstruct_past does its work).
        """
        dag_run = context["dag_run"]
        store = SnapshotStore(db)
        snapshot = store.find_for_run(dag_run.dag_id, dag_run.run_id)
        if snapshot is not None:
            return snapshot.snapshot_id
        config = context["ti"].xcom_pull(task_ids="export_config") or {}
        if isinstance(config, dict) and config.get("skipped"):
            raise AirflowSkipException(f"no real snapshot in this run: {config['skipped']}")
        return store.id_for_run(dag_run.dag_id, dag_run.run_id)  # raises, saying export_config comes first

    def run_lineage(self, dag_id: str, run_id: str) -> TaskLineage | None:
        """Return the datasets of the run's snapshot (None: this step reports none, or no snapshot).

        The Assets schema the snapshot was read from is the input, the backup store's collections it lives
        in the outputs.
        """
        return self.snapshot_lineage(dag_id, run_id) if self.reports_lineage else None

    def snapshot_lineage(self, dag_id: str, run_id: str) -> TaskLineage | None:
        """Return what a run's snapshot was read from and written to (None: the run holds no snapshot)."""
        with self.database() as db:
            snapshot = self.written_snapshot(SnapshotStore(db), dag_id, run_id)
        if snapshot is None or not snapshot.site_url:
            return None
        namespace = mongo_connection_namespace(BaseHook.get_connection(self.mongo_conn_id))
        return backup_lineage(
            assets_schema(snapshot.site_url, snapshot.workspace_id, snapshot.schema_key),
            store_collections(namespace, self.mongo_database, SNAPSHOT_COLLECTIONS),
        )

    def written_snapshot(self, store: SnapshotStore, dag_id: str, run_id: str) -> Snapshot | None:
        """Return the snapshot this step writes in a run: the run's real one (None before or without it)."""
        return store.find_for_run(dag_id, run_id)


def backup_run(context: Context) -> BackupRun:
    """Return what a backup step knows of its DAG run."""
    dag_run = context["dag_run"]
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
    return BackupRun(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        run_type=str(run_type),
        logical_date=dag_run.logical_date,
        data_interval_start=dag_run.data_interval_start,
        data_interval_end=dag_run.data_interval_end,
        started_at=datetime.now(UTC),
    )


class ExportConfigOperator(_BackupStepOperator):
    """Open the run's snapshot and store the schema's configuration (the first step of a backup run).

    :param site: the site's name in the backup configuration.
    :param schema_key: the object schema key.
    :param include: ``{history, comments, connected_tickets}`` flags.
    :param full_sweep_every: N: every object's activity is re-read once every N runs.
    :param schedule: the DAG's cron schedule (runs of past dates are skipped).
    :param timezone: the schedule's time zone.
    :param sweep: ``rolling`` (1/N of the objects each run) or ``full`` (all of them every Nth run).
    """

    template_fields: Sequence[str] = (*_BackupStepOperator.template_fields, "schema_key")

    def __init__(
        self,
        *,
        site: str,
        schema_key: str,
        include: Mapping[str, bool],
        full_sweep_every: int,
        schedule: str,
        timezone: str,
        sweep: str = "rolling",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sweep = sweep
        self.site = site
        self.schema_key = schema_key
        self.include = dict(include)
        self.full_sweep_every = full_sweep_every
        self.schedule = schedule
        self.timezone = timezone

    @_step
    def execute(self, context: Context) -> dict[str, Any]:
        target = BackupTarget(
            site=self.site,
            schema_key=self.schema_key,
            include=self.include,
            full_sweep_every=self.full_sweep_every,
            schedule=self.schedule,
            timezone=self.timezone,
            sweep=self.sweep,
        )
        try:
            with self.database() as db:
                return export_config(self.hook.get_client(), db, target, backup_run(context)).as_dict()
        except PastRunSkipped as skipped:
            # Not a skip of this task: export_config is the run's setup, and a skipped setup would skip
            # every task in its scope, reconstruct_past included. The export steps skip themselves.
            self.log.info("%s", skipped)
            return {"skipped": str(skipped)}


class ExportObjectsOperator(_BackupStepOperator):
    """Store a version of every object of the schema that changed since the previous snapshot."""

    @_step
    def execute(self, context: Context) -> dict[str, Any]:
        with self.database() as db:
            return export_objects(self.hook.get_client(), db, self.snapshot_id(db, context)).as_dict()


class ExportActivityOperator(_BackupStepOperator):
    """Store the history, comments or connected tickets of the snapshot's objects.

    :param what: ``history``, ``comments`` or ``tickets``.
    """

    def __init__(self, *, what: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if what not in ACTIVITY_KINDS:
            raise ValueError(f"what must be one of {', '.join(ACTIVITY_KINDS)}, got {what!r}")
        self.what = what

    @_step
    def execute(self, context: Context) -> dict[str, Any]:
        with self.database() as db:
            client = self.hook.get_client()
            return export_activity(client, db, self.snapshot_id(db, context), self.what).as_dict()


class FinalizeSnapshotOperator(_BackupStepOperator):
    """Check the snapshot, record its counts and mark it complete: only then can it be restored."""

    @_step
    def execute(self, context: Context) -> dict[str, Any]:
        with self.database() as db:
            snapshot_id = self.snapshot_id(db, context)
            summary = finalize(self.hook.get_client(), db, snapshot_id, key=snapshot_key()).as_dict()
            snapshot = SnapshotStore(db).get(snapshot_id)
        if snapshot is not None:
            # The Airflow Asset event of this snapshot: downstream DAGs read what to load from its extra.
            extra: dict[str, Any] = {
                "snapshot_id": snapshot_id,
                "site": snapshot.site,
                "schema_key": snapshot.schema_key,
                "schema_id": snapshot.schema_id,
                "seq": snapshot.seq,
                "kind": snapshot.kind,
                "counts": snapshot.counts,
            }
            for outlet in self.outlets:
                context["outlet_events"][outlet].extra = extra
        return summary


class ReconstructPastOperator(_BackupStepOperator):
    """For a run of a past date: rewind the nearest later real snapshot to the run's moment by history.

    A run of the present has nothing to do here (skipped). Runs after the export steps whatever they did:
    they took the base when none existed, or were skipped because one does.

    :param schema_key: the object schema key.
    :param base_wait: seconds to wait for a later real snapshot that another run is still taking.
    """

    template_fields: Sequence[str] = (*_BackupStepOperator.template_fields, "schema_key")
    ui_color = "#f3e8fd"

    def __init__(self, *, schema_key: str, base_wait: float = 3600.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema_key = schema_key
        self.base_wait = base_wait

    def written_snapshot(self, store: SnapshotStore, dag_id: str, run_id: str) -> Snapshot | None:
        """Return the snapshot the run reconstructed (None: a run of the present reconstructs nothing)."""
        return store.reconstructed_for_run(dag_id, run_id)

    @_step
    def execute(self, context: Context) -> dict[str, Any]:
        run = backup_run(context)
        config = context["ti"].xcom_pull(task_ids="export_config") or {}
        with self.database() as db:
            # export_config decided whether the run is of a past date (BackupRun.past_moment; the clock
            # has moved on since): it either took no real snapshot, or took one as the base to rewind.
            real = SnapshotStore(db).find_for_run(run.dag_id, run.run_id)
            past = (isinstance(config, dict) and bool(config.get("skipped"))) or (
                real is not None and real.run_kind == RUN_BACKFILL_BASE
            )
            moment = run.moment
            if not past or moment is None:
                raise AirflowSkipException("a run of the present: its snapshot was read, not reconstructed")
            summary = reconstruct_run(
                self.hook.get_client(), db, self.schema_key, run, moment, base_wait=self.base_wait,
                key=snapshot_key(),
            )  # fmt: skip
        return summary.as_dict()


class MarkSnapshotFailedOperator(_BackupStepOperator):
    """Teardown: mark the run's snapshot failed unless finalize completed it, and free the schema's lease."""

    ui_color = "#fde8e8"
    reports_lineage = False

    @_step
    def execute(self, context: Context) -> dict[str, Any]:
        dag_run = context["dag_run"]
        with self.database() as db:
            status = mark_failed(db, dag_run.dag_id, dag_run.run_id)
        return {"snapshot_status": status}


class ConfigErrorOperator(BaseOperator):
    """Fail with the validation message of a broken backup config entry (the task of a placeholder DAG).

    :param message: every problem, one per line, each naming its field.
    :param source: the configuration file.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#fde8e8"

    def __init__(self, *, message: str, source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message
        self.source = source

    def execute(self, context: Context) -> None:
        raise AirflowFailException(
            f"the backup configuration {self.source} is invalid; this DAG stands in for the broken entry:\n"
            f"{self.message}"
        )

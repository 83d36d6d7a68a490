"""Turn the backup plan (pure DAG specs, :mod:`airflow_assets.dags.plan`) into Airflow DAGs.

Parsing a DAG file must stay cheap and must never raise: an exception drops every DAG of the file. So
the config is read and planned without any network or database call, each spec is built on its own,
and a spec that cannot be built becomes a placeholder DAG whose single task fails with the reason.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetAlias, CronTriggerTimetable, Param

from airflow_assets.dags.plan import (
    BackupDagSpec,
    BrokenDagSpec,
    DagSpec,
    DrillDagSpec,
    MonitorDagSpec,
    RestoreDagSpec,
    RetentionDagSpec,
    SiteBackupDagSpec,
    plan_from_file,
)
from airflow_assets.notifications import build_notifiers
from airflow_assets.operators.backup import (
    ConfigErrorOperator,
    ExportActivityOperator,
    ExportConfigOperator,
    ExportObjectsOperator,
    FinalizeSnapshotOperator,
    MarkSnapshotFailedOperator,
    ReconstructPastOperator,
)

log = logging.getLogger(__name__)

# A fixed date in the past: with catchup off, the scheduler starts from the latest slot.
START_DATE = pendulum.datetime(2025, 1, 1, tz="UTC")
PLACEHOLDER_SCHEDULE = "0 2 * * *"
# A run that cannot finish within a day (e.g. its tasks wait for a pool that does not exist) fails
# instead of blocking the next day's run forever (max_active_runs=1).
RUN_TIMEOUT = timedelta(hours=23)
DEFAULT_ARGS = {
    "owner": "jira-assets",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
}
ACTIVITY_TASKS = (("history", "history"), ("comments", "comments"), ("connected_tickets", "tickets"))
# The schemas of a site share its pool. Ranked by their upstream tasks, the steps that end a run (finalize,
# reconstruct_past) take a freed slot before another schema's per-object steps, which take it before a
# listing: a schema whose history is read completes its snapshot at once, and its run ends, so the next
# scheduled run of that schema is not held back (one run at a time) by other schemas' long steps. With
# Airflow's default (ranked by downstream tasks) the finished schemas' reconstruct_past, a no-op in a run of
# the present, waited 1,046 s in all for a slot behind the others' history and comments (parallel_schemas 1,
# benchmarks/site_budget.py at 20,000 objects).
FINISH_FIRST = "upstream"


def _step_connections(spec: BackupDagSpec | SiteBackupDagSpec) -> dict[str, Any]:
    """Return the arguments every backup step task of a DAG shares: connections, rate share and pool."""
    return {
        "jira_assets_conn_id": spec.jira_conn_id,
        "mongo_conn_id": spec.mongo_conn_id,
        "mongo_database": spec.mongo_database,
        "budget_share": spec.budget_share,
        "pool": spec.pool,
    }


def build_backup_dag(spec: BackupDagSpec) -> DAG:
    """Build the backup DAG of one schema: config -> objects -> history | comments | tickets -> finalize.

    Then ``reconstruct_past``, which does nothing in a run of the present and, in a run of a past date
    (a backfill), rewinds the nearest later snapshot to the run's moment.
    """
    include = spec.include.model_dump()
    connections = _step_connections(spec)
    with _scheduled_dag(
        spec.dag_id, spec.schedule, spec.timezone, spec.tags, spec.doc_md, RUN_TIMEOUT,
        default_args={**_default_args(spec.notify), "weight_rule": FINISH_FIRST},
    ) as dag:  # fmt: skip
        config = ExportConfigOperator(
            task_id="export_config",
            site=spec.site,
            schema_key=spec.schema_key,
            include=include,
            full_sweep_every=spec.full_sweep_every,
            schedule=spec.schedule,
            timezone=spec.timezone,
            sweep=spec.sweep,
            **connections,
        )
        objects = ExportObjectsOperator(task_id="export_objects", **connections)
        activities = [
            ExportActivityOperator(task_id=f"export_{what}", what=what, **connections)
            for flag, what in ACTIVITY_TASKS
            if include.get(flag)
        ]
        # A completed snapshot updates the schema's Airflow Asset: downstream DAGs can be scheduled on it.
        # Its name is its URI, so a downstream DAG names it with one string: Asset("jira-assets://prod/ITAM").
        asset = Asset(name=spec.asset_uri, uri=spec.asset_uri, group="jira-assets")
        final = FinalizeSnapshotOperator(task_id="finalize", outlets=[asset], **connections)
        # Runs of past dates (backfill): rewind the nearest later snapshot to the run's moment.
        past = ReconstructPastOperator(
            task_id="reconstruct_past",
            schema_key=spec.schema_key,
            trigger_rule="none_failed",
            **connections,
        )
        teardown = MarkSnapshotFailedOperator(
            task_id="mark_failed_if_incomplete",
            jira_assets_conn_id=spec.jira_conn_id,
            mongo_conn_id=spec.mongo_conn_id,
            mongo_database=spec.mongo_database,
            retries=5,
        )
        config >> objects
        if activities:
            objects >> activities >> final
        else:
            objects >> final
        final >> past >> teardown.as_teardown(setups=config)
    _check_built(dag, spec)
    return dag


def build_broken_dag(spec: BrokenDagSpec) -> DAG:
    """Build the placeholder of a broken config entry: it runs daily; its one task fails with the error."""
    with DAG(
        dag_id=spec.dag_id,
        schedule=CronTriggerTimetable(PLACEHOLDER_SCHEDULE, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=list(spec.tags),
        doc_md=f"# Broken backup configuration\n\n`{spec.source}`:\n\n```\n{spec.error}\n```\n",
        default_args=_default_args(spec.notify, broken=True),
    ) as dag:
        ConfigErrorOperator(task_id="config_error", message=spec.error, source=spec.source, retries=0)
    return dag


def build_retention_dag(spec: RetentionDagSpec) -> DAG:
    """Build the retention DAG: forget snapshots the policy does not keep, then prune unused versions."""
    from airflow_assets.operators.retention import RetentionOperator

    with _scheduled_dag(
        spec.dag_id,
        spec.schedule,
        spec.timezone,
        spec.tags,
        spec.doc_md,
        None,
        default_args=_default_args(spec.notify),
        params={
            "dry_run": Param(
                False,
                type="boolean",
                title="Dry run",
                description="Report what would be forgotten and pruned; delete nothing.",
            )
        },
    ) as dag:
        RetentionOperator(
            task_id="forget_and_prune",
            mongo_conn_id=spec.mongo_conn_id,
            mongo_database=spec.mongo_database,
            policy=spec.policy.model_dump(),
            dry_run="{{ params.dry_run }}",
        )
    return dag


def build_restore_dag(spec: RestoreDagSpec) -> DAG:
    """Build the restore DAG: manual runs, one at a time, a trigger form of typed parameters."""
    from airflow_assets.dags.restore_params import restore_params
    from airflow_assets.operators.restore import STEPS, RestoreStepOperator

    with DAG(
        dag_id=spec.dag_id,
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=list(spec.tags),
        doc_md=spec.doc_md,
        params=restore_params(spec.schema_keys, tuple(spec.site_connections)),
        default_args={**_default_args(spec.notify), "retries": 2},
    ) as dag:
        tasks = [
            RestoreStepOperator(
                task_id=step,
                step=step,
                mongo_conn_id=spec.mongo_conn_id,
                mongo_database=spec.mongo_database,
                site_connections=spec.site_connections,
                backup_targets=spec.backup_targets,
                **({"pool": spec.pool} if spec.pool else {}),
                # A failed plan is bad input: retrying cannot fix it.
                retries=0 if step == "plan" else DEFAULT_ARGS["retries"],
            )
            for step in STEPS
        ]
        for upstream, downstream in itertools.pairwise(tasks):
            upstream >> downstream
    return dag


def build_dags(specs: Sequence[DagSpec]) -> dict[str, DAG]:
    """Build a DAG per spec; a spec that fails to build becomes a placeholder that says why."""
    dags: dict[str, DAG] = {}
    for spec in specs:
        try:
            dags[spec.dag_id] = _build(spec)
        except Exception as error:  # one broken entry never takes the others down
            log.exception("could not build DAG %s from %s", spec.dag_id, spec.source)
            broken = BrokenDagSpec(
                dag_id=spec.dag_id,
                error=f"{spec.dag_id}: {type(error).__name__}: {error}",
                source=spec.source,
                tags=("jira-assets", "config-error"),
            )
            dags[spec.dag_id] = build_broken_dag(broken)
    return dags


def build_from_config(path: str | os.PathLike[str] | None = None) -> dict[str, DAG]:
    """Read the backup config (``JIRA_ASSETS_CONFIG``, default ``dags/jira_assets.yaml``); build its DAGs."""
    try:
        specs = plan_from_file(path)
    except Exception as error:  # the DAG file must never raise
        log.exception("could not plan the Jira Assets backup DAGs")
        specs = [
            BrokenDagSpec(
                dag_id="jira_assets_backup_config_error",
                error=f"{type(error).__name__}: {error}",
                source=str(path or os.environ.get("JIRA_ASSETS_CONFIG", "dags/jira_assets.yaml")),
                tags=("jira-assets", "config-error"),
            )
        ]
    return build_dags(specs)


def _scheduled_dag(
    dag_id: str,
    schedule: str,
    timezone: str,
    tags: Sequence[str],
    doc_md: str,
    timeout: timedelta | None,
    **options: Any,
) -> DAG:
    """Return a DAG on an explicit cron timetable (the same in tests and production), one run at a time."""
    return DAG(
        dag_id=dag_id,
        schedule=CronTriggerTimetable(schedule, timezone=timezone),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timeout,
        tags=list(tags),
        doc_md=doc_md,
        **{"default_args": DEFAULT_ARGS, **options},
    )


def _build(spec: DagSpec) -> DAG:
    if isinstance(spec, BackupDagSpec):
        return build_backup_dag(spec)
    if isinstance(spec, RetentionDagSpec):
        return build_retention_dag(spec)
    if isinstance(spec, RestoreDagSpec):
        return build_restore_dag(spec)
    if isinstance(spec, MonitorDagSpec):
        return build_monitor_dag(spec)
    if isinstance(spec, SiteBackupDagSpec):
        return build_site_backup_dag(spec)
    if isinstance(spec, DrillDagSpec):
        return build_drill_dag(spec)
    return build_broken_dag(spec)


def _default_args(notify: Sequence[Mapping[str, Any]], *, broken: bool = False) -> dict[str, Any]:
    """Return the DAG's default task arguments, with the config's failure notifiers attached."""
    args: dict[str, Any] = {} if broken else dict(DEFAULT_ARGS)
    notifiers = build_notifiers(notify)
    if notifiers:
        args["on_failure_callback"] = notifiers
    return args


def build_monitor_dag(spec: MonitorDagSpec) -> DAG:
    """Build the monitor DAG: one task that fails, and so alerts, when backups are stale or shrank."""
    from airflow_assets.operators.monitor import SnapshotMonitorOperator

    with _scheduled_dag(
        spec.dag_id, spec.schedule, "UTC", spec.tags, spec.doc_md, None,
        default_args={**_default_args(spec.notify), "retries": 0},
    ) as dag:  # fmt: skip
        SnapshotMonitorOperator(
            task_id="check_snapshots",
            schemas=[dataclasses.asdict(watch) for watch in spec.schemas],
            max_age_hours=spec.max_age_hours,
            max_object_drop=spec.max_object_drop,
            drills=[dataclasses.asdict(watch) for watch in spec.drills],
            mongo_conn_id=spec.mongo_conn_id,
            mongo_database=spec.mongo_database,
            sites=[dataclasses.asdict(site) for site in spec.sites],
        )
    return dag


def _check_built(dag: DAG, spec: BackupDagSpec) -> None:
    """Check what was built against the spec: every API task in the site's pool, one run at a time."""
    api_tasks = [task for task in dag.tasks if task.task_id != "mark_failed_if_incomplete"]
    outside = [task.task_id for task in api_tasks if task.pool != spec.pool]
    if outside:
        raise ValueError(f"{spec.dag_id}: tasks {outside} are not in pool {spec.pool}")
    if dag.max_active_runs != 1 or dag.catchup:
        raise ValueError(f"{spec.dag_id}: must run one at a time, without catchup")


def build_site_backup_dag(spec: SiteBackupDagSpec) -> DAG:
    """Build the DAG of a site with ``schemas: "*"``: list the schemas -> back up each (mapped) -> teardown.

    The listing runs when the DAG runs (never at parse time); each schema is a mapped task instance whose
    map index shows its key, at most ``parallel_schemas`` at once, in the site's pool.
    """
    from airflow_assets.operators.site_backup import (
        BackupSiteSchemaOperator,
        ListSiteSchemasOperator,
        MarkSiteSnapshotsFailedOperator,
    )

    connections = _step_connections(spec)
    with _scheduled_dag(
        spec.dag_id, spec.schedule, spec.timezone, spec.tags, spec.doc_md, RUN_TIMEOUT,
        default_args=_default_args(spec.notify),
    ) as dag:  # fmt: skip
        listing = ListSiteSchemasOperator(
            task_id="list_schemas",
            site=spec.site,
            exclude=spec.exclude,
            named_elsewhere=spec.named_elsewhere,
            **connections,
        )
        backups = BackupSiteSchemaOperator.partial(
            task_id="back_up_schema",
            site=spec.site,
            include=spec.include.model_dump(),
            full_sweep_every=spec.full_sweep_every,
            sweep=spec.sweep,
            schedule=spec.schedule,
            timezone=spec.timezone,
            max_active_tis_per_dagrun=spec.parallel_schemas,
            map_index_template="{{ task.schema_key }}",
            # A completed snapshot updates its schema's Asset (jira-assets://<site>/<key>) through the alias.
            outlets=[AssetAlias(name=f"jira-assets://{spec.site}/*", group="jira-assets")],
            **connections,
        ).expand(schema_key=listing.output)
        teardown = MarkSiteSnapshotsFailedOperator(
            task_id="mark_failed_if_incomplete",
            jira_assets_conn_id=spec.jira_conn_id,
            mongo_conn_id=spec.mongo_conn_id,
            mongo_database=spec.mongo_database,
            retries=5,
        )
        listing >> backups >> teardown.as_teardown(setups=listing)
    return dag


def build_drill_dag(spec: DrillDagSpec) -> DAG:
    """Build the drill DAG: one drill task per schema, one at a time, then a teardown for scratch schemas.

    One task at a time (``max_active_tasks=1``): each drill takes the target's whole rate budget, so its RTO
    is the one a real restore would have.
    """
    from airflow_assets.operators.drill import DeleteScratchSchemasOperator, RestoreDrillOperator

    with _scheduled_dag(
        spec.dag_id, spec.schedule, spec.timezone, spec.tags, spec.doc_md, RUN_TIMEOUT,
        default_args={**_default_args(spec.notify), "retries": 1}, max_active_tasks=1,
    ) as dag:  # fmt: skip
        drills = [
            RestoreDrillOperator(
                task_id=f"drill_{site}_{key}".lower(),
                site=site,
                schema_key=key,
                target_conn_id=spec.target_conn_id,
                max_objects=spec.max_objects,
                sites=spec.sites,
                mongo_conn_id=spec.mongo_conn_id,
                mongo_database=spec.mongo_database,
            )
            for site, key in spec.schemas
        ]
        cleanup = DeleteScratchSchemasOperator(
            task_id="delete_scratch_schemas",
            schemas=[list(schema) for schema in spec.schemas],
            target_conn_id=spec.target_conn_id,
            retries=3,
        )
        cleanup.as_teardown()
        for drill in drills:
            drill >> cleanup
    return dag

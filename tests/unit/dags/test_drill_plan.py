"""The drill DAG planned from the ``drills`` section: its spec, a broken section, the monitor's watch."""

from __future__ import annotations

from airflow_assets.backup.drill_watch import DrillWatch
from airflow_assets.dags.plan import (
    DRILL_DAG_ID,
    MONITOR_DAG_ID,
    BackupDagSpec,
    BrokenDagSpec,
    DrillDagSpec,
    MonitorDagSpec,
    plan_dags,
)

CONFIG = """\
mongo: {conn_id: backup_store, database: cmdb}
sites:
  prod: {conn_id: jira_prod, schemas: [ITAM, PEOPLE]}
  eu: {conn_id: jira_eu, schemas: [ITAM]}
retention: {keep_last: 7}
"""


def _by_id(text: str) -> dict[str, object]:
    return {spec.dag_id: spec for spec in plan_dags(text, source="jira_assets.yaml")}


def test_no_drills_section_plans_no_drill_dag() -> None:
    assert DRILL_DAG_ID not in _by_id(CONFIG)


def test_the_drill_dag_drills_each_schema_and_the_monitor_watches_them() -> None:
    specs = _by_id(
        CONFIG + "drills: {target_conn_id: jira_staging, schemas: [PEOPLE, eu/ITAM], max_objects: 500}\n"
    )

    drill = specs[DRILL_DAG_ID]
    assert isinstance(drill, DrillDagSpec)
    assert drill.schemas == (("prod", "PEOPLE"), ("eu", "ITAM"))
    assert (drill.target_conn_id, drill.max_objects, drill.schedule) == ("jira_staging", 500, "0 5 * * 0")
    assert "`prod/PEOPLE`" in drill.doc_md and "jira_staging" in drill.doc_md
    monitor = specs[MONITOR_DAG_ID]
    assert isinstance(monitor, MonitorDagSpec)
    assert monitor.drills == (
        DrillWatch("prod", "PEOPLE", "0 5 * * 0", "UTC"),
        DrillWatch("eu", "ITAM", "0 5 * * 0", "UTC"),
    )


def test_a_broken_drills_section_is_a_placeholder_and_the_backups_still_run() -> None:
    specs = _by_id(CONFIG + "drills: {target_conn_id: jira_prod, schemas: [PEOPLE]}\n")

    broken = specs[DRILL_DAG_ID]
    assert isinstance(broken, BrokenDagSpec)
    assert "drills.target_conn_id: jira_prod is the connection of the backed-up site prod" in broken.error
    assert isinstance(specs["jira_assets_backup_prod_itam"], BackupDagSpec)
    assert isinstance(specs[MONITOR_DAG_ID], MonitorDagSpec)


def test_the_drill_dag_runs_one_drill_at_a_time_with_a_scratch_teardown() -> None:
    from airflow_assets.dags.factory import build_dags

    specs = plan_dags(
        CONFIG + "drills: {target_conn_id: jira_staging, schemas: [PEOPLE, eu/ITAM]}\n", source="x.yaml"
    )
    dag = build_dags(specs)[DRILL_DAG_ID]

    assert dag.max_active_tasks == 1
    assert {task.task_id for task in dag.tasks} == {
        "drill_prod_people",
        "drill_eu_itam",
        "delete_scratch_schemas",
    }
    teardown = dag.get_task("delete_scratch_schemas")
    assert teardown.is_teardown
    assert teardown.upstream_task_ids == {"drill_prod_people", "drill_eu_itam"}

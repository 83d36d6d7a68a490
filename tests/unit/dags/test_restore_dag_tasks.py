"""The restore DAG's tasks: backup_before before the plan, and the backup target each rollback needs."""

from __future__ import annotations

import pytest

from airflow_assets.dags.factory import build_restore_dag
from airflow_assets.dags.plan import RestoreDagSpec, plan_dags
from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.operators.restore import STEPS, RestoreStepOperator

# Three sites; "Mirror" reaches the same Jira as "Prod" and lists ITAM again (refused: Prod backs it up).
CONFIG = """\
mongo: {conn_id: backup_store, database: cmdb}
sites:
  Prod:
    conn_id: jira_prod
    schemas: [ITAM, {key: LOC, include: {comments: false}}]
  Mirror:
    conn_id: jira_prod
    schemas: [ITAM]
  qa:
    schemas: [ITAM]
retention: {keep_last: 7}
"""


def _restore_spec() -> RestoreDagSpec:
    spec = next(spec for spec in plan_dags(CONFIG, source="x") if spec.dag_id == "jira_assets_restore")
    assert isinstance(spec, RestoreDagSpec)
    return spec


def _operator(step: str) -> RestoreStepOperator:
    task = build_restore_dag(_restore_spec()).get_task(step)
    assert isinstance(task, RestoreStepOperator)
    return task


def test_backup_before_runs_first_so_the_plan_reads_the_history_of_the_changes_to_undo() -> None:
    dag = build_restore_dag(_restore_spec())

    assert STEPS[:3] == ("backup_before", "plan", "create_structure")
    assert [task.task_id for task in dag.get_task("backup_before").downstream_list] == ["plan"]
    assert [task.task_id for task in dag.get_task("plan").downstream_list] == ["create_structure"]
    assert {task.task_id for task in dag.tasks} == set(STEPS)


def test_every_restore_task_carries_the_backup_target_of_every_schema() -> None:
    operator = _operator("backup_before")

    # Mirror's ITAM is a broken entry (Prod backs that schema up already): no backup DAG, no target.
    assert set(operator.backup_targets) == {"Prod/ITAM", "Prod/LOC", "qa/ITAM"}
    loc = operator._backup_target_of("LOC", "jira_prod", None)
    assert (loc["dag_id"], loc["include"]["comments"]) == ("jira_assets_backup_prod_loc", False)
    assert operator._backup_target_of("ITAM", "jira_assets_default", None)["site"] == "qa"


def test_a_rollback_of_a_schema_no_site_backs_up_through_its_connection_is_refused() -> None:
    operator = _operator("backup_before")

    # The schema exists in the config, but not on the site the rollback writes to.
    with pytest.raises(AssetsConfigError, match=r"no site of the backup config .* backs it up"):
        operator._backup_target_of("LOC", "jira_assets_default", None)
    # Two sites back ITAM up through one connection (targets from an older config): the run must say which.
    targets = dict(operator.backup_targets)
    targets["Mirror/ITAM"] = {
        **targets["Prod/ITAM"],
        "site": "Mirror",
        "dag_id": "jira_assets_backup_mirror_itam",
    }
    twice = RestoreStepOperator(
        task_id="backup_before",
        step="backup_before",
        site_connections={**operator.site_connections, "Mirror": "jira_prod"},
        backup_targets=targets,
    )
    with pytest.raises(AssetsConfigError, match=r"backed up by sites Mirror, Prod.*name one of them"):
        twice._backup_target_of("ITAM", "jira_prod", None)
    assert (
        twice._backup_target_of("ITAM", "jira_prod", "Mirror")["dag_id"] == "jira_assets_backup_mirror_itam"
    )

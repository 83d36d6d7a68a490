"""Every DAG in dags/ imports without errors, cheaply, with no network or database call."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_every_dag_in_the_dags_folder_imports_without_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))

    assert bag.import_errors == {}
    assert {
        "jira_assets_backup_demo_people",
        "jira_assets_backup_demo_loc",
        "jira_assets_backup_demo_itam",
    } <= set(bag.dags)
    assert bag.dags["jira_assets_retention"].task_ids == ["forget_and_prune"]
    for dag_id in ("jira_assets_backup_demo_people", "jira_assets_backup_demo_itam"):
        dag = bag.dags[dag_id]
        assert dag.max_active_runs == 1 and not dag.catchup
        assert type(dag.timetable).__name__ == "CronTriggerTimetable"
        assert "jira_assets_restore" in (dag.doc_md or "")
        assert {task.pool for task in dag.tasks if task.task_id != "mark_failed_if_incomplete"} == {
            "jira_assets_demo"
        }
        teardown = dag.get_task("mark_failed_if_incomplete")
        assert teardown.is_teardown and "export_config" in teardown.upstream_task_ids
        assert dag.get_task("finalize").upstream_task_ids >= {"export_history", "export_comments"}
    # Connected tickets are enabled for ITAM only, in the shipped demo config.
    assert "export_tickets" in bag.dags["jira_assets_backup_demo_itam"].task_ids
    assert "export_tickets" not in bag.dags["jira_assets_backup_demo_people"].task_ids


def test_a_backup_run_finishes_before_another_schema_starts_its_next_step() -> None:
    """In the site's pool, a freed slot goes first to the steps that end a run, then to per-object steps."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.task.priority_strategy import validate_and_load_priority_weight_strategy

    def rank(task: Any) -> int:
        # What the scheduler stores as the task instance's priority_weight (TaskInstance.refresh_from_task).
        strategy = validate_and_load_priority_weight_strategy(task.weight_rule)
        return int(strategy.get_weight(SimpleNamespace(task=task)))  # type: ignore[arg-type]

    bag = DagBag(dag_folder=str(DAGS))
    ranks = {
        dag_id: {task.task_id: rank(task) for task in bag.dags[dag_id].tasks}
        for dag_id in ("jira_assets_backup_demo_people", "jira_assets_backup_demo_itam")
    }

    def of(*steps: str) -> list[int]:
        return [weights[step] for weights in ranks.values() for step in steps]

    lowest_end = min(of("finalize", "reconstruct_past"))
    per_object = of("export_history", "export_comments")
    listings = of("export_config", "export_objects")
    # Across the two DAGs too: the smaller schema's finalize outranks the larger one's history.
    assert lowest_end > max(per_object)
    assert min(per_object) > max(listings)

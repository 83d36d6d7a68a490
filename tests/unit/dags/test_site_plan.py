"""The DAG of a site with ``schemas: "*"``: planned without any network or database call, built as list ->
mapped backups -> teardown."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from airflow_assets.dags.plan import (
    BackupDagSpec,
    BrokenDagSpec,
    DagSpec,
    MonitorDagSpec,
    RestoreDagSpec,
    SiteBackupDagSpec,
    plan_dags,
)

CONFIG = """\
mongo: {conn_id: backup_store, database: cmdb}
sites:
  Prod:
    conn_id: jira_prod
    schedule: "*/15 * * * *"
    timezone: Europe/Berlin
    parallel_schemas: 3
    include: {comments: false}
    schemas: "*"
    exclude: [HR]
  fast:
    conn_id: jira_prod
    schedule: "@hourly"
    schemas: [ITAM, LOC]
  qa:
    conn_id: jira_qa
    schemas: [ITAM]
retention: {keep_last: 7}
"""


def _by_id(specs: list[DagSpec]) -> dict[str, DagSpec]:
    ids = [spec.dag_id for spec in specs]
    assert len(ids) == len(set(ids)), ids
    return {spec.dag_id: spec for spec in specs}


def test_a_site_of_every_schema_gets_one_dag_with_the_site_settings() -> None:
    specs = _by_id(plan_dags(CONFIG, source="cfg.yaml"))

    spec = specs["jira_assets_backup_prod"]
    assert isinstance(spec, SiteBackupDagSpec)
    assert (spec.site, spec.jira_conn_id, spec.schedule, spec.timezone) == (
        "Prod",
        "jira_prod",
        "*/15 * * * *",
        "Europe/Berlin",
    )
    # parallel_schemas caps how many schemas run at once; each takes from the one shared budget, whole.
    assert (spec.pool, spec.parallel_schemas, spec.budget_share) == ("jira_assets_Prod", 3, 1.0)
    assert not spec.include.comments and spec.include.history
    assert spec.exclude == ("HR",)
    # Schemas another site of the same connection names keep their own DAGs: the listing leaves them out.
    assert spec.named_elsewhere == ("ITAM", "LOC")
    assert "schema:*" in spec.tags and "`HR`" in spec.doc_md and "`ITAM`" in spec.doc_md
    assert 'schemas: "*"' in spec.doc_md or "schemas: '*'" in spec.doc_md
    # Schemas listed by name keep their DAGs exactly as before.
    assert isinstance(specs["jira_assets_backup_fast_itam"], BackupDagSpec)
    assert isinstance(specs["jira_assets_backup_qa_itam"], BackupDagSpec)
    assert not [s for s in specs.values() if isinstance(s, BrokenDagSpec)]


def test_the_monitor_watches_the_site_by_its_schedule_and_the_restore_dag_knows_its_connection() -> None:
    specs = _by_id(plan_dags(CONFIG, source="cfg.yaml"))

    monitor = specs["jira_assets_monitor"]
    assert isinstance(monitor, MonitorDagSpec)
    (site,) = monitor.sites
    assert (site.site, site.dag_id, site.schedule, site.timezone, site.exclude) == (
        "Prod",
        "jira_assets_backup_prod",
        "*/15 * * * *",
        "Europe/Berlin",
        ("HR",),
    )
    assert {(w.site, w.schema_key) for w in monitor.schemas} == {
        ("fast", "ITAM"),
        ("fast", "LOC"),
        ("qa", "ITAM"),
    }
    restore = specs["jira_assets_restore"]
    assert isinstance(restore, RestoreDagSpec) and restore.site_connections["Prod"] == "jira_prod"


def test_a_broken_site_of_every_schema_becomes_a_placeholder_and_the_others_still_run() -> None:
    text = CONFIG.replace("exclude: [HR]", "exclude: [hr]")
    specs = _by_id(plan_dags(text, source="cfg.yaml"))

    broken = specs["jira_assets_backup_prod_config_error"]
    assert isinstance(broken, BrokenDagSpec) and "sites.Prod.exclude[0]" in broken.error
    assert "jira_assets_backup_prod" not in specs
    assert isinstance(specs["jira_assets_backup_fast_itam"], BackupDagSpec)
    monitor = specs["jira_assets_monitor"]
    assert isinstance(monitor, MonitorDagSpec) and monitor.sites == ()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any socket connection: parsing a DAG must not touch the network or a database."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a connection was attempted while the DAGs were built")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_site_dag_maps_one_backup_per_listed_schema_capped_by_parallel_schemas(no_network: None) -> None:
    from airflow_assets.dags.factory import build_dags

    dags = build_dags(plan_dags(CONFIG, source="cfg.yaml"))

    dag = dags["jira_assets_backup_prod"]
    assert type(dag).__name__ == "DAG" and dag.max_active_runs == 1 and not dag.catchup
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert set(dag.task_ids) == {"list_schemas", "back_up_schema", "mark_failed_if_incomplete"}
    mapped = dag.get_task("back_up_schema")
    assert type(mapped).__name__ == "MappedOperator"
    assert mapped.max_active_tis_per_dagrun == 3
    assert mapped.map_index_template == "{{ task.schema_key }}"
    assert mapped.upstream_task_ids == {"list_schemas"}
    assert {dag.get_task("list_schemas").pool, mapped.pool} == {"jira_assets_Prod"}
    teardown = dag.get_task("mark_failed_if_incomplete")
    assert teardown.is_teardown and teardown.upstream_task_ids == {"back_up_schema", "list_schemas"}
    assert "jira_assets_backup_fast_itam" in dags and "jira_assets_backup_prod_config_error" not in dags


def test_a_rollback_of_a_schema_of_a_site_of_every_schema_backs_it_up_as_the_site_dag_would() -> None:
    from airflow_assets.backup.schema_config import BackupTarget
    from airflow_assets.dags.factory import build_restore_dag
    from airflow_assets.exceptions import AssetsConfigError
    from airflow_assets.operators.restore import RestoreStepOperator

    spec = _by_id(plan_dags(CONFIG, source="cfg.yaml"))["jira_assets_restore"]
    assert isinstance(spec, RestoreDagSpec)
    operator = build_restore_dag(spec).get_task("backup_before")
    assert isinstance(operator, RestoreStepOperator)

    # A schema created on the site after the DAG file was parsed: the "*" entry covers it.
    news = operator._backup_target_of("NEWS", "jira_prod", None)
    assert (news["site"], news["schema_key"], news["dag_id"]) == ("Prod", "NEWS", "jira_assets_backup_prod")
    assert news["schedule"] == "*/15 * * * *" and news["include"]["comments"] is False
    assert BackupTarget.from_dict(news).schema_key == "NEWS"
    # A schema named by another site of the connection keeps that site's target.
    assert operator._backup_target_of("ITAM", "jira_prod", None)["dag_id"] == "jira_assets_backup_fast_itam"
    # An excluded schema is backed up by no site: refused, as for any schema not in the config.
    with pytest.raises(AssetsConfigError, match="no site of the backup config"):
        operator._backup_target_of("HR", "jira_prod", None)

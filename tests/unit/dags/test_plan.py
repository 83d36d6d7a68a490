"""Planning DAGs from the configuration: one spec per schema, broken parts reported where they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from airflow_assets.backup.schema_config import BackupTarget
from airflow_assets.config.sites import IncludeSettings
from airflow_assets.config.storage import RetentionPolicy
from airflow_assets.dags.plan import (
    BackupDagSpec,
    BrokenDagSpec,
    DagSpec,
    MonitorDagSpec,
    RestoreDagSpec,
    RetentionDagSpec,
    plan_dags,
    plan_from_file,
)
from airflow_assets.exceptions import AssetsConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "dags" / "jira_assets.example.yaml"

CONFIG = """\
mongo: {conn_id: backup_store, database: cmdb}
sites:
  Prod:
    conn_id: jira_prod
    timezone: Europe/Berlin
    parallel_schemas: 2
    include: {comments: false}
    schemas: [ITAM, {key: PEOPLE, schedule: "0 */6 * * *", include: {connected_tickets: true}}, LOC]
  qa:
    schemas: [ITAM]
retention: {keep_last: 7}
"""


ONE_SITE = """\
mongo: {conn_id: backup_store, database: cmdb}
sites:
  demo:
    conn_id: jira_assets_default
    schemas: [ITAM]
retention: {keep_last: 3}
"""


def _by_id(specs: list[DagSpec]) -> dict[str, DagSpec]:
    ids = [spec.dag_id for spec in specs]
    assert len(ids) == len(set(ids)), ids
    return {spec.dag_id: spec for spec in specs}


def _spec(specs: list[DagSpec], dag_id: str) -> BackupDagSpec:
    spec = _by_id(specs)[dag_id]
    assert isinstance(spec, BackupDagSpec), spec
    return spec


def _broken(specs: list[DagSpec], dag_id: str) -> BrokenDagSpec:
    spec = _by_id(specs)[dag_id]
    assert isinstance(spec, BrokenDagSpec), spec
    return spec


def test_one_backup_dag_per_schema_with_lowercase_ids_and_resolved_settings() -> None:
    specs = plan_dags(CONFIG, source="dags/jira_assets.yaml")

    assert [spec.dag_id for spec in specs] == [
        "jira_assets_backup_prod_itam",
        "jira_assets_backup_prod_people",
        "jira_assets_backup_prod_loc",
        "jira_assets_backup_qa_itam",
        "jira_assets_retention",
        "jira_assets_restore",
        "jira_assets_monitor",
    ]
    people = _spec(specs, "jira_assets_backup_prod_people")
    assert people == BackupDagSpec(
        dag_id="jira_assets_backup_prod_people",
        site="Prod",
        schema_key="PEOPLE",
        jira_conn_id="jira_prod",
        mongo_conn_id="backup_store",
        mongo_database="cmdb",
        schedule="0 */6 * * *",
        timezone="Europe/Berlin",
        include=IncludeSettings(history=True, comments=False, connected_tickets=True),
        full_sweep_every=7,
        pool="jira_assets_Prod",
        budget_share=1.0,  # parallel_schemas 2 caps concurrency; the budget is shared, not split
        tags=("jira-assets", "backup", "site:Prod", "schema:PEOPLE"),
        doc_md=people.doc_md,
        source="dags/jira_assets.yaml",
        asset_uri="jira-assets://Prod/PEOPLE",
    )
    qa = _spec(specs, "jira_assets_backup_qa_itam")
    assert (qa.jira_conn_id, qa.schedule, qa.timezone, qa.pool, qa.budget_share) == (
        "jira_assets_default",
        "0 2 * * *",
        "UTC",
        "jira_assets_qa",
        1.0,
    )
    assert qa.tags == ("jira-assets", "backup", "site:qa", "schema:ITAM")


def test_doc_md_says_what_where_when_how_to_restore_and_shows_the_entry() -> None:
    doc = _spec(plan_dags(CONFIG, source="dags/jira_assets.yaml"), "jira_assets_backup_prod_people").doc_md

    for fact in (
        "`PEOPLE`",
        "`Prod`",
        "`jira_prod`",
        "`backup_store`",
        "`cmdb`",
        "`0 */6 * * *` (Europe/Berlin)",
        "`jira_assets_Prod`",
        "history, connected tickets",
        "left out: comments",
        "`jira_assets_restore`",
        '{"mode": "recreate_missing", "schema_mappings": [{"old_key": "PEOPLE"}], "snapshot": "latest"}',
        '{"schema_mappings": [{"old_key": "PEOPLE", "new_key": "PEOPLE2"}], "snapshot": "latest"}',
        '"dry_run": false',
        "dags/jira_assets.yaml",
    ):
        assert fact in doc, fact
    # A new_schema restore into the key the schema still has is refused: the docs never suggest it.
    assert '"new_key": "PEOPLE"}' not in doc
    entry_block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(entry_block) == {
        "sites": {
            "Prod": {
                "conn_id": "jira_prod",
                "timezone": "Europe/Berlin",
                "parallel_schemas": 2,
                "include": {"comments": False},
                "schemas": [
                    {"key": "PEOPLE", "schedule": "0 */6 * * *", "include": {"connected_tickets": True}}
                ],
            }
        }
    }


def test_a_broken_schema_entry_gets_its_own_placeholder_and_the_others_still_run() -> None:
    text = CONFIG.replace("LOC]", "{key: LOC, schedule: '0 25 * * *'}, 'A B', 42, ITAM]")
    specs = plan_dags(text, source="dags/jira_assets.yaml")
    by_id = _by_id(specs)

    loc = _broken(specs, "jira_assets_backup_prod_loc")
    assert loc.error.startswith("sites.Prod.schemas[2].schedule: '0 25 * * *' is not a valid cron expression")
    assert loc.source == "dags/jira_assets.yaml"
    assert "config-error" in loc.tags and "site:Prod" in loc.tags
    # Keys that cannot be part of a DAG id, and duplicates of a valid schema, are placeholders by index.
    assert _broken(specs, "jira_assets_backup_prod_schema_3").error.startswith("sites.Prod.schemas[3].key:")
    assert _broken(specs, "jira_assets_backup_prod_schema_4").error.startswith("sites.Prod.schemas[4]:")
    duplicate = _broken(specs, "jira_assets_backup_prod_schema_5")
    assert duplicate.error == (
        "sites.Prod.schemas[5].key: schema 'ITAM' is listed more than once in this site (first at schemas[0])"
    )
    assert isinstance(by_id["jira_assets_backup_prod_itam"], BackupDagSpec)
    assert isinstance(by_id["jira_assets_backup_prod_people"], BackupDagSpec)
    assert isinstance(by_id["jira_assets_backup_qa_itam"], BackupDagSpec)
    assert isinstance(by_id["jira_assets_retention"], RetentionDagSpec)


def test_an_invalid_key_names_the_dag_it_would_have_made() -> None:
    specs = plan_dags("sites: {prod: {schemas: [ITAM, loc]}}\nretention: {keep_last: 1}", source="x")

    broken = _broken(specs, "jira_assets_backup_prod_loc")
    assert broken.error.startswith("sites.prod.schemas[1].key: 'loc' is not an Assets schema key")
    assert "did you mean 'LOC'?" in broken.error


def test_a_broken_site_gets_one_placeholder_and_the_other_sites_still_run() -> None:
    text = CONFIG.replace("timezone: Europe/Berlin", "timezone: Europe/Nowhere\n    colour: blue")
    specs = plan_dags(text, source="dags/jira_assets.yaml")

    assert [spec.dag_id for spec in specs] == [
        "jira_assets_backup_prod_config_error",
        "jira_assets_backup_qa_itam",
        "jira_assets_retention",
        "jira_assets_restore",
        "jira_assets_monitor",
    ]
    broken = _broken(specs, "jira_assets_backup_prod_config_error")
    assert sorted(broken.error.splitlines()) == [
        "sites.Prod.colour: unknown setting",
        "sites.Prod.timezone: 'Europe/Nowhere' is not an IANA time zone, e.g. 'UTC' or 'Europe/Berlin'",
    ]
    assert "site:Prod" in broken.tags


def test_a_site_without_schemas_or_with_a_bad_name_is_a_broken_site() -> None:
    text = "sites:\n  prod: {schemas: []}\n  eu-west: {schemas: [ITAM]}\n  qa: {schemas: [LOC]}\n"
    specs = plan_dags(text + "retention: {keep_daily: 3}", source="x")

    assert _broken(specs, "jira_assets_backup_prod_config_error").error.startswith("sites.prod.schemas:")
    assert _broken(specs, "jira_assets_backup_eu_west_config_error").error.startswith("sites['eu-west']:")
    assert isinstance(_by_id(specs)["jira_assets_backup_qa_loc"], BackupDagSpec)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sites: {prod: {schemas: [ITAM]\n", "x.yaml, line 2, column 1: invalid YAML"),
        ("mongo: {database: 'a.b'}\nsites: {prod: {schemas: [ITAM]}}", "mongo.database: 'a.b'"),
        ("sites: {prod: {schemas: [ITAM]}}\nschedule: daily", "schedule: unknown setting"),
        ("sites: [prod]", "sites: required: a mapping"),
        ("", "sites: required"),
    ],
)
def test_a_broken_file_or_top_level_is_one_config_error(text: str, expected: str) -> None:
    specs = plan_dags(text, source="x.yaml")

    assert len(specs) == 1
    broken = specs[0]
    assert isinstance(broken, BrokenDagSpec)
    assert broken.dag_id == "jira_assets_backup_config_error"
    assert broken.error.startswith(expected)
    assert broken.source == "x.yaml"


def test_the_retention_dag_runs_only_with_a_policy_that_keeps_something() -> None:
    specs = plan_dags(CONFIG, source="x")
    retention = _by_id(specs)["jira_assets_retention"]
    assert retention == RetentionDagSpec(
        dag_id="jira_assets_retention",
        mongo_conn_id="backup_store",
        mongo_database="cmdb",
        policy=RetentionPolicy(keep_last=7),
        schedule="30 4 * * *",
        timezone="UTC",
        sites=("Prod", "qa"),
        tags=("jira-assets", "retention"),
        doc_md=retention.doc_md,
        source="x",
    )

    for text in (
        CONFIG.replace("retention: {keep_last: 7}", "retention: {keep_last: 0}"),
        "sites: {a: {schemas: [AB]}}",
    ):
        empty = _broken(plan_dags(text, source="x"), "jira_assets_retention")
        assert empty.error.startswith(
            "retention: the policy keeps nothing, which would forget every snapshot"
        )
        assert "retention" in empty.tags

    bad = _broken(
        plan_dags(CONFIG.replace("keep_last: 7", "keep_last: -7"), source="x"), "jira_assets_retention"
    )
    assert bad.error.startswith("retention.keep_last:")


def test_plan_from_file_reports_a_missing_file_unless_told_it_may_be_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "jira_assets.yaml"
    monkeypatch.setenv("JIRA_ASSETS_CONFIG", str(missing))

    (broken,) = plan_from_file()
    assert isinstance(broken, BrokenDagSpec)
    assert broken.dag_id == "jira_assets_backup_config_error"
    assert "configuration file not found" in broken.error and "JIRA_ASSETS_CONFIG" in broken.error
    assert broken.source == str(missing)
    assert plan_from_file(missing_ok=True) == []

    missing.write_text(CONFIG, encoding="utf-8")
    assert [spec.dag_id for spec in plan_from_file()] == [spec.dag_id for spec in plan_from_file(missing)]
    assert _spec(plan_from_file(missing), "jira_assets_backup_qa_itam").source == str(missing)


def test_the_example_config_plans_without_placeholders() -> None:
    specs = plan_from_file(EXAMPLE)

    assert not [spec for spec in specs if isinstance(spec, BrokenDagSpec)]
    assert {spec.dag_id for spec in specs} == {
        "jira_assets_backup_prod_itam",
        "jira_assets_backup_prod_loc",
        "jira_assets_backup_prod_people",
        "jira_assets_backup_staging_itam",
        "jira_assets_backup_staging_rest",
        "jira_assets_retention",
        "jira_assets_restore",
        "jira_assets_monitor",
    }


def test_the_restore_dag_knows_every_site_connection_and_schema_key() -> None:
    specs = plan_dags(CONFIG, source="dags/jira_assets.yaml")

    restore = _by_id(specs)["jira_assets_restore"]
    assert isinstance(restore, RestoreDagSpec)
    assert dict(restore.site_connections) == {"Prod": "jira_prod", "qa": "jira_assets_default"}
    assert restore.schema_keys == ("ITAM", "PEOPLE", "LOC")
    assert "dry run" in restore.doc_md


def test_the_restore_dag_waits_in_the_site_pool_when_the_config_has_one_site() -> None:
    several = _by_id(plan_dags(CONFIG, source="x"))["jira_assets_restore"]
    one = _by_id(plan_dags(ONE_SITE, source="x"))["jira_assets_restore"]

    assert isinstance(several, RestoreDagSpec) and several.pool is None
    assert isinstance(one, RestoreDagSpec) and one.pool == "jira_assets_demo"


def test_alerts_reach_every_dag_and_the_monitor_watches_every_schema() -> None:
    text = (
        CONFIG
        + "alerts: {notify: [{kind: file, path: /tmp/alerts.jsonl}], monitor: {max_object_drop: 0.5}}\n"
    )

    specs = plan_dags(text, source="x")

    assert all(spec.notify == ({"kind": "file", "path": "/tmp/alerts.jsonl"},) for spec in specs)
    monitor = _by_id(specs)["jira_assets_monitor"]
    assert isinstance(monitor, MonitorDagSpec)
    assert [(w.site, w.schema_key, w.schedule) for w in monitor.schemas] == [
        ("Prod", "ITAM", "0 2 * * *"), ("Prod", "PEOPLE", "0 */6 * * *"), ("Prod", "LOC", "0 2 * * *"),
        ("qa", "ITAM", "0 2 * * *"),
    ]  # fmt: skip
    assert (monitor.max_object_drop, monitor.max_age_hours) == (0.5, None)


def test_broken_alerts_leave_the_backups_running_and_make_the_monitor_a_placeholder() -> None:
    specs = plan_dags(CONFIG + "alerts: {notify: [{kind: pager}]}\n", source="x")

    monitor = _by_id(specs)["jira_assets_monitor"]
    assert isinstance(monitor, BrokenDagSpec) and "alerts.notify[0].kind" in monitor.error
    assert isinstance(_by_id(specs)["jira_assets_backup_prod_itam"], BackupDagSpec)


def test_the_restore_dag_knows_how_each_schema_is_backed_up() -> None:
    specs = plan_dags(CONFIG, source="dags/jira_assets.yaml")
    restore = _by_id(specs)["jira_assets_restore"]
    assert isinstance(restore, RestoreDagSpec)

    targets = restore.backup_targets

    assert set(targets) == {"Prod/ITAM", "Prod/PEOPLE", "Prod/LOC", "qa/ITAM"}
    assert targets["Prod/PEOPLE"] == {
        "site": "Prod",
        "schema_key": "PEOPLE",
        "include": {"history": True, "comments": False, "connected_tickets": True},
        "full_sweep_every": 7,
        "schedule": "0 */6 * * *",
        "timezone": "Europe/Berlin",
        "sweep": "rolling",
        "dag_id": "jira_assets_backup_prod_people",
        "conn_id": "jira_prod",
        "budget_share": 1.0,
    }
    # Each one says what the schema's own backup DAG does, and survives the trip through JSON.
    assert json.loads(json.dumps(targets)) == targets
    for spec in specs:
        if isinstance(spec, BackupDagSpec):
            entry = targets[f"{spec.site}/{spec.schema_key}"]
            assert (entry["dag_id"], entry["conn_id"], entry["budget_share"]) == (
                spec.dag_id, spec.jira_conn_id, spec.budget_share,
            )  # fmt: skip
            assert BackupTarget.from_dict(entry) == BackupTarget(
                site=spec.site, schema_key=spec.schema_key, include=spec.include.model_dump(),
                full_sweep_every=spec.full_sweep_every, schedule=spec.schedule, timezone=spec.timezone,
                sweep=spec.sweep,
            )  # fmt: skip


def test_a_schema_without_a_valid_backup_dag_has_no_backup_target() -> None:
    broken_entry = CONFIG.replace("LOC]", "{key: LOC, schedule: '0 25 * * *'}]")
    broken_site = CONFIG.replace("timezone: Europe/Berlin", "timezone: Europe/Nowhere")

    entry_targets = _by_id(plan_dags(broken_entry, source="x"))["jira_assets_restore"]
    site_targets = _by_id(plan_dags(broken_site, source="x"))["jira_assets_restore"]

    assert isinstance(entry_targets, RestoreDagSpec) and isinstance(site_targets, RestoreDagSpec)
    assert set(entry_targets.backup_targets) == {"Prod/ITAM", "Prod/PEOPLE", "qa/ITAM"}
    assert set(site_targets.backup_targets) == {"qa/ITAM"}


def test_a_backup_target_missing_a_field_is_refused_with_its_fields_named() -> None:
    with pytest.raises(AssetsConfigError, match="needs site, schema_key, include, full_sweep_every"):
        BackupTarget.from_dict({"site": "Prod", "schema_key": "ITAM", "include": {}})


def test_a_backup_dags_docs_say_how_it_sweeps() -> None:
    rolling = CONFIG.replace("schemas: [ITAM", "sweep: rolling\n    schemas: [ITAM", 1)
    specs = [s for s in plan_dags(rolling, source="x.yaml") if isinstance(s, BackupDagSpec)]

    assert specs and all(spec.sweep == "rolling" for spec in specs)
    assert all("in a fixed rotation" in spec.doc_md for spec in specs)
    full = CONFIG.replace("schemas: [ITAM", "sweep: full\n    schemas: [ITAM", 1)
    changed = [
        s for s in plan_dags(full, source="x.yaml") if isinstance(s, BackupDagSpec) and s.sweep == "full"
    ]
    assert changed and all("fetches history" in spec.doc_md for spec in changed)

"""Problem messages: a misspelt setting gets a hint from the settings of its own section, in every section."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_assets.config.backup_config import MODELS, BackupConfig, settings_at
from airflow_assets.config.loading import parse_config, read_yaml
from airflow_assets.config.problems import BackupConfigError
from airflow_assets.dags.plan import BrokenDagSpec, MonitorDagSpec, plan_dags

EXAMPLE = Path(__file__).resolve().parents[3] / "dags" / "jira_assets.example.yaml"
SITES = "sites: {prod: {schemas: [ITAM]}}\n"


def _problems(text: str) -> list[str]:
    with pytest.raises(BackupConfigError) as caught:
        parse_config(text + SITES, source="dags/jira_assets.yaml")
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alerts: {notfy: []}\n", "alerts.notfy: unknown setting (did you mean 'notify'?)"),
        (
            "alerts: {monitor: {max_age_hour: 3}}\n",
            "alerts.monitor.max_age_hour: unknown setting (did you mean 'max_age_hours'?)",
        ),
        (
            "alerts: {notify: [{kind: slack, chanel: '#ops'}]}\n",
            "alerts.notify[0].chanel: unknown setting (did you mean 'channel'?)",
        ),
    ],
)
def test_a_typo_under_alerts_gets_a_hint(text: str, expected: str) -> None:
    assert _problems(text) == [expected]


def test_a_typo_under_retention_or_mongo_gets_a_hint() -> None:
    assert _problems("retention: {keep_dayly: 3}\n") == [
        "retention.keep_dayly: unknown setting (did you mean 'keep_daily'?)"
    ]
    assert _problems("mongo: {databse: cmdb}\n") == [
        "mongo.databse: unknown setting (did you mean 'database'?)"
    ]


def test_a_hint_names_only_a_setting_of_the_same_section() -> None:
    # 'schedule' is a setting of sites and of alerts.monitor, never of mongo.
    assert _problems("mongo: {shedule: '0 1 * * *'}\n") == ["mongo.shedule: unknown setting"]
    assert _problems("alerts: {monitor: {shedule: '0 1 * * *'}}\n") == [
        "alerts.monitor.shedule: unknown setting (did you mean 'schedule'?)"
    ]


def test_every_model_of_the_configuration_is_in_the_one_list() -> None:
    names = {model.__name__ for model in MODELS}

    assert MODELS[0] is BackupConfig
    assert {"NotifierSettings", "MonitorSettings", "AlertSettings", "SiteDefaults"} <= names
    assert settings_at(["alerts", "notify", 0, "x"]) == (
        "kind",
        "to",
        "from_email",
        "conn_id",
        "channel",
        "path",
    )
    assert settings_at(["sites", "prod", "schemas", 1, "include", "x"]) == (
        "history",
        "comments",
        "connected_tickets",
    )
    assert settings_at(["sites", "x"]) == ()


def test_the_monitor_placeholder_carries_the_alerts_hint() -> None:
    specs = plan_dags("alerts: {monitor: {max_drop: 0.5}}\n" + SITES, source="jira_assets.yaml")
    monitor = next(spec for spec in specs if spec.dag_id == "jira_assets_monitor")

    assert isinstance(monitor, BrokenDagSpec)
    assert monitor.error == "alerts.monitor.max_drop: unknown setting (did you mean 'max_object_drop'?)"
    assert not any(isinstance(spec, MonitorDagSpec) for spec in specs)


@pytest.mark.parametrize(
    "text",
    [
        SITES,
        "retention: {keep_last: 3}\nalerts: {notify: [{kind: file, path: a}]}\n"
        "sites: {prod: {timezone: Europe/Berlin, schemas: [ITAM, {key: LOC, include: {history: false}}]}}\n",
        EXAMPLE.read_text(encoding="utf-8"),
    ],
)
def test_a_config_validated_once_equals_the_model_validated_whole(text: str) -> None:
    # parse_config builds the whole model from the parts it validated; it must be what pydantic would build.
    parsed = parse_config(text)
    whole = BackupConfig.model_validate(read_yaml(text))

    assert parsed == whole
    assert parsed.schema_settings() == whole.schema_settings()
    for name, site in whole.sites.items():
        assert parsed.sites[name].model_fields_set == site.model_fields_set


@pytest.mark.parametrize(("name", "kind"), [("yes", "boolean"), ("off", "boolean"), ("1", "number")])
def test_a_site_name_yaml_reads_as_no_text_is_refused_with_the_fix(name: str, kind: str) -> None:
    with pytest.raises(BackupConfigError) as caught:
        parse_config(f"sites:\n  {name}:\n    schemas: [ITAM]\n  prod:\n    schemas: [PEOPLE]\n")

    (problem,) = caught.value.problems
    assert f"a site name must be text, and YAML read this one as a {kind}: put it in quotes" in problem


def test_a_quoted_site_name_that_looks_like_a_boolean_is_a_site() -> None:
    config = parse_config('sites:\n  "yes":\n    schemas: [ITAM]\n')

    assert list(config.sites) == ["yes"]

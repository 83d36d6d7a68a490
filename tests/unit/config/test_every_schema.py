"""``schemas: "*"`` in the configuration: valid forms, and errors that name the exact field."""

from __future__ import annotations

import pytest
import yaml

from airflow_assets.config.backup_config import BackupConfig
from airflow_assets.config.loading import parse_config
from airflow_assets.config.parts import validate_parts
from airflow_assets.config.problems import BackupConfigError


def _problems(text: str) -> str:
    with pytest.raises(BackupConfigError) as caught:
        parse_config(text, source="dags/jira_assets.yaml")
    return str(caught.value)


def test_a_site_of_every_schema_with_exclude_takes_the_site_settings() -> None:
    config = parse_config(
        """
sites:
  prod:
    conn_id: jira_prod
    schedule: "*/15 * * * *"
    schemas: "*"
    exclude: [HR, "NO"]
    parallel_schemas: 3
  qa: {conn_id: jira_qa, schemas: [ITAM]}
"""
    )

    prod = config.sites["prod"]
    assert prod.all_schemas and prod.entries == [] and prod.exclude == ["HR", "NO"]
    assert (prod.schedule, prod.parallel_schemas) == ("*/15 * * * *", 3)
    # Its schemas are known only at run time: none are planned from the config.
    assert [s.key for s in config.schema_settings()] == ["ITAM"]
    assert not config.sites["qa"].all_schemas
    # The whole model agrees with the part-by-part validation.
    assert (
        BackupConfig.model_validate(yaml.safe_load('sites: {prod: {schemas: "*"}}')).sites["prod"].all_schemas
    )


def test_a_named_site_and_a_site_of_every_schema_may_share_a_connection() -> None:
    config = parse_config('sites: {all: {schemas: "*"}, fast: {schedule: "@hourly", schemas: [ITAM]}}')

    assert config.sites["all"].all_schemas and [e.key for e in config.sites["fast"].entries] == ["ITAM"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sites: {prod: {schemas: [ITAM], exclude: [HR]}}",
            'sites.prod.exclude: exclude applies only to schemas: "*"',
        ),
        (
            "sites: {prod: {schemas: [ITAM], exclude: []}}",
            'sites.prod.exclude: exclude applies only to schemas: "*"',
        ),
        (
            'sites: {prod: {schemas: "*", exclude: [HR, itam]}}',
            "sites.prod.exclude[1]: 'itam' is not an Assets schema key: 2-10 uppercase letters and digits, "
            "starting with a letter (did you mean 'ITAM'?)",
        ),
        (
            'sites: {prod: {schemas: "*", exclude: [NO]}}',
            "sites.prod.exclude[0]: YAML read this key as the boolean",
        ),
        ('sites: {prod: {schemas: "*", exclude: HR}}', "sites.prod.exclude: Input should be a valid list"),
        (
            'sites: {prod: {schemas: "all"}}',
            "sites.prod.schemas: required: a list of at least one schema key, e.g. "
            '[ITAM, PEOPLE], or "*" for every schema of the site',
        ),
        ('sites: {prod: {schemas: ["*"]}}', """sites.prod.schemas[0].key: '*' is not an Assets schema key"""),
        ('sites: {prod: {schemas: ["*"]}}', 'write schemas: "*", not in a list'),
        (
            'sites: {prod: {schemas: "*"}, qa: {schemas: "*"}}',
            "sites.qa.schemas: sites.prod.schemas already backs up every schema of connection "
            "'jira_assets_default'",
        ),
        (
            'sites: {prod: {schemas: [ITAM]}, prod_itam: {conn_id: other, schemas: "*"}}',
            "sites.prod_itam.schemas: the DAG of every schema of this site, jira_assets_backup_prod_itam, "
            "would have the id of the DAG of sites.prod.schemas[0]",
        ),
        (
            'sites: {config_error: {schemas: "*"}}',
            "sites.config_error.schemas: a site named 'config_error' cannot",
        ),
        (
            'sites: {prod: {schemas: "*", exclud: [HR]}}',
            "sites.prod.exclud: unknown setting (did you mean 'exclude'?)",
        ),
    ],
)
def test_every_rule_of_every_schema_names_the_exact_field(text: str, expected: str) -> None:
    assert expected in _problems(text)


def test_a_second_site_of_every_schema_on_another_connection_is_fine_and_yaml_needs_the_star_quoted() -> None:
    config = parse_config('sites: {prod: {schemas: "*"}, qa: {conn_id: jira_qa, schemas: "*"}}')
    assert config.sites["prod"].all_schemas and config.sites["qa"].all_schemas
    # Unquoted, * starts a YAML alias: the file is refused with its line, not read as something else.
    assert "dags/jira_assets.yaml" in _problems("sites:\n  prod:\n    schemas: *\n")


def test_a_broken_site_of_every_schema_does_not_take_the_valid_sites_down() -> None:
    parts = validate_parts(
        yaml.safe_load('sites: {bad: {schemas: "*", exclude: [x]}, good: {schemas: [ITAM]}}')
    )

    bad, good = parts.sites
    assert bad.all_schemas and bad.problems and not good.problems
    assert good.schemas[0].entry is not None

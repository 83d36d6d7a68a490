"""The ``drills`` section: defaults, schemas resolved against the sites, the production-target guard."""

from __future__ import annotations

import pytest

from airflow_assets.config.drills import DEFAULT_DRILL_SCHEDULE, DrilledSchema
from airflow_assets.config.loading import parse_config, read_yaml
from airflow_assets.config.parts import validate_parts
from airflow_assets.config.problems import BackupConfigError

SITES = """\
sites:
  prod: {conn_id: jira_prod, schemas: [ITAM, PEOPLE]}
  eu: {conn_id: jira_eu, schemas: [ITAM, HR]}
"""


def _problems(drills: str) -> str:
    with pytest.raises(BackupConfigError) as caught:
        parse_config(SITES + drills, source="dags/jira_assets.yaml")
    return str(caught.value)


def test_a_drills_section_takes_its_defaults_and_resolves_keys_to_their_site() -> None:
    config = parse_config(SITES + "drills: {target_conn_id: jira_staging, schemas: [PEOPLE, eu/ITAM, HR]}\n")

    assert config.drills is not None
    assert config.drills.schedule == DEFAULT_DRILL_SCHEDULE
    assert config.drills.max_objects == 10_000
    parts = validate_parts(
        read_yaml(SITES + "drills: {target_conn_id: jira_staging, schemas: [PEOPLE, eu/ITAM]}")
    )
    assert parts.drilled == (DrilledSchema("prod", "PEOPLE"), DrilledSchema("eu", "ITAM"))


def test_no_drills_section_means_no_drills() -> None:
    assert parse_config(SITES).drills is None
    assert validate_parts(read_yaml(SITES)).drilled == ()


def test_a_key_two_sites_back_up_must_name_its_site() -> None:
    problems = _problems("drills: {target_conn_id: jira_staging, schemas: [ITAM]}\n")

    assert "drills.schemas[0]: sites prod, eu all back up ITAM: name one, e.g. prod/ITAM" in problems


@pytest.mark.parametrize(
    ("schemas", "expected"),
    [
        ("[NOPE]", "drills.schemas[0]: no site backs up a schema 'NOPE'"),
        ("[moon/ITAM]", "drills.schemas[0]: 'moon/ITAM' names site 'moon', which the config does not have"),
        ("[prod/HR]", "drills.schemas[0]: site prod backs up no schema 'HR' (its schemas: ITAM, PEOPLE)"),
        ("[HR, HR]", "drills.schemas: 'HR' is listed more than once"),
        ("[HR, eu/HR]", "drills.schemas: a schema is listed twice (as KEY and site/KEY)"),
        ("[]", "drills.schemas: List should have at least 1 item"),
    ],
)
def test_a_drilled_schema_must_be_one_the_config_backs_up(schemas: str, expected: str) -> None:
    assert expected in _problems(f"drills: {{target_conn_id: jira_staging, schemas: {schemas}}}\n")


def test_a_backed_up_site_is_refused_as_target_unless_allowed() -> None:
    problems = _problems("drills: {target_conn_id: jira_eu, schemas: [HR]}\n")

    assert "drills.target_conn_id: jira_eu is the connection of the backed-up site eu" in problems
    allowed = parse_config(
        SITES + "drills: {target_conn_id: jira_eu, schemas: [HR], allow_backed_up_site: true}"
    )
    assert allowed.drills is not None and allowed.drills.allow_backed_up_site


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("max_objects: 0", "drills.max_objects: Input should be greater than or equal to 1"),
        ("schedule: 'every sunday'", "drills.schedule: 'every sunday' is not a cron expression"),
        ("target: jira_staging", "drills.target"),
    ],
)
def test_bad_drill_settings_name_their_field(setting: str, expected: str) -> None:
    assert expected in _problems(f"drills: {{target_conn_id: jira_staging, schemas: [HR], {setting}}}\n")


def test_a_broken_drills_section_leaves_the_backups_planned() -> None:
    parts = validate_parts(read_yaml(SITES + "drills: {target_conn_id: jira_prod, schemas: [HR]}"))

    assert parts.drills is None
    assert parts.drills_problems and not parts.problems
    assert all(schema.entry is not None for site in parts.sites for schema in site.schemas)


EVERY_SCHEMA_SITES = """\
sites:
  prod: {conn_id: jira_prod, schemas: "*", exclude: [HR]}
  eu: {conn_id: jira_eu, schemas: [ITAM]}
"""


def test_a_schema_of_a_site_backed_up_with_a_star_can_be_drilled_before_any_listing() -> None:
    # The site's schemas are known only at run time: prod/ANY is taken, and a bare key that no named site
    # backs up goes to the one "*" site.
    parts = validate_parts(
        read_yaml(
            EVERY_SCHEMA_SITES + "drills: {target_conn_id: jira_staging, schemas: [prod/CMDB, NEWS, ITAM]}"
        )
    )

    assert not parts.problems
    assert parts.drilled == (
        DrilledSchema("prod", "CMDB"),
        DrilledSchema("prod", "NEWS"),
        DrilledSchema("eu", "ITAM"),
    )
    assert parse_config(EVERY_SCHEMA_SITES + "drills: {target_conn_id: jira_staging, schemas: [NEWS]}").drills


def test_a_key_a_star_site_excludes_cannot_be_drilled() -> None:
    with pytest.raises(BackupConfigError) as caught:
        parse_config(EVERY_SCHEMA_SITES + "drills: {target_conn_id: jira_staging, schemas: [prod/HR, HR]}\n")

    assert "drills.schemas[0]: site prod excludes 'HR': it has no backup to drill" in str(caught.value)
    assert "drills.schemas[1]: no site backs up a schema 'HR'" in str(caught.value)

"""The backup configuration: defaults, overrides, and errors that name the exact field."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from airflow_assets.config.backup_config import BackupConfig
from airflow_assets.config.loading import (
    DEFAULT_CONFIG_PATH,
    config_path,
    load_config,
    parse_config,
    read_yaml,
)
from airflow_assets.config.problems import BackupConfigError
from airflow_assets.config.sites import IncludeSettings, SchemaEntry, SchemaSettings
from airflow_assets.config.storage import MongoSettings, RetentionPolicy
from airflow_assets.exceptions import AssetsConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "dags" / "jira_assets.example.yaml"

FULL = """\
mongo: {conn_id: backup_store, database: cmdb_backups}
sites:
  prod:
    conn_id: jira_prod
    schedule: "0 3 * * *"
    timezone: Europe/Berlin
    schemas:
      - ITAM
      - {key: PEOPLE, schedule: "0 */6 * * *", timezone: UTC, include: {connected_tickets: true},
         full_sweep_every: 2}
    include: {history: true, comments: false, connected_tickets: false}
    full_sweep_every: 5
    parallel_schemas: 2
retention: {keep_last: 7, keep_daily: 14, keep_weekly: 8, keep_monthly: 12}
"""


def _problems(text: str) -> str:
    with pytest.raises(BackupConfigError) as caught:
        parse_config(text, source="dags/jira_assets.yaml")
    return str(caught.value)


def _site(schemas: str = "[ITAM]", **settings: str) -> str:
    lines = [f"    {name}: {value}" for name, value in settings.items()]
    return "sites:\n  prod:\n" + "\n".join([f"    schemas: {schemas}", *lines]) + "\n"


def test_a_minimal_config_takes_the_defaults() -> None:
    config = parse_config("sites: {prod: {schemas: [ITAM]}}")

    assert config.mongo == MongoSettings(conn_id="jira_assets_backup", database="jira_assets")
    assert config.retention == RetentionPolicy()
    assert config.retention.is_empty()
    site = config.sites["prod"]
    assert (site.conn_id, site.schedule, site.timezone) == ("jira_assets_default", "0 2 * * *", "UTC")
    assert site.include == IncludeSettings(history=True, comments=True, connected_tickets=False)
    assert (site.full_sweep_every, site.parallel_schemas) == (7, 1)
    assert site.schemas == [SchemaEntry(key="ITAM")]


def test_schema_entries_override_their_site_field_by_field() -> None:
    config = parse_config(FULL)

    assert config.mongo == MongoSettings(conn_id="backup_store", database="cmdb_backups")
    assert config.retention == RetentionPolicy(keep_last=7, keep_daily=14, keep_weekly=8, keep_monthly=12)
    assert not config.retention.is_empty()
    itam, people = config.sites["prod"].schema_settings("prod")
    assert itam == SchemaSettings(
        site="prod",
        key="ITAM",
        conn_id="jira_prod",
        schedule="0 3 * * *",
        timezone="Europe/Berlin",
        include=IncludeSettings(history=True, comments=False, connected_tickets=False),
        full_sweep_every=5,
        parallel_schemas=2,
    )
    # include merges field by field: connected_tickets from the entry, history and comments from the site.
    assert people.include == IncludeSettings(history=True, comments=False, connected_tickets=True)
    assert (people.schedule, people.timezone, people.full_sweep_every) == ("0 */6 * * *", "UTC", 2)
    assert config.schema_settings() == [itam, people]


def test_bare_strings_coerce_to_schema_entries_and_models_are_frozen() -> None:
    config = parse_config("sites: {prod: {schemas: [ITAM, {key: LOC}]}}")

    assert config.sites["prod"].schemas == [SchemaEntry(key="ITAM"), SchemaEntry(key="LOC")]
    with pytest.raises(ValueError):
        config.sites["prod"].schemas[0].key = "OTHER"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_site("[ITAM, PEOPLE, it-am]"), "sites.prod.schemas[2].key: 'it-am' is not an Assets schema key"),
        (_site("[ITAM, PEOPLE, itam]"), "sites.prod.schemas[2].key: 'itam' is not an Assets schema key"),
        (_site("[ITAM, PEOPLE, A]"), "sites.prod.schemas[2].key:"),
        (_site("[ITAM, PEOPLE, ABCDEFGHIJK]"), "sites.prod.schemas[2].key:"),
        (_site("[ITAM, PEOPLE, 1TAM]"), "sites.prod.schemas[2].key:"),
        (_site("[ITAM, PEOPLE, ITAM]"), "sites.prod.schemas[2].key: schema 'ITAM' is listed more than once"),
        (_site("[ITAM, PEOPLE, NO]"), "sites.prod.schemas[2].key: YAML read this key as the boolean False"),
        (_site("[ITAM, PEOPLE, 42]"), "sites.prod.schemas[2]: a schema entry is a key (ITAM) or a mapping"),
        (_site("[ITAM, PEOPLE, {schedule: '0 1 * * *'}]"), "sites.prod.schemas[2].key: required"),
        (_site("[ITAM, {key: LOC, schedule: '61 * * * *'}]"), "sites.prod.schemas[1].schedule: '61 * * * *'"),
        (_site("[ITAM, {key: LOC, timezone: Mars/Olympus}]"), "sites.prod.schemas[1].timezone: 'Mars/"),
        (_site("[ITAM, {key: LOC, full_sweep_every: 0}]"), "sites.prod.schemas[1].full_sweep_every:"),
        (_site("[ITAM, {key: LOC, include: {history: maybe}}]"), "sites.prod.schemas[1].include.history:"),
        (_site("[]"), "sites.prod.schemas: required: a list of at least one schema key"),
        (_site(schedule="'0 2 * *'"), "sites.prod.schedule: '0 2 * *' is not a cron expression"),
        (_site(schedule="'0 2 * * * *'"), "sites.prod.schedule: '0 2 * * * *' is not a cron expression"),
        (_site(schedule="'0 25 * * *'"), "sites.prod.schedule: '0 25 * * *' is not a valid cron expression"),
        (_site(timezone="Europe/Bxl"), "sites.prod.timezone: 'Europe/Bxl' is not an IANA time zone"),
        (_site(conn_id="'jira prod'"), "sites.prod.conn_id: 'jira prod' is not a connection id"),
        (_site(conn_id="''"), "sites.prod.conn_id: '' is not a connection id"),
        (_site(full_sweep_every="0"), "sites.prod.full_sweep_every: Input should be greater"),
        (_site(parallel_schemas="0"), "sites.prod.parallel_schemas: Input should be greater"),
        (_site(parallel_schemas="'2'"), "sites.prod.parallel_schemas: Input should be a valid integer"),
        (_site(include="{comments: 'no'}"), "sites.prod.include.comments: Input should be a valid boolean"),
        ("sites: {prod-eu: {schemas: [ITAM]}}", "sites['prod-eu']: site name 'prod-eu' may hold"),
        ("sites: {prod: {schemas: [ITAM]}, PROD: {schemas: [LOC]}}", "sites.PROD: site name 'PROD' differs"),
        ("sites: {}", "sites: required"),
        ("mongo: {database: jira}", "sites: required"),
        ("sites: {prod: [ITAM]}", "sites.prod: a site is a mapping"),
        ("mongo: {conn_id: 'a b'}\n" + _site(), "mongo.conn_id: 'a b' is not a connection id"),
        ("mongo: {database: 'jira.assets'}\n" + _site(), "mongo.database: 'jira.assets' is not a MongoDB"),
        ("mongo: {database: 'jira/assets'}\n" + _site(), "mongo.database: 'jira/assets' is not a MongoDB"),
        ("mongo: {database: 'jira assets'}\n" + _site(), "mongo.database:"),
        ("mongo: {database: 'a$b'}\n" + _site(), "mongo.database:"),
        ("mongo: {database: ''}\n" + _site(), "mongo.database: the MongoDB database name must not be empty"),
        (f"mongo: {{database: {'d' * 64}}}\n" + _site(), "mongo.database: MongoDB database names are"),
        ("retention: {keep_last: -1}\n" + _site(), "retention.keep_last: Input should be greater"),
        ("- just\n- a list\n", "(top level): the configuration must be a mapping"),
    ],
)
def test_every_rule_names_the_exact_field(text: str, expected: str) -> None:
    message = _problems(text)

    assert expected in message
    assert "function-after" not in message and "SchemaEntry" not in message


def test_valid_values_of_each_rule_pass() -> None:
    config = parse_config(
        "mongo: {conn_id: mongo.backup-1, database: " + "d" * 63 + "}\n"
        "sites:\n"
        "  Prod_2:\n"
        "    conn_id: jira.prod-eu_1\n"
        "    schedule: '@daily'\n"
        "    timezone: America/Argentina/Buenos_Aires\n"
        "    schemas: [AB, ABCDEFGHIJ, A1, {key: 'NO', schedule: '*/15 8-18 * * MON-FRI'}]\n"
    )

    assert [entry.key for entry in config.sites["Prod_2"].schemas] == ["AB", "ABCDEFGHIJ", "A1", "NO"]


def test_unknown_keys_are_refused_with_their_path_and_a_suggestion() -> None:
    message = _problems(
        "sites:\n"
        "  prod:\n"
        "    shedule: '0 1 * * *'\n"
        "    schemas: [ITAM, {key: LOC, includes: {history: false}},\n"
        "              {key: PEOPLE, include: {tickets: true}}]\n"
        "mongo: {conn_id: x, db: y}\n"
        "retension: {keep_last: 3}\n"
    )

    assert "retension: unknown setting (did you mean 'retention'?)" in message
    assert "mongo.db: unknown setting" in message
    assert "sites.prod.shedule: unknown setting (did you mean 'schedule'?)" in message
    assert "sites.prod.schemas[1].includes: unknown setting (did you mean 'include'?)" in message
    assert "sites.prod.schemas[2].include.tickets: unknown setting" in message


def test_every_problem_is_listed_one_per_line_starting_with_its_path() -> None:
    with pytest.raises(BackupConfigError) as caught:
        parse_config(
            "mongo: {database: 'a.b'}\n" + _site("[ITAM, itam, ITAM]", timezone="Nowhere"),
            source="dags/jira_assets.yaml",
        )
    error = caught.value

    assert isinstance(error, AssetsConfigError) and isinstance(error, ValueError)
    assert error.source == "dags/jira_assets.yaml"
    assert str(error).splitlines() == error.problems
    assert [problem.split(":")[0] for problem in error.problems] == [
        "mongo.database",
        "sites.prod.timezone",
        "sites.prod.schemas[1].key",
        "sites.prod.schemas[2].key",
    ]


def test_yaml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "jira_assets.yaml"
    path.write_text("sites:\n  prod:\n    schemas: [ITAM\n    conn_id: x\n", encoding="utf-8")

    with pytest.raises(BackupConfigError) as caught:
        load_config(path)

    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}, line 4, column ")
    assert "invalid YAML" in problem
    assert caught.value.source == str(path)


def test_a_key_repeated_in_one_mapping_is_refused_with_both_lines() -> None:
    message = _problems("sites:\n  prod: {schemas: [ITAM]}\n  prod: {schemas: [LOC]}\n")

    assert message.startswith("dags/jira_assets.yaml, line 3, column 3: invalid YAML")
    assert "found the key 'prod' a second time (first on line 2)" in message


def test_a_missing_or_unreadable_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(BackupConfigError, match="JIRA_ASSETS_CONFIG") as caught:
        load_config(missing)
    assert caught.value.problems[0].startswith(f"{missing}: configuration file not found")

    with pytest.raises(BackupConfigError, match="cannot read the configuration file") as caught:
        load_config(tmp_path)
    assert str(tmp_path) in str(caught.value)

    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00sites")
    with pytest.raises(BackupConfigError, match="cannot read the configuration file"):
        load_config(binary)


def test_the_path_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIRA_ASSETS_CONFIG", raising=False)
    assert config_path() == DEFAULT_CONFIG_PATH == Path("dags/jira_assets.yaml")

    path = tmp_path / "backups.yaml"
    path.write_text("sites: {prod: {schemas: [ITAM]}}\n", encoding="utf-8")
    monkeypatch.setenv("JIRA_ASSETS_CONFIG", str(path))

    assert config_path() == path
    assert list(load_config().sites) == ["prod"]


def test_the_default_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JIRA_ASSETS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "jira_assets.yaml").write_text("sites: {qa: {schemas: [LOC]}}\n", encoding="utf-8")

    assert list(load_config().sites) == ["qa"]


def test_errors_survive_pickling_and_copying() -> None:
    with pytest.raises(BackupConfigError) as caught:
        parse_config(_site("[ITAM, PEOPLE, itam]"), source="dags/jira_assets.yaml")
    error = caught.value

    for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(clone) is BackupConfigError
        assert str(clone) == str(error)
        assert clone.problems == error.problems
        assert clone.source == "dags/jira_assets.yaml"


def test_models_refuse_bad_values_when_built_directly() -> None:
    with pytest.raises(ValueError, match="listed more than once"):
        BackupConfig.model_validate({"sites": {"prod": {"schemas": ["ITAM", "ITAM"]}}})
    with pytest.raises(ValueError, match="differs from"):
        BackupConfig.model_validate({"sites": {"prod": {"schemas": ["ITAM"]}, "Prod": {"schemas": ["LOC"]}}})


def test_the_example_config_is_valid_and_sets_every_option() -> None:
    config = load_config(EXAMPLE)

    text = EXAMPLE.read_text(encoding="utf-8")
    for name in (
        *MongoSettings.model_fields,
        *IncludeSettings.model_fields,
        *SchemaEntry.model_fields,
        "conn_id",
        "schedule",
        "timezone",
        "full_sweep_every",
        "parallel_schemas",
        "exclude",
        *RetentionPolicy.model_fields,
    ):
        assert f"{name}:" in text, name
    assert not config.retention.is_empty()


def test_the_example_config_documents_itself() -> None:
    comments = [line for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if "#" in line]

    assert len(comments) > 15
    assert EXAMPLE.read_text(encoding="utf-8").startswith("# Jira Assets backups")


def test_parallel_schemas_is_bounded_and_the_message_names_the_bound() -> None:
    message = _problems(_site(parallel_schemas="1000000000000"))

    assert message.startswith("sites.prod.parallel_schemas: 1000000000000 is more than 64")
    assert parse_config(_site(parallel_schemas="64")).sites["prod"].parallel_schemas == 64
    with pytest.raises(ValueError, match="more than 64"):
        BackupConfig.model_validate({"sites": {"prod": {"schemas": ["ITAM"], "parallel_schemas": 65}}})


@pytest.mark.parametrize("database", ["admin", "local", "config", "Admin", "CONFIG"])
def test_the_servers_own_databases_are_refused_for_backups(database: str) -> None:
    message = _problems(f"mongo: {{database: {database}}}\n" + _site())

    assert message.startswith(f"mongo.database: {database!r} is a database MongoDB keeps for itself")
    assert "choose a database of your own" in message


@pytest.mark.parametrize(
    ("where", "schedule"),
    [("sites.prod.schedule", "0 0 30 2 *"), ("sites.prod.schedule", "0 3 31 4,6,9,11 *")],
)
def test_a_schedule_that_never_fires_is_refused(where: str, schedule: str) -> None:
    message = _problems(_site(schedule=f"'{schedule}'"))

    assert message.startswith(f"{where}: '{schedule}' never fires")


def test_a_schema_schedule_or_the_monitors_that_never_fires_is_refused() -> None:
    schema = _problems(_site("[ITAM, {key: LOC, schedule: '0 0 30 2 *'}]"))
    monitor = _problems("alerts: {monitor: {schedule: '0 0 31 2 *'}}\n" + _site())

    assert schema.startswith("sites.prod.schemas[1].schedule: '0 0 30 2 *' never fires")
    assert monitor.startswith("alerts.monitor.schedule: '0 0 31 2 *' never fires")


def test_rare_but_real_schedules_pass() -> None:
    # 29 February fires every four years; day 30 OR Monday (cron's rule) fires every February week.
    for schedule in ("0 0 29 2 *", "0 0 30 2 1", "0 0 L 2 *"):
        assert parse_config(_site(schedule=f"'{schedule}'")).sites["prod"].schedule == schedule


def test_a_schema_two_sites_back_up_through_one_connection_is_refused_naming_both() -> None:
    text = (
        "sites:\n"
        "  prod: {conn_id: jira_prod, schemas: [ITAM, LOC]}\n"
        "  prod_copy: {conn_id: jira_prod, schemas: [PEOPLE, LOC]}\n"
    )
    message = _problems(text)

    assert message == (
        "sites.prod_copy.schemas[1].key: schema 'LOC' of connection 'jira_prod' is already backed up by "
        "sites.prod.schemas[1]: both sites use that connection, so two DAGs would back up the same schema; "
        "list it in one site only"
    )
    with pytest.raises(ValueError, match=r"already backed up by sites\.prod\.schemas\[1\]"):
        BackupConfig.model_validate(read_yaml(text))
    # Two sites that both leave conn_id out use the same default connection.
    assert "already backed up" in _problems("sites: {a: {schemas: [ITAM]}, b: {schemas: [ITAM]}}")
    # The same key on two different connections is two different schemas.
    parse_config("sites: {a: {conn_id: one, schemas: [ITAM]}, b: {conn_id: two, schemas: [ITAM]}}")


def test_values_echoed_in_problems_are_cut() -> None:
    huge = "Z" * 1_000_000
    # YAML allows keys of up to 1024 characters.
    message = _problems(_site(timezone=huge, conn_id=f"'{huge} x'") + f"    {huge[:1000]}: 1\n")

    assert len(message) < 1000
    assert "sites.prod.timezone: 'ZZZZ" in message and "… (1000000 chars) is not an IANA" in message
    assert "… (1000002 chars) is not a connection id" in message
    assert "… (1000 chars): unknown setting" in message


def test_sweep_is_rolling_by_default_a_schema_may_choose_full_and_a_typo_is_named() -> None:
    config = parse_config("sites: {prod: {schemas: [ITAM, {key: LOC, sweep: full}], full_sweep_every: 96}}")

    itam, loc = config.sites["prod"].schema_settings("prod")
    assert (itam.sweep, itam.full_sweep_every) == ("rolling", 96)
    assert (loc.sweep, loc.full_sweep_every) == ("full", 96)
    problems = _problems(_site(sweep="rollin"))
    assert "sites.prod.sweep:" in problems and "'rolling' or 'full'" in problems

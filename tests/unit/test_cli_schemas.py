"""`airflow-assets schemas list` against a real sandbox site over HTTP."""

from __future__ import annotations

import json

import pytest

from airflow_assets.cli import main
from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.sandbox.launch import RunningSandbox


def _connect(
    monkeypatch: pytest.MonkeyPatch, conn_id: str, sandbox: RunningSandbox, *, token: str = ""
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", sandbox_connection(sandbox, api_token=token or None)
    )


def test_lists_every_schema_with_its_counts(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _connect(monkeypatch, "cli_schemas_table", demo_sandbox)
    assert demo_sandbox.seed is not None

    assert main(["schemas", "list", "--conn-id", "cli_schemas_table"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["key", "name", "id", "object", "types", "objects"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    for key in ("PEOPLE", "LOC", "ITAM"):
        row = rows[key]
        assert row[-1] == str(demo_sandbox.seed.object_counts[key])
        assert demo_sandbox.seed.schema_ids[key] in row


def test_json_output_has_key_name_id_types_and_objects(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _connect(monkeypatch, "cli_schemas_json", demo_sandbox)
    assert demo_sandbox.seed is not None

    assert main(["schemas", "list", "--conn-id", "cli_schemas_json", "--json"]) == 0

    rows = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    assert {"PEOPLE", "LOC", "ITAM"} <= set(rows)
    for key in ("PEOPLE", "LOC", "ITAM"):
        assert rows[key]["objects"] == demo_sandbox.seed.object_counts[key]
        assert rows[key]["id"] == demo_sandbox.seed.schema_ids[key]
        assert rows[key]["object_types"] >= 1
        assert rows[key]["name"]


def test_an_unknown_connection_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_CLI_SCHEMAS_NOWHERE", raising=False)

    assert main(["schemas", "list", "--conn-id", "cli_schemas_nowhere"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        "airflow-assets schemas list: connection 'cli_schemas_nowhere' is not defined "
        "(add it in the UI, with `airflow connections add`, or as AIRFLOW_CONN_CLI_SCHEMAS_NOWHERE)"
    ]


def test_a_wrong_token_is_one_line_without_the_token(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "not-the-token-" + "x" * 20
    _connect(monkeypatch, "cli_schemas_badauth", demo_sandbox, token=wrong)

    # The site refused the credentials: a failure (1), as `check` says, not bad usage (2).
    assert main(["schemas", "list", "--conn-id", "cli_schemas_badauth"]) == 1

    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("airflow-assets schemas list: connection 'cli_schemas_badauth': ")
    assert "401" in line
    assert wrong not in captured.err + captured.out
    assert demo_sandbox.api_token not in captured.err + captured.out


def test_an_unreachable_site_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = {
        "conn_type": "jira_assets",
        "host": "http://127.0.0.1:9",
        "login": "a@b.c",
        "password": "t0k",
        "extra": {"allow_insecure_http": True},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CLI_SCHEMAS_DOWN", json.dumps(connection))

    assert main(["schemas", "list", "--conn-id", "cli_schemas_down"]) == 1

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("airflow-assets schemas list: connection 'cli_schemas_down': ")


def test_a_connection_of_another_type_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CLI_SCHEMAS_MONGO", "mongo://127.0.0.1:27017/db")

    assert main(["schemas", "list", "--conn-id", "cli_schemas_mongo"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        "airflow-assets schemas list: connection 'cli_schemas_mongo' is of type 'mongo', "
        "expected 'jira_assets'"
    ]

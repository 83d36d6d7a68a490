"""The ``airflow-assets`` process: connections of the metadata database, logs off stdout, a reader leaving.

Connections are stored in the test session's Airflow metadata database (as the UI does) with no
``AIRFLOW_CONN_*`` variable. Most tests start ``python -m airflow_assets.cli`` in a fresh process (same
Airflow home), where Airflow loads, and logs, as it does for a user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pymongo.database import Database

from airflow_assets.cli import main
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox

REPOSITORY = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, mongo_conn_id: str, database: str) -> Path:
    config = tmp_path / "jira_assets.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            mongo: {{conn_id: {mongo_conn_id}, database: {database}}}
            sites:
              test:
                conn_id: jira_assets_default
                schemas: [LOC]
            """
        )
    )
    return config


def _add(conn_id: str, **fields: object) -> None:
    """Store a connection in the metadata database, as the UI does."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()
        session.add(Connection(conn_id=conn_id, **fields))  # type: ignore[arg-type]


def _fernet_key() -> str:
    from airflow.configuration import conf

    return str(conf.get("core", "fernet_key"))


def _remove(conn_id: str) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()


def test_a_mongo_connection_added_in_the_ui_is_found(
    airflow_db: None,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_CLI_UI_BACKUP", raising=False)
    _add("cli_ui_backup", conn_type="mongo", host=mongo_server.host, port=mongo_server.port)
    try:
        config = _config(tmp_path, "cli_ui_backup", mongo_db.name)
        code = main(["snapshots", "list", "--json", "--config", str(config)])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert json.loads(captured.out) == []
    finally:
        _remove("cli_ui_backup")


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow_assets.cli", *args]


def _environment(mongo_server: EmbeddedMongo, database: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        {
            "PYTHONPATH": str(REPOSITORY),
            # Unit-test mode makes Airflow log while it loads its configuration: the case to keep off stdout.
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW_CONN_CLI_PROC_BACKUP": mongo_server.airflow_conn_uri(database),
        }
    )
    return env


def test_json_output_is_only_json_whatever_airflow_logs(
    mongo_server: EmbeddedMongo, mongo_db: Database, tmp_path: Path
) -> None:
    config = _config(tmp_path, "cli_proc_backup", mongo_db.name)
    env = _environment(mongo_server, mongo_db.name)
    done = subprocess.run(
        _command("snapshots", "list", "--json", "--config", str(config)),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert "Unit test configuration loaded" in done.stderr


def test_a_reader_that_leaves_early_ends_the_command_quietly(
    mongo_server: EmbeddedMongo, mongo_db: Database, tmp_path: Path
) -> None:
    config = _config(tmp_path, "cli_proc_backup", mongo_db.name)
    env = _environment(mongo_server, mongo_db.name)
    # As `... --json | head -c 0`: the reader has gone before the command writes anything.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            _command("snapshots", "list", "--json", "--config", str(config)),
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 1


def test_a_site_connection_added_in_the_ui_is_found_and_its_warning_goes_to_stderr(
    airflow_db: None, demo_sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    from airflow_assets.devtools.connections import sandbox_connection

    fields = json.loads(sandbox_connection(demo_sandbox))
    _add(
        "cli_ui_site",
        conn_type=fields["conn_type"],
        host=fields["host"],
        login=fields["login"],
        password=fields["password"],
        extra=json.dumps(fields["extra"]),
    )
    env = _environment(mongo_server, mongo_db.name)
    env.pop("AIRFLOW_CONN_CLI_UI_SITE", None)
    # The password was encrypted with this process's Fernet key: the command must read it with the same.
    env["AIRFLOW__CORE__FERNET_KEY"] = _fernet_key()
    try:
        done = subprocess.run(
            _command("schemas", "list", "--json", "--conn-id", "cli_ui_site"),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        _remove("cli_ui_site")
    assert done.returncode == 0, done.stderr
    assert {"PEOPLE", "LOC", "ITAM"} <= {row["key"] for row in json.loads(done.stdout)}
    # The hook warns that the sandbox is plain http: on stderr, never in the JSON.
    assert "cleartext" in done.stderr

"""``airflow-assets restores list/show`` over a real restore of a sandbox schema, in the embedded MongoDB."""

from __future__ import annotations

import csv
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.cli import main
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox
from tests.integration.backup_support import client_for
from tests.integration.restore_support import back_up_demo, restore

RESTORE_ID = "jira_assets_restore:manual__2026-12-01T10:00:00+00:00"


@dataclass(frozen=True)
class Restored:
    """The restore the tests read, and the key map it left."""

    config: Path
    key_map: dict[str, str]


@pytest.fixture
def restored(sandbox: RunningSandbox, mongo_db: Database, tmp_path: Path) -> Iterator[Restored]:
    """Back up LOC and restore it into LOC2 (every step, as the DAG runs them)."""
    client = client_for(sandbox)
    back_up_demo(client, mongo_db, keys=("LOC",))
    mapping = {"old_key": "LOC", "new_key": "LOC2", "new_name": "Locations 2"}
    _, report = restore(client, mongo_db, {"schema_mappings": [mapping]}, RESTORE_ID)
    assert report.ok
    rows = mongo_db["restore_files"].find({"restore_id": RESTORE_ID}).sort("part", 1)
    text = "".join(row["text"] for row in rows)
    config = tmp_path / "jira_assets.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            mongo: {{conn_id: cli_restores_backup, database: {mongo_db.name}}}
            sites:
              test:
                conn_id: jira_assets_default
                schemas: [LOC]
            """
        )
    )
    yield Restored(config, {row["old_key"]: row["new_key"] for row in csv.DictReader(text.splitlines())})


@pytest.fixture
def cli(
    restored: Restored,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """Return a runner of ``airflow-assets restores ...``: (exit code, out, err)."""
    monkeypatch.setenv("AIRFLOW_CONN_CLI_RESTORES_BACKUP", mongo_server.airflow_conn_uri(mongo_db.name))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["restores", *args, "--config", str(restored.config)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_list_show_and_key_map_of_a_restore(cli: Any, restored: Restored, tmp_path: Path) -> None:
    code, out, err = cli("list", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["id"] == RESTORE_ID and row["status"] == "done"
    assert row["mode"] == "new_schema" and row["schemas"] == ["LOC -> LOC2"]
    assert row["objects_restored"] == row["objects_planned"] == len(restored.key_map) > 0
    assert row["verify_ok"] is True and row["key_map_rows"] == len(restored.key_map)

    code, out, _ = cli("list")
    assert code == 0 and RESTORE_ID in out and "LOC -> LOC2" in out

    # A unique ending (the run id) is enough, as for snapshots.
    code, out, err = cli("show", "manual__2026-12-01T10:00:00+00:00", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["id"] == RESTORE_ID and shown["steps"]["verify"]["ok"] is True
    assert shown["request"]["schema_mappings"][0]["new_key"] == "LOC2"

    key_map = tmp_path / "keys.csv"
    code, out, err = cli("show", RESTORE_ID, "--key-map", str(key_map))
    assert code == 0, err
    assert "Restore" in out and "verify" in out and "objects" in out
    rows = list(csv.DictReader(key_map.read_text().splitlines()))
    assert {row["old_key"]: row["new_key"] for row in rows} == restored.key_map
    assert all(row["new_key"].startswith("LOC2-") for row in rows)


def test_an_unknown_restore_is_bad_usage(cli: Any) -> None:
    code, out, err = cli("show", "no-such-restore")
    assert code == 2 and out == ""
    assert "no restore 'no-such-restore'" in err

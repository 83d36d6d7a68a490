"""``airflow-assets config check``: a configuration's problems one per line, or a one-line summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_assets.cli import main


def test_an_invalid_file_lists_its_problems_one_per_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "jira_assets.yaml"
    config.write_text("mongo: {database: admin}\nsites:\n  prod:\n    schemas: [lower, ITAM]\n")

    assert main(["config", "check", str(config)]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == f"airflow-assets config check: invalid backup configuration {config}:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "mongo.database",
        "sites.prod.schemas[0].key",
    ]
    assert "Traceback" not in captured.err


def test_a_valid_file_prints_one_line_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "jira_assets.yaml"
    config.write_text(
        "mongo: {conn_id: backup_store, database: backups}\n"
        "sites:\n  prod:\n    schemas: [ITAM, LOC]\n  test:\n    conn_id: test_site\n    schemas: [HR]\n"
    )

    assert main(["config", "check", str(config)]) == 0

    (line,) = capsys.readouterr().out.splitlines()
    assert line == (
        f"{config}: valid: 2 sites, 3 schemas (prod: ITAM, LOC; test: HR); "
        "MongoDB connection 'backup_store', database 'backups'"
    )


def test_the_default_file_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JIRA_ASSETS_CONFIG", str(tmp_path / "missing.yaml"))

    assert main(["config", "check"]) == 2

    assert "configuration file not found" in capsys.readouterr().err

"""``standalone`` and ``demo`` print the lines that point ``airflow-assets`` at their data."""

from __future__ import annotations

from pathlib import Path

from airflow_assets.devtools.demo import cli_hint as demo_hint
from airflow_assets.devtools.standalone_stack import StandaloneLayout
from airflow_assets.tools.standalone import cli_hint as standalone_hint


def test_standalone_names_its_airflow_home_and_config(tmp_path: Path) -> None:
    layout = StandaloneLayout(tmp_path)
    lines = standalone_hint(layout).splitlines()
    assert f"  export AIRFLOW_HOME={layout.airflow_home} JIRA_ASSETS_CONFIG={layout.config_file}" in lines
    assert "  airflow-assets snapshots list" in lines


def test_the_demo_points_at_standalone_on_its_own_work_directory(tmp_path: Path) -> None:
    layout = StandaloneLayout(tmp_path)
    lines = demo_hint(tmp_path).splitlines()
    assert f"airflow-assets standalone --workdir {tmp_path}" in lines[0]
    assert f"  export AIRFLOW_HOME={layout.airflow_home} JIRA_ASSETS_CONFIG={layout.config_file}" in lines

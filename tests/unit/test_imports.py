"""Every module imports cleanly: no deprecated Airflow imports, no secantus, no Airflow in the client."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import airflow_assets

MODULES = sorted(
    module.name for module in pkgutil.walk_packages(airflow_assets.__path__, prefix="airflow_assets.")
)


def _imports(first: str, *also: str) -> dict[str, list[str]]:
    """Import ``first`` and ``also``, then every module, in a fresh interpreter; report what came in."""
    code = f"""
import importlib, json, sys
for name in {[first, *also]!r}:
    importlib.import_module(name)
after_first = sorted(m for m in sys.modules if m.partition(".")[0] == "airflow")
for name in {MODULES!r}:
    importlib.import_module(name)
secantus = sorted(m for m in sys.modules if m.startswith("secantus"))
print("RESULT " + json.dumps({{"airflow_after_first": after_first, "secantus": secantus}}))
"""
    result = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


def test_modules_import_cleanly_and_the_client_needs_no_airflow() -> None:
    seen = _imports("airflow_assets.api")

    assert len(MODULES) > 20
    # Deprecated Airflow imports raise FutureWarning, an error here; the client works in a plain script.
    assert seen["airflow_after_first"] == []
    # SecantusDB is GPL: tests and the demo run it as a subprocess, package code never imports it.
    assert seen["secantus"] == []


def test_backup_restore_and_store_logic_run_without_airflow() -> None:
    # The layer rule: backup, backfill, restore and store are plain Python over the client, testable without
    # Airflow.
    packages = (
        "airflow_assets.backup",
        "airflow_assets.backfill",
        "airflow_assets.restore",
        "airflow_assets.store",
    )
    logic = [name for name in MODULES if name.startswith(packages)]
    seen = _imports("airflow_assets.api", *logic)

    assert len(logic) >= 20
    assert seen["airflow_after_first"] == []


def test_the_config_and_the_dag_plan_run_without_airflow() -> None:
    # The CLI, the pools and the monitor read the configuration and the DAG plan: no Airflow comes with them.
    config = [name for name in MODULES if name.startswith("airflow_assets.config")]
    seen = _imports("airflow_assets.dags.plan", *config)

    assert len(config) >= 8
    assert seen["airflow_after_first"] == []


def test_the_model_does_no_io_and_stands_on_ids_exceptions_and_messages_only() -> None:
    model = [name for name in MODULES if name.startswith("airflow_assets.model")]
    code = f"""
import importlib, json, sys
for name in {model!r}:
    importlib.import_module(name)
print("RESULT " + json.dumps(sorted(sys.modules)))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    loaded = set(json.loads(line.removeprefix("RESULT ")))

    assert len(model) >= 5
    ours = {name for name in loaded if name.partition(".")[0] == "airflow_assets"}
    allowed = {"airflow_assets", "airflow_assets.ids", "airflow_assets.exceptions", "airflow_assets.messages"}
    assert {name for name in ours if not name.startswith("airflow_assets.model")} <= allowed
    io = {"airflow", "pymongo", "bson", "requests", "urllib3", "httpx", "pendulum"}
    assert sorted(name for name in loaded if name.partition(".")[0] in io) == []

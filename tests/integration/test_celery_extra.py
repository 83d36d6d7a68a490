"""What the ``celery`` extra installs starts a Celery worker: celery and providers-celery work together."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# celery 5.7.0 dropped `celery.backends.database.retry`; providers-celery 3.26.0 imports it at worker start.
BROKEN_CELERY = "5.7.0"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("airflow.providers.celery") is None,
    reason="the celery extra is not installed (pip install -e '.[celery]'; ./dev.sh setup installs it)",
)


def celery_extra() -> dict[str, Requirement]:
    """Return the requirements of pyproject's ``celery`` extra by distribution name."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return {requirement.name: requirement for requirement in map(Requirement, extras["celery"])}


def test_the_celery_extra_keeps_celery_to_versions_the_provider_works_with() -> None:
    celery = celery_extra().get("celery")
    assert celery is not None, "the celery extra leaves celery's version to chance"
    assert not celery.specifier.contains(BROKEN_CELERY), f"the celery extra allows celery {BROKEN_CELERY}"
    assert celery.specifier.contains(version("celery")), "the installed celery is outside the extra's range"


def test_the_celery_workers_module_imports(tmp_path: Path) -> None:
    # What `airflow celery worker` imports first; a clean process, as a worker starts.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}
    started = subprocess.run(
        [sys.executable, "-c", "from airflow.providers.celery.executors import celery_executor_utils"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr[-3000:]

"""Run one backup DAG with ``dag.test()`` in a process of its own; the lineage tests start it.

Usage: ``python tests/integration/lineage_backup_run.py CONFIG DAG_ID [--without-openlineage]``, with
``AIRFLOW_HOME``, the connections and any ``AIRFLOW__OPENLINEAGE__*`` settings in the environment.
``--without-openlineage`` makes the provider unimportable first, as if it were not installed.

The last line printed is ``RESULT <json>``: the run's state and, per task, its state and what its
``get_openlineage_facets_on_complete`` returned (``repr``; ``None`` without the provider).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any


def _without_openlineage() -> None:
    """Make the OpenLineage provider look uninstalled: no module to import, no package Airflow discovers."""
    # A module set to None cannot be imported: every import of the provider or its client fails.
    for name in ("airflow.providers.openlineage", "openlineage"):
        sys.modules[name] = None  # type: ignore[assignment]
    # Airflow finds providers and plugins through the installed packages' entry points: hide the package.
    import importlib.metadata

    import importlib_metadata

    def hidden(distributions: Callable[..., Iterable[Any]]) -> Callable[..., list[Any]]:
        def listed(**kwargs: Any) -> list[Any]:
            return [dist for dist in distributions(**kwargs) if not _is_openlineage(dist)]

        return listed

    for module in (importlib.metadata, importlib_metadata):
        module.distributions = hidden(module.distributions)  # type: ignore[assignment]


def _is_openlineage(distribution: Any) -> bool:
    name = str(distribution.metadata["Name"] or "").lower().replace("_", "-")
    return name.startswith(("apache-airflow-providers-openlineage", "openlineage-"))


if "--without-openlineage" in sys.argv:
    _without_openlineage()


def main(config: str, dag_id: str) -> None:
    """Create the metadata DB, run the DAG once, print the result."""
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    from airflow.utils.db import initdb

    from airflow_assets.dags import build_from_config

    initdb()
    dag = build_from_config(config)[dag_id]
    dag_run = dag.test()
    tasks = {}
    for ti in dag_run.get_task_instances():
        lineage = dag.get_task(ti.task_id).get_openlineage_facets_on_complete(ti)
        tasks[ti.task_id] = {"state": str(ti.state), "lineage": None if lineage is None else repr(lineage)}
    print("RESULT " + json.dumps({"state": str(dag_run.state), "run_id": dag_run.run_id, "tasks": tasks}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""The DAGs: their plan from the configuration (``plan``, plain Python) and the factory that builds them.

``build_dags`` and ``build_from_config`` are imported from the factory when first asked for, so that
importing :mod:`airflow_assets.dags.plan` (the pools, and through them the CLI, read its specs) brings in no
Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_assets.dags.factory import build_dags, build_from_config

__all__ = ["build_dags", "build_from_config"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airflow_assets.dags import factory

        return getattr(factory, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

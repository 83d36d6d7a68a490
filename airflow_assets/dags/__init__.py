"""The DAG factory: backup, retention and placeholder DAGs from the backup configuration."""

from __future__ import annotations

from airflow_assets.dags.factory import build_dags, build_from_config

__all__ = ["build_dags", "build_from_config"]

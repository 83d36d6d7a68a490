"""Jira Assets backups: one Airflow DAG per configured object schema, plus the retention DAG.

The schemas to protect are listed in the YAML file named by ``JIRA_ASSETS_CONFIG`` (default: the
``jira_assets.yaml`` beside this file). Reading it makes no network or database call; a broken entry
shows up as a placeholder DAG whose task fails with the validation message, and the others still load.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_assets.dags import build_from_config

_config = os.environ.get("JIRA_ASSETS_CONFIG") or Path(__file__).with_name("jira_assets.yaml")
globals().update(build_from_config(_config))

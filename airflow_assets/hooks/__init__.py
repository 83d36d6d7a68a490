"""Airflow hooks of airflow-assets."""

from __future__ import annotations

from airflow_assets.hooks.jira_assets import JiraAssetsHook

__all__ = ["JiraAssetsHook"]

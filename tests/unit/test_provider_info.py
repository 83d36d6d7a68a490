"""Airflow discovers the provider, its hook and the jira_assets connection form."""

from __future__ import annotations

from airflow.providers_manager import ProvidersManager
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime


def test_airflow_discovers_the_jira_assets_connection_type() -> None:
    assert "airflow-provider-jira-assets" in ProvidersManager().providers
    hook_info = ProvidersManagerTaskRuntime().hooks["jira_assets"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_assets.hooks.jira_assets.JiraAssetsHook"
    assert hook_info.connection_id_attribute_name == "jira_assets_conn_id"


def test_connection_form_declares_the_optional_fields() -> None:
    manager = ProvidersManager()

    widgets = manager.connection_form_widgets
    for field in ("workspace_id", "api_base_url", "cloud_id", "rate_limit_scale", "allow_insecure_http"):
        assert f"extra__jira_assets__{field}" in widgets, sorted(w for w in widgets if "jira" in w)
    behaviour = manager.field_behaviours["jira_assets"]
    assert behaviour["relabeling"]["password"] == "API token"

"""The UI's Test button works for a jira_assets connection: Airflow's real API server, in process.

Airflow 3.3's connection list sends the stored port as ``Number(port)`` (0 for none), and the API server
refuses a test whose port differs from the stored one. The form therefore shows the port (443) and the hook
treats a scheme's own port as none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_assets.sandbox.launch import RunningSandbox


@pytest.fixture
def api(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app()) as client:
        yield client


def _as_the_test_button_sends_it(stored: dict[str, Any]) -> dict[str, Any]:
    """Mirror the connection list's Test button (Airflow 3.3 UI): stored fields, ``port: Number(port)``."""
    body = {key: stored.get(key) or "" for key in ("host", "login", "password", "schema", "description")}
    return {
        **body,
        "connection_id": stored["connection_id"],
        "conn_type": stored["conn_type"],
        "extra": stored.get("extra") or "{}",
        "port": int(stored.get("port") or 0),
    }


def test_the_test_button_reaches_the_site_when_the_port_field_holds_443(
    api: Any, demo_sandbox: RunningSandbox
) -> None:
    extra = {
        "api_base_url": demo_sandbox.url + "/jsm/assets/workspace/{workspaceId}/v1",
        "allow_insecure_http": True,
    }
    created = api.post(
        "/api/v2/connections",
        json={
            "connection_id": "jira_ui_test_button",
            "conn_type": "jira_assets",
            "host": demo_sandbox.url,
            "port": 443,
            "login": demo_sandbox.email,
            "password": demo_sandbox.api_token,
            "extra": json.dumps(extra),
        },
    )
    assert created.status_code == 201, created.text
    try:
        stored = api.get("/api/v2/connections/jira_ui_test_button").json()
        assert stored["password"] != demo_sandbox.api_token  # masked: the server uses the stored one

        answer = api.post("/api/v2/connections/test", json=_as_the_test_button_sends_it(stored))

        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] is True, answer.json()
        assert demo_sandbox.workspace_id in answer.json()["message"]
    finally:
        api.delete("/api/v2/connections/jira_ui_test_button")


def test_the_form_shows_the_port_and_the_hook_takes_443_as_no_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers_manager import ProvidersManager

    from airflow_assets.hooks import JiraAssetsHook

    behaviour = ProvidersManager().field_behaviours["jira_assets"]
    assert "port" not in behaviour["hidden_fields"]
    assert behaviour["relabeling"]["port"] == "Port (443)"
    connection = {"conn_type": "jira_assets", "host": "https://x.atlassian.net", "port": 443, "login": "a"}
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_PORT_443", json.dumps({**connection, "password": "t"}))

    assert JiraAssetsHook("jira_port_443").get_client().site_url == "https://x.atlassian.net"

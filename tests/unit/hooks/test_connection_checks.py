"""A jira_assets connection is checked before any credential is sent: its type, scheme and host."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.hooks import JiraAssetsHook
from airflow_assets.sandbox.launch import RunningSandbox


def _define(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    connection = {"conn_type": "jira_assets", "login": "a@example.com", "password": "t0ken-value", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


@pytest.mark.parametrize("conn_type", ["mongo", "http"])
def test_a_connection_of_another_type_names_the_type_found_and_expected(
    monkeypatch: pytest.MonkeyPatch, conn_type: str
) -> None:
    _define(monkeypatch, "not_assets", conn_type=conn_type, host="https://example.atlassian.net")

    with pytest.raises(AssetsConfigError) as caught:
        JiraAssetsHook("not_assets").get_client()

    assert str(caught.value) == f"connection 'not_assets' is of type '{conn_type}', expected 'jira_assets'"


def test_a_mongo_uri_connection_is_refused_for_its_type_not_for_its_email(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BACKUP_STORE", "mongodb://127.0.0.1:27017/jira_assets")

    with pytest.raises(AssetsConfigError, match="of type 'mongodb', expected 'jira_assets'"):
        JiraAssetsHook("backup_store").get_client()


@pytest.mark.parametrize(
    "host", ["http://example.atlassian.net", "http://127.0.0.1:8080", "http://localhost"]
)
def test_plain_http_is_refused_even_on_loopback(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    _define(monkeypatch, "cleartext", host=host)

    with pytest.raises(AssetsConfigError) as caught:
        JiraAssetsHook("cleartext").get_client()

    message = str(caught.value)
    assert message.startswith(f"connection 'cleartext': '{host}' is plain http")
    assert "cleartext" in message and "allow_insecure_http: true" in message and "t0ken" not in message


def test_an_http_api_base_url_is_refused_like_an_http_host(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(
        monkeypatch, "half_secure", host="https://example.atlassian.net",
        extra={"api_base_url": "http://proxy.example.com/assets/{workspaceId}"},
    )  # fmt: skip

    with pytest.raises(
        AssetsConfigError, match=r"'http://proxy\.example\.com/assets/\{workspaceId\}' is plain"
    ):
        JiraAssetsHook("half_secure").get_client()


@pytest.mark.parametrize("flag", [True, "true", "True", "yes", "1"])
def test_allowed_plain_http_logs_a_warning_each_time_a_client_is_built(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, flag: object
) -> None:
    _define(monkeypatch, "local_site", host="http://127.0.0.1:9", extra={"allow_insecure_http": flag})
    caplog.set_level(logging.WARNING)

    for _ in range(2):
        client = JiraAssetsHook("local_site").get_client()
        assert client.site_url == "http://127.0.0.1:9"

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "sends the email and API token in cleartext" in w]) == 2


def test_https_logs_no_cleartext_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _define(monkeypatch, "secure", host="https://example.atlassian.net", extra={"allow_insecure_http": True})
    caplog.set_level(logging.WARNING)

    JiraAssetsHook("secure").get_client()

    assert "cleartext" not in caplog.text


@pytest.mark.parametrize("flag", ["maybe", 2])
def test_allow_insecure_http_must_be_a_boolean(monkeypatch: pytest.MonkeyPatch, flag: object) -> None:
    _define(monkeypatch, "fuzzy", host="http://127.0.0.1:9", extra={"allow_insecure_http": flag})

    with pytest.raises(AssetsConfigError, match="extra allow_insecure_http must be true or false"):
        JiraAssetsHook("fuzzy").get_client()


@pytest.mark.parametrize(
    "host", ["https://x.atlassian.net/jira/servicedesk", "x.atlassian.net/jira/software/projects/IT/boards"]
)
def test_a_host_with_a_path_is_refused_with_the_site_root_as_hint(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    _define(monkeypatch, "pasted_page", host=host)

    with pytest.raises(AssetsConfigError) as caught:
        JiraAssetsHook("pasted_page").get_client()

    message = str(caught.value)
    assert message.startswith("connection 'pasted_page': the host ")
    assert "give just the site root, https://x.atlassian.net " in message


def test_a_host_with_a_path_is_taken_when_the_api_base_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    _define(
        monkeypatch, "behind_proxy", host="https://proxy.example.com/jira/",
        extra={"api_base_url": "https://proxy.example.com/assets/{workspaceId}/v1", "workspace_id": "ws-1"},
    )  # fmt: skip

    client = JiraAssetsHook("behind_proxy").get_client()

    assert client.site_url == "https://proxy.example.com/jira"


def test_the_sandbox_connection_allows_its_plain_http_and_works(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SANDBOX_SITE", sandbox_connection(demo_sandbox))
    caplog.set_level(logging.WARNING)

    ok, message = JiraAssetsHook("sandbox_site").test_connection()

    assert ok, message
    assert "cleartext" in caplog.text

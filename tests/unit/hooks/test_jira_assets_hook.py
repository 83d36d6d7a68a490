"""The hook builds a working client from an Airflow connection, lazily, without leaking the token."""

from __future__ import annotations

import json
import logging
import socket
import time
from urllib.parse import quote

import pytest

from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.hooks import JiraAssetsHook
from airflow_assets.sandbox.launch import RunningSandbox


def _conn_json(sandbox: RunningSandbox, *, token: str | None = None, **extra: str) -> str:
    return sandbox_connection(sandbox, api_token=token, **extra)


def test_hook_reads_connection_from_environment_variable(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_DEFAULT", _conn_json(demo_sandbox))

    client = JiraAssetsHook().get_client()

    keys = {schema["objectSchemaKey"] for schema in client.iter_object_schemas()}
    assert {"PEOPLE", "LOC", "ITAM"} <= keys
    # The workspace id was discovered from the site, not configured.
    assert client.workspace_id == demo_sandbox.workspace_id


def test_test_connection_succeeds_and_names_the_workspace(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ASSETS_PROD", _conn_json(demo_sandbox))

    ok, message = JiraAssetsHook(jira_assets_conn_id="assets_prod").test_connection()

    assert ok, message
    assert demo_sandbox.workspace_id in message


def test_test_connection_reports_a_wrong_token_without_showing_it(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_token = "wrong-token-ATATT3xFfGF0-do-not-log"
    monkeypatch.setenv("AIRFLOW_CONN_ASSETS_BAD", _conn_json(demo_sandbox, token=wrong_token))
    caplog.set_level(logging.DEBUG)

    ok, message = JiraAssetsHook(jira_assets_conn_id="assets_bad").test_connection()

    assert not ok
    assert "401" in message
    assert "token" in message.lower()
    assert wrong_token not in message
    assert wrong_token not in caplog.text


def test_hook_does_not_resolve_the_connection_until_asked() -> None:
    hook = JiraAssetsHook(jira_assets_conn_id="no_such_connection_defined_anywhere")

    assert hook.jira_assets_conn_id == "no_such_connection_defined_anywhere"
    with pytest.raises(Exception, match="no_such_connection_defined_anywhere"):
        hook.get_client()


def test_hook_rejects_a_connection_without_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ASSETS_NOHOST",
        json.dumps({"conn_type": "jira_assets", "login": "a@example.com", "password": "secret-token"}),
    )

    with pytest.raises(AssetsConfigError, match="site URL"):
        JiraAssetsHook(jira_assets_conn_id="assets_nohost").get_client()


def test_hook_accepts_a_host_without_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ASSETS_BARE",
        json.dumps(
            {
                "conn_type": "jira_assets",
                "host": "example.atlassian.net",
                "login": "a@example.com",
                "password": "t",
            }
        ),
    )

    client = JiraAssetsHook(jira_assets_conn_id="assets_bare").get_client()

    assert client.site_url == "https://example.atlassian.net"


def test_hook_reads_form_fields_saved_with_the_legacy_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ASSETS_LEGACY",
        json.dumps(
            {
                "conn_type": "jira_assets",
                "host": "https://example.atlassian.net",
                "login": "a@example.com",
                "password": "t0ken-value",
                "extra": {"extra__jira_assets__workspace_id": " ws-123 ", "cloud_id": ""},
            }
        ),
    )

    client = JiraAssetsHook(jira_assets_conn_id="assets_legacy").get_client()

    # No network call needed: a configured workspace id is used as is; an empty cloud id means none.
    assert client.workspace_id == "ws-123"
    assert client.cloud_id is None


def test_hook_reads_a_uri_style_connection(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_port = demo_sandbox.url.removeprefix("http://")
    api_base = quote(demo_sandbox.url + "/jsm/assets/workspace/{workspaceId}/v1", safe="")
    # jira-assets:// (Airflow turns the dash into the conn type's underscore); the path names the scheme.
    uri = (
        f"jira-assets://{quote(demo_sandbox.email, safe='')}:{quote(demo_sandbox.api_token, safe='')}"
        f"@{host_port}/http?api_base_url={api_base}&allow_insecure_http=true"
    )
    monkeypatch.setenv("AIRFLOW_CONN_ASSETS_URI", uri)

    ok, message = JiraAssetsHook(jira_assets_conn_id="assets_uri").test_connection()

    assert ok, message


def test_test_connection_answers_quickly_when_the_site_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_ASSETS_DOWN",
        json.dumps(
            {
                "conn_type": "jira_assets",
                "host": f"http://127.0.0.1:{port}",
                "login": "a@b.c",
                "password": "tok-1",
                "extra": {"allow_insecure_http": True},
            }
        ),
    )

    started = time.monotonic()
    ok, message = JiraAssetsHook(jira_assets_conn_id="assets_down").test_connection()

    # The production policy would back off for about a minute; the Test button must not hang that long.
    assert not ok
    assert time.monotonic() - started < 10
    assert "failed" in message or "refused" in message.lower()

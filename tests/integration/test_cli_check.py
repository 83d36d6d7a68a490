"""``airflow-assets check`` against the sandbox: a passing probe, wrong credentials, no connection."""

from __future__ import annotations

import json

import pytest

from airflow_assets.cli import main
from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.tools import site_check
from airflow_assets.tools.site_check import CONFIRMED, CONTRADICTED, NOT_SEEN


def test_check_passes_on_the_sandbox(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PROBE_SITE", sandbox_connection(demo_sandbox))

    assert main(["check", "--conn-id", "probe_site", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["problems"] == []
    steps = {step["name"]: step for step in report["steps"]}
    assert list(steps) == ["authentication", "workspace", "schemas", "AQL page", "history", "comments"]
    assert all(step["ok"] for step in steps.values())
    assert demo_sandbox.workspace_id in steps["workspace"]["detail"]
    assert "PEOPLE, LOC, ITAM" in steps["schemas"]["detail"]
    verdicts = {finding["assumption"]: finding["verdict"] for finding in report["assumptions"]}
    assert verdicts["object/aql: isLast is a boolean or the string 'true'/'false'"] == CONFIRMED
    assert verdicts["parentObjectTypeId is a string, absent on root types"] == CONFIRMED
    assert verdicts["history oldValue/newValue are display strings"] == CONFIRMED
    assert verdicts["config/statustype?objectSchemaId=X lists the global status types too"] == CONFIRMED
    assert verdicts["GET comment/object/{id} answers on Cloud (not in the Cloud spec)"] == CONFIRMED
    # The sandbox sends rate-limit headers only with a 429: none on a probe's answers.
    assert report["rate_limit_headers"] == {}
    assert demo_sandbox.api_token not in json.dumps(report)


def test_check_prints_a_readable_report(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PROBE_SITE", sandbox_connection(demo_sandbox))

    assert main(["check", "--conn-id", "probe_site"]) == 0

    out = capsys.readouterr().out
    assert "contract assumptions:" in out
    assert "result: probe passed" in out


def test_a_wrong_token_fails_with_exit_1_without_showing_it(
    demo_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-token-4711-not-the-sandbox-one"
    monkeypatch.setenv("AIRFLOW_CONN_PROBE_SITE", sandbox_connection(demo_sandbox, api_token=wrong))

    assert main(["check", "--conn-id", "probe_site"]) == 1

    captured = capsys.readouterr()
    assert "HTTP 401" in captured.err
    assert "connection 'probe_site'" in captured.err
    assert wrong not in captured.out + captured.err
    assert demo_sandbox.api_token not in captured.out + captured.err


def test_an_unreachable_site_fails_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A port nothing listens on: refused at once (the probe's short retry policy still applies).
    connection = {
        "conn_type": "jira_assets",
        "host": "http://127.0.0.1:9",
        "login": "a@b.c",
        "password": "t0k",
        "extra": {"allow_insecure_http": True},
    }
    monkeypatch.setenv("AIRFLOW_CONN_PROBE_SITE", json.dumps(connection))

    assert main(["check", "--conn-id", "probe_site", "--json"]) == 1

    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False and "could not be used" in report["error"]


def test_an_undefined_connection_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--conn-id", "no_such_connection_here"]) == 2
    assert "AIRFLOW_CONN_NO_SUCH_CONNECTION_HERE" in capsys.readouterr().err


def test_the_assumption_checks_tell_contradictions() -> None:
    assert site_check.is_last_form("x", {"isLast": "false"}).verdict == CONFIRMED
    assert site_check.is_last_form("x", {"isLast": 0}).verdict == CONTRADICTED
    assert site_check.is_last_form("x", {"values": []}).verdict == CONTRADICTED
    numeric_parent = [{"id": "1"}, {"id": "2", "parentObjectTypeId": 1}]
    assert site_check.parent_object_type_ids(numeric_parent).verdict == CONTRADICTED
    assert site_check.parent_object_type_ids([{"id": "1"}]).verdict == NOT_SEEN
    rendered = [{"type": 2, "oldValue": {"id": "7"}, "newValue": "Closed"}]
    assert site_check.history_values(rendered).verdict == CONTRADICTED
    assert site_check.max_results_echo({"values": []}, 25).verdict == CONTRADICTED
    assert site_check.rate_limit_finding({}).verdict == NOT_SEEN
    headers = site_check.rate_limit_headers(
        [("Retry-After", "7"), ("X-RateLimit-Reset", "2026-03-26T16:00Z")]
    )
    assert site_check.rate_limit_finding(headers).verdict == CONFIRMED
    assert site_check.rate_limit_finding({"retry-after": "soon"}).verdict == CONTRADICTED


def test_a_contradiction_gives_exit_3() -> None:
    report = site_check.Report("c", findings=[site_check.Finding("a", CONTRADICTED, "b")])
    assert report.exit_code == 3
    assert site_check.Report("c", findings=[site_check.Finding("a", NOT_SEEN, "b")]).exit_code == 0


def test_a_connection_of_another_type_is_one_line_and_bad_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PROBE_MONGO", "mongo://127.0.0.1:27017/db")

    assert main(["check", "--conn-id", "probe_mongo"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        "airflow-assets check: connection 'probe_mongo' is of type 'mongo', expected 'jira_assets'"
    ]

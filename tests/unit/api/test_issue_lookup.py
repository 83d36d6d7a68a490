"""find_issues: many issues per JQL search; refs Jira refuses are set aside, the rest read again."""

from __future__ import annotations

from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.api.issues import find_issues

SEARCH = "rest/api/3/search/jql"
FIELD = "customfield_10100"


def issue(issue_id: str, key: str) -> dict[str, Any]:
    return {"id": issue_id, "key": key, "fields": {FIELD: None}}


def test_issues_are_read_in_batches_and_matched_by_id_or_key(site: Any, client: AssetsClient) -> None:
    site.script(
        "POST",
        SEARCH,
        {"body": {"issues": [issue("10001", "A-1"), issue("10002", "B-7")], "isLast": True}},
        {"body": {"issues": [issue("10003", "A-3")], "isLast": True}},
    )

    found = find_issues(client, ["10001", "a-2", "A-3"], fields=[FIELD], batch_size=2)

    # A-2 was moved and answers as B-7 with its id: asked by key it is not matched, and is reported.
    assert sorted(found.issues) == ["10001", "A-3"]
    assert list(found.missing) == ["a-2"]
    bodies = [call.body for call in site.calls_to("POST", SEARCH)]
    assert [body["jql"] for body in bodies] == ['issue in (10001, "a-2")', 'issue in ("A-3")']
    assert all(body["fields"] == [FIELD] for body in bodies) and found.searches == 2


def test_a_refused_ref_is_set_aside_and_a_400_naming_none_is_halved(site: Any, client: AssetsClient) -> None:
    gone = "An issue with key 'A-9' does not exist for field 'issue'."
    site.script(
        "POST",
        SEARCH,
        {"status": 400, "body": {"errorMessages": [gone], "errors": {}}},
        {"status": 400, "body": {"errorMessages": ["Something else went wrong"], "errors": {}}},
        {"body": {"issues": [issue("1", "A-1")], "isLast": True}},
        {"status": 400, "body": {"errorMessages": ["Something else went wrong"], "errors": {}}},
    )

    found = find_issues(client, ["A-1", "A-9", "A-2"], fields=[FIELD])

    assert list(found.issues) == ["A-1"]
    assert found.missing["A-9"] == gone
    assert "Something else went wrong" in found.missing["A-2"]
    assert [call.body["jql"] for call in site.calls_to("POST", SEARCH)] == [
        'issue in ("A-1", "A-9", "A-2")',
        'issue in ("A-1", "A-2")',
        'issue in ("A-1")',
        'issue in ("A-2")',
    ]

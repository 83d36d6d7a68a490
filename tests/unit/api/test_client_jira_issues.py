"""The Jira-side calls: the field list, JQL search paged by nextPageToken, and the issue edit."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_assets.api import ASSETS_FIELD_TYPE, AssetsClient
from airflow_assets.api import endpoints as ep
from airflow_assets.exceptions import AssetsServerError, AssetsTransportError

SEARCH = "rest/api/3/search/jql"
ASSETS_SCHEMA = {"type": "array", "custom": ASSETS_FIELD_TYPE, "customId": 10100}
ENTRY = {"workspaceId": "ws-0001", "id": "ws-0001:131", "objectId": "131"}


def test_assets_field_ids_are_the_cmdb_custom_fields_sorted(site: Any, client: AssetsClient) -> None:
    fields = [
        {"id": "summary", "schema": {"type": "string", "system": "summary"}},
        {"id": "issuekey", "name": "Key"},  # no schema at all, as Jira lists the key
        {"id": "customfield_10200", "schema": {**ASSETS_SCHEMA, "customId": 10200}},
        {"id": "customfield_10050", "schema": {"type": "string", "custom": "textfield"}},
        {"id": "customfield_10100", "schema": ASSETS_SCHEMA},
    ]
    site.script("GET", "rest/api/3/field", {"body": fields})

    assert client.get_assets_field_ids() == ["customfield_10100", "customfield_10200"]
    (call,) = site.calls
    assert (call.method, call.path, call.query) == ("GET", "rest/api/3/field", {})


def test_search_follows_next_page_token_and_sends_fields_in_the_body(site: Any, client: AssetsClient) -> None:
    site.script(
        "POST",
        SEARCH,
        {"body": {"issues": [{"id": "1", "key": "A-1"}], "nextPageToken": "t1"}},
        {"body": {"issues": [{"id": "2", "key": "A-2"}], "nextPageToken": "t2", "isLast": False}},
        {"body": {"issues": [{"id": "3", "key": "A-3"}], "isLast": True}},
    )

    pages = list(client.iter_issue_pages('key in ("A-1")', fields=["customfield_10100"], page_size=1))

    assert [[issue["key"] for issue in page] for page in pages] == [["A-1"], ["A-2"], ["A-3"]]
    bodies = [call.body for call in site.calls_to("POST", SEARCH)]
    assert bodies == [
        {"jql": 'key in ("A-1")', "fields": ["customfield_10100"], "maxResults": 1},
        {"jql": 'key in ("A-1")', "fields": ["customfield_10100"], "maxResults": 1, "nextPageToken": "t1"},
        {"jql": 'key in ("A-1")', "fields": ["customfield_10100"], "maxResults": 1, "nextPageToken": "t2"},
    ]


def test_search_that_repeats_a_token_is_stopped_not_looped(site: Any, client: AssetsClient) -> None:
    page = {"body": {"issues": [{"id": "1"}], "nextPageToken": "same"}}
    site.script("POST", SEARCH, page, page, page)
    with pytest.raises(AssetsTransportError, match="same nextPageToken twice"):
        list(client.iter_issue_pages("project = A", fields=[]))
    assert len(site.calls_to("POST", SEARCH)) == 2


def test_search_is_a_read_retried_after_a_server_error(site: Any, client: AssetsClient) -> None:
    site.script("POST", SEARCH, {"status": 500, "body": {}}, {"body": {"issues": []}})
    assert list(client.iter_issue_pages("project = A", fields=[])) == [[]]
    assert ep.JIRA_SEARCH.read_only and not ep.JIRA_SEARCH.writes


def test_issue_edit_sends_the_whole_field_value(site: Any, client: AssetsClient) -> None:
    site.script("PUT", "rest/api/3/issue/ITSM-7", {"status": 204, "raw": b""})
    client.update_issue("ITSM-7", {"customfield_10100": [ENTRY]})
    (call,) = site.calls
    assert (call.method, call.path, call.body) == (
        "PUT",
        "rest/api/3/issue/ITSM-7",
        {"fields": {"customfield_10100": [ENTRY]}},
    )


def test_issue_edit_whose_answer_was_lost_is_repeated_and_reported_maybe_applied(
    site: Any, client: AssetsClient
) -> None:
    # Setting a field to a full value is idempotent: repeating it after a lost answer is safe.
    site.script("PUT", "rest/api/3/issue/ITSM-7", *[{"status": 500, "body": {}}] * 4)
    with pytest.raises(AssetsServerError) as caught:
        client.update_issue("ITSM-7", {"customfield_10100": []})
    assert caught.value.maybe_applied is True
    assert len(site.calls_to("PUT", "rest/api/3/issue/ITSM-7")) == 4


def test_jira_calls_have_their_own_rate_classes() -> None:
    assert ep.JIRA_FIELDS.rate_class == "GET site:rest/api/3/field"
    assert ep.JIRA_SEARCH.rate_class == "POST site:rest/api/3/search/jql"
    assert ep.JIRA_ISSUE_UPDATE.rate_class == "PUT site:rest/api/3/issue/{id}"
    assert ep.JIRA_ISSUE_UPDATE.idempotent and ep.JIRA_ISSUE_UPDATE.writes

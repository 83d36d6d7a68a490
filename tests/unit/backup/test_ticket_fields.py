"""Reading which Assets fields of connected issues hold an object, against a scripted Jira over HTTP.

The scripted site answers what Jira answers in the cases the sandbox cannot stage on demand: a key that
no longer exists (Jira refuses the whole ``issue in (...)`` query, naming it), a 400 naming nothing, and an
issue moved to another project (found under a new key, same id).
"""

from __future__ import annotations

from typing import Any

from airflow_assets.api import ASSETS_FIELD_TYPE, AssetsClient
from airflow_assets.api.issues import jql_string
from airflow_assets.backup.ticket_fields import AssetsFieldReader

SEARCH = "rest/api/3/search/jql"
FIELDS = [
    {"id": "customfield_1", "schema": {"type": "array", "custom": ASSETS_FIELD_TYPE, "customId": 1}},
    {"id": "customfield_2", "schema": {"type": "array", "custom": ASSETS_FIELD_TYPE, "customId": 2}},
]


def entry(object_id: str) -> dict[str, str]:
    return {"workspaceId": "ws-0001", "id": f"ws-0001:{object_id}", "objectId": object_id}


def issue(key: str, issue_id: str, **fields: list[dict[str, str]] | None) -> dict[str, Any]:
    """Return an issue as the search answers it; ``cf1=[...]`` is the value of ``customfield_1``."""
    values = {f"customfield_{name[-1]}": value for name, value in fields.items()}
    return {"id": issue_id, "key": key, "fields": values}


def reader(site: Any, client: AssetsClient) -> AssetsFieldReader:
    site.script("GET", "rest/api/3/field", {"body": FIELDS})
    return AssetsFieldReader.open(client)


def test_fields_holding_each_object_are_read_in_one_search(site: Any, client: AssetsClient) -> None:
    fields = reader(site, client)
    site.script(
        "POST",
        SEARCH,
        {"body": {"issues": [
            issue("A-1", "11", cf1=[entry("5")], cf2=[entry("6")]),
            issue("A-2", "12", cf1=[entry("5"), entry("7")], cf2=[entry("5")]),
        ]}},
    )  # fmt: skip
    tickets = [{"key": "A-1", "id": "11"}, {"key": "a-2", "id": "12"}]

    fields.look_up(fields.unknown(tickets))

    assert fields.fields_holding(tickets[0], "5") == ["customfield_1"]
    assert fields.fields_holding(tickets[0], "6") == ["customfield_2"]
    assert fields.fields_holding(tickets[1], "5") == ["customfield_1", "customfield_2"]
    assert fields.fields_holding(tickets[1], "99") == []
    (search,) = site.calls_to("POST", SEARCH)
    # Searched by id: an id goes bare, and survives a move to another project.
    assert search.body["jql"] == "issue in (11, 12)"
    assert search.body["fields"] == ["customfield_1", "customfield_2"]
    assert (fields.searches, fields.unreadable) == (1, 0)
    assert fields.unknown(tickets) == set()  # known now: no second search


def test_a_key_jira_refuses_is_dropped_and_the_rest_searched_again(site: Any, client: AssetsClient) -> None:
    fields = reader(site, client)
    refused = {"errorMessages": ["An issue with key 'A-2' does not exist for field 'key'."], "errors": {}}
    site.script(
        "POST",
        SEARCH,
        {"status": 400, "body": refused},
        {"body": {"issues": [issue("A-1", "11", cf1=[entry("5")]), issue("A-3", "13", cf2=[entry("5")])]}},
    )
    tickets = [{"key": key} for key in ("A-1", "A-2", "A-3")]

    fields.look_up(fields.unknown(tickets))

    assert [fields.fields_holding(t, "5") for t in tickets] == [["customfield_1"], [], ["customfield_2"]]
    assert site.calls_to("POST", SEARCH)[1].body["jql"] == 'issue in ("A-1", "A-3")'
    assert (fields.searches, fields.unreadable) == (2, 1)


def test_a_400_naming_no_key_is_narrowed_by_halves(site: Any, client: AssetsClient) -> None:
    fields = reader(site, client)
    vague = {"status": 400, "body": {"errorMessages": ["Something is wrong."], "errors": {}}}
    site.script(
        "POST",
        SEARCH,
        vague,  # A-1..A-4
        {"body": {"issues": [issue("A-1", "11", cf1=[entry("5")]), issue("A-2", "12", cf1=[entry("5")])]}},
        vague,
        {"body": {"issues": [issue("A-3", "13", cf2=[entry("5")])]}},
        vague,  # A-4 alone: unreadable
    )
    tickets = [{"key": f"A-{n}"} for n in range(1, 5)]

    fields.look_up(fields.unknown(tickets))

    assert [fields.fields_holding(t, "5") for t in tickets] == [
        ["customfield_1"], ["customfield_1"], ["customfield_2"], []
    ]  # fmt: skip
    assert fields.unreadable == 1


def test_an_issue_moved_to_another_project_is_found_by_its_id(site: Any, client: AssetsClient) -> None:
    fields = reader(site, client)
    site.script("POST", SEARCH, {"body": {"issues": [issue("NEW-9", "11", cf2=[entry("5")])]}})
    ticket = {"key": "OLD-1", "id": "11"}
    fields.look_up(fields.unknown([ticket]))
    assert fields.fields_holding(ticket, "5") == ["customfield_2"]


def test_batches_of_keys(site: Any, make_client: Any) -> None:
    site.script("GET", "rest/api/3/field", {"body": FIELDS})
    fields = AssetsFieldReader.open(make_client(), batch_size=2)
    site.script("POST", SEARCH, *[{"body": {"issues": []}}] * 3)
    fields.look_up(fields.unknown([{"key": f"A-{n}"} for n in range(5)]))
    assert [len(call.body["jql"].split(",")) for call in site.calls_to("POST", SEARCH)] == [2, 2, 1]
    assert fields.unreadable == 5


def test_a_site_without_assets_fields_searches_nothing(site: Any, client: AssetsClient) -> None:
    site.script("GET", "rest/api/3/field", {"body": [{"id": "summary", "schema": {"type": "string"}}]})
    fields = AssetsFieldReader.open(client)
    fields.look_up(fields.unknown([{"key": "A-1"}]))
    assert fields.fields_holding({"key": "A-1"}, "5") == []
    assert site.calls_to("POST", SEARCH) == []


def test_an_account_that_may_not_list_fields_records_nothing(site: Any, client: AssetsClient) -> None:
    refused = {"status": 403, "body": {"errorMessages": ["No."], "errors": {}}}
    site.script("GET", "rest/api/3/field", refused)
    fields = AssetsFieldReader.open(client)
    assert fields.fields_holding({"key": "A-1"}, "5") is None
    assert site.calls_to("POST", SEARCH) == []


def test_jql_strings_are_quoted() -> None:
    assert jql_string('A"B\\C') == '"A\\"B\\\\C"'

"""JQL search over the sandbox's issues, over real HTTP: aqlFunction, paging by token, errors."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_assets.sandbox.launch import RunningSandbox

SEARCH = "/rest/api/3/search/jql"


class Jira:
    """Search issues the way Atlassian documents it (GET with query params or POST with a JSON body)."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.auth = (sandbox.email, sandbox.api_token)

    def search(self, method: str = "GET", **query: Any) -> requests.Response:
        url = f"{self.sandbox.url}{SEARCH}"
        if method == "GET":
            params = {name: ",".join(v) if isinstance(v, list) else v for name, v in query.items()}
            return self.session.get(url, params=params, timeout=10)
        return self.session.post(url, json=query, timeout=10)

    def found(self, jql: str, method: str = "GET", **query: Any) -> list[dict[str, Any]]:
        """Read every page of a search; fail on an error."""
        issues: list[dict[str, Any]] = []
        token = None
        while True:
            page_query = {"jql": jql, **query, **({"nextPageToken": token} if token else {})}
            response = self.search(method, **page_query)
            assert response.status_code == 200, response.text
            page = response.json()
            issues.extend(page["issues"])
            if page["isLast"]:
                assert "nextPageToken" not in page
                return issues
            token = page["nextPageToken"]

    def assets(self, path: str, body: Any = None) -> Any:
        url = f"{self.sandbox.api_base_url}/{path}"
        response = self.session.request("POST" if body else "GET", url, json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def connected_keys(self, aql: str) -> set[str]:
        """The keys of the issues connected to the objects an AQL query matches, read from the Assets side."""
        page = self.assets("object/aql?maxResults=1000", {"qlQuery": aql})
        assert page["isLast"]
        return {
            ticket["key"]
            for entry in page["values"]
            for ticket in self.assets(f"objectconnectedtickets/{entry['id']}/tickets")["tickets"]
        }


@pytest.fixture
def jira(demo_sandbox: RunningSandbox) -> Jira:
    return Jira(demo_sandbox)


def all_issue_count(jira: Jira) -> int:
    return len(jira.sandbox.site.issues)


@pytest.mark.parametrize(
    "jql",
    [
        '"Affected assets" in aqlFunction("objectType = Server")',
        'cf[10100] IN aqlFunction("objectType = \\"Server\\"")',
        "'affected assets' in aqlfunction('objectType = Server') order by key",
    ],
)
def test_aql_function_finds_the_issues_of_matching_objects(jira: Jira, jql: str) -> None:
    expected = jira.connected_keys("objectType = Server")
    assert expected

    issues = jira.found(jql, fields=["summary", "customfield_10100"])

    assert {issue["key"] for issue in issues} == expected
    server_ids = {
        entry["id"]
        for entry in jira.assets("object/aql?maxResults=1000", {"qlQuery": "objectType = Server"})["values"]
    }
    for issue in issues:
        assert {entry["objectId"] for entry in issue["fields"]["customfield_10100"]} & server_ids


def test_aql_function_with_an_escaped_key_and_not_in(jira: Jira) -> None:
    seed = jira.sandbox.seed
    assert seed is not None
    expected = jira.connected_keys(f'Key = "{seed.ticketed_key}"')
    jql = f'"Affected assets" in aqlFunction("Key = \\"{seed.ticketed_key}\\"")'
    assert {issue["key"] for issue in jira.found(jql, "POST", fields=["key"])} == expected
    others = jira.found(f"project = ITSM AND NOT {jql}", fields=["key"])
    assert len(others) == all_issue_count(jira) - len(expected)
    assert not expected & {issue["key"] for issue in others}


def test_all_tickets_query_of_an_object_finds_its_tickets(jira: Jira) -> None:
    seed = jira.sandbox.seed
    assert seed is not None
    connected = jira.assets(f"objectconnectedtickets/{seed.ticketed_key.rsplit('-', 1)[1]}/tickets")
    found = jira.found(connected["allTicketsQuery"], fields=["key"])
    assert sorted(issue["key"] for issue in found) == sorted(ticket["key"] for ticket in connected["tickets"])


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paging_by_token_reads_every_issue_once(jira: Jira, method: str) -> None:
    total = all_issue_count(jira)
    assert total > 3 * 7

    first = jira.search(method, jql="project = ITSM ORDER BY key ASC", maxResults=7).json()
    assert len(first["issues"]) == 7 and first["isLast"] is False and first["nextPageToken"]
    issues = jira.found("project = ITSM ORDER BY key ASC", method, maxResults=7)

    ids = [issue["id"] for issue in issues]
    assert len(ids) == len(set(ids)) == total
    assert ids == sorted(ids, key=int)  # ITSM-101 has id 10101 and so on


def test_search_returns_only_ids_unless_fields_are_asked_for(jira: Jira) -> None:
    page = jira.search(jql="key = ITSM-101").json()
    assert page == {"issues": [{"id": "10101"}], "isLast": True}
    (issue,) = jira.search(jql="key = ITSM-101", fields="summary,status").json()["issues"]
    assert issue["key"] == "ITSM-101" and set(issue["fields"]) == {"summary", "status"}
    (everything,) = jira.search("POST", jql="key = ITSM-101", fields=["*all", "-status"]).json()["issues"]
    assert "status" not in everything["fields"] and "customfield_10100" in everything["fields"]


def test_boolean_operators_parentheses_and_order(jira: Jira) -> None:
    jql = "KEY in (ITSM-101, 'itsm-102') or (issue = 10103 AND project = itsm) ORDER BY key DESC"
    assert [issue["key"] for issue in jira.found(jql, fields=["key"])] == ["ITSM-103", "ITSM-102", "ITSM-101"]
    newest_first = jira.found("issue in (ITSM-101, ITSM-104) order by created desc", fields=["created"])
    created = [issue["fields"]["created"] for issue in newest_first]
    assert created == sorted(created, reverse=True)
    assert jira.found("key = ITSM-101 AND key = ITSM-102") == []


@pytest.mark.parametrize(
    "jql",
    [
        "key = ",
        "project = ITSM AND",
        "key in ()",
        "(key = ITSM-101",
        'summary ~ "unterminated',
        "key = ITSM-101 ITSM-102",
        "assignee = currentUser()",
        "nosuchfield = 1",
        '"Affected assets" = "ITAM-1"',
        '"Affected assets" in aqlFunction("objectType = NoSuchType")',
        'key in aqlFunction("objectType = Server")',
        "project = ITSM order by summary",
        "key = and",
    ],
)
def test_bad_jql_is_400_in_jira_error_shape(jira: Jira, jql: str) -> None:
    for method in ("GET", "POST"):
        response = jira.search(method, jql=jql)
        assert response.status_code == 400, (method, jql, response.text)
        body = response.json()
        assert body["errors"] == {} and len(body["errorMessages"]) == 1
        assert body["errorMessages"][0].startswith("Error in the JQL Query: ")


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("", "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."),
        (
            "order by key",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ),
        ("key = ITSM-99999", "An issue with key 'ITSM-99999' does not exist for field 'key'."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
    ],
)
def test_queries_jira_refuses_for_their_values(jira: Jira, jql: str, message: str) -> None:
    response = jira.search(jql=jql)
    assert response.status_code == 400
    assert response.json() == {"errorMessages": [message], "errors": {}}


def test_a_bad_or_foreign_page_token_is_refused(jira: Jira) -> None:
    token = jira.search(jql="project = ITSM", maxResults=5).json()["nextPageToken"]
    assert jira.search(jql="project = ITSM", maxResults=5, nextPageToken=token).status_code == 200
    for other_query, bad_token in (("key = ITSM-101", token), ("project = ITSM", "not-a-token")):
        response = jira.search(jql=other_query, nextPageToken=bad_token)
        assert response.status_code == 400 and response.json()["errorMessages"], response.text


def test_every_key_that_does_not_exist_is_named(jira: Jira) -> None:
    # Jira refuses the whole query, one message per key, so a client can drop those keys and search again.
    response = jira.search("POST", jql='key in (ITSM-101, "ITSM-99998", ITSM-99999)', fields=["key"])
    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": [
            "An issue with key 'ITSM-99998' does not exist for field 'key'.",
            "An issue with key 'ITSM-99999' does not exist for field 'key'.",
        ],
        "errors": {},
    }


def test_each_assets_field_is_searched_and_selected_on_its_own(jira: Jira) -> None:
    # The demo's issues hold their objects in the first Assets field only.
    assert jira.found("cf[10101] is not EMPTY") == []
    assert jira.found('"Related assets" in aqlFunction("objectType = Server")') == []
    first = jira.found(
        "cf[10100] is not EMPTY AND key = ITSM-101", fields=["customfield_10100", "customfield_10101"]
    )
    (issue,) = first
    assert issue["fields"]["customfield_10101"] is None and issue["fields"]["customfield_10100"]

"""The sandbox's Jira issues over real HTTP: the field list, reading and editing an issue's Assets field."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from airflow_assets.sandbox.launch import RunningSandbox

ASSETS_TYPE = "com.atlassian.jira.plugins.cmdb:cmdb-object-cftype"
JIRA_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}")


class Jira:
    """A tiny client written from Atlassian's documentation, nothing of the package's own."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.auth = (sandbox.email, sandbox.api_token)

    def url(self, path: str) -> str:
        """Site routes start with "/"; other paths are relative to the Assets API base."""
        return f"{self.sandbox.url}{path}" if path.startswith("/") else f"{self.sandbox.api_base_url}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url(path), timeout=10, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params=params or None)
        assert response.status_code == 200, response.text
        return response.json()

    def assets_field(self) -> str:
        fields = self.get("/rest/api/3/field")
        return next(f["id"] for f in fields if f.get("schema", {}).get("custom") == ASSETS_TYPE)

    def tickets(self, object_id: str) -> dict[str, Any]:
        return self.get(f"objectconnectedtickets/{object_id}/tickets")

    def entry(self, object_id: str) -> dict[str, str]:
        workspace = self.sandbox.workspace_id
        return {"workspaceId": workspace, "id": f"{workspace}:{object_id}", "objectId": object_id}


def object_id(key: str) -> str:
    return key.rsplit("-", 1)[1]


@pytest.fixture
def jira(sandbox: RunningSandbox) -> Jira:
    return Jira(sandbox)


@pytest.fixture
def read_only(demo_sandbox: RunningSandbox) -> Jira:
    return Jira(demo_sandbox)


def test_field_list_has_the_assets_fields_with_their_schema(read_only: Jira) -> None:
    fields = {field["id"]: field for field in read_only.get("/rest/api/3/field")}
    assert {"summary", "status", "issuetype", "priority"} <= set(fields)
    assert fields["summary"]["schema"] == {"type": "string", "system": "summary"}
    assets = [field for field in fields.values() if field.get("schema", {}).get("custom") == ASSETS_TYPE]
    # A site may have several Assets fields, each configured for its own objects.
    assert [field["name"] for field in assets] == ["Affected assets", "Related assets"]
    for field in assets:
        assert field["custom"] is True
        assert field["schema"]["type"] == "array"
        assert isinstance(field["schema"]["customId"], int)
        assert field["id"] == field["key"] == f"customfield_{field['schema']['customId']}"
        assert field["clauseNames"] == [f"cf[{field['schema']['customId']}]", field["name"]]


def test_issue_has_jira_shape_and_its_assets_field(read_only: Jira) -> None:
    seed = read_only.sandbox.seed
    assert seed is not None
    ticketed = object_id(seed.ticketed_key)
    ticket = read_only.tickets(ticketed)["tickets"][0]
    field_id = read_only.assets_field()

    issue = read_only.get(f"/rest/api/3/issue/{ticket['key']}")
    assert issue["id"] == ticket["id"] and issue["key"] == ticket["key"]
    assert issue["self"].endswith(f"/rest/api/3/issue/{ticket['id']}")
    fields = issue["fields"]
    assert fields["summary"] == ticket["title"]
    assert fields["status"]["name"] == ticket["status"]["name"]
    assert fields["status"]["statusCategory"]["colorName"] == ticket["status"]["colorName"]
    assert fields["issuetype"]["name"] == ticket["type"]["name"]
    assert fields["priority"]["name"] == ticket["priority"]["name"]
    assert fields["project"]["key"] == ticket["key"].split("-")[0]
    assert JIRA_TIME.fullmatch(fields["created"]) and JIRA_TIME.fullmatch(fields["updated"])
    assert read_only.entry(ticketed) in fields[field_id]

    # By id as well as by key (any case); fields= restricts the fields.
    by_id = read_only.get(f"/rest/api/3/issue/{ticket['id']}", fields=f"summary,{field_id}")
    assert by_id["key"] == ticket["key"] and set(by_id["fields"]) == {"summary", field_id}
    assert read_only.get(f"/rest/api/3/issue/{ticket['key'].lower()}")["id"] == ticket["id"]


def test_unknown_issue_is_404(read_only: Jira) -> None:
    response = read_only.request("GET", "/rest/api/3/issue/ITSM-99999")
    assert response.status_code == 404
    assert response.json() == {
        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        "errors": {},
    }
    assert read_only.request("PUT", "/rest/api/3/issue/ITSM-99999", json={"fields": {}}).status_code == 404


def test_put_replaces_the_assets_array_and_connected_tickets_follow(jira: Jira) -> None:
    seed = jira.sandbox.seed
    assert seed is not None
    old_object = object_id(seed.ticketed_key)
    new_object = object_id(seed.person_with_manager)
    ticket = jira.tickets(old_object)["tickets"][0]
    assert jira.tickets(new_object)["tickets"] == []
    field_id = jira.assets_field()
    before = jira.get(f"/rest/api/3/issue/{ticket['key']}")

    # Read, swap old for new, write back: Jira replaces the whole array.
    value = [entry for entry in before["fields"][field_id] if entry["objectId"] != old_object]
    value.append(jira.entry(new_object))
    response = jira.request("PUT", f"/rest/api/3/issue/{ticket['key']}", json={"fields": {field_id: value}})
    assert response.status_code == 204 and response.content == b""

    after = jira.get(f"/rest/api/3/issue/{ticket['key']}")
    assert after["fields"][field_id] == value
    assert after["fields"]["updated"] != before["fields"]["updated"]
    assert ticket["key"] not in [t["key"] for t in jira.tickets(old_object)["tickets"]]
    now_connected = jira.tickets(new_object)
    assert [t["key"] for t in now_connected["tickets"]] == [ticket["key"]]
    assert now_connected["allTicketsQuery"] == f"issue in ({ticket['key']})"
    assert jira.get(f"object/{new_object}")["extendedInfo"]["openIssuesExists"] is True


@pytest.mark.parametrize(
    "problem", ["missing-object", "wrong-workspace", "mismatched-global-id", "not-an-array"]
)
def test_put_with_an_invalid_assets_value_is_a_field_error_and_changes_nothing(
    jira: Jira, problem: str
) -> None:
    seed = jira.sandbox.seed
    assert seed is not None
    ticketed = object_id(seed.ticketed_key)
    ticket = jira.tickets(ticketed)["tickets"][0]
    field_id = jira.assets_field()
    before = jira.get(f"/rest/api/3/issue/{ticket['key']}")
    values = {
        "missing-object": [jira.entry(ticketed), jira.entry("999999")],
        "wrong-workspace": [{**jira.entry(ticketed), "workspaceId": "another-workspace"}],
        "mismatched-global-id": [{**jira.entry(ticketed), "id": f"{jira.sandbox.workspace_id}:1"}],
        "not-an-array": jira.entry(ticketed),
    }
    # The summary is valid: one bad field must still leave the whole issue unchanged.
    body = {"fields": {"summary": "Changed", field_id: values[problem]}}

    response = jira.request("PUT", f"/rest/api/3/issue/{ticket['key']}", json=body)

    assert response.status_code == 400
    error = response.json()
    assert error["errorMessages"] == [] and list(error["errors"]) == [field_id]
    assert jira.get(f"/rest/api/3/issue/{ticket['key']}") == before
    assert jira.tickets(ticketed)["tickets"][0] == ticket


def test_put_unknown_field_is_refused(jira: Jira) -> None:
    response = jira.request("PUT", "/rest/api/3/issue/ITSM-101", json={"fields": {"customfield_999": "x"}})
    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": [],
        "errors": {
            "customfield_999": (
                "Field 'customfield_999' cannot be set. It is not on the appropriate screen, or unknown."
            )
        },
    }


def test_put_summary_and_return_issue(jira: Jira) -> None:
    response = jira.request(
        "PUT",
        "/rest/api/3/issue/ITSM-101",
        params={"returnIssue": "true"},
        json={"fields": {"summary": "Disk full"}},
    )
    assert response.status_code == 200 and response.json()["fields"]["summary"] == "Disk full"
    issue = jira.get("/rest/api/3/issue/ITSM-101", fields="summary," + jira.assets_field())
    object_ids = [entry["objectId"] for entry in issue["fields"][jira.assets_field()]]
    assert [t["title"] for t in jira.tickets(object_ids[0])["tickets"] if t["key"] == "ITSM-101"] == [
        "Disk full"
    ]
    blank = jira.request("PUT", "/rest/api/3/issue/ITSM-101", json={"fields": {"summary": " "}})
    assert blank.status_code == 400 and list(blank.json()["errors"]) == ["summary"]


def test_deleting_an_object_removes_it_from_issue_fields(jira: Jira) -> None:
    seed = jira.sandbox.seed
    assert seed is not None
    ticketed = object_id(seed.ticketed_key)
    keys = [t["key"] for t in jira.tickets(ticketed)["tickets"]]
    field_id = jira.assets_field()
    assert jira.request("DELETE", f"object/{ticketed}").status_code == 204
    for key in keys:
        # Jira shows an emptied custom field as null.
        assert jira.get(f"/rest/api/3/issue/{key}", fields=field_id)["fields"][field_id] is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/rest/api/3/field"),
        ("GET", "/rest/api/3/issue/ITSM-101"),
        ("PUT", "/rest/api/3/issue/ITSM-101"),
        ("GET", "/rest/api/3/search/jql?jql=project%20%3D%20ITSM"),
        ("POST", "/rest/api/3/search/jql"),
    ],
)
def test_jira_routes_need_auth(read_only: Jira, method: str, path: str) -> None:
    body = {"jql": "project = ITSM"} if method == "POST" else {"fields": {"summary": "x"}}
    response = requests.request(method, f"{read_only.sandbox.url}{path}", json=body, timeout=10)
    assert response.status_code == 401
    assert response.json()["errorMessages"] and response.json()["errors"] == {}
    assert read_only.get("/rest/api/3/issue/ITSM-101")["fields"]["summary"] != "x"


def test_an_object_in_two_assets_fields_stays_connected_until_both_let_go(jira: Jira) -> None:
    seed = jira.sandbox.seed
    assert seed is not None
    ticketed = object_id(seed.ticketed_key)
    other = object_id(seed.person_with_manager)
    key = jira.tickets(ticketed)["tickets"][0]["key"]
    first, second = (
        f["id"] for f in jira.get("/rest/api/3/field") if f.get("schema", {}).get("custom") == ASSETS_TYPE
    )

    def put(fields: dict[str, Any]) -> None:
        response = jira.request("PUT", f"/rest/api/3/issue/{key}", json={"fields": fields})
        assert response.status_code == 204, response.text

    # The second field gets the same object and another one, in one edit.
    put({second: [jira.entry(other), jira.entry(ticketed)]})
    issue = jira.get(f"/rest/api/3/issue/{key}", fields=f"{first},{second}")
    assert jira.entry(ticketed) in issue["fields"][first]
    assert issue["fields"][second] == [jira.entry(other), jira.entry(ticketed)]
    assert key in [t["key"] for t in jira.tickets(other)["tickets"]]

    put({first: [e for e in issue["fields"][first] if e["objectId"] != ticketed]})
    assert key in [t["key"] for t in jira.tickets(ticketed)["tickets"]]  # still held by the second field
    put({second: None})
    assert key not in [t["key"] for t in jira.tickets(ticketed)["tickets"]]
    assert key not in [t["key"] for t in jira.tickets(other)["tickets"]]
    assert jira.get(f"/rest/api/3/issue/{key}", fields=second)["fields"][second] is None

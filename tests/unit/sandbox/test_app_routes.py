"""The sandbox's routes over real HTTP: auth, error shapes, shapes of answers, history and paging."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_assets.sandbox.app import create_app
from airflow_assets.sandbox.model import Site
from airflow_assets.sandbox.server import serve_in_thread

WORKSPACE = "ws-routes"
EMAIL = "admin@example.com"
TOKEN = "routes-secret-token"
ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
HOSTS = 23


class Clock:
    """A clock the tests move forward by hand."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class Served:
    url: str
    base: str
    site: Site
    session: requests.Session
    ids: dict[str, str]

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base}/{path}", params=params or None, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.session.request(
            method, f"{self.base}/{path}", json=body, params=params or None, timeout=10
        )

    def values(self, type_name: str, values: dict[str, list[str]]) -> dict[str, Any]:
        return {
            "objectTypeId": self.ids[type_name],
            "attributes": [
                {"objectTypeAttributeId": self.ids[name], "objectAttributeValues": [{"value": v} for v in vs]}
                for name, vs in values.items()
            ],
        }


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    site = Site(workspace_id=WORKSPACE, email=EMAIL, api_token=TOKEN, clock=Clock())
    site.add_user("acc-ada", "Ada Lovelace", "ada@example.com")
    site.add_user("acc-bob", "Bob Byte")
    site.add_group("it-ops")
    site.add_group("hr")
    ids: dict[str, str] = {}
    ids["schema"] = site.create_schema({"name": "Computers", "objectSchemaKey": "COMP"})["id"]
    for name in ("Host", "Room"):
        ids[name] = site.create_object_type({"name": name, "iconId": "1", "objectSchemaId": ids["schema"]})[
            "id"
        ]
    for type_name in ("Host", "Room"):
        ids[f"{type_name}.Name"] = next(a["id"] for a in site.list_attributes(ids[type_name]) if a["label"])
    ids["Name"] = ids["Host.Name"]
    for name, body in (
        ("Notes", {"type": 0, "defaultTypeId": 0}),
        ("Location", {"type": 1, "typeValue": ids["Room"], "additionalValue": "4"}),
        ("Admin", {"type": 2}),
        ("Team", {"type": 4, "maximumCardinality": -1}),
    ):
        ids[name] = site.create_attribute(ids["Host"], {"name": name, **body})["id"]
    room = site.create_object(
        {"objectTypeId": ids["Room"], "attributes": [
            {"objectTypeAttributeId": ids["Room.Name"], "objectAttributeValues": [{"value": "Server room"}]}]}
    )  # fmt: skip
    ids["room"] = room["id"]
    for number in range(HOSTS):
        name, location = f"host-{number:02d}", room["objectKey"]
        site.create_object(
            {"objectTypeId": ids["Host"], "attributes": [
                {"objectTypeAttributeId": ids["Name"], "objectAttributeValues": [{"value": name}]},
                {"objectTypeAttributeId": ids["Location"], "objectAttributeValues": [{"value": location}]}]}
        )  # fmt: skip
    with serve_in_thread(create_app(site)) as url, requests.Session() as session:
        session.auth = (EMAIL, TOKEN)
        yield Served(url, f"{url}/jsm/assets/workspace/{WORKSPACE}/v1", site, session, ids)


def assert_error_shape(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errorMessages", "errors"}, body
    return body


# --- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [None, (EMAIL, "wrong-token"), ("someone@example.com", TOKEN)],
    ids=["no credentials", "wrong token", "wrong email"],
)
@pytest.mark.parametrize(
    "path", ["/jsm/assets/workspace/ws-routes/v1/objectschema/list", "/rest/api/3/myself"]
)
def test_every_route_needs_the_site_credentials(
    served: Served, auth: tuple[str, str] | None, path: str
) -> None:
    response = requests.get(f"{served.url}{path}", auth=auth, timeout=10)
    body = assert_error_shape(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert TOKEN not in response.text and "wrong-token" not in response.text
    assert body["errorMessages"]


def test_unknown_routes_also_answer_401_before_404(served: Served) -> None:
    assert_error_shape(requests.get(f"{served.url}/no/such/route", timeout=10), 401)


# --- error shapes ----------------------------------------------------------------------------------


def test_errors_of_the_framework_use_the_atlassian_shape(served: Served) -> None:
    assert_error_shape(served.session.get(f"{served.url}/no/such/route", timeout=10), 404)
    assert_error_shape(served.session.patch(f"{served.base}/objectschema/list", timeout=10), 405)
    bad_param = served.send("GET", "objectschema/list", maxResults="many")
    assert "maxResults" in assert_error_shape(bad_param, 400)["errors"]
    assert_error_shape(served.send("GET", "object/999999"), 404)
    assert_error_shape(served.send("GET", "objecttype/abc"), 404)


def test_an_unknown_workspace_is_not_found(served: Served) -> None:
    response = served.session.get(f"{served.url}/jsm/assets/workspace/other/v1/objectschema/list", timeout=10)
    assert_error_shape(response, 404)


# --- site routes and shapes ------------------------------------------------------------------------


def test_workspace_discovery_and_myself(served: Served) -> None:
    discovery = served.session.get(f"{served.url}/rest/servicedeskapi/assets/workspace", timeout=10).json()
    assert discovery == {
        "size": 1,
        "start": 0,
        "limit": 50,
        "isLastPage": True,
        "values": [{"workspaceId": WORKSPACE}],
    }
    me = served.session.get(f"{served.url}/rest/api/3/myself", timeout=10).json()
    assert me["emailAddress"] == EMAIL and me["active"] is True and me["accountId"] == served.site.account_id


def test_an_object_has_the_documented_shape(served: Served) -> None:
    host = served.get("object/2")
    assert host["id"] == "2" and host["objectKey"] == "COMP-2" and host["globalId"] == f"{WORKSPACE}:2"
    assert host["label"] == host["name"] == "host-00"
    assert ISO_MS.fullmatch(host["created"]) and ISO_MS.fullmatch(host["updated"])
    assert host["timestamp"] == int(datetime.fromisoformat(host["updated"]).timestamp() * 1000)
    assert (
        host["objectType"]["id"] == served.ids["Host"]
        and host["objectType"]["objectSchemaId"] == served.ids["schema"]
    )
    assert host["_links"]["self"].endswith("/object/2") and host["extendedInfo"] == {
        "openIssuesExists": False,
        "attachmentsExists": False,
    }
    by_id = {entry["objectTypeAttributeId"]: entry for entry in host["attributes"]}
    assert by_id[served.ids["Name"]]["objectTypeAttribute"]["name"] == "Name"
    reference = by_id[served.ids["Location"]]["objectAttributeValues"][0]
    assert reference["referencedType"] is True and reference["displayValue"] == "Server room"
    assert reference["referencedObject"]["objectKey"] == "COMP-1" and reference["searchValue"] == "COMP-1"
    # Key, Name, Created, Updated: the four system attributes at positions 0-3, Name the label.
    definitions = served.get(f"objecttype/{served.ids['Host']}/attributes")
    assert [(a["name"], a["position"]) for a in definitions[:4]] == [
        ("Key", 0), ("Name", 1), ("Created", 2), ("Updated", 3),
    ]  # fmt: skip
    assert [a["name"] for a in definitions if a["label"]] == ["Name"]


def test_avatar_urls_carry_a_fresh_jwt_on_every_read(served: Served) -> None:
    def token(answer: dict[str, Any]) -> str:
        url = answer["avatar"]["url48"]
        assert url.startswith(served.url)
        return parse_qs(urlsplit(url).query)["jwt"][0]

    first, second = served.get("object/2"), served.get("object/2")
    assert token(first) != token(second)
    assert first["avatar"]["objectId"] == "2"


def test_schemas_list_with_counts_and_paging(served: Served) -> None:
    page = served.get("objectschema/list", includeCounts="true")
    assert page["isLast"] is True and page["total"] == 1
    (schema,) = page["values"]
    assert schema["objectSchemaKey"] == "COMP" and schema["objectCount"] == HOSTS + 1
    flat = served.get(f"objectschema/{served.ids['schema']}/objecttypes/flat", includeObjectCounts="true")
    assert {t["name"]: t["objectCount"] for t in flat} == {"Host": HOSTS, "Room": 1}


# --- AQL paging ------------------------------------------------------------------------------------


def test_aql_pages_until_is_last_with_definitions_once(served: Served) -> None:
    seen: list[str] = []
    start = 0
    while True:
        response = served.send(
            "POST", "object/aql", {"qlQuery": "objectType = Host"}, startAt=start, maxResults=7
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["startAt"] == start and page["maxResults"] == 7
        assert {a["id"] for a in page["objectTypeAttributes"]} >= {served.ids["Name"], served.ids["Location"]}
        for value in page["values"]:
            assert all(
                set(a) >= {"objectTypeAttributeId", "objectAttributeValues"} for a in value["attributes"]
            )
            assert all("objectTypeAttribute" not in a for a in value["attributes"])
        seen += [value["objectKey"] for value in page["values"]]
        start += len(page["values"])
        if page["isLast"]:
            break
    assert len(seen) == len(set(seen)) == HOSTS
    assert served.send("POST", "object/aql/totalcount", {"qlQuery": "objectType = Host"}).json() == {
        "totalCount": HOSTS
    }


def test_aql_pages_default_to_25_and_can_leave_attributes_out(served: Served) -> None:
    page = served.send("POST", "object/aql", {"qlQuery": ""}, includeAttributes="false").json()
    assert page["maxResults"] == 25 and len(page["values"]) == HOSTS + 1 and page["isLast"] is True
    assert all(value["attributes"] == [] for value in page["values"])


def test_invalid_aql_is_a_400(served: Served) -> None:
    response = served.send("POST", "object/aql", {"qlQuery": "NoSuchAttribute = 1"})
    assert assert_error_shape(response, 400)["errorMessages"]


def test_legacy_iql_paging_counts_pages(served: Served) -> None:
    answer = served.get("iql/objects", iql="objectType = Host", page=2, resultPerPage=10)
    assert answer["pageSize"] == 3 and answer["pageNumber"] == 2 and answer["pageObjectSize"] == 10
    assert answer["totalFilterCount"] == HOSTS and answer["objectTypeId"] == served.ids["Host"]
    assert answer["objectEntries"][0]["label"] == "host-10"
    aql = served.get("aql/objects", qlQuery="objectType = Host", page=3, resultPerPage=10)
    assert aql["pageObjectSize"] == 3


def test_legacy_routes_narrow_to_a_schema_whatever_the_query_quotes(served: Served) -> None:
    name = "Rack order by size"
    other = served.send("POST", "objectschema/create", {"name": "Storage", "objectSchemaKey": "STOR"}).json()
    try:
        shelf = served.send(
            "POST", "objecttype/create", {"name": "Shelf", "iconId": "1", "objectSchemaId": other["id"]}
        ).json()
        shelf_name = next(a["id"] for a in served.get(f"objecttype/{shelf['id']}/attributes") if a["label"])
        for type_id, attribute_id in (
            (served.ids["Room"], served.ids["Room.Name"]),
            (shelf["id"], shelf_name),
        ):
            body = {
                "objectTypeId": type_id,
                "attributes": [
                    {"objectTypeAttributeId": attribute_id, "objectAttributeValues": [{"value": name}]}
                ],
            }
            assert served.send("POST", "object/create", body).status_code == 201
        query = f'Name = "{name}" order by Name desc'
        assert served.get("iql/objects", iql=query)["totalFilterCount"] == 2
        narrowed = served.get("iql/objects", iql=query, objectSchemaId=served.ids["schema"])
        assert narrowed["totalFilterCount"] == 1 and narrowed["iql"] == query
        assert narrowed["objectEntries"][0]["objectType"]["id"] == served.ids["Room"]
        rooms = served.get(
            "aql/objects", qlQuery="objectType = Room order by Name desc", objectSchemaId=served.ids["schema"]
        )
        assert [entry["label"] for entry in rooms["objectEntries"]] == ["Server room", name]
        assert_error_shape(served.send("GET", "iql/objects", iql="", objectSchemaId="\u00b2"), 400)
    finally:
        for object_id in served.site.search(f'Name = "{name}"'):
            served.site.delete_object(str(object_id))
        served.send("DELETE", f"objectschema/{other['id']}")
    assert served.get("iql/objects", iql="")["totalFilterCount"] == HOSTS + 1


def test_legacy_routes_mark_their_answers_as_search_results(served: Served) -> None:
    # Older public scripts page iql/objects only while iqlSearchResult is true.
    iql = served.get("iql/objects", iql="objectType = Room")
    assert iql["iqlSearchResult"] is True and iql["iql"] == "objectType = Room"
    assert "qlQuery" not in iql and "qlQuerySearchResult" not in iql
    aql = served.get("aql/objects", qlQuery="objectType = Room")
    assert aql["qlQuerySearchResult"] is True and aql["qlQuery"] == "objectType = Room"
    assert "iql" not in aql and "iqlSearchResult" not in aql


@pytest.mark.parametrize("path", ["object/aql", "object/aql/totalcount"])
def test_aql_bodies_name_the_query_ql_query_only(served: Served, path: str) -> None:
    answer = assert_error_shape(served.send("POST", path, {"iql": "objectType = Host"}), 400)
    assert "qlQuery" in answer["errors"]
    assert served.send("POST", path, {"qlQuery": "objectType = Host"}).status_code == 200


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("Created > now(99999999999d)", 400),
        ("Created > startOfYear(9999y)", 400),
        ('Created > "2024-01-31T10:00:00+99:99"', 400),
        ("objectTypeId = \u00b2", 400),
        ('Created > "9999-12-31T23:59"', 200),
        ("Created < endOfYear(+7975y)", 200),  # the end of year 9999
    ],
)
def test_aql_out_of_range_dates_and_odd_digits_are_never_a_500(
    served: Served, query: str, status: int
) -> None:
    response = served.send("POST", "object/aql", {"qlQuery": query})
    assert response.status_code == status, response.text


# --- history, comments, tickets --------------------------------------------------------------------


def test_history_is_recorded_on_create_update_and_delete(served: Served) -> None:
    created = served.send(
        "POST", "object/create", served.values("Host", {"Name": ["hist"], "Notes": ["one"]})
    ).json()
    path = f"object/{created['id']}"
    assert [entry["type"] for entry in served.get(f"{path}/history")] == [0]
    changes = {
        "Notes": ["two"],
        "Admin": ["acc-ada"],
        "Team": ["it-ops", "hr"],
        "Location": [served.ids["room"]],
    }
    updated = served.send("PUT", path, served.values("Host", changes))
    assert updated.status_code == 200, updated.text
    history = served.get(f"{path}/history", asc="true")
    assert [(e["type"], e.get("affectedAttribute")) for e in history] == [
        (0, None), (2, "Notes"), (4, "Location"), (9, "Admin"), (15, "Team"),
    ]  # fmt: skip
    notes, room, admin, team = history[1:]
    assert (notes["oldValue"], notes["newValue"]) == ("one", "two")
    assert room["newValue"] == "Server room" and admin["newValue"] == "Ada Lovelace"
    assert team["newValue"] == "it-ops, hr"
    assert all(ISO_MS.fullmatch(e["created"]) and e["objectId"] == created["id"] for e in history)
    assert history[1]["actor"]["key"] == served.site.account_id
    assert served.get(f"{path}/history")[0]["id"] == team["id"]  # newest first by default

    # Omitted attributes keep their values; an unchanged write records nothing and keeps `updated`.
    before = served.get(path)
    same = served.send("PUT", path, served.values("Host", {"Notes": ["two"]}))
    assert same.json()["updated"] == before["updated"]
    cleared = served.send("PUT", path, served.values("Host", {"Notes": [], "Admin": []})).json()
    assert cleared["updated"] > before["updated"]
    assert {a["objectTypeAttributeId"] for a in cleared["attributes"]} >= {
        served.ids["Team"],
        served.ids["Location"],
    }
    tail = served.get(f"{path}/history")[:2]
    assert sorted((e["type"], e["oldValue"]) for e in tail) == [(3, "two"), (11, "Ada Lovelace")]

    assert served.send("DELETE", path).status_code == 204
    assert_error_shape(served.send("GET", f"{path}/history"), 404)


def test_deleting_a_referenced_object_records_a_deleted_reference(served: Served) -> None:
    room = served.send("POST", "object/create", served.values("Room", {"Room.Name": ["Closet"]})).json()
    host = served.send(
        "POST",
        "object/create",
        served.values("Host", {"Name": ["in-closet"], "Location": [room["objectKey"]]}),
    ).json()
    info = served.get(f"object/{room['id']}/referenceinfo")
    assert [(i["objectType"]["name"], i["numberOfReferencedObjects"]) for i in info] == [("Host", 1)]
    assert served.send("DELETE", f"object/{room['id']}").status_code == 204
    last = served.get(f"object/{host['id']}/history")[0]
    assert (last["type"], last["affectedAttribute"], last["oldValue"]) == (6, "Location", "Closet")
    assert served.ids["Location"] not in {
        a["objectTypeAttributeId"] for a in served.get(f"object/{host['id']}")["attributes"]
    }


def test_comments_and_connected_tickets(served: Served) -> None:
    text = "  Rebooted\n\n  twice  \n"
    response = served.send("POST", "comment/create", {"comment": text, "objectId": "3", "role": 1})
    assert response.status_code == 201, response.text
    assert response.json()["comment"] == text
    comments = served.get("comment/object/3")
    # Stored as written: a restore must find the very text it backed up.
    assert [(c["comment"], c["role"], c["objectId"]) for c in comments] == [(text, 1, "3")]
    assert (
        "comment"
        in assert_error_shape(
            served.send("POST", "comment/create", {"comment": " \n ", "objectId": "3"}), 400
        )["errors"]
    )
    assert (
        "role"
        in assert_error_shape(
            served.send("POST", "comment/create", {"comment": "x", "objectId": "3", "role": 9}), 400
        )["errors"]
    )
    served.site.add_connected_ticket("3", {"key": "ITSM-1", "id": "10001", "title": "Disk full"})
    tickets = served.get("objectconnectedtickets/3/tickets")
    assert [t["key"] for t in tickets["tickets"]] == ["ITSM-1"] and "ITSM-1" in tickets["allTicketsQuery"]
    assert served.get("object/3")["extendedInfo"]["openIssuesExists"] is True


def test_config_routes(served: Served) -> None:
    icons = served.get("icon/global")
    assert any(not icon["id"].isdigit() for icon in icons)
    assert served.get(f"icon/{icons[0]['id']}")["name"] == icons[0]["name"]
    created = served.send(
        "POST", "config/statustype", {"name": "Broken", "category": 0, "objectSchemaId": "1"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["objectSchemaId"] == served.ids["schema"]
    assert "Broken" not in {s["name"] for s in served.get("config/statustype")}
    assert "Broken" in {
        s["name"] for s in served.get("config/statustype", objectSchemaId=served.ids["schema"])
    }
    served.send(
        "POST", "config/referencetype", {"name": "Cabled to", "color": "ff0000", "objectSchemaId": "1"}
    )
    own = served.get("config/referencetype", objectSchemaId=served.ids["schema"])
    assert [r["name"] for r in own] == ["Cabled to"]
    assert "Reference" in {
        r["name"] for r in served.get("config/referencetype", objectSchemaId="1", includeAll="true")
    }


def test_jira_user_and_group_directory(served: Served) -> None:
    def jira(path: str, **params: Any) -> Any:
        response = served.session.get(f"{served.url}/rest/api/3/{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    assert [u["accountId"] for u in jira("user/search", query="lov")] == ["acc-ada"]
    assert [u["displayName"] for u in jira("user/search", accountId="acc-bob")] == ["Bob Byte"]
    assert len(jira("users/search", maxResults=2)) == 2
    groups = jira("group/bulk", groupName="hr")
    assert [g["name"] for g in groups["values"]] == ["hr"] and groups["isLast"] is True
    assert_error_shape(served.session.get(f"{served.url}/rest/api/3/user/search", timeout=10), 400)


# --- what the server owns, and the smaller shapes of the OpenAPI description ----------------------


def test_values_for_key_created_and_updated_are_ignored_not_refused(served: Served) -> None:
    system = {a["name"]: a["id"] for a in served.get(f"objecttype/{served.ids['Host']}/attributes")[:4]}
    sent = {"Key": "FAKE-999", "Created": "2001-01-01T00:00:00.000Z", "Updated": "2002-02-02T00:00:00.000Z"}

    def body(name: str) -> dict[str, Any]:
        written = served.values("Host", {"Name": [name]})
        written["attributes"] += [
            {"objectTypeAttributeId": system[attribute], "objectAttributeValues": [{"value": value}]}
            for attribute, value in sent.items()
        ]
        return written

    response = served.send("POST", "object/create", body("restored"))
    assert response.status_code == 201, response.text
    created = response.json()
    path = f"object/{created['id']}"
    try:
        assert created["label"] == "restored" and created["objectKey"] == f"COMP-{created['id']}"
        assert not created["created"].startswith("2001") and not created["updated"].startswith("2002")
        response = served.send("PUT", path, body("restored again"))
        assert response.status_code == 200, response.text
        updated = response.json()
        assert updated["label"] == "restored again" and updated["objectKey"] == created["objectKey"]
        assert updated["created"] == created["created"] and updated["updated"] > created["updated"]
        values = {
            a["objectTypeAttributeId"]: a["objectAttributeValues"][0]["value"] for a in updated["attributes"]
        }
        assert values[system["Key"]] == created["objectKey"]
        assert not set(sent.values()) & set(values.values())
        affected = {entry.get("affectedAttribute") for entry in served.get(f"{path}/history")}
        assert affected == {None, "Name"}
    finally:
        served.send("DELETE", path)


def test_object_avatars_carry_their_global_id_and_uploaded_ones_their_ids(served: Served) -> None:
    created = served.send("POST", "object/create", served.values("Host", {"Name": ["pictured"]})).json()
    path = f"object/{created['id']}"
    try:
        avatar = created["avatar"]
        assert avatar["workspaceId"] == WORKSPACE and avatar["globalId"] == f"{WORKSPACE}:{created['id']}"
        assert "id" not in avatar and "avatarUUID" not in avatar
        uuid = "4f1c3a5e-2b7d-4e8a-9c0f-1a2b3c4d5e6f"
        pictured = served.send("PUT", path, {"avatarUUID": uuid}).json()
        assert pictured["hasAvatar"] is True
        assert pictured["avatar"]["avatarUUID"] == uuid and pictured["avatar"]["id"] == created["id"]
        assert pictured["avatar"]["globalId"] == avatar["globalId"]
    finally:
        served.send("DELETE", path)


def test_group_values_carry_an_avatar_url(served: Served) -> None:
    created = served.send(
        "POST", "object/create", served.values("Host", {"Name": ["grouped"], "Team": ["it-ops"]})
    ).json()
    try:
        (team,) = [a for a in created["attributes"] if a["objectTypeAttributeId"] == served.ids["Team"]]
        group = team["objectAttributeValues"][0]["group"]
        assert group["name"] == "it-ops" and group["avatarUrl"].startswith(served.url)
    finally:
        served.send("DELETE", f"object/{created['id']}")


def test_reference_info_says_whether_referring_objects_have_open_issues(served: Served) -> None:
    room = served.send("POST", "object/create", served.values("Room", {"Room.Name": ["Lab"]})).json()
    host = served.send(
        "POST", "object/create", served.values("Host", {"Name": ["in-lab"], "Location": [room["objectKey"]]})
    ).json()
    try:
        (info,) = served.get(f"object/{room['id']}/referenceinfo")
        assert info["numberOfReferencedObjects"] == 1 and info["openIssuesExists"] is False
        served.site.add_connected_ticket(host["id"], {"key": "ITSM-77", "title": "Lab host down"})
        (info,) = served.get(f"object/{room['id']}/referenceinfo")
        assert info["openIssuesExists"] is True
    finally:
        served.send("DELETE", f"object/{host['id']}")
        served.send("DELETE", f"object/{room['id']}")


def test_connected_tickets_have_the_openapi_fields(served: Served) -> None:
    host = served.send("POST", "object/create", served.values("Host", {"Name": ["ticketed"]})).json()
    try:
        served.site.add_connected_ticket(host["id"], {"key": "ITSM-88", "id": "10088", "reporter": "acc-bob"})
        served.site.add_connected_ticket(host["id"], {"key": "ITSM-89", "id": "10089"})
        tickets = served.get(f"objectconnectedtickets/{host['id']}/tickets")["tickets"]
        assert [(t["workspaceId"], t["globalId"], t["reporter"]) for t in tickets] == [
            (WORKSPACE, f"{WORKSPACE}:10088", "acc-bob"),
            (WORKSPACE, f"{WORKSPACE}:10089", served.site.account_id),
        ]
        assert set(tickets[0]["status"]) == {"name", "description", "colorName"}
        assert set(tickets[0]["type"]) == {"name", "description", "iconUrl"}
        assert set(tickets[0]["priority"]) == {"name", "iconUrl"}
        assert tickets[0]["type"]["iconUrl"].startswith(served.url)
    finally:
        served.send("DELETE", f"object/{host['id']}")

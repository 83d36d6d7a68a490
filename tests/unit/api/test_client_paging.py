"""Paging: short pages, isLast, a misleading total, a server that never says isLast, laziness."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_assets.api import AqlPage, AssetsClient, StartAtPaginator
from airflow_assets.api.paging import is_last_page, says_more_pages
from airflow_assets.exceptions import AssetsConfigError, AssetsTransportError


def test_aql_pages_advance_by_values_received_and_stop_on_is_last(site: Any, client: AssetsClient) -> None:
    site.add_objects(100)
    site.page_cap = 7  # the server returns fewer than asked
    ids = [obj["id"] for obj in client.iter_objects("objectSchemaId = 3", page_size=25)]
    assert ids == [str(i) for i in range(1, 101)]
    calls = site.calls_to("POST", "object/aql")
    assert [int(call.query["startAt"]) for call in calls] == list(range(0, 100, 7))
    assert {call.query["maxResults"] for call in calls} == {"25"}
    assert {call.query["includeAttributes"] for call in calls} == {"true"}
    assert all(call.body == {"qlQuery": "objectSchemaId = 3"} for call in calls)


def test_total_is_never_trusted(site: Any, client: AssetsClient) -> None:
    site.add_objects(12)  # every page claims total = 3
    assert len(list(client.iter_objects("objectTypeId = 1", page_size=5))) == 12


def test_server_that_never_says_is_last_stops_on_an_empty_page(site: Any, client: AssetsClient) -> None:
    site.add_objects(10)
    site.omit_is_last = True
    assert len(list(client.iter_objects("Key = X", page_size=4))) == 10
    assert [call.query["startAt"] for call in site.calls_to("POST", "object/aql")] == ["0", "4", "8", "10"]


def test_server_that_ignores_start_at_is_stopped_not_looped(site: Any, client: AssetsClient) -> None:
    site.add_objects(10)
    site.omit_is_last = True
    site.ignore_start_at = True

    read: list[str] = []
    with pytest.raises(AssetsTransportError, match="startAt=4"):
        read.extend(obj["id"] for obj in client.iter_objects("Key = X", page_size=4))

    assert read == ["1", "2", "3", "4"], "no object may be yielded twice"


def test_aql_pages_are_records_with_attribute_definitions(site: Any, client: AssetsClient) -> None:
    site.add_objects(5)
    pages = list(client.iter_aql_pages("objectSchemaId = 3", page_size=2, include_attributes=False))
    assert [page.start_at for page in pages] == [0, 2, 4]
    assert [page.is_last for page in pages] == [False, False, True]
    assert all(
        isinstance(page, AqlPage) and page.object_type_attributes[0]["name"] == "Name" for page in pages
    )
    assert site.calls_to("POST", "object/aql")[0].query["includeAttributes"] == "false"


def test_empty_result_is_one_empty_page(site: Any, client: AssetsClient) -> None:
    pages = list(client.iter_aql_pages("objectSchemaId = 404"))
    assert len(pages) == 1 and list(pages[0].values) == []


def test_paging_is_lazy(site: Any, client: AssetsClient) -> None:
    site.add_objects(1000)
    objects = client.iter_objects("objectSchemaId = 3", page_size=10)
    first = next(objects)
    assert first["id"] == "1"
    assert len(site.calls_to("POST", "object/aql")) == 1
    objects.close()


def test_start_at_resumes_a_walk(site: Any, client: AssetsClient) -> None:
    site.add_objects(30)
    pages = list(client.iter_aql_pages("objectSchemaId = 3", page_size=10, start_at=25))
    assert [obj["id"] for page in pages for obj in page.values] == ["26", "27", "28", "29", "30"]


def test_schema_list_pages(site: Any, client: AssetsClient) -> None:
    site.schemas = [{"id": str(i), "name": f"S{i}", "objectSchemaKey": f"S{i}"} for i in range(1, 8)]
    site.page_cap = 3
    names = [schema["name"] for schema in client.iter_object_schemas(page_size=50, include_counts=True)]
    assert names == [f"S{i}" for i in range(1, 8)]
    calls = site.calls_to("GET", "objectschema/list")
    assert [call.query["startAt"] for call in calls] == ["0", "3", "6"]
    assert calls[0].query["includeCounts"] == "true"


def test_count_objects_uses_totalcount(site: Any, client: AssetsClient) -> None:
    site.add_objects(42)
    assert client.count_objects("objectSchemaId = 3") == 42


@pytest.mark.parametrize(
    "page",
    [{"values": [], "isLast": False}, {"values": [1], "isLast": True}, {"values": [1], "last": "true"}],
)
def test_paginator_stops(page: dict[str, Any]) -> None:
    assert StartAtPaginator(page_size=10).following(page) is None


def test_paginator_rejects_bad_page_size() -> None:
    with pytest.raises(AssetsConfigError, match="page_size"):
        StartAtPaginator(page_size=0)


def test_aql_page_fetches_one_page_with_paging_in_the_query_string(site: Any, client: AssetsClient) -> None:
    site.add_objects(10)
    page = client.aql_page("objectSchemaId = 3", start_at=4, max_results=3, include_attributes=False)
    assert [obj["id"] for obj in page.values] == ["5", "6", "7"]
    assert (page.start_at, page.max_results, page.is_last) == (4, 3, False)
    (call,) = site.calls_to("POST", "object/aql")
    assert call.query == {"startAt": "4", "maxResults": "3", "includeAttributes": "false"}
    assert call.body == {"qlQuery": "objectSchemaId = 3"}


def test_aql_page_refuses_a_bad_start(client: AssetsClient) -> None:
    with pytest.raises(AssetsConfigError, match="start_at"):
        client.aql_page("objectSchemaId = 3", start_at=-1)


def test_a_list_answered_in_pages_is_read_to_the_last_page(site: Any, client: AssetsClient) -> None:
    path = "objecttype/7/attributes"
    site.script(
        "GET",
        path,
        # The OpenAPI examples send isLast as a string.
        {"body": {"startAt": 0, "maxResults": 2, "values": [{"id": "1"}, {"id": "2"}], "isLast": "false"}},
        {"body": {"startAt": "2", "maxResults": 2, "values": [{"id": "3"}], "isLast": False, "last": False}},
        {"body": {"startAt": 3, "maxResults": 2, "values": [{"id": "4"}], "isLast": "true"}},
    )
    assert [a["id"] for a in client.get_object_type_attributes("7", order_by_name=True)] == [
        "1",
        "2",
        "3",
        "4",
    ]
    calls = site.calls_to("GET", path)
    assert [call.query.get("startAt") for call in calls] == [None, "2", "3"]
    assert [call.query.get("maxResults") for call in calls] == [None, "2", "2"]
    assert all(call.query["orderByName"] == "true" for call in calls), "the caller's parameters are kept"


def test_a_page_that_does_not_say_more_follow_is_the_whole_list(site: Any, client: AssetsClient) -> None:
    site.script("GET", "config/statustype", {"body": {"values": [{"id": "1"}], "total": 40}})
    assert client.get_status_types() == [{"id": "1"}]
    assert len(site.calls_to("GET", "config/statustype")) == 1


@pytest.mark.parametrize(
    ("page", "last", "more"),
    [
        ({"isLast": True}, True, False),
        ({"isLast": "true"}, True, False),
        ({"isLast": " TRUE "}, True, False),
        ({"last": "true"}, True, False),
        ({"isLast": False}, False, True),
        ({"isLast": "false"}, False, True),
        ({"last": "False"}, False, True),
        ({}, False, False),
        ({"isLast": "maybe"}, False, False),
    ],
)
def test_is_last_is_read_as_a_bool_or_a_string(page: dict[str, Any], last: bool, more: bool) -> None:
    assert is_last_page(page) is last
    assert says_more_pages(page) is more


def test_numeric_parent_object_type_ids_pass_through(site: Any, client: AssetsClient) -> None:
    # The OpenAPI types parentObjectTypeId as a number in responses.
    types = [{"id": "2", "name": "Root"}, {"id": "3", "name": "Child", "parentObjectTypeId": 2}]
    site.script("GET", "objectschema/1/objecttypes/flat", {"body": types})
    assert client.get_object_types("1") == types
    site.script(
        "GET", "objectschema/1/objecttypes/flat", {"body": {"values": types, "isLast": True, "startAt": 0}}
    )
    assert client.get_object_types("1") == types

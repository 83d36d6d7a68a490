"""Paging: short pages, isLast, a misleading total, a server that never says isLast, laziness."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_assets.api import AqlPage, AssetsClient, StartAtPaginator
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

"""Every endpoint method sends the documented method, path, query string and body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_assets.api import AssetsClient

Case = tuple[Callable[[AssetsClient], Any], str, str, dict[str, str], Any]

CASES: list[Case] = [
    (lambda c: c.get_object_schema("39"), "GET", "objectschema/39", {}, None),
    (
        lambda c: c.create_object_schema({"name": "IT", "objectSchemaKey": "IT"}),
        "POST",
        "objectschema/create",
        {},
        {"name": "IT", "objectSchemaKey": "IT"},
    ),
    (
        lambda c: c.update_object_schema("39", {"description": "d"}),
        "PUT",
        "objectschema/39",
        {},
        {"description": "d"},
    ),
    (lambda c: c.delete_object_schema("39"), "DELETE", "objectschema/39", {}, None),
    (
        lambda c: c.get_object_types("39", include_object_counts=True),
        "GET",
        "objectschema/39/objecttypes/flat",
        {"includeObjectCounts": "true"},
        None,
    ),
    (
        lambda c: c.get_schema_attributes("39"),
        "GET",
        "objectschema/39/attributes",
        {"onlyValueEditable": "false"},
        None,
    ),
    (lambda c: c.get_schema_properties("39"), "GET", "global/config/objectschema/39/property", {}, None),
    (
        lambda c: c.set_schema_properties("39", {"allowOtherObjectSchema": True}),
        "POST",
        "global/config/objectschema/39/property",
        {},
        {"allowOtherObjectSchema": True},
    ),
    (lambda c: c.get_object_type("23"), "GET", "objecttype/23", {}, None),
    (
        lambda c: c.create_object_type({"name": "Office", "iconId": "1", "objectSchemaId": "39"}),
        "POST",
        "objecttype/create",
        {},
        {"name": "Office", "iconId": "1", "objectSchemaId": "39"},
    ),
    (lambda c: c.update_object_type("23", {"name": "Site"}), "PUT", "objecttype/23", {}, {"name": "Site"}),
    (lambda c: c.delete_object_type("23"), "DELETE", "objecttype/23", {}, None),
    (
        lambda c: c.position_object_type("23", position=2, to_object_type_id="19"),
        "POST",
        "objecttype/23/position",
        {},
        {"position": 2, "toObjectTypeId": "19"},
    ),
    (
        lambda c: c.get_object_type_attributes("23", exclude_parent_attributes=True),
        "GET",
        "objecttype/23/attributes",
        {
            "onlyValueEditable": "false",
            "orderByName": "false",
            "includeValuesExist": "false",
            "excludeParentAttributes": "true",
            "includeChildren": "false",
            "orderByRequired": "false",
        },
        None,
    ),
    (
        lambda c: c.create_attribute("23", {"name": "City", "type": 0}),
        "POST",
        "objecttypeattribute/23",
        {},
        {"name": "City", "type": 0},
    ),
    (
        lambda c: c.update_attribute("23", "144", {"name": "Town"}),
        "PUT",
        "objecttypeattribute/23/144",
        {},
        {"name": "Town"},
    ),
    (lambda c: c.delete_attribute("144"), "DELETE", "objecttypeattribute/144", {}, None),
    (
        lambda c: c.position_attribute("23", "144", 4),
        "POST",
        "objecttypeattribute/23/144/position",
        {},
        {"position": 4},
    ),
    (lambda c: c.get_object("88"), "GET", "object/88", {}, None),
    (
        lambda c: c.create_object({"objectTypeId": "23", "attributes": []}),
        "POST",
        "object/create",
        {},
        {"objectTypeId": "23", "attributes": []},
    ),
    (lambda c: c.update_object("88", {"attributes": []}), "PUT", "object/88", {}, {"attributes": []}),
    (lambda c: c.delete_object("88"), "DELETE", "object/88", {}, None),
    (lambda c: c.get_object_attributes("88"), "GET", "object/88/attributes", {}, None),
    (lambda c: c.get_object_history("88"), "GET", "object/88/history", {"asc": "true"}, None),
    (lambda c: c.get_object_reference_info("88"), "GET", "object/88/referenceinfo", {}, None),
    (lambda c: c.get_connected_tickets("88"), "GET", "objectconnectedtickets/88/tickets", {}, None),
    (lambda c: c.get_object_comments("88"), "GET", "comment/object/88", {}, None),
    (
        lambda c: c.create_comment("88", "hello", role=1),
        "POST",
        "comment/create",
        {},
        {"comment": "hello", "objectId": "88", "role": 1},
    ),
    (
        lambda c: c.get_status_types(object_schema_id="39"),
        "GET",
        "config/statustype",
        {"objectSchemaId": "39"},
        None,
    ),
    (lambda c: c.get_status_types(), "GET", "config/statustype", {}, None),
    (
        lambda c: c.create_status_type({"name": "Active", "category": 1}),
        "POST",
        "config/statustype",
        {},
        {"name": "Active", "category": 1},
    ),
    (
        lambda c: c.update_status_type("12", {"name": "Live", "category": 1}),
        "PUT",
        "config/statustype/12",
        {},
        {"name": "Live", "category": 1},
    ),
    (lambda c: c.delete_status_type("12"), "DELETE", "config/statustype/12", {}, None),
    (
        lambda c: c.get_reference_types(object_schema_id="39", include_all=True),
        "GET",
        "config/referencetype",
        {"objectSchemaId": "39", "includeAll": "true"},
        None,
    ),
    (
        lambda c: c.create_reference_type({"name": "Uses"}),
        "POST",
        "config/referencetype",
        {},
        {"name": "Uses"},
    ),
    (
        lambda c: c.update_reference_type("8", {"name": "Runs on", "color": "ff0000"}),
        "PUT",
        "config/referencetype/8",
        {},
        {"name": "Runs on", "color": "ff0000"},
    ),
    (lambda c: c.delete_reference_type("8"), "DELETE", "config/referencetype/8", {}, None),
    (lambda c: c.get_global_icons(), "GET", "icon/global", {}, None),
    (lambda c: c.get_icon("8c1e-uuid"), "GET", "icon/8c1e-uuid", {}, None),
    (
        lambda c: c.count_objects("objectSchemaId = 39"),
        "POST",
        "object/aql/totalcount",
        {},
        {"qlQuery": "objectSchemaId = 39"},
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body"), CASES, ids=[f"{c[1]} {c[2]}" for c in CASES]
)
def test_endpoint_sends_the_documented_request(
    site: Any,
    make_client: Callable[..., AssetsClient],
    call: Callable[[AssetsClient], Any],
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
) -> None:
    client = make_client(workspace_id="ws-0001")
    call(client)
    (seen,) = site.calls
    assert (seen.method, seen.path, seen.query, seen.body) == (method, path, query, body)
    assert seen.authorized


def test_ids_are_quoted_not_spliced_into_the_path(
    site: Any, make_client: Callable[..., AssetsClient]
) -> None:
    client = make_client(workspace_id="ws-0001")
    client.get_object("../objectschema/1")
    (seen,) = site.calls
    assert seen.raw_path.endswith("/object/..%2Fobjectschema%2F1")


def test_list_answers_are_returned_as_lists(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/88/history", {"body": [{"id": "1", "type": 0}, {"id": "2", "type": 99}]})
    assert client.get_object_history("88") == [{"id": "1", "type": 0}, {"id": "2", "type": 99}]


def test_myself_uses_the_site(site: Any, client: AssetsClient) -> None:
    site.script("GET", "rest/api/3/myself", {"body": {"accountId": "abc", "emailAddress": site.email}})
    assert client.myself()["accountId"] == "abc"
    assert site.calls[-1].path == "rest/api/3/myself"

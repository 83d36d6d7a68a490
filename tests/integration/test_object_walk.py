"""The id-window walk lists every object even when the site changes between pages; startAt paging does not."""

from __future__ import annotations

from itertools import pairwise

import pytest

from airflow_assets.api import AssetsClient
from airflow_assets.api.listing import WalkStats, plan_lanes, walk_lane, walk_type
from airflow_assets.model.normalize import ids_of
from airflow_assets.sandbox.launch import RunningSandbox, run_sandbox
from airflow_assets.sandbox.realism import RealismConfig
from tests.integration.backup_support import client_for


def _laptops(client: AssetsClient, type_id: str) -> set[str]:
    return {str(o["id"]) for o in client.iter_objects(f"objectTypeId = {type_id}", page_size=1000)}


def _new_laptop(client: AssetsClient, type_id: str) -> str:
    name = next(a["id"] for a in client.get_object_type_attributes(type_id) if a["name"] == "Name")
    body = {"objectTypeId": type_id, "attributes": [
        {"objectTypeAttributeId": name, "objectAttributeValues": [{"value": "LT-NEW"}]}
    ]}  # fmt: skip
    return str(client.create_object(body)["id"])


def test_windows_miss_nothing_when_objects_are_deleted_and_created_between_pages(
    sandbox: RunningSandbox,
) -> None:
    client = client_for(sandbox)
    laptop = sandbox.seed.type_ids["Laptop"]
    before = _laptops(client, laptop)
    listed: list[str] = []
    deleted: str | None = None
    stats = WalkStats()

    for window in walk_type(client, laptop, page_size=10, include_attributes=False, stats=stats):
        listed.extend(ids_of(window.objects))
        if deleted is None and listed:
            # Between two pages: one object already read disappears, a new one appears.
            deleted = listed[0]
            client.delete_object(deleted)
            _new_laptop(client, laptop)

    survivors = before - {deleted}
    assert survivors <= set(listed)
    assert len(listed) == len(set(listed))  # nothing twice
    assert stats.requests > len(before) // 10


def test_start_at_paging_skips_an_object_in_the_same_situation(sandbox: RunningSandbox) -> None:
    # Why the walk above exists: this is what older public scripts (and the client's own iter_objects) do.
    client = client_for(sandbox)
    laptop = sandbox.seed.type_ids["Laptop"]
    before = _laptops(client, laptop)
    listed: list[str] = []
    for page in client.iter_aql_pages(f"objectTypeId = {laptop}", page_size=10, include_attributes=False):
        listed.extend(ids_of(page.values))
        if len(listed) == 10:
            client.delete_object(listed[0])

    missed = before - {listed[0]} - set(listed)
    assert len(missed) == 1


@pytest.mark.parametrize("cap", [7, 25])
def test_a_server_that_caps_the_page_size_is_followed(cap: int) -> None:
    with run_sandbox(seed="demo", realism=RealismConfig(page_size_cap=cap)) as site:
        client = client_for(site)
        laptop = site.seed.type_ids["Laptop"]
        listed = [
            object_id
            for window in walk_type(client, laptop, page_size=100, include_attributes=True)
            for object_id in ids_of(window.objects)
        ]
        assert sorted(listed, key=int) == sorted(_laptops(client, laptop), key=int)


def test_lanes_of_a_large_type_together_hold_every_object_once(sandbox: RunningSandbox) -> None:
    client = client_for(sandbox)
    laptop = sandbox.seed.type_ids["Laptop"]
    stats = WalkStats()
    lanes = plan_lanes(client, laptop, expected=93, lane_objects=20, max_lanes=4, stats=stats)

    listed = [
        object_id
        for lane in lanes
        for window in walk_lane(client, lane, page_size=10, include_attributes=False, stats=stats)
        for object_id in ids_of(window.objects)
    ]

    assert len(lanes) == 4 and lanes[0].low == 0 and lanes[-1].high is None
    assert all(a.high == b.low for a, b in pairwise(lanes))
    assert sorted(listed, key=int) == sorted(_laptops(client, laptop), key=int)

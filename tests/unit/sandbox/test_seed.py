"""The demo seed: deterministic, scalable, and carrying every feature a backup and restore must handle."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from airflow_assets.sandbox.model import SandboxError, Site
from airflow_assets.sandbox.seed import BASE_TIME, MIN_OBJECTS, SeedSummary, seed_demo

# (type, defaultTypeId) of every attribute kind: the 12 default types, reference, user, group, status.
EVERY_ATTRIBUTE_KIND = {(0, default_type) for default_type in range(12)} | {(k, None) for k in (1, 2, 4, 7)}


def new_site() -> Site:
    return Site(workspace_id="seed-test", email="seed-admin@example.com", api_token="token")


@pytest.fixture(scope="module")
def demo() -> tuple[Site, SeedSummary]:
    site = new_site()
    return site, seed_demo(site)


def object_id(key: str) -> str:
    """Return the object id of a key (``ITAM-88`` -> ``88``), as Assets builds keys."""
    return key.rsplit("-", 1)[1]


def values_by_name(site: Site, key: str) -> dict[str, list[dict[str, Any]]]:
    """Read an object as the REST API renders it; return its values per attribute name."""
    rendered = site.get_object(object_id(key))
    names = {
        attribute["id"]: attribute["name"] for attribute in site.list_attributes(rendered["objectType"]["id"])
    }
    return {
        names[entry["objectTypeAttributeId"]]: entry["objectAttributeValues"]
        for entry in rendered["attributes"]
    }


def referenced_keys(site: Site, key: str, attribute: str) -> list[str]:
    return [value["referencedObject"]["objectKey"] for value in values_by_name(site, key).get(attribute, [])]


def all_attributes(site: Site, summary: SeedSummary) -> list[dict[str, Any]]:
    return [
        attribute
        for schema_id in summary.schema_ids.values()
        for attribute in site.schema_attributes(schema_id)
    ]


def snapshot(site: Site) -> list[tuple[Any, ...]]:
    """Keys, labels, types, timestamps and history of every object: what must not vary between runs."""
    return [
        (record.key, record.label, record.object_type_id, record.created, record.updated,
         [(entry.type, entry.actor, entry.created, entry.old_value, entry.new_value)
          for entry in site.history[record.object_id]])
        for record in site.objects.values()
    ]  # fmt: skip


def test_demo_is_deterministic(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    again = new_site()
    assert seed_demo(again) == summary
    assert snapshot(again) == snapshot(site)


def test_demo_is_hand_sized_and_counts_match_the_site(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    assert 200 <= summary.total_objects <= 500
    assert summary.total_objects == len(site.objects)
    assert set(summary.schema_ids) == {"PEOPLE", "LOC", "ITAM"}
    for key, schema_id in summary.schema_ids.items():
        assert site.schema_object_count(schema_id) == summary.object_counts[key] > 0
    for type_name, type_id in summary.type_ids.items():
        assert site.type_object_count(type_id) == summary.type_counts[type_name]


def test_every_attribute_type_is_defined_and_holds_values(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    with_values = {attribute_id for record in site.objects.values() for attribute_id in record.values}
    kinds = {
        (attribute["type"], attribute.get("defaultType", {}).get("id"))
        for attribute in all_attributes(site, summary)
        if not attribute["system"] and attribute["id"] in with_values
    }
    assert kinds >= EVERY_ATTRIBUTE_KIND


def test_abstract_parents_pass_their_attributes_on(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    for parent, children in (("Party", ("Person", "Contractor")), ("Hardware", ("Laptop", "Server"))):
        parent_type = site.get_object_type(summary.type_ids[parent])
        assert parent_type["abstractObjectType"] and parent_type["inherited"]
        assert summary.type_counts[parent] == 0
        own = {attribute["id"] for attribute in site.list_attributes(summary.type_ids[parent])}
        for child in children:
            child_type = site.get_object_type(summary.type_ids[child])
            assert child_type["parentObjectTypeId"] == summary.type_ids[parent]
            assert own <= {attribute["id"] for attribute in site.list_attributes(summary.type_ids[child])}
    # A reference to the abstract parent accepts objects of its children.
    owners = [
        attribute for attribute in all_attributes(site, summary) if attribute["name"] == "Business owner"
    ]
    assert owners[0]["referenceObjectTypeId"] == summary.type_ids["Party"]
    assert owners[0]["includeChildObjectTypes"] is True


def test_it_assets_refer_to_other_schemas(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    assert site.schema_properties(summary.schema_ids["ITAM"])["allowOtherObjectSchema"] is True
    laptop = summary.edited_key
    assert laptop.startswith("ITAM-")
    assert referenced_keys(site, laptop, "Owner")[0].startswith("PEOPLE-")
    assert referenced_keys(site, laptop, "Location")[0].startswith("LOC-")


def test_person_manager_is_a_self_reference(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    (manager,) = referenced_keys(site, summary.person_with_manager, "Manager")
    assert manager != summary.person_with_manager
    manager_type = site.get_object(object_id(manager))["objectType"]["id"]
    assert manager_type == summary.type_ids["Person"]


def test_servers_form_a_depends_on_cycle(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    first, second, third = summary.cycle_keys
    assert referenced_keys(site, first, "Depends on") == [third]
    assert referenced_keys(site, third, "Depends on") == [second]
    assert referenced_keys(site, second, "Depends on") == [first]


def test_servers_and_applications_refer_to_each_other(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    server = summary.cycle_keys[0]
    applications = referenced_keys(site, server, "Runs")
    assert len(applications) >= 2  # a multi-value reference
    for application in applications:
        assert referenced_keys(site, application, "Runs on") == [server]
    depends_on = [a for a in all_attributes(site, summary) if a["name"] == "Depends on"]
    assert depends_on[0]["maximumCardinality"] == -1


def test_labels_contain_dots(demo: tuple[Site, SeedSummary]) -> None:
    site, _ = demo
    labels = [record.label for record in site.objects.values()]
    assert any(label.endswith(".example.com") for label in labels)
    assert sum("." in label for label in labels) > 20


def test_history_comes_from_simulated_edits(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    codes = Counter(entry.type for entries in site.history.values() for entry in entries)
    assert set(codes) >= {0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 15, 16, 17}
    history = site.object_history(object_id(summary.edited_key), asc=True)
    assert history[0]["type"] == 0
    assert {2, 3, 4, 5, 6} <= {entry["type"] for entry in history}
    assert len({entry["actor"]["key"] for entry in history}) >= 3
    # Simulated time: every timestamp lies after the fixed base time, none is the wall clock.
    moments = [entry.created for entries in site.history.values() for entry in entries]
    assert min(moments) > BASE_TIME
    assert max(moments).year == BASE_TIME.year


def test_deleted_objects_and_their_history_are_gone(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    assert len(summary.deleted_keys) == 2
    for key in summary.deleted_keys:
        assert int(object_id(key)) not in site.history
        with pytest.raises(SandboxError) as failure:
            site.get_object(object_id(key))
        assert failure.value.status == 404


def test_comments_in_every_role_by_several_users(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    assert site.object_comments(object_id(summary.commented_key))
    comments = [comment for entries in site.comments.values() for comment in entries]
    assert len(comments) == summary.comments
    assert {comment.role for comment in comments} == {0, 1, 2, 3}
    assert len({comment.actor for comment in comments}) >= 5


def test_connected_tickets(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    tickets = site.connected_tickets(object_id(summary.ticketed_key))["tickets"]
    assert tickets[0]["key"].startswith("ITSM-")
    assert {"key", "id", "title", "status", "type", "priority", "created", "updated"} <= set(tickets[0])
    assert sum(len(entries) for entries in site.tickets.values()) == summary.tickets


def test_users_and_groups_back_user_and_group_values(demo: tuple[Site, SeedSummary]) -> None:
    site, summary = demo
    assert len(summary.users) == 12
    assert set(summary.users) <= set(site.users)
    assert any(account.startswith("557058:") for account in summary.users)
    assert {"jira-admins", "it-ops", "hr"} <= set(site.groups)


def test_objects_scales_the_bulk_types() -> None:
    site = new_site()
    summary = seed_demo(site, objects=2000)
    assert summary.total_objects == len(site.objects) == 2000
    assert summary.type_counts["Person"] > 500
    assert summary.type_counts["Country"] == 6
    assert summary.comments and summary.tickets and summary.updates


def test_too_few_objects_are_refused() -> None:
    with pytest.raises(ValueError, match=str(MIN_OBJECTS)):
        seed_demo(new_site(), objects=MIN_OBJECTS - 1)

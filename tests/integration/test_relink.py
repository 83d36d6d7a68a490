"""Re-linking Jira issues to recreated objects (real sandbox over HTTP and the embedded MongoDB).

A backup records which Assets fields of each connected issue held an object. After the object is deleted
(Jira drops it from every field) and created again under a new id, ``relink_issues`` puts the new object
back into those fields, leaving every other value where it was.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.restore.relink import relink_issues, tickets_of
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.sandbox.realism import RealismConfig
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot
from tests.integration.backup_support import accepted, back_up, client_for, stored

pytestmark = pytest.mark.slow
FIRST, SECOND = "customfield_10100", "customfield_10101"
EDITS = "PUT /rest/api/3/issue/{id}"
SEARCHES = "POST /rest/api/3/search/jql"


def office_type(sandbox: RunningSandbox) -> str:
    assert sandbox.seed is not None
    return sandbox.seed.type_ids["Office"]


def offices(client: AssetsClient, sandbox: RunningSandbox) -> list[str]:
    """Return the ids of the LOC schema's offices (objects nothing else refers to), in id order."""
    type_id = office_type(sandbox)
    found = client.iter_objects(f"objectTypeId = {type_id}", page_size=500, include_attributes=False)
    return sorted((str(o["id"]) for o in found), key=int)


def live(sandbox: RunningSandbox, key: str) -> dict[str, list[str] | None]:
    """Read an issue as Jira serves it (one GET, not the re-link's search): the objects of each field."""
    response = requests.get(
        f"{sandbox.url}/rest/api/3/issue/{key}",
        params={"fields": f"{FIRST},{SECOND}"},
        auth=(sandbox.email, sandbox.api_token),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    fields = response.json()["fields"]
    return {f: [e["objectId"] for e in fields[f]] if fields[f] else None for f in (FIRST, SECOND)}


def recreate(client: AssetsClient, sandbox: RunningSandbox, object_ids: list[str]) -> dict[str, str]:
    """Delete objects and create each again from its label, as a restore would; return old id -> new id."""
    type_id = office_type(sandbox)
    name = next(a["id"] for a in client.get_object_type_attributes(type_id) if a["name"] == "Name")
    labels = {old: str(client.get_object(old)["label"]) for old in object_ids}
    for old in object_ids:
        client.delete_object(old)
    mapping = {}
    for old, label in labels.items():
        body = {
            "objectTypeId": type_id,
            "attributes": [{"objectTypeAttributeId": name, "objectAttributeValues": [{"value": label}]}],
        }
        mapping[old] = str(client.create_object(body)["id"])
    return mapping


def snapshot_of(db: Database, snapshot_id: str) -> Snapshot:
    snapshot = SnapshotReader(db).get(snapshot_id)
    assert snapshot is not None
    return snapshot


def link(sandbox: RunningSandbox, key: str, field_id: str, *object_ids: str) -> None:
    for object_id in object_ids:
        sandbox.site.add_connected_ticket(object_id, {"key": key}, field_id=field_id)


def test_issues_get_the_recreated_objects_back_and_a_second_run_writes_nothing(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    a, b, c, d, e, f = offices(client, sandbox)[:6]
    link(sandbox, "OPS-1", FIRST, a)
    link(sandbox, "OPS-2", FIRST, d, a, e)  # three objects, one of them recreated
    link(sandbox, "OPS-3", FIRST, b)  # one object in two fields, with another beside it in the second
    link(sandbox, "OPS-3", SECOND, f, b)
    link(sandbox, "LOCK-1", FIRST, c)  # a project whose issues the account may not edit
    sandbox.site.withhold_edit_permission("LOCK")
    config = back_up(client, mongo_db, "LOC", "run-1")
    snapshot = snapshot_of(mongo_db, config.snapshot_id)
    recreated = recreate(client, sandbox, [a, b, c])
    # Jira removed the deleted objects from the issues' fields.
    assert live(sandbox, "OPS-2") == {FIRST: [d, e], SECOND: None}
    assert live(sandbox, "OPS-1") == {FIRST: None, SECOND: None}
    tickets = list(tickets_of(SnapshotReader(mongo_db), snapshot, [a, b, c]))
    edits, searches = accepted(sandbox, EDITS), accepted(sandbox, SEARCHES)

    summary = relink_issues(client, tickets, recreated, dry_run=False)

    a2, b2 = recreated[a], recreated[b]
    assert live(sandbox, "OPS-1") == {FIRST: [a2], SECOND: None}
    assert live(sandbox, "OPS-2") == {FIRST: [d, e, a2], SECOND: None}
    assert live(sandbox, "OPS-3") == {FIRST: [b2], SECOND: [f, b2]}
    assert live(sandbox, "LOCK-1") == {FIRST: None, SECOND: None}
    assert (summary.issues_relinked, summary.fields_relinked, summary.already_linked) == (3, 4, 0)
    assert len(summary.failed) == 1 and summary.failed[0].startswith("LOCK-1: ")
    assert "cannot be set" in summary.failed[0] and summary.unreadable == []
    assert accepted(sandbox, EDITS) - edits == 4  # one edit per issue, the refused one included
    assert accepted(sandbox, SEARCHES) - searches == 1  # four issues, one search

    edits = accepted(sandbox, EDITS)
    again = relink_issues(client, tickets, recreated, dry_run=False)

    assert (again.issues_relinked, again.fields_relinked, again.already_linked) == (0, 0, 4)
    assert accepted(sandbox, EDITS) - edits == 1  # only the issue Jira refuses is tried again
    assert live(sandbox, "OPS-3") == {FIRST: [b2], SECOND: [f, b2]}


def test_a_dry_run_counts_what_it_would_write_and_writes_nothing(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    a, b = offices(client, sandbox)[:2]
    link(sandbox, "OPS-1", FIRST, a, b)
    link(sandbox, "OPS-1", SECOND, a)
    config = back_up(client, mongo_db, "LOC", "run-1")
    recreated = recreate(client, sandbox, [a])
    tickets = list(tickets_of(SnapshotReader(mongo_db), snapshot_of(mongo_db, config.snapshot_id), [a]))
    edits = accepted(sandbox, EDITS)

    summary = relink_issues(client, tickets, recreated, dry_run=True)

    assert summary.as_dict() == {
        "dry_run": True, "issues_relinked": 1, "fields_relinked": 2, "already_linked": 0,
        "unreadable": [], "failed": [],
    }  # fmt: skip
    assert accepted(sandbox, EDITS) == edits
    assert live(sandbox, "OPS-1") == {FIRST: [b], SECOND: None}


def test_tickets_of_reads_only_the_named_objects_and_never_a_longer_id(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    ids = offices(client, sandbox)
    short = next(i for i in ids if any(other.startswith(i) and other != i for other in ids))
    longer = next(other for other in ids if other.startswith(short) and other != short)
    link(sandbox, "OPS-1", FIRST, short)
    link(sandbox, "OPS-2", SECOND, longer)
    config = back_up(client, mongo_db, "LOC", "run-1")
    snapshot = snapshot_of(mongo_db, config.snapshot_id)
    reader = SnapshotReader(mongo_db)

    found = list(tickets_of(reader, snapshot, [short]))

    everything = [t for t in stored(mongo_db, config.snapshot_id, "ticket") if t["objectId"] == short]
    assert found == everything and [t["key"] for t in found] == ["OPS-1"]
    assert found[0]["assets_fields"] == [FIRST]
    both = {(t["objectId"], t["key"]) for t in tickets_of(reader, snapshot, [short, longer, "0"])}
    assert both == {(short, "OPS-1"), (longer, "OPS-2")}
    assert list(tickets_of(reader, snapshot, [])) == []


def test_issues_written_by_someone_else_meanwhile_keep_their_values(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    # A second writer: after the backup, someone added other objects to the field and even put the new
    # object into one issue by hand. Tickets are built by hand (not by a backup): one names its issue by id.
    client = client_for(sandbox)
    a, b, x, y = offices(client, sandbox)[:4]
    link(sandbox, "OPS-1", FIRST, a)
    link(sandbox, "OPS-2", FIRST, a)
    recreated = recreate(client, sandbox, [a, b])
    a2 = recreated[a]
    workspace = sandbox.workspace_id
    entry = {"workspaceId": workspace, "id": f"{workspace}:{x}", "objectId": x}
    client.update_issue("OPS-1", {FIRST: [entry]})
    client.update_issue("OPS-2", {FIRST: [{"id": f"{workspace}:{a2}"}, {"objectId": y}]})
    ops2_id = str(sandbox.site.issues["OPS-2"].id)
    tickets: list[dict[str, Any]] = [
        {"key": "OPS-1", "id": str(sandbox.site.issues["OPS-1"].id), "objectId": a, "assets_fields": [FIRST]},
        {"id": ops2_id, "objectId": a, "assets_fields": [FIRST]},
        {"key": "OPS-9", "id": "99999", "objectId": a, "assets_fields": [FIRST]},  # deleted since
        {"key": "OPS-1", "id": "1", "objectId": b},  # a backup that could not read Jira's field list
        {"key": "OPS-5", "id": "5", "objectId": "777", "assets_fields": [FIRST]},  # not recreated
    ]

    summary = relink_issues(client, tickets, recreated, dry_run=False)

    assert live(sandbox, "OPS-1") == {FIRST: [x, a2], SECOND: None}
    assert live(sandbox, "OPS-2") == {FIRST: [a2, y], SECOND: None}
    assert (summary.issues_relinked, summary.fields_relinked, summary.already_linked) == (1, 1, 1)
    assert [line.split(":")[0] for line in summary.unreadable] == ["OPS-1", "OPS-9"]
    assert "did not record which Assets field" in summary.unreadable[0]
    assert "99999" in summary.unreadable[1] and summary.failed == []


def test_a_relink_through_lost_answers_ends_with_each_object_once(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    # Faults on every request, some losing the answer of an edit the site applied: the retried edit sends
    # the whole field again, so no object is added twice; a later run has nothing left to write.
    client = client_for(sandbox)
    ids = offices(client, sandbox)
    doomed, kept = ids[:8], ids[8:16]
    issues = {}  # issue key -> (object recreated, object kept beside it)
    for index, (old, other) in enumerate(zip(doomed, kept, strict=True)):
        for copy in range(3):
            key = f"OPS-{index * 3 + copy + 1}"
            issues[key] = (old, other)
            link(sandbox, key, FIRST, other, old)
            link(sandbox, key, SECOND, old)
    config = back_up(client, mongo_db, "LOC", "run-1")
    recreated = recreate(client, sandbox, doomed)
    tickets = list(tickets_of(SnapshotReader(mongo_db), snapshot_of(mongo_db, config.snapshot_id), doomed))
    faults = sum(sandbox.realism.stats.faults.values())
    sandbox.realism.config = RealismConfig(fault_rate=0.3, random_seed=7)
    try:
        summary = relink_issues(client, tickets, recreated, dry_run=False, batch_size=5)
    finally:
        sandbox.realism.config = RealismConfig()

    assert sum(sandbox.realism.stats.faults.values()) - faults >= 3
    assert summary.failed == [] and summary.unreadable == []
    assert (summary.issues_relinked, summary.fields_relinked) == (24, 48)
    for key, (old, other) in issues.items():
        assert live(sandbox, key) == {FIRST: [other, recreated[old]], SECOND: [recreated[old]]}, key
    again = relink_issues(client, tickets, recreated, dry_run=False)
    assert (again.issues_relinked, again.already_linked) == (0, 48)

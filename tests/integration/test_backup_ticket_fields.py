"""Backups record which Assets field of each connected Jira issue held the object (real sandbox and MongoDB).

What a later rollback relies on to re-link issues to recreated objects: for each connected ticket of each
object, ``assets_fields`` names the issue's Assets fields that hold that object, read by batched JQL.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import requests
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.activity import export_activity
from airflow_assets.backup.finalize import finalize
from airflow_assets.backup.objects import export_objects
from airflow_assets.backup.schema_config import export_config
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.hashing import canonical_json
from tests.integration.backup_support import (
    accepted,
    back_up,
    client_for,
    collection_counts,
    kill_step_after_checkpoint,
    run_info,
    stored,
    target,
)

pytestmark = pytest.mark.slow
FIRST, SECOND = "customfield_10100", "customfield_10101"
SEARCH = "POST /rest/api/3/search/jql"
FIELD_LIST = "GET /rest/api/3/field"


def entry(sandbox: RunningSandbox, object_id: str) -> dict[str, str]:
    workspace = sandbox.workspace_id
    return {"workspaceId": workspace, "id": f"{workspace}:{object_id}", "objectId": object_id}


def itam_objects(client: AssetsClient, sandbox: RunningSandbox) -> list[str]:
    aql = f"objectSchemaId = {sandbox.seed.schema_ids['ITAM']}"
    return sorted(
        (str(o["id"]) for o in client.iter_objects(aql, page_size=500, include_attributes=False)), key=int
    )


def tickets(db: Database, snapshot_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Return the stored tickets of a snapshot by (object id, issue key)."""
    return {(t["objectId"], t["key"]): t for t in stored(db, snapshot_id, "ticket")}


def live_fields(sandbox: RunningSandbox, key: str, object_id: str) -> list[str]:
    """Read one issue as Jira serves it (not through the backup's search) and name the fields holding it."""
    response = requests.get(
        f"{sandbox.url}/rest/api/3/issue/{key}",
        params={"fields": f"{FIRST},{SECOND}"},
        auth=(sandbox.email, sandbox.api_token),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    fields = response.json()["fields"]
    return sorted(f for f in (FIRST, SECOND) if any(e["objectId"] == object_id for e in fields[f] or []))


def steps(db: Database, snapshot_id: str) -> dict[str, Any]:
    snapshot = SnapshotStore(db).get(snapshot_id)
    assert snapshot is not None
    return dict(snapshot.document["steps"])


def test_a_backup_records_the_assets_fields_holding_each_object(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    a, b, c = itam_objects(client, sandbox)[:3]
    site = sandbox.site
    # OPS-1 holds two objects in two different fields.
    site.add_connected_ticket(a, {"key": "OPS-1"}, field_id=FIRST)
    site.add_connected_ticket(b, {"key": "OPS-1"}, field_id=SECOND)
    # OPS-2 holds c in both fields and b in one, set through the product's own issue edit.
    site.add_connected_ticket(c, {"key": "OPS-2"})
    client.update_issue("OPS-2", {FIRST: [entry(sandbox, c), entry(sandbox, b)], SECOND: [entry(sandbox, c)]})
    searches, field_lists = accepted(sandbox, SEARCH), accepted(sandbox, FIELD_LIST)

    config = back_up(client, mongo_db, "ITAM", "run-1")

    saved = tickets(mongo_db, config.snapshot_id)
    assert saved[(a, "OPS-1")]["assets_fields"] == [FIRST]
    assert saved[(b, "OPS-1")]["assets_fields"] == [SECOND]
    assert saved[(c, "OPS-2")]["assets_fields"] == [FIRST, SECOND]
    assert saved[(b, "OPS-2")]["assets_fields"] == [FIRST]
    # The seeded issues hold their objects in the first field; every entry agrees with the issue as served.
    for (object_id, key), ticket in saved.items():
        assert ticket["assets_fields"] == live_fields(sandbox, key, object_id), (object_id, key)
    issues = {key for _, key in saved}
    assert len(issues) > 30
    assert accepted(sandbox, FIELD_LIST) - field_lists == 1
    assert accepted(sandbox, SEARCH) - searches == math.ceil(len(issues) / 100)
    step = steps(mongo_db, config.snapshot_id)["export_tickets"]
    assert (step["issue_searches"], step["unreadable_issues"]) == (math.ceil(len(issues) / 100), 0)


def test_searches_are_one_per_hundred_issues_however_they_fall_on_objects(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    objects = itam_objects(client, sandbox)
    number = 0
    for index, object_id in enumerate(objects):
        for _ in range(index % 4):  # 0 to 3 new issues per object, so issues straddle every batch boundary
            number += 1
            field = SECOND if number % 5 == 0 else FIRST
            sandbox.site.add_connected_ticket(object_id, {"key": f"OPS-{number}"}, field_id=field)
    # One issue holds objects far apart: it is read once.
    sandbox.site.add_connected_ticket(objects[0], {"key": "OPS-1"}, field_id=SECOND)
    sandbox.site.add_connected_ticket(objects[-1], {"key": "OPS-1"}, field_id=SECOND)
    searches = accepted(sandbox, SEARCH)

    config = back_up(client, mongo_db, "ITAM", "run-1")

    saved = tickets(mongo_db, config.snapshot_id)
    issues = {key for _, key in saved}
    assert len(issues) > 250
    assert accepted(sandbox, SEARCH) - searches == math.ceil(len(issues) / 100) < len(issues) / 50
    assert saved[(objects[0], "OPS-1")]["assets_fields"] == [SECOND]
    assert saved[(objects[-1], "OPS-1")]["assets_fields"] == [SECOND]
    for (object_id, key), ticket in saved.items():
        assert ticket["assets_fields"] == live_fields(sandbox, key, object_id), (object_id, key)


def test_an_unchanged_run_stores_no_new_ticket_versions_and_an_edit_is_seen(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    a, b = itam_objects(client, sandbox)[:2]
    sandbox.site.add_connected_ticket(a, {"key": "OPS-1"}, field_id=FIRST)
    sandbox.site.add_connected_ticket(b, {"key": "OPS-1"}, field_id=SECOND)
    back_up(client, mongo_db, "ITAM", "run-1")
    counts = collection_counts(mongo_db)

    # A full sweep reads every object's tickets again: nothing changed, nothing new is stored.
    again = back_up(client, mongo_db, "ITAM", "run-2", full_sweep_every=1)

    step = steps(mongo_db, again.snapshot_id)["export_tickets"]
    assert step["objects"] > 100 and step["items"] > 30
    assert step["new_versions"] == 0
    after = collection_counts(mongo_db)
    assert (after["versions"], after["spans"]) == (counts["versions"], counts["spans"])

    # Someone moves object a into the other field of OPS-1: the next backup records it.
    client.update_issue("OPS-1", {FIRST: None, SECOND: [entry(sandbox, b), entry(sandbox, a)]})
    third = back_up(client, mongo_db, "ITAM", "run-3", full_sweep_every=1)
    saved = tickets(mongo_db, third.snapshot_id)
    assert saved[(a, "OPS-1")]["assets_fields"] == [SECOND]
    assert saved[(b, "OPS-1")]["assets_fields"] == [SECOND]


def test_a_tickets_step_killed_midway_resumes_to_the_same_result(
    sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    objects = itam_objects(client, sandbox)
    for index, object_id in enumerate(objects[::3]):
        sandbox.site.add_connected_ticket(
            object_id, {"key": f"OPS-{index + 1}"}, field_id=SECOND if index % 2 else FIRST
        )
    reference = back_up(client, mongo_db, "ITAM", "run-1")
    expected = {canonical_json(t) for t in stored(mongo_db, reference.snapshot_id, "ticket")}
    second = export_config(client, mongo_db, target("ITAM", full_sweep_every=1), run_info("run-2"))
    export_objects(client, mongo_db, second.snapshot_id)
    # The tickets step runs in its own process, paced slowly with small searches, killed after a checkpoint.
    setup = "from airflow_assets.backup import ticket_fields\nticket_fields.SEARCH_BATCH = 5"
    done_before_kill = kill_step_after_checkpoint(
        sandbox, mongo_server, mongo_db, second.snapshot_id, "tickets", setup
    )

    resumed = export_activity(client, mongo_db, second.snapshot_id, "tickets")
    export_activity(client, mongo_db, second.snapshot_id, "history")
    export_activity(client, mongo_db, second.snapshot_id, "comments")
    finalize(client, mongo_db, second.snapshot_id)

    assert resumed.resumed_after == done_before_kill > 0
    assert 0 < resumed.objects < len(objects)
    assert {canonical_json(t) for t in stored(mongo_db, second.snapshot_id, "ticket")} == expected
    assert steps(mongo_db, second.snapshot_id)["export_tickets"]["new_versions"] == 0


def test_the_client_reads_fields_and_pages_jira_search_by_token(demo_sandbox: RunningSandbox) -> None:
    client = client_for(demo_sandbox)
    assert client.get_assets_field_ids() == [FIRST, SECOND]
    pages = list(client.iter_issue_pages("project = ITSM ORDER BY key", fields=[FIRST], page_size=7))
    issues = [issue for page in pages for issue in page]
    assert len(pages) == math.ceil(len(demo_sandbox.site.issues) / 7) > 2
    assert len({issue["key"] for issue in issues}) == len(issues) == len(demo_sandbox.site.issues)
    assert all(set(issue["fields"]) == {FIRST} for issue in issues)

"""The issue's scripted bad hour at its size: 200 objects deleted that 400 others and 50 Jira issues named.

A sandbox of 6,000 objects (ITAM about 3,500); the 200 objects most referred to within ITAM are deleted (Jira
drops them from every issue field, Assets from every referring object). A rollback of ITAM with
``relink_issues`` plans, creates them again, puts the references of every referring object back and re-links
the issues; verify finds no difference, and every surviving object keeps its id and key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pymongo.database import Database

from airflow_assets.sandbox.launch import RunningSandbox, run_sandbox
from tests.integration.backup_support import back_up, client_for
from tests.integration.restore_support import restore

pytestmark = pytest.mark.slow
FIELD = "customfield_10100"


@pytest.fixture(scope="module")
def big_sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox(objects=6000) as sandbox:
        yield sandbox


def _references(obj: dict[str, Any]) -> list[str]:
    return [
        str(value["referencedObject"]["id"])
        for attribute in obj["attributes"]
        for value in attribute["objectAttributeValues"]
        if isinstance(value.get("referencedObject"), dict)
    ]


def _field(sandbox: RunningSandbox, key: str) -> list[str]:
    response = requests.get(
        f"{sandbox.url}/rest/api/3/issue/{key}",
        params={"fields": FIELD},
        auth=(sandbox.email, sandbox.api_token),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [str(entry["objectId"]) for entry in response.json()["fields"][FIELD] or []]


def test_200_deleted_servers_come_back_with_400_referrers_and_50_issues(
    big_sandbox: RunningSandbox, mongo_db: Database
) -> None:
    sandbox = big_sandbox
    assert sandbox.seed is not None
    client = client_for(sandbox)
    schema_id = sandbox.seed.schema_ids["ITAM"]
    before = {str(o["id"]): o for o in client.iter_objects(f"objectSchemaId = {schema_id}", page_size=1000)}
    referred_by: dict[str, set[str]] = defaultdict(set)
    for object_id, obj in before.items():
        for target in _references(obj):
            if target in before:
                referred_by[target].add(object_id)
    doomed = sorted(referred_by, key=lambda target: (-len(referred_by[target]), int(target)))[:200]
    referrers = set().union(*(referred_by[target] for target in doomed)) - set(doomed)
    assert len(doomed) == 200 and len(referrers) >= 400
    # 50 issues name 60 of them: ten issues hold two, each with a neighbour that is not deleted.
    survivor = next(object_id for object_id in before if object_id not in doomed)
    issues: dict[str, list[str]] = {}
    for number in range(50):
        held = [doomed[number]] + ([doomed[50 + number]] if number < 10 else [])
        issues[f"OPS-{number + 1}"] = held
        for object_id in held:
            sandbox.site.add_connected_ticket(object_id, {"key": f"OPS-{number + 1}"}, field_id=FIELD)
    sandbox.site.add_connected_ticket(survivor, {"key": "OPS-1"}, field_id=FIELD)
    back_up(client, mongo_db, "ITAM", "run-1")
    for object_id in doomed:
        client.delete_object(object_id)
    assert _field(sandbox, "OPS-1") == [survivor]

    run, report = restore(
        client, mongo_db, {"mode": "rollback", "schema_mappings": "ITAM", "relink_issues": True}, "bad-hour-2"
    )

    assert report.ok, report.differences[:20]
    plan = run.rollback_plans[0]["totals"]
    assert plan["recreate"] == 200 and plan["put_back"] == len(referrers)
    created = run.ledger.created("object")
    assert set(created) == set(doomed)
    new_id = {old: done.new_id for old, done in created.items()}
    after = {str(o["id"]): o for o in client.iter_objects(f"objectSchemaId = {schema_id}", page_size=1000)}
    for object_id, obj in before.items():
        if object_id in new_id:
            assert object_id not in after
            continue
        assert after[object_id]["objectKey"] == obj["objectKey"]  # id and key kept
        assert sorted(_references(after[object_id])) == sorted(new_id.get(t, t) for t in _references(obj))
    for key, held in issues.items():
        assert sorted(_field(sandbox, key)) == sorted(
            [new_id[o] for o in held] + ([survivor] if key == "OPS-1" else [])
        ), key
    steps = run.ledger.document()["steps"]
    # Ours, and the seed's own issues that named some of the deleted objects.
    assert steps["relink"]["issues_relinked"] >= 50 and steps["relink"]["failed"] == []
    # One write per referring object: the references come back in the rollback's own PUTs.
    assert steps["rollback"]["writes"] == len(referrers)

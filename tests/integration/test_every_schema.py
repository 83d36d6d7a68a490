"""``schemas: "*"``: the DAG of a site lists its schemas at run time and backs each up, in real Airflow
(``dag.test()``) against the sandbox and the embedded MongoDB."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.backup.monitor import SchemaWatch
from airflow_assets.backup.site_listing import back_up_listed_schema, list_site_schemas
from airflow_assets.backup.site_monitor import SiteWatch, check_sites
from airflow_assets.dags import build_from_config
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.sandbox.records import SandboxError
from airflow_assets.store import SnapshotStore
from airflow_assets.store.site_schemas import SiteListings
from tests.integration.backup_support import (
    client_for,
    live_objects,
    run_info,
    set_connections,
    stored,
    target,
)

pytestmark = pytest.mark.slow

DAG_ID = "jira_assets_backup_every"
# ITAM is left out: it proves exclude, and its history would make every run slow.
CONFIG = """
mongo: {{conn_id: jira_assets_backup, database: {database}}}
sites:
  every:
    conn_id: jira_assets_default
    schemas: "*"
    exclude: [ITAM]
    parallel_schemas: 2
    include: {{history: true, comments: true, connected_tickets: false}}
retention: {{keep_last: 1}}
"""

SiteDags = Callable[..., dict[str, DAG]]


@pytest.fixture
def site_dags(
    airflow_db: None,
    sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> SiteDags:
    """Return a builder of the DAGs of a config with a site of every schema (the repository's DAG file
    parses the same file in dag.test())."""
    set_connections(monkeypatch, sandbox, mongo_server, mongo_db.name)

    def build(text: str = CONFIG) -> dict[str, DAG]:
        config = tmp_path / "jira_assets.yaml"
        config.write_text(textwrap.dedent(text.format(database=mongo_db.name)))
        monkeypatch.setenv("JIRA_ASSETS_CONFIG", str(config))
        return build_from_config(config)

    return build


def _states(dag_run: Any) -> dict[str, str]:
    return {
        f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]": str(ti.state)
        for ti in dag_run.get_task_instances()
    }


def _create_schema(client: AssetsClient, key: str, names: list[str]) -> str:
    """Create a schema with one object type and an object per name, as a user would on the site."""
    schema = client.create_object_schema(
        {"name": f"Created {key}", "objectSchemaKey": key, "description": "t"}
    )
    object_type = client.create_object_type({"name": "Thing", "iconId": "4", "objectSchemaId": schema["id"]})
    (label,) = [a for a in client.get_object_type_attributes(str(object_type["id"])) if a["label"]]
    for name in names:
        client.create_object(
            {
                "objectTypeId": object_type["id"],
                "attributes": [
                    {"objectTypeAttributeId": label["id"], "objectAttributeValues": [{"value": name}]}
                ],
            }
        )
    return str(schema["id"])


def _asset_snapshots(uri: str) -> list[str]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == uri)
            .all()
        )
        return [str((event.extra or {}).get("snapshot_id")) for event in events]


def _snapshots_of_run(db: Database, run_id: str) -> dict[str, Any]:
    """Return the snapshots a run of the site DAG took, by schema key (of any attempt, ``<run id>.N``)."""
    attempts = {run_id, *(f"{run_id}.{number}" for number in range(2, 6))}
    return {
        snapshot.schema_key: snapshot
        for snapshot in SnapshotStore(db).list()
        if snapshot.dag_id == DAG_ID and snapshot.run_id in attempts
    }


def test_a_schema_created_on_the_site_is_backed_up_by_the_next_run_and_one_deleted_keeps_its_snapshots(
    site_dags: SiteDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    dags = site_dags()
    dag, monitor, retention = dags[DAG_ID], dags["jira_assets_monitor"], dags["jira_assets_retention"]
    assert not any(dag_id.startswith(f"{DAG_ID}_") for dag_id in dags), sorted(dags)
    client = client_for(sandbox)

    first = dag.test()

    assert str(first.state) == "success", _states(first)
    # One mapped task per schema, its key as the map index; the excluded ITAM has none.
    assert {ti.rendered_map_index for ti in first.get_task_instances() if ti.task_id == "back_up_schema"} == {
        "LOC",
        "PEOPLE",
    }
    taken = _snapshots_of_run(mongo_db, first.run_id)
    assert set(taken) == {"LOC", "PEOPLE"}
    for key, snapshot in taken.items():
        assert snapshot.status == "complete" and snapshot.site == "every"
        expected = live_objects(client, sandbox.seed.schema_ids[key])
        assert {item["id"]: item for item in stored(mongo_db, snapshot.snapshot_id, "object")} == expected

    # Each completed snapshot updates its schema's Airflow Asset, as a schema's own DAG does.
    assert taken["LOC"].snapshot_id in _asset_snapshots("jira-assets://every/LOC")

    # A user creates a schema on the site; nobody edits the config.
    names = ["Norway", "Peru", "Japan"]
    news_id = _create_schema(client, "NEWS", names)
    second = dag.test()

    assert str(second.state) == "success", _states(second)
    taken = _snapshots_of_run(mongo_db, second.run_id)
    assert set(taken) == {"LOC", "PEOPLE", "NEWS"}
    assert taken["NEWS"].kind == "full" and taken["LOC"].kind == "incremental"
    news = list(stored(mongo_db, taken["NEWS"].snapshot_id, "object"))
    assert sorted(item["label"] for item in news) == sorted(names)
    assert str(monitor.test().state) == "success"

    # Deleted from the site after two runs backed it up.
    assert str(dag.test().state) == "success"
    client.delete_object_schema(news_id)
    after = dag.test()

    assert str(after.state) == "success", _states(after)
    assert set(_snapshots_of_run(mongo_db, after.run_id)) == {"LOC", "PEOPLE"}
    kept = [s for s in SnapshotStore(mongo_db).list(status="complete") if s.schema_key == "NEWS"]
    assert len(kept) == 2
    # The monitor says gone (an alert while the deletion is recent), never stale.
    monitored = monitor.test()
    assert str(monitored.state) == "failed"
    findings = check_sites(
        mongo_db,
        [SiteWatch("every", DAG_ID, "0 2 * * *", "UTC")],
        now=datetime.now(UTC),
        max_age_hours=None,
        max_object_drop=0.5,
    )
    assert [(f.schema_key, f.kind) for f in findings.alerts] == [("NEWS", "gone")]
    assert (
        "gone from the site" in findings.alerts[0].message
        and "snapshots are kept" in findings.alerts[0].message
    )
    # Weeks later it is a notice, not an alert, and still not stale.
    later = check_sites(
        mongo_db,
        [SiteWatch("every", DAG_ID, "0 2 * * *", "UTC")],
        now=datetime.now(UTC) + timedelta(days=3),
        max_age_hours=24,
        max_object_drop=0.5,
    )
    assert [(f.schema_key, f.kind) for f in later.notices] == [("NEWS", "gone")]
    assert ("NEWS", "stale") not in [(f.schema_key, f.kind) for f in later.alerts]

    # Retention still applies to the schema gone from the site: keep_last 1 of its 2 snapshots.
    assert str(retention.test(run_conf={"dry_run": False}).state) == "success"
    kept = [s for s in SnapshotStore(mongo_db).list(status="complete") if s.schema_key == "NEWS"]
    assert len(kept) == 1
    newest = max(kept, key=lambda s: s.seq)
    assert sorted(item["label"] for item in stored(mongo_db, newest.snapshot_id, "object")) == sorted(names)
    # ITAM was never backed up by any run.
    assert not [s for s in SnapshotStore(mongo_db).list() if s.schema_key == "ITAM"]


def test_a_schema_that_fails_is_retried_in_the_same_run_and_resumes_while_the_others_complete(
    site_dags: SiteDags, sandbox: RunningSandbox, mongo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag = site_dags()[DAG_ID]
    client = client_for(sandbox)
    people = set(live_objects(client, sandbox.seed.schema_ids["PEOPLE"]))
    original = sandbox.site.object_history
    refused: list[str] = []

    def history_refused_once(object_id: str, **options: Any) -> Any:
        # The site refuses PEOPLE's history once (a 400, not retried by the client): that task fails.
        if object_id in people and not refused:
            refused.append(object_id)
            raise SandboxError(400, ["refused by the test"])
        return original(object_id, **options)

    monkeypatch.setattr(sandbox.site, "object_history", history_refused_once)

    dag_run = dag.test()  # Airflow retries the failed mapped task after its retry delay (about a minute)

    assert refused, "the attack never fired"
    states = _states(dag_run)
    assert str(dag_run.state) == "success", states
    tries = {
        ti.rendered_map_index: ti.try_number
        for ti in dag_run.get_task_instances()
        if ti.task_id == "back_up_schema"
    }
    assert tries == {"LOC": 1, "PEOPLE": 2}, tries
    taken = _snapshots_of_run(mongo_db, dag_run.run_id)
    # The retry resumed the first try's snapshot (no second attempt id), and completed it whole.
    assert taken["PEOPLE"].run_id == dag_run.run_id and taken["PEOPLE"].status == "complete"
    history = sum(len(client.get_object_history(object_id)) for object_id in people)
    assert taken["PEOPLE"].counts["history_entries"] == history
    # LOC completed in the first try, before PEOPLE's retry.
    assert taken["LOC"].status == "complete"
    assert taken["LOC"].finished_at is not None and taken["PEOPLE"].finished_at is not None
    assert taken["LOC"].finished_at < taken["PEOPLE"].finished_at


def test_a_retried_listing_keeps_the_schemas_its_run_was_mapped_over(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    run = run_info("scheduled__retried")
    first = list_site_schemas(
        client, mongo_db, site="every", run=run, exclude=["ITAM"], named_elsewhere=["LOC"]
    )
    _create_schema(client, "LATE", ["one"])

    again = list_site_schemas(client, mongo_db, site="every", run=run, exclude=["ITAM"])

    assert first.keys == again.keys == ("PEOPLE",)
    assert first.left_out == ("ITAM", "LOC")
    # The next run lists the new schema.
    following = list_site_schemas(
        client, mongo_db, site="every", run=run_info("scheduled__next"), exclude=["ITAM"]
    )
    assert following.keys == ("LATE", "LOC", "PEOPLE")
    assert [schema.key for schema in SiteListings(mongo_db).known("every")] == ["LATE", "LOC", "PEOPLE"]
    # A listing 91 days later drops the listings older than 90 days; what each schema was listed keeps.
    later = datetime.now(UTC) + timedelta(days=91)
    list_site_schemas(
        client, mongo_db, site="every", run=run_info("scheduled__later"), exclude=["ITAM"], now=later
    )
    listings = SiteListings(mongo_db)
    assert listings.of_run("every", "scheduled__next") is None and listings.latest("every") is not None
    assert len(listings.known("every")) == 3


def test_a_schema_deleted_between_the_listing_and_its_backup_is_skipped_not_failed(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    schema_id = _create_schema(client, "GONE", ["x"])
    listing = list_site_schemas(
        client, mongo_db, site="every", run=run_info("r1"), exclude=["ITAM", "PEOPLE"]
    )
    assert "GONE" in listing.keys
    client.delete_object_schema(schema_id)

    assert back_up_listed_schema(client, mongo_db, target("GONE"), run_info("r1"), key=None) is None
    assert not list(SnapshotStore(mongo_db).list())


def test_the_monitor_checks_listed_schemas_by_the_site_schedule_and_says_never_for_an_unlisted_site(
    mongo_db: Database, sandbox: RunningSandbox
) -> None:
    watch = SiteWatch("every", DAG_ID, "*/15 * * * *", "UTC")
    now = datetime.now(UTC)
    nothing = check_sites(mongo_db, [watch], now=now, max_age_hours=None, max_object_drop=0.5)
    assert [(f.schema_key, f.kind) for f in nothing.alerts] == [("*", "never")]

    client = client_for(sandbox)
    list_site_schemas(
        client,
        mongo_db,
        site="every",
        run=run_info("r1"),
        exclude=["ITAM", "PEOPLE"],
        now=now - timedelta(hours=2),
    )
    back_up_listed_schema(client, mongo_db, replace(target("LOC"), site="every"), run_info("r1"), key=None)

    # A 15-minute schedule: a listing and a snapshot an hour old are stale (two periods are 30 minutes).
    found = check_sites(
        mongo_db, [watch], now=now + timedelta(hours=1), max_age_hours=None, max_object_drop=0.5
    )
    kinds = sorted((f.schema_key, f.kind) for f in found.alerts)
    assert kinds == [("*", "stale"), ("LOC", "stale")]
    stale = next(f for f in found.alerts if f.schema_key == "LOC")
    assert DAG_ID in stale.message and "_loc" not in stale.message
    # A daily schedule: the same ages are fine.
    daily = SiteWatch("every", DAG_ID, "0 2 * * *", "UTC")
    assert not check_sites(
        mongo_db, [daily], now=now + timedelta(hours=1), max_age_hours=None, max_object_drop=0.5
    ).alerts
    assert SchemaWatch("every", "LOC", "0 2 * * *", "UTC").dag_id == ""


def test_the_teardown_fails_what_a_killed_run_left_running_and_frees_the_schemas(
    sandbox: RunningSandbox, mongo_server: EmbeddedMongo, mongo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from airflow_assets.backup.objects import export_objects
    from airflow_assets.backup.schema_config import export_config
    from airflow_assets.operators.site_backup import MarkSiteSnapshotsFailedOperator
    from airflow_assets.store import SchemaLease

    set_connections(monkeypatch, sandbox, mongo_server, mongo_db.name)
    client = client_for(sandbox)
    run_id = "scheduled__killed"
    run = replace(run_info(run_id), dag_id=DAG_ID)
    # LOC completed; PEOPLE's worker was killed -9 after export_objects, holding the schema's lease.
    back_up_listed_schema(client, mongo_db, replace(target("LOC"), site="every"), run, key=None)
    config = export_config(client, mongo_db, replace(target("PEOPLE"), site="every"), run)
    export_objects(client, mongo_db, config.snapshot_id)
    people = SnapshotStore(mongo_db).get(config.snapshot_id)
    assert people is not None and people.status == "running"
    SchemaLease(mongo_db, people.workspace_id, people.schema_id, people.snapshot_id).try_acquire()

    teardown = MarkSiteSnapshotsFailedOperator(
        task_id="mark_failed_if_incomplete", mongo_database=mongo_db.name
    )
    result = teardown.execute({"dag_run": SimpleNamespace(dag_id=DAG_ID, run_id=run_id)})  # type: ignore[arg-type]

    assert result == {"marked_failed": [people.snapshot_id]}
    taken = _snapshots_of_run(mongo_db, run_id)
    assert (taken["LOC"].status, taken["PEOPLE"].status) == ("complete", "failed")
    # The schema is free at once: another writer takes its lease without waiting for it to lapse.
    assert SchemaLease(mongo_db, people.workspace_id, people.schema_id, "someone-else").try_acquire()

"""The OpenLineage dataset names of the backup and restore tasks: what a lineage tool shows, and no secret."""

from __future__ import annotations

import json
import sys

import pytest
from airflow.sdk import Connection

from airflow_assets.operators.lineage import (
    DatasetName,
    NotesLineage,
    TaskLineage,
    assets_namespace,
    assets_schema,
    backup_lineage,
    mongo_connection_namespace,
    mongo_namespace,
    operator_lineage,
    restore_lineage,
    store_collections,
)

PASSWORD = "p@ss:w/rd?Secret42"
TOKEN = "ATATT3xFfGF0-token-Secret42"


@pytest.mark.parametrize(
    ("site_url", "namespace"),
    [
        ("https://example.atlassian.net", "jira-assets://example.atlassian.net"),
        ("https://Example.Atlassian.NET:443/", "jira-assets://example.atlassian.net"),
        ("https://jira.corp.example:8443/jira", "jira-assets://jira.corp.example:8443"),
        ("http://127.0.0.1:8765", "jira-assets://127.0.0.1:8765"),
        ("example.atlassian.net", "jira-assets://example.atlassian.net"),
        ("http://[::1]:9000", "jira-assets://[::1]:9000"),
    ],
)
def test_an_assets_site_is_named_by_its_host_and_a_port_only_when_not_the_default(
    site_url: str, namespace: str
) -> None:
    assert assets_namespace(site_url) == namespace


def test_a_schema_is_named_by_workspace_and_key_under_its_site() -> None:
    assert assets_schema("https://example.atlassian.net", "ws-1", "ITAM") == DatasetName(
        "jira-assets://example.atlassian.net", "ws-1/ITAM"
    )


def test_a_site_address_with_credentials_gives_a_name_without_them() -> None:
    named = assets_schema(f"https://me%40corp.example:{TOKEN}@example.atlassian.net", "ws", "HR")

    assert named == DatasetName("jira-assets://example.atlassian.net", "ws/HR")
    with pytest.raises(ValueError, match="names no host") as raised:
        assets_namespace(f"https://:{TOKEN}@")
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("host", "port", "namespace"),
    [
        ("mongo.internal", None, "mongodb://mongo.internal:27017"),
        ("Mongo.Internal", 27018, "mongodb://mongo.internal:27018"),
        ("db1.example:27019,db2.example:27020", None, "mongodb://db1.example:27019"),
        ("cluster0.abcde.mongodb.net", None, "mongodb://cluster0.abcde.mongodb.net:27017"),
        ("[fe80::1]:27017", None, "mongodb://[fe80::1]:27017"),
        ("", None, "mongodb://localhost:27017"),
        (None, 4000, "mongodb://localhost:4000"),
        ("mongo.internal:notaport", 27017, "mongodb://mongo.internal:27017"),
    ],
)
def test_a_mongo_deployment_is_named_by_its_first_host_and_port(
    host: str | None, port: int | None, namespace: str
) -> None:
    assert mongo_namespace(host, port) == namespace


def test_a_connection_string_pasted_into_the_host_field_gives_a_name_without_its_credentials() -> None:
    host = f"mongodb://backup:{PASSWORD}@db1.example:27017,db2.example:27017/admin?authSource=admin&tls=true"

    namespace = mongo_namespace(host, None)

    assert namespace == "mongodb://db1.example:27017"


def test_a_mongo_connection_with_a_password_gives_a_namespace_without_it() -> None:
    connection = Connection(
        conn_id="backup_store",
        conn_type="mongo",
        host="mongo.internal",
        login="backup",
        password=PASSWORD,
        port=27017,
        extra=json.dumps({"authSource": "admin", "srv": False}),
    )
    store = store_collections(mongo_connection_namespace(connection), "jira_assets", ["snapshots"])

    assert store == (DatasetName("mongodb://mongo.internal:27017", "jira_assets.snapshots"),)
    assert "backup" not in store[0].namespace and PASSWORD not in repr(store)


def test_a_restore_writes_its_targets_only_when_it_writes() -> None:
    store = (DatasetName("mongodb://m:27017", "db.snapshots"),)
    target = DatasetName("jira-assets://t.example", "ws/NEW")

    writing = restore_lineage(store, [target, target], writes=True)
    planning = restore_lineage(store, [target], writes=False)
    verifying = restore_lineage(store, [target], writes=False, reads_target=True)

    assert writing == TaskLineage(inputs=store, outputs=(target,))  # one dataset per schema
    assert planning == TaskLineage(inputs=store, outputs=())
    assert verifying == TaskLineage(inputs=(*store, target), outputs=())


def test_without_the_provider_no_lineage_is_built_and_nothing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # A module set to None in sys.modules cannot be imported: as if the provider were not installed.
    for name in ("airflow.providers.openlineage", "airflow.providers.openlineage.extractors", "openlineage"):
        monkeypatch.setitem(sys.modules, name, None)
    lineage = backup_lineage(DatasetName("jira-assets://s", "ws/K"), (DatasetName("mongodb://m:1", "d.c"),))

    assert operator_lineage(lineage) is None
    assert operator_lineage(None) is None


def test_the_provider_gets_datasets_with_their_data_source_and_no_secret() -> None:
    pytest.importorskip("airflow.providers.openlineage")
    from openlineage.client.serde import Serde

    connection = Connection(
        conn_id="backup_store", conn_type="mongo", host="mongo.internal", login="u", password=PASSWORD
    )
    namespace = mongo_connection_namespace(connection)
    store = store_collections(namespace, "jira_assets", ["snapshots", "versions"])
    schema = assets_schema(f"https://me:{TOKEN}@example.atlassian.net", "ws-9", "CMDB")

    reported = operator_lineage(backup_lineage(schema, store))

    assert [(d.namespace, d.name) for d in reported.inputs] == [
        ("jira-assets://example.atlassian.net", "ws-9/CMDB")
    ]
    assert [(d.namespace, d.name) for d in reported.outputs] == [
        ("mongodb://mongo.internal:27017", "jira_assets.snapshots"),
        ("mongodb://mongo.internal:27017", "jira_assets.versions"),
    ]
    assert reported.inputs[0].facets["dataSource"].uri == "jira-assets://example.atlassian.net"
    as_json = Serde.to_json(reported)
    assert PASSWORD not in as_json and TOKEN not in as_json and '"u"' not in as_json


class _Step(NotesLineage):
    """A step whose store can be read once: the provider's forked child must not need it a second time."""

    def __init__(self, lineage: TaskLineage | None, *, fails: bool = False) -> None:
        self.lineage, self.fails, self.reads = lineage, fails, 0

    def run_lineage(self, dag_id: str, run_id: str) -> TaskLineage | None:
        self.reads += 1
        if self.fails:
            raise ConnectionError("the store is out of reach")
        return self.lineage


class _TaskInstance:
    def __init__(self, run_id: str) -> None:
        self.dag_id, self.run_id = "jira_assets_backup_demo_loc", run_id


def test_the_lineage_noted_when_the_step_ends_is_what_the_provider_gets_without_reading_the_store() -> None:
    pytest.importorskip("airflow.providers.openlineage")
    schema = assets_schema("https://example.atlassian.net", "w-1", "LOC")
    step = _Step(backup_lineage(schema, store_collections("mongodb://db:27017", "ja", ["snapshots"])))

    step.note_lineage("jira_assets_backup_demo_loc", "scheduled__1")
    step.lineage = None  # what the store would say now no longer matters: the noted datasets are sent
    reported = step.get_openlineage_facets_on_complete(_TaskInstance("scheduled__1"))

    assert step.reads == 1
    assert [(d.namespace, d.name) for d in reported.inputs] == [
        ("jira-assets://example.atlassian.net", "w-1/LOC")
    ]
    # Another run (noted for none) is read from the store.
    assert step.get_openlineage_facets_on_complete(_TaskInstance("scheduled__2")) is None
    assert step.reads == 2


def test_a_step_whose_lineage_cannot_be_read_still_succeeds_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    step = _Step(None, fails=True)

    step.note_lineage("jira_assets_backup_demo_loc", "scheduled__1")  # does not raise

    assert "could not be worked out: ConnectionError" in caplog.text
    assert "out of reach" not in caplog.text  # the type only: a message may quote an address


def test_without_the_provider_nothing_is_read_when_a_step_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage", None)
    step = _Step(TaskLineage())

    step.note_lineage("jira_assets_backup_demo_loc", "scheduled__1")

    assert step.reads == 0

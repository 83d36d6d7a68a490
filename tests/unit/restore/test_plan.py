"""The restore plan is a value: built from hand-made inputs (no store, no site), stored and read back."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from airflow_assets.restore.plan import ObjectTypePlan, RestorePlan, build_plan
from airflow_assets.restore.request import parse_request
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.scope import EntryCounts, ObjectSet, TypeScope
from airflow_assets.restore.source import SourceSnapshot
from airflow_assets.restore.target import TargetSite
from airflow_assets.store.snapshots import Snapshot


class _NoStore:
    """Stands in for the version store: any read fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"build_plan read the store ({name})")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("build_plan opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _schema() -> SchemaSource:
    snapshot = Snapshot.from_document(
        {"_id": "snap-1", "workspace_id": "ws-old", "schema_id": "7", "schema_key": "ITAM", "seq": 3,
         "status": "complete", "kind": "full", "site": "prod", "include": {"comments": True}}
    )  # fmt: skip
    request = parse_request(_PARAMS)
    source = SourceSnapshot(0, request.mappings[0], snapshot, _NoStore())  # type: ignore[arg-type]
    hardware = {"id": "1", "name": "Hardware", "position": 0, "icon": {"name": "Box"}}
    laptop = {"id": "2", "name": "Laptop", "parentObjectTypeId": "1", "icon": {"name": "Laptop"}}
    serial = {"id": "20", "name": "Serial", "objectTypeId": "2", "type": 0, "uniqueAttribute": True}
    return SchemaSource(
        source=source,
        schema={"id": "7", "name": "IT assets", "objectSchemaKey": "ITAM"},
        properties={},
        object_types={"1": hardware, "2": laptop},
        attributes={"20": serial},
        status_types=[],
        reference_types=[],
        global_status_types=[],
        global_reference_types=[],
        attributes_of={"2": [serial]},
    )


_PARAMS = {
    "schema_mappings": [{"old_key": "ITAM", "new_key": "ITAM2", "new_name": "IT assets (copy)"}],
    "include_comments": True,
}


def test_build_plan_is_built_from_values_alone() -> None:
    schema = _schema()
    laptop = {"id": "10", "objectKey": "ITAM-10", "objectTypeId": "2", "attributes": []}
    selection = ObjectSet({"10": laptop}, {"10": 0}, {"10": "ITAM-10"}, {"10": "ITAM"})
    target = TargetSite(
        workspace_id="ws-new", site_url="https://new.example", schemas={}, global_status_types=[],
        global_reference_types=[], icons={"Laptop": "5"},
    )  # fmt: skip

    plan = build_plan(
        parse_request(_PARAMS), [schema], TypeScope({"ITAM": {"1", "2"}}), selection, target,
        entries={"ITAM": EntryCounts(comments=3)}, restore_id="restore-1", conn_id="new_site",
    )  # fmt: skip

    (planned,) = plan.schemas
    assert (planned.old_key, planned.new_key, planned.name) == ("ITAM", "ITAM2", "IT assets (copy)")
    assert (planned.snapshot_id, planned.index, planned.action) == ("snap-1", 0, "create schema")
    assert planned.object_types == (
        ObjectTypePlan("1", "Hardware", None, "create", 0),
        ObjectTypePlan("2", "Laptop", "Hardware", "create", 1),
    )
    assert (planned.objects, planned.comments, planned.history_comments) == (1, 3, 0)
    assert planned.deferred_restrictions == ("ITAM2/Laptop.Serial",)
    assert plan.target.same_site is False and plan.target.conn_id == "new_site"
    assert plan.order == ("ITAM",)
    assert plan.warnings == ("ITAM/Hardware: icon 'Box' not found",)


def test_a_stored_plan_reads_back_as_the_same_value() -> None:
    schema = _schema()
    target = TargetSite("ws-old", "https://old.example", {}, [], [], {})
    plan = build_plan(
        parse_request(_PARAMS), [schema], TypeScope({"ITAM": {"2"}}), ObjectSet({}, {}), target,
        restore_id="restore-1", conn_id="old_site", cycles=[["ITAM", "LOC"]],
    )  # fmt: skip

    stored = plan.as_dict()

    assert stored["schemas"][0]["object_types"][0]["type_id"] == "2"
    assert RestorePlan.from_dict(stored) == plan
    assert plan.schemas[0].name == "IT assets (copy)" and plan.target.same_site is True

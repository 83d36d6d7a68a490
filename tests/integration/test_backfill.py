"""Backfill: a month of scripted edits, real snapshots at known moments, and the same moments reconstructed.

The sandbox records every edit's history at the moment the script gives. Real snapshots of the moments go
into one database; a second database holds only the latest real snapshot, and the moments are backfilled
there from history alone. Each reconstructed snapshot must equal the real one of its moment, apart from
exactly what its fidelity report declares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.backfill import reconstruct as reconstruct_module
from airflow_assets.backfill.reconstruct import reconstruct_run
from airflow_assets.backup.run import BackupRun
from airflow_assets.cli import main
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox, run_sandbox
from airflow_assets.sandbox.model import Site
from airflow_assets.store import SnapshotStore
from airflow_assets.store.layout import RECONSTRUCTION_NOTES
from tests.integration.backup_support import client_for, collection_counts, mongo_database, stored
from tests.integration.restore_support import restore

pytestmark = pytest.mark.slow

DAY = timedelta(days=1)
START = datetime(2026, 10, 31, 9, 0, tzinfo=UTC)
MOMENTS = [datetime(2026, 11, 5, 12, 0, tzinfo=UTC), datetime(2026, 11, 15, 12, 0, tzinfo=UTC),
           datetime(2026, 11, 25, 12, 0, tzinfo=UTC)]  # fmt: skip
LATEST = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
INCLUDE = {"history": True, "comments": True, "connected_tickets": False}


@dataclass
class Script:
    """The schema the script edits, by name."""

    site: Site
    schema_id: str
    types: dict[str, str]
    attributes: dict[str, str]
    objects: dict[str, str]
    statuses: dict[str, str]
    type_of: dict[str, str]

    def set(self, name: str, at: datetime, **values: Any) -> None:
        """Set attribute values (attribute name -> value or list of values) of object ``name`` at ``at``."""
        attributes = []
        for attribute, value in values.items():
            listed = value if isinstance(value, list) else [] if value is None else [value]
            attributes.append(
                {
                    "objectTypeAttributeId": self.attributes.get(f"{self.type_of[name]}.{attribute}")
                    or self.attributes[attribute.replace("_", " ")],
                    "objectAttributeValues": [{"value": str(item)} for item in listed],
                }
            )
        self.site.update_object(self.objects[name], {"attributes": attributes}, at=at)

    def create(self, type_name: str, name: str, at: datetime, **values: Any) -> None:
        created = self.site.create_object(
            {
                "objectTypeId": self.types[type_name],
                "attributes": [
                    {
                        "objectTypeAttributeId": self.attributes[f"{type_name}.Name"],
                        "objectAttributeValues": [{"value": name}],
                    }
                ],
            },
            at=at,
        )
        self.objects[name] = str(created["id"])
        self.type_of[name] = type_name
        if values:
            self.set(name, at, **values)


def _build(site: Site) -> Script:
    site.add_user("acc-ann", "Ann Archer", "ann@example.com")
    site.add_user("acc-ben", "Ben Baker", "ben@example.com")
    site.add_group("cmdb-admins")
    site.add_group("cmdb-readers")
    schema = site.create_schema({"name": "History", "objectSchemaKey": "HIST"}, at=START)
    schema_id = str(schema["id"])
    types = {}
    for name in ("Person", "Asset"):
        created = site.create_object_type(
            {"name": name, "iconId": "1", "objectSchemaId": schema_id}, at=START
        )
        types[name] = str(created["id"])
    attributes: dict[str, str] = {}
    for type_name, type_id in types.items():
        for attribute in site.list_attributes(type_id):
            if attribute["name"] == "Name":
                attributes[f"{type_name}.Name"] = str(attribute["id"])
    statuses = {status.name: status_id for status_id, status in site.status_types.items()}
    reference_type = next(iter(site.reference_types))
    plain = {"Text": 0, "Integer": 1, "Boolean": 2, "Double": 3, "Date": 4, "Time": 5, "DateTime": 6,
             "URL": 7, "Email": 8, "Textarea": 9, "IP Address": 11}  # fmt: skip
    bodies: dict[str, dict[str, Any]] = {
        name: {"type": 0, "defaultTypeId": kind} for name, kind in plain.items()
    }
    bodies["Select"] = {"type": 0, "defaultTypeId": 10, "options": "Small,Medium,Large"}
    bodies["Labels"] = {"type": 0, "defaultTypeId": 0, "maximumCardinality": -1}
    bodies["Owner"] = {"type": 1, "typeValue": types["Person"], "additionalValue": reference_type}
    bodies["Users of"] = {"type": 1, "typeValue": types["Person"], "additionalValue": reference_type,
                          "maximumCardinality": -1}  # fmt: skip
    bodies["Custodian"] = {"type": 2}
    bodies["Team"] = {"type": 4}
    bodies["State"] = {
        "type": 7,
        "typeValueMulti": [statuses["Active"], statuses["Closed"], statuses["Running"]],
    }
    for name, body in bodies.items():
        created = site.create_attribute(types["Asset"], {"name": name, **body})
        attributes[name] = str(created["id"])
    return Script(site, schema_id, types, attributes, {}, statuses, {})


def _month(script: Script, take: Any) -> None:
    """Drive a month of edits; call ``take(moment)`` at each moment (in time order)."""
    at = START + timedelta(hours=1)
    for person in ("Ann", "Bob", "Cid", "Dan", "Eve"):
        script.create("Person", person, at)
    full = {
        "Text": "first", "Integer": 10, "Boolean": "true", "Double": 1.5, "Date": "2026-01-31",
        "Time": "09:30", "DateTime": "2026-01-31T10:05:07.000Z", "URL": "https://one.example.com",
        "Email": "one@example.com", "Textarea": "line one\nline two", "IP_Address": "10.0.0.1",
        "Select": "Small", "Labels": ["red", "green"], "Owner": script.objects["Bob"],
        "Users_of": [script.objects["Ann"]], "Custodian": "acc-ann", "Team": "cmdb-admins",
        "State": script.statuses["Active"],
    }  # fmt: skip
    script.create("Asset", "Laptop 1", at, **full)
    script.create("Asset", "Laptop 2", at, Owner=script.objects["Cid"], Text="second")
    script.create("Asset", "Server 1", at, Owner=script.objects["Eve"], Users_of=[script.objects["Dan"]])
    # Before the first moment: these stay as they are in every reconstruction.
    script.set("Laptop 1", datetime(2026, 11, 2, 8, tzinfo=UTC), Text="before", Integer=11)
    take(MOMENTS[0])
    # Every attribute type changes on one day; a value is added, another removed.
    script.set(
        "Laptop 1", datetime(2026, 11, 7, 10, 17, 33, tzinfo=UTC),
        Text="changed", Integer=42, Boolean="false", Double=2.25, Date="2026-03-01", Time="17:45",
        DateTime="2026-03-01T08:00:45.000Z", URL="https://two.example.com", Email="two@example.com",
        Textarea="only line", IP_Address="10.0.0.2", Select="Large", Labels=["red", "blue", "green"],
        Owner=script.objects["Ann"], Users_of=[script.objects["Ann"], script.objects["Bob"]],
        Custodian="acc-ben", Team="cmdb-readers", State=script.statuses["Closed"],
    )  # fmt: skip
    script.set("Laptop 2", datetime(2026, 11, 7, 11, tzinfo=UTC), Text=None)  # a value removed
    script.create("Asset", "Laptop 3", datetime(2026, 11, 8, 9, tzinfo=UTC), Owner=script.objects["Bob"])
    script.site.add_comment({"objectId": script.objects["Laptop 1"], "comment": "checked"},
                            at=datetime(2026, 11, 9, 9, tzinfo=UTC))  # fmt: skip
    # A referenced object changes its label: references recorded before name it by its old label.
    script.set("Bob", datetime(2026, 11, 10, 9, tzinfo=UTC), Name="Robert")
    script.set("Laptop 2", datetime(2026, 11, 12, 9, tzinfo=UTC), Owner=script.objects["Dan"])
    take(MOMENTS[1])
    script.set("Laptop 1", datetime(2026, 11, 17, 9, 3, 9, tzinfo=UTC), State=script.statuses["Running"],
               Owner=script.objects["Bob"])  # fmt: skip
    script.set("Server 1", datetime(2026, 11, 18, 9, tzinfo=UTC), Users_of=None)
    # A referenced object is deleted: its referrers' history names it by label; its own history is gone.
    script.site.delete_object(script.objects["Dan"], at=datetime(2026, 11, 20, 9, tzinfo=UTC))
    script.create("Person", "Fay", datetime(2026, 11, 21, 9, tzinfo=UTC))
    script.set("Laptop 3", datetime(2026, 11, 22, 9, tzinfo=UTC), Owner=script.objects["Fay"], Integer=7)
    take(MOMENTS[2])
    script.set("Laptop 1", datetime(2026, 11, 26, 14, 0, 21, tzinfo=UTC), Text="latest",
               DateTime="2026-04-02T09:09:09.000Z", Custodian="acc-ann")  # fmt: skip
    take(LATEST)


def _run(moment: datetime) -> BackupRun:
    return BackupRun("jira_assets_backup_test_hist", f"backfill__{moment.isoformat()}", "backfill", moment,
                     moment, moment, LATEST + DAY)  # fmt: skip


def _objects(db: Database, snapshot_id: str) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in stored(db, snapshot_id, "object")}


def _differences(
    real: Mapping[str, dict[str, Any]], rebuilt: Mapping[str, dict[str, Any]], names: Mapping[str, str]
) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """Return ((object id, attribute name) that differ, labels missing from rebuilt, ids extra in rebuilt)."""
    values: set[tuple[str, str]] = set()
    for object_id in real.keys() & rebuilt.keys():
        mine = {a["objectTypeAttributeId"]: a["values"] for a in rebuilt[object_id]["attributes"]}
        theirs = {a["objectTypeAttributeId"]: a["values"] for a in real[object_id]["attributes"]}
        for attribute_id in mine.keys() | theirs.keys():
            if mine.get(attribute_id) != theirs.get(attribute_id):
                values.add((object_id, names[attribute_id]))
        for field in ("label", "objectKey", "created", "objectTypeId"):
            assert rebuilt[object_id][field] == real[object_id][field], (object_id, field)
    missing = {real[object_id]["label"] for object_id in real.keys() - rebuilt.keys()}
    return values, missing, set(rebuilt.keys() - real.keys())


@pytest.fixture
def scripted(mongo_server: EmbeddedMongo) -> Iterator[tuple[RunningSandbox, Script, Database, Database]]:
    real_db = mongo_database(mongo_server, "backfill_real")
    base_db = mongo_database(mongo_server, "backfill_base")
    with run_sandbox(seed="empty", site_name="backfill") as sandbox:
        try:
            yield sandbox, _build(sandbox.site), real_db, base_db
        finally:
            real_db.client.drop_database(real_db.name)
            base_db.client.drop_database(base_db.name)


def test_a_month_of_edits_is_rebuilt_from_history_exactly_but_for_what_the_report_declares(
    scripted: tuple[RunningSandbox, Script, Database, Database],
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    sandbox, script, real_db, base_db = scripted
    # Write history and comments a few objects at a time: the month's objects then span many writes.
    monkeypatch.setattr(reconstruct_module, "GROUPS_PER_WRITE", 2)
    client = client_for(sandbox)
    taken: dict[datetime, str] = {}

    def take(moment: datetime) -> None:
        db = base_db if moment == LATEST else real_db
        run = BackupRun("jira_assets_backup_test_hist", f"manual__{moment.isoformat()}", "manual", None, None,
                        None, moment)  # fmt: skip
        from airflow_assets.backup.activity import export_activity
        from airflow_assets.backup.finalize import finalize
        from airflow_assets.backup.objects import export_objects
        from airflow_assets.backup.schema_config import BackupTarget, export_config

        target = BackupTarget("test", "HIST", INCLUDE, 1, "0 12 * * *", "UTC")
        config = export_config(client, db, target, run)
        export_objects(client, db, config.snapshot_id)
        for what in ("history", "comments"):
            export_activity(client, db, config.snapshot_id, what)
        finalize(client, db, config.snapshot_id)
        taken[moment] = config.snapshot_id

    _month(script, take)
    names = {attribute_id: name.removeprefix("Person.").removeprefix("Asset.")
             for name, attribute_id in script.attributes.items()}  # fmt: skip
    for attribute in stored(base_db, taken[LATEST], "attribute"):
        names.setdefault(str(attribute["id"]), str(attribute["name"]))

    for moment in MOMENTS:
        summary = reconstruct_run(client, base_db, "HIST", _run(moment), moment, base_wait=0)

        # History the latest snapshot holds is used: no history call at all.
        assert summary.history_calls == 0
        assert summary.base_snapshot_id == taken[LATEST]
        snapshot = SnapshotStore(base_db).get(summary.snapshot_id)
        assert snapshot is not None and snapshot.status == "complete" and snapshot.kind == "reconstructed"
        fidelity = snapshot.document["fidelity"]
        real = _objects(real_db, taken[moment])
        rebuilt = _objects(base_db, summary.snapshot_id)
        values, missing, extra = _differences(real, rebuilt, names)
        declared = {(note["object_id"], note["attribute"]) for note in
                    base_db[RECONSTRUCTION_NOTES].find({"snapshot_id": summary.snapshot_id})}  # fmt: skip
        assert extra == set(), f"{moment}: objects the moment did not have: {extra}"
        assert values == declared, f"{moment}: differ {sorted(values)}; declared {sorted(declared)}"
        assert missing == set(fidelity["missing_objects"]["labels"]), moment
        assert fidelity["not_exact"] == len(declared)
        assert fidelity["base_snapshot_id"] == taken[LATEST]
        # History and comments: exactly those recorded by the moment, for the objects both hold.
        for kind in ("history", "comment"):
            mine = {e["id"] for e in stored(base_db, summary.snapshot_id, kind) if e["objectId"] in real}
            theirs = {e["id"] for e in stored(real_db, taken[moment], kind) if e["objectId"] in rebuilt}
            assert mine == theirs, (moment, kind)

    # What the month shows: the values rewound, the label change resolved, the deleted object declared.
    first = SnapshotStore(base_db).get(
        f"{sandbox.workspace_id}:{script.schema_id}:at:2026-11-05T12:00:00.000Z"
    )
    assert first is not None
    report = first.document["fidelity"]
    assert report["values_rewound"] > 20
    assert report["objects_left_out_created_later"] == 2  # Laptop 3 and Fay
    assert report["missing_objects"]["labels"] == ["Dan"]
    assert set(report["not_exact_by_reason"]) == {
        "display form is less precise than the value",
        "reference label matches no object of the schema at that moment",
    }

    # A reconstructed snapshot restores like any other: asked for by a timestamp, into a new key, verified.
    _, verified = restore(
        client,
        base_db,
        {
            "schema_mappings": [{"old_key": "HIST", "new_key": "HIST5"}],
            "snapshot": "2026-11-06T00:00:00Z",
        },
    )
    assert verified.ok, verified
    plan = base_db["restores"].find_one({"_id": "restore-1"})
    assert plan is not None
    described = plan["plan"]["schemas"][0]["snapshot"]
    assert described["snapshot_id"] == first.snapshot_id and described["kind"] == "reconstructed"
    assert described["not_exact"] == report["not_exact"]
    assert any("was reconstructed" in warning for warning in plan["plan"]["warnings"])
    assert verified.objects_checked == first.document["counts"]["objects"]

    # The operator tools show it: list says what moment it holds, show prints the fidelity report.
    config = tmp_path / "jira_assets.yaml"
    config.write_text(
        f"mongo: {{conn_id: jira_assets_backup, database: {base_db.name}}}\n"
        "sites: {test: {conn_id: jira_assets_default, schemas: [HIST]}}\n"
    )
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(base_db.name))
    capsys.readouterr()
    assert main(["snapshots", "list", "--json", "--config", str(config)]) == 0
    listed = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed[first.snapshot_id]["kind"] == "reconstructed"
    assert listed[first.snapshot_id]["state_at"].startswith("2026-11-05T12:00:00")
    assert main(["snapshots", "show", first.snapshot_id, "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "Fidelity (reconstructed from history)" in shown and "1 known by label: Dan" in shown

    # Where an older real snapshot holds an object deleted before the base, it is taken from there.
    before_deletion = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
    with_older = reconstruct_run(client, real_db, "HIST", _run(before_deletion), before_deletion, base_wait=0)
    assert with_older.base_snapshot_id == taken[MOMENTS[2]] and with_older.from_older_snapshot == 1
    labels = {item["label"] for item in stored(real_db, with_older.snapshot_id, "object")}
    assert "Dan" in labels and "Fay" not in labels  # Fay was created on the 21st

    # Backfilling the same moments again changes nothing and makes no duplicates.
    before = collection_counts(base_db)
    for moment in MOMENTS:
        again = reconstruct_run(client, base_db, "HIST", _run(moment), moment, base_wait=0)
        assert again.already_complete
    assert collection_counts(base_db) == before

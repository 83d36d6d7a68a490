"""``airflow-assets snapshots export`` and ``snapshots verify`` against real snapshots of the sandbox."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from airflow_assets import cli
from airflow_assets.api import AssetsClient
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.layout import SNAPSHOTS, SPANS, VERSIONS
from airflow_assets.tools.rt_export import safe_name
from tests.integration.backup_support import back_up, client_for, write_demo_config

SCHEMAS = ("PEOPLE", "LOC", "ITAM")
LAYOUT_CONFIG = (
    "objectschema.json",
    "objectschema_properties.json",
    "global_referencetypes.json",
    "global_statustypes.json",
    "referencetypes.json",
    "statustypes.json",
    "objecttypes.json",
)


# Each test backs up demo schemas and runs the command in-process: 15-35 s apiece within the suite, so
# `./dev.sh fast` leaves the module out (`./dev.sh test` runs it).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backed_up(
    demo_sandbox: RunningSandbox, mongo_server: EmbeddedMongo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, dict[str, str], Path]]:
    """Back up the three demo schemas once; yield the database, snapshot ids by key and a config file."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_server.uri)
    db = client[f"test_{uuid.uuid4().hex[:12]}"]
    with client_for(demo_sandbox) as assets:
        ids = {key: back_up(assets, db, key, "run-1").snapshot_id for key in SCHEMAS}
    config = write_demo_config(tmp_path_factory.mktemp("config") / "jira_assets.yaml", db.name)
    try:
        yield db, ids, config
    finally:
        client.drop_database(db.name)
        client.close()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _expected_values(raw: dict[str, Any]) -> dict[str, Any]:
    """Return what the layout holds for a live object: its API display values, by attribute name."""
    expected: dict[str, Any] = {}
    for attribute in raw.get("attributes") or []:
        shown = []
        for value in attribute["objectAttributeValues"]:
            if value.get("referencedObject") is not None:
                shown.append({"displayValue": value["displayValue"], "searchValue": value["searchValue"]})
            else:
                shown.append(value["displayValue"])
        if shown:
            expected[attribute["objectTypeAttribute"]["name"]] = shown[0] if len(shown) == 1 else shown
    return expected


def _kinds_of(raw: dict[str, Any]) -> set[str]:
    """Return which kinds of value a live object holds (reference, status, user, date, datetime...)."""
    kinds = set()
    for attribute in raw.get("attributes") or []:
        definition = attribute["objectTypeAttribute"]
        kind = {1: "reference", 2: "user", 4: "group", 7: "status"}.get(definition["type"])
        if kind is None:
            kind = str(definition.get("defaultType", {}).get("name", "")).lower()
        kinds.add(kind)
    return kinds


def _check_export(client: AssetsClient, root: Path, key: str) -> set[str]:
    """Compare an export of ``key`` with the live site; return the kinds of value it compared."""
    schema_dir = root / key
    schemas = json.loads((root / "config" / "objectschemas.json").read_text())
    assert {schema["objectSchemaKey"] for schema in schemas} == set(SCHEMAS)
    for name in LAYOUT_CONFIG:
        assert (schema_dir / "config" / name).is_file(), name
    schema = json.loads((schema_dir / "config" / "objectschema.json").read_text())
    assert schema["objectSchemaKey"] == key
    object_types = json.loads((schema_dir / "config" / "objecttypes.json").read_text())
    live_types = client.get_object_types(str(schema["id"]))
    assert [t["id"] for t in object_types] == [t["id"] for t in live_types]
    compared: set[str] = set()
    exported_ids: set[str] = set()
    for object_type in object_types:
        file_name = f"{safe_name(object_type['name'])}_{object_type['id']}.json"
        attributes = json.loads((schema_dir / "config" / "attributes" / file_name).read_text())
        live_attributes = client.get_object_type_attributes(str(object_type["id"]))
        assert [a["name"] for a in attributes] == [a["name"] for a in live_attributes]
        objects = json.loads((schema_dir / "objects" / file_name).read_text())
        meta = json.loads((schema_dir / "objectsmeta" / file_name).read_text())
        assert [item["id"] for item in meta] == list(objects)
        live_ids = {
            str(item["id"])
            for item in client.iter_objects(
                f"objectTypeId = {object_type['id']}", page_size=1000, include_attributes=False
            )
            if str(item["objectType"]["id"]) == str(object_type["id"])
        }
        assert set(objects) == live_ids, object_type["name"]
        for object_id, values in objects.items():
            raw = client.get_object(object_id)
            assert values == _expected_values(raw), f"{key} object {object_id}"
            compared |= _kinds_of(raw)
            exported_ids.add(object_id)
    for folder, read in (
        ("history", lambda object_id: client.get_object_history(object_id)),
        ("comments", lambda object_id: client.get_object_comments(object_id)),
    ):
        with_entries = {object_id for object_id in exported_ids if read(object_id)}
        written = {path.stem for path in (schema_dir / "objects" / folder).glob("*.json")}
        assert written == with_entries, folder
        for object_id in list(with_entries)[:3]:
            entries = json.loads((schema_dir / "objects" / folder / f"{object_id}.json").read_text())
            assert {str(entry["id"]) for entry in entries} == {str(entry["id"]) for entry in read(object_id)}
    return compared


def test_export_writes_every_file_of_the_layout_with_the_sites_display_values(
    backed_up: tuple[Database, dict[str, str], Path],
    demo_sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    db, ids, config = backed_up
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(db.name))
    compared: set[str] = set()
    with client_for(demo_sandbox) as client:
        for key in SCHEMAS:
            code, out, err = _cli(
                capsys, "snapshots", "export", ids[key], "--out", str(tmp_path), "--config", str(config)
            )
            assert code == 0, err
            assert f"exported snapshot {ids[key]}" in out
            compared |= _check_export(client, tmp_path, key)
    assert {"reference", "status", "user", "group", "date", "datetime", "boolean", "double"} <= compared
    # Pretty-printed, and a cross-schema reference (ITAM -> PEOPLE) resolved through PEOPLE's snapshot.
    laptops = next((tmp_path / "ITAM" / "objects").glob("Laptop_*.json")).read_text()
    assert laptops.startswith("{\n    ")
    assert '"searchValue": "PEOPLE-' in laptops


def test_export_again_replaces_the_schema_folder_and_sanitises_type_names(
    sandbox: RunningSandbox,
    mongo_db: Database,
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(mongo_db.name))
    config = write_demo_config(tmp_path / "jira_assets.yaml", mongo_db.name)
    with client_for(sandbox) as client:
        schema = next(s for s in client.iter_object_schemas() if s["objectSchemaKey"] == "LOC")
        icon = client.get_global_icons()[0]
        odd = client.create_object_type(
            {"name": "Spare parts <A/B>|x*", "iconId": icon["id"], "objectSchemaId": schema["id"]}
        )
        snapshot_id = back_up(client, mongo_db, "LOC", "run-1").snapshot_id
    out = tmp_path / "export"
    stale = out / "LOC" / "objects" / "history" / "999999.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("[]")
    code, _, err = _cli(
        capsys, "snapshots", "export", snapshot_id, "--out", str(out), "--config", str(config)
    )
    assert code == 0, err
    file_name = f"Spare_parts__A_B__x__{odd['id']}.json"
    for folder in ("objects", "objectsmeta", "config/attributes"):
        assert (out / "LOC" / folder / file_name).is_file(), folder
    assert json.loads((out / "LOC" / "objects" / file_name).read_text()) == {}
    assert not stale.exists()
    assert sorted(path.name for path in out.iterdir()) == ["LOC", "config"]


def test_verify_finds_a_sound_store_sound(
    backed_up: tuple[Database, dict[str, str], Path],
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, ids, config = backed_up
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(db.name))
    code, out, err = _cli(capsys, "snapshots", "verify", ids["LOC"], "--config", str(config))
    assert code == 0, out + err
    assert "sound: 1 snapshot checked, no problem found" in out
    code, out, _ = _cli(capsys, "snapshots", "verify", "--all", "--json", "--config", str(config))
    assert code == 0
    report = json.loads(out)
    assert report["sound"] is True
    assert {row["snapshot_id"] for row in report["snapshots"]} == set(ids.values())
    assert all(row["items"] > 0 and row["versions_hashed"] == row["items"] for row in report["snapshots"])
    code, _, err = _cli(capsys, "snapshots", "verify", "no-such-snapshot", "--config", str(config))
    assert code == 2
    assert "no-such-snapshot" in err
    code, _, err = _cli(
        capsys, "snapshots", "export", "no-such-snapshot", "--out", "x", "--config", str(config)
    )
    assert code == 2


@pytest.fixture
def damaged_store(
    demo_sandbox: RunningSandbox,
    mongo_db: Database,
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[Database, dict[str, str], Path]:
    """Back up LOC and PEOPLE into a database the test may damage."""
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(mongo_db.name))
    with client_for(demo_sandbox) as client:
        ids = {key: back_up(client, mongo_db, key, "run-1").snapshot_id for key in ("LOC", "PEOPLE")}
    return mongo_db, ids, write_demo_config(tmp_path / "jira_assets.yaml", mongo_db.name)


def _an_object_version(db: Database, snapshot_id: str) -> tuple[str, str]:
    snapshot = SnapshotStore(db).get(snapshot_id)
    assert snapshot is not None
    span = db[SPANS].find_one({"schema_id": snapshot.schema_id, "kind": "object"}, sort=[("n", 1)])
    assert span is not None
    return span["hash"], span["item_id"]


def _problems(
    capsys: pytest.CaptureFixture[str], config: Path, *argv: str
) -> tuple[int, list[dict[str, Any]]]:
    code, out, _ = _cli(capsys, "snapshots", "verify", *argv, "--json", "--config", str(config))
    return code, json.loads(out)["problems"]


def test_verify_names_a_missing_version(
    damaged_store: tuple[Database, dict[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, ids, config = damaged_store
    digest, item_id = _an_object_version(db, ids["LOC"])
    db[VERSIONS].delete_one({"_id": digest})
    code, problems = _problems(capsys, config, ids["LOC"])
    assert code == 3
    assert problems == [
        {
            "snapshot_id": ids["LOC"],
            "collection": "versions",
            "document_id": digest,
            "problem": "missing",
            "detail": problems[0]["detail"],
            "kind": "object",
            "item_id": item_id,
        }
    ]
    assert f"object {item_id}" in problems[0]["detail"]
    code, out, _ = _cli(capsys, "snapshots", "verify", ids["LOC"], "--config", str(config))
    assert code == 3
    assert digest in out.replace("\n", "") and "missing" in out


def test_verify_names_a_version_whose_content_changed(
    damaged_store: tuple[Database, dict[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, ids, config = damaged_store
    digest, item_id = _an_object_version(db, ids["LOC"])
    db[VERSIONS].update_one({"_id": digest}, {"$set": {"data.label": "tampered"}})
    code, problems = _problems(capsys, config, ids["LOC"])
    assert code == 3
    assert [(p["collection"], p["document_id"], p["problem"]) for p in problems] == [
        ("versions", digest, "hash mismatch")
    ]
    assert f"object {item_id}" in problems[0]["detail"]


def test_verify_names_a_count_the_store_does_not_hold(
    damaged_store: tuple[Database, dict[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, ids, config = damaged_store
    db[SNAPSHOTS].update_one({"_id": ids["PEOPLE"]}, {"$inc": {"counts.objects": 1}})
    code, problems = _problems(capsys, config, "--all")
    assert code == 3
    assert [(p["snapshot_id"], p["collection"], p["document_id"], p["problem"]) for p in problems] == [
        (ids["PEOPLE"], "snapshots", ids["PEOPLE"], "count mismatch"),
        # The counts are part of the root digest: a count edited by hand no longer matches it either.
        (ids["PEOPLE"], "snapshots", ids["PEOPLE"], "root mismatch"),
    ]
    assert "counts.objects" in problems[0]["detail"]
    # The other schema's snapshot is checked too, and sound.
    code, problems = _problems(capsys, config, ids["LOC"])
    assert (code, problems) == (0, [])


def test_verify_cannot_check_an_unreachable_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = write_demo_config(tmp_path / "jira_assets.yaml", "nowhere")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_JIRA_ASSETS_BACKUP", f"mongo://127.0.0.1:{port}/nowhere?serverSelectionTimeoutMS=300"
    )
    code, _, err = _cli(capsys, "snapshots", "verify", "--all", "--config", str(config))
    assert code == 1
    assert "cannot read the backup store" in err


def test_a_reference_into_a_schema_the_store_does_not_hold_keeps_the_object_id(
    demo_sandbox: RunningSandbox,
    mongo_db: Database,
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(mongo_db.name))
    config = write_demo_config(tmp_path / "jira_assets.yaml", mongo_db.name)
    with client_for(demo_sandbox) as client:
        snapshot_id = back_up(client, mongo_db, "ITAM", "run-1").snapshot_id
        code, out, err = _cli(
            capsys,
            "snapshots",
            "export",
            snapshot_id,
            "--out",
            str(tmp_path / "out"),
            "--config",
            str(config),
        )
        assert code == 0, err
        assert "referenced objects are in no snapshot" in out
        laptops = json.loads(next((tmp_path / "out" / "ITAM" / "objects").glob("Laptop_*.json")).read_text())
        object_id, values = next((i, v) for i, v in laptops.items() if "Owner" in v)
        live = _expected_values(client.get_object(object_id))
    # PEOPLE was never backed up here: the restore script still finds the old id after the dash.
    owner_id = live["Owner"]["searchValue"].rpartition("-")[2]
    assert values["Owner"] == {"displayValue": f"?-{owner_id}", "searchValue": f"?-{owner_id}"}
    # Values that need nothing from another schema render as the site shows them.
    assert values["Status"] == live["Status"]

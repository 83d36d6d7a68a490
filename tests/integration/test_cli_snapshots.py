"""``airflow-assets snapshots list/show/diff`` over real snapshots of a sandbox in the embedded MongoDB.

One sandbox and one database serve the module: LOC is backed up, four known changes are made through the
client (an attribute value edited, an object deleted, one created, a reference changed), LOC is backed up
again, and ITAM once. The commands run in-process through ``airflow_assets.cli.main``.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from airflow_assets.cli import main
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import run_sandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.reader import short_id
from airflow_assets.tools.snapshot_reading import SnapshotConfig
from airflow_assets.tools.snapshots_diff import render_value
from tests.integration.backup_support import back_up, client_for

LOC_OFFICE, LOC_CITY = "3", "2"
OFFICE_NAME, OFFICE_CITY, OFFICE_WEBSITE = "13", "16", "18"


@dataclass(frozen=True)
class Store:
    """The module's backup store and what was done to the site between the two LOC snapshots."""

    db: Database
    config: Path
    loc_first: str
    loc_second: str
    itam: str
    edited: dict[str, Any]
    deleted: dict[str, Any]
    created: dict[str, Any]
    moved: dict[str, Any]
    old_city: dict[str, Any]
    new_city: dict[str, Any]
    sandbox_counts: dict[str, int]


def _object(raw: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(raw["id"]), "key": raw["objectKey"], "label": raw["label"]}


def _city_of(raw: dict[str, Any]) -> str:
    (attribute,) = [a for a in raw["attributes"] if str(a["objectTypeAttributeId"]) == OFFICE_CITY]
    return str(attribute["objectAttributeValues"][0]["referencedObject"]["id"])


@pytest.fixture(scope="module")
def store(mongo_server: EmbeddedMongo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Back up LOC, change it in four known ways, back it up again; back up ITAM once."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    mongo: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    db = mongo[name]
    config = tmp_path_factory.mktemp("cli_snapshots") / "jira_assets.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            mongo: {{conn_id: jira_assets_backup, database: {name}}}
            sites:
              test:
                conn_id: jira_assets_default
                schemas: [LOC, ITAM]
            """
        )
    )
    try:
        with run_sandbox(seed="demo") as sandbox, client_for(sandbox) as client:
            first = back_up(client, db, "LOC", "run_1")
            offices = list(client.iter_objects(f"objectTypeId = {LOC_OFFICE}", page_size=1000))
            cities = {
                str(c["id"]): c for c in client.iter_objects(f"objectTypeId = {LOC_CITY}", page_size=1000)
            }
            offices.sort(key=lambda raw: int(raw["id"]))
            edited, deleted, moved = offices[0], offices[1], offices[2]
            old_city = cities[_city_of(moved)]
            new_city = next(city for city_id, city in sorted(cities.items()) if city_id != old_city["id"])
            client.update_object(
                str(edited["id"]),
                {
                    "attributes": [
                        {
                            "objectTypeAttributeId": OFFICE_WEBSITE,
                            "objectAttributeValues": [{"value": "https://changed.example.com"}],
                        }
                    ]
                },
            )
            client.delete_object(str(deleted["id"]))
            created = client.create_object(
                {
                    "objectTypeId": LOC_OFFICE,
                    "attributes": [
                        {"objectTypeAttributeId": OFFICE_NAME, "objectAttributeValues": [{"value": "NEW-1"}]},
                        {
                            "objectTypeAttributeId": OFFICE_CITY,
                            "objectAttributeValues": [{"value": new_city["objectKey"]}],
                        },
                    ],
                }
            )
            client.update_object(
                str(moved["id"]),
                {
                    "attributes": [
                        {
                            "objectTypeAttributeId": OFFICE_CITY,
                            "objectAttributeValues": [{"value": new_city["objectKey"]}],
                        }
                    ]
                },
            )
            second = back_up(client, db, "LOC", "run_2")
            itam = back_up(client, db, "ITAM", "run_1")
            counts = {
                str(t["name"]): client.count_objects(f"objectTypeId = {t['id']}")
                for t in client.get_object_types(first.schema_id)
            }
            yield Store(
                db=db,
                config=config,
                loc_first=first.snapshot_id,
                loc_second=second.snapshot_id,
                itam=itam.snapshot_id,
                edited={**_object(edited), "website": _website(edited)},
                deleted=_object(deleted),
                created=_object(client.get_object(str(created["id"]))),
                moved=_object(moved),
                old_city=_object(old_city),
                new_city=_object(new_city),
                sandbox_counts=counts,
            )
    finally:
        mongo.drop_database(name)
        mongo.close()


def _website(raw: dict[str, Any]) -> str:
    (attribute,) = [a for a in raw["attributes"] if str(a["objectTypeAttributeId"]) == OFFICE_WEBSITE]
    return str(attribute["objectAttributeValues"][0]["value"])


@pytest.fixture
def cli(
    store: Store,
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """Return a runner of ``airflow-assets snapshots ...`` on the module's store: (exit code, out, err)."""
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(store.db.name))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["snapshots", *args, "--config", str(store.config)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


# -- list ---------------------------------------------------------------------------------------------------


def test_list_json_shows_every_snapshot_newest_first_with_its_changes(cli: Any, store: Store) -> None:
    code, out, _ = cli("list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [row["id"] for row in rows] == [store.itam, store.loc_second, store.loc_first]
    second, first = rows[1], rows[2]
    assert (second["site"], second["schema_key"], second["kind"], second["status"]) == (
        "test",
        "LOC",
        "incremental",
        "complete",
    )
    assert second["seq"] == 2 and first["seq"] == 1
    assert first["changes"] == {"previous": None, "added": first["objects"], "removed": 0, "changed": 0}
    assert second["changes"] == {"previous": store.loc_first, "added": 1, "removed": 1, "changed": 2}
    assert second["objects"] == first["objects"]
    assert second["started_at"] >= first["started_at"]


def test_list_filters_by_schema_and_site(cli: Any, store: Store) -> None:
    code, out, _ = cli("list", "--json", "--schema", "ITAM")
    assert code == 0 and [row["id"] for row in json.loads(out)] == [store.itam]
    code, out, _ = cli("list", "--json", "--site", "test", "--schema", "LOC")
    assert [row["id"] for row in json.loads(out)] == [store.loc_second, store.loc_first]
    code, out, _ = cli("list", "--json", "--site", "elsewhere")
    assert code == 0 and json.loads(out) == []
    code, out, _ = cli("list", "--site", "elsewhere")
    assert code == 0 and "no snapshots of site elsewhere" in out


def test_list_table_names_each_snapshot_with_its_changes(cli: Any, store: Store) -> None:
    code, out, _ = cli("list")
    assert code == 0
    lines = {line for line in out.splitlines() if short_id(store.loc_second) in line}
    (line,) = lines
    for text in ("LOC", "incremental", "complete", "+1 -1 ~2", "test"):
        assert text in line
    (first_line,) = [line for line in out.splitlines() if short_id(store.loc_first) in line]
    assert "(first)" in first_line and "full" in first_line


def test_short_ids_stay_whole_in_a_narrow_table_and_every_command_takes_them(
    cli: Any, store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = cli("list")
    assert code == 0
    for snapshot_id in (store.loc_first, store.loc_second, store.itam):
        assert re.search(rf"\b{short_id(snapshot_id)}\b", out), out
    code, out, _ = cli("list", "--json")
    assert {row["short_id"] for row in json.loads(out)} == {
        short_id(s) for s in (store.loc_first, store.loc_second, store.itam)
    }
    code, out, _ = cli("show", short_id(store.loc_second), "--json")
    assert code == 0 and json.loads(out)["id"] == store.loc_second
    code, out, _ = cli("diff", short_id(store.loc_first), short_id(store.loc_second), "--json")
    assert code == 0 and json.loads(out)["objects"] == {"added": 1, "removed": 1, "changed": 2}
    code, out, err = cli("verify", short_id(store.itam))
    assert code == 0, err
    code, _, err = cli("export", short_id(store.itam), "--out", str(tmp_path / "itam"))
    assert code == 0, err


# -- show ---------------------------------------------------------------------------------------------------


def test_show_counts_objects_per_type_as_the_sandbox_does(cli: Any, store: Store) -> None:
    code, out, _ = cli("show", store.loc_second, "--json")
    assert code == 0
    report = json.loads(out)
    assert {entry["name"]: entry["objects"] for entry in report["object_types"]} == store.sandbox_counts
    assert report["counts"]["objects"] == sum(store.sandbox_counts.values())
    assert report["counts"]["counted_from_store"] is False
    assert report["include"] == {"history": True, "comments": True, "tickets": True}
    assert (report["kind"], report["base_seq"], report["fidelity"]) == ("incremental", 1, None)
    assert report["kind_reason"]
    assert report["steps"]["export_objects"]["deleted"] == 1


def test_show_by_a_unique_ending_keeps_the_steps(cli: Any, store: Store) -> None:
    code, out, _ = cli("show", store.loc_second, "--json")
    by_id = json.loads(out)
    code, out, _ = cli("show", store.loc_second.split(":", 1)[1], "--json")
    assert code == 0
    by_ending = json.loads(out)
    assert by_ending["steps"] and by_ending["steps"] == by_id["steps"]
    code, out, _ = cli("show", store.loc_second.split(":", 1)[1])
    assert code == 0 and "Steps" in out and "export_objects" in out


def test_show_table_and_a_run_id_suffix(cli: Any, store: Store) -> None:
    # "3:run_1" is the end of ITAM's id only (LOC is schema 2): a unique end is enough.
    itam_schema = store.itam.split(":")[1]
    code, out, _ = cli("show", f"{itam_schema}:run_1")
    assert code == 0
    assert store.itam in out and "Laptop" in out and "not reconstructed" in out
    assert "history, comments, tickets" in out


def test_show_refuses_an_ambiguous_or_unknown_id(cli: Any, store: Store) -> None:
    code, out, err = cli("show", "run_1")
    assert code == 2 and out == ""
    assert "matches 2 snapshots" in err and store.itam in err and store.loc_first in err
    code, _, err = cli("show", "no-such-run")
    assert code == 2 and "no snapshot 'no-such-run'" in err


# -- diff ---------------------------------------------------------------------------------------------------


def test_diff_names_exactly_the_changes_made_with_old_and_new_values(cli: Any, store: Store) -> None:
    code, out, _ = cli("diff", store.loc_first, store.loc_second, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["config"] == {"added": [], "removed": [], "changed": []}
    assert report["objects"] == {"added": 1, "removed": 1, "changed": 2}
    (office,) = report["object_types"]
    assert office["name"] == "Office"
    assert office["added"] == [store.created]
    assert office["removed"] == [store.deleted]
    changed = {entry["id"]: entry for entry in office["changed"]}
    assert set(changed) == {store.edited["id"], store.moved["id"]}

    edited = {a["name"]: a for a in changed[store.edited["id"]]["attributes"]}
    assert edited["Website"]["old"] == [store.edited["website"]]
    assert edited["Website"]["new"] == ["https://changed.example.com"]
    assert edited["Website"]["new_raw"] == [{"value": "https://changed.example.com"}]
    assert set(edited) <= {"Website", "Updated"}

    moved = {a["name"]: a for a in changed[store.moved["id"]]["attributes"]}
    assert moved["City"]["old"] == [f"{store.old_city['key']} {store.old_city['label']}"]
    assert moved["City"]["new"] == [f"{store.new_city['key']} {store.new_city['label']}"]
    assert moved["City"]["new_raw"] == [{"referencedObjectId": store.new_city["id"]}]
    assert set(moved) <= {"City", "Updated"}


def test_diff_table_shows_the_changes(cli: Any, store: Store) -> None:
    code, out, _ = cli("diff", store.loc_first, store.loc_second)
    assert code == 0
    assert "Configuration: no changes" in out
    assert "+1 -1 ~2" in out
    for text in (
        store.created["key"],
        store.deleted["key"],
        "https://changed.example.com",
        f"{store.new_city['key']} {store.new_city['label']}",
    ):
        assert text in out


def test_diff_of_a_snapshot_with_itself_is_empty(cli: Any, store: Store) -> None:
    code, out, _ = cli("diff", store.loc_second, store.loc_second, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["objects"] == {"added": 0, "removed": 0, "changed": 0} and report["object_types"] == []


def test_diff_refuses_snapshots_of_different_schemas(cli: Any, store: Store) -> None:
    code, out, err = cli("diff", store.loc_first, store.itam)
    assert code == 2 and out == ""
    assert "different schemas" in err


def test_diff_refuses_an_unknown_id(cli: Any, store: Store) -> None:
    code, _, err = cli("diff", store.loc_first, "nope")
    assert code == 2 and "no snapshot 'nope'" in err


def test_a_failed_snapshot_is_listed_but_not_compared(cli: Any, store: Store) -> None:
    snapshots = SnapshotStore(store.db)
    failed = snapshots.get(store.loc_second)
    assert failed is not None
    document = {**failed.document, "_id": f"{failed.workspace_id}:{failed.schema_id}:run_broken"}
    for field in ("seq", "status", "counts", "finished_at"):
        document.pop(field, None)
    created, _ = snapshots.begin(document)
    try:
        from datetime import UTC, datetime

        snapshots.fail(created.snapshot_id, "test", finished_at=datetime.now(UTC))
        code, out, _ = cli("list", "--json", "--schema", "LOC")
        rows = json.loads(out)
        assert rows[0]["id"] == created.snapshot_id and rows[0]["status"] == "failed"
        assert rows[0]["changes"] is None
        assert rows[1]["changes"]["added"] == 1, "the failed run does not shift the comparison"
        code, _, err = cli("diff", store.loc_first, "run_broken")
        assert code == 2 and "failed" in err
        code, out, _ = cli("show", "run_broken", "--json")
        assert code == 0 and json.loads(out)["counts"]["counted_from_store"] is True
    finally:
        store.db["snapshots"].delete_one({"_id": created.snapshot_id})


# -- the store ----------------------------------------------------------------------------------------------


def test_an_unreachable_store_fails_with_exit_1(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 refuses at once; the short server selection timeout keeps the test fast.
    monkeypatch.setenv(
        "AIRFLOW_CONN_JIRA_ASSETS_BACKUP", "mongo://127.0.0.1:1/db?serverSelectionTimeoutMS=300"
    )
    assert main(["snapshots", "list", "--config", str(store.config)]) == 1
    assert "cannot read the backup store" in capsys.readouterr().err


def test_an_unreachable_store_is_one_line_within_seconds(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No timeout in the connection: the command's own short one applies (pymongo's default is 30 s).
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", "mongo://127.0.0.1:1/db")
    started = time.monotonic()
    assert main(["snapshots", "list", "--config", str(store.config)]) == 1
    assert time.monotonic() - started < 10
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("airflow-assets snapshots list: cannot read the backup store: ")
    assert "127.0.0.1:1" in line and "Topology" not in line and len(line) < 300


def test_a_connection_of_another_type_is_one_line_and_bad_usage(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", "http://127.0.0.1:1/db")
    assert main(["snapshots", "list", "--config", str(store.config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("airflow-assets snapshots list: connection 'jira_assets_backup': ")
    assert "mongo" in line


def test_a_missing_connection_or_config_is_bad_usage(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", raising=False)
    assert main(["snapshots", "show", "run_2", "--config", str(store.config)]) == 2
    assert "connection 'jira_assets_backup' is not defined" in capsys.readouterr().err
    assert main(["snapshots", "list", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "invalid backup configuration" in capsys.readouterr().err


def test_values_are_rendered_as_a_person_names_them() -> None:
    config = SnapshotConfig({"status_type": {"1": {"id": "1", "name": "In use"}}, "global_status_type": {}})
    objects = {"7": {"objectKey": "LOC-7", "label": "Sydney"}}
    assert render_value({"statusId": "1"}, config, objects) == "In use"
    assert render_value({"statusId": "9"}, config, objects) == "status 9"
    assert render_value({"referencedObjectId": "7"}, config, objects) == "LOC-7 Sydney"
    assert render_value({"referencedObjectId": "8"}, config, objects) == "object 8"
    assert render_value({"user": {"accountId": "a1", "displayName": "Ada L"}}, config, objects) == "Ada L"
    assert render_value({"groupName": "it-ops"}, config, objects) == "it-ops"
    assert render_value({"value": True}, config, objects) == "true"
    assert render_value({"value": "16"}, config, objects) == "16"

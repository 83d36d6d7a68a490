"""Encryption at rest: an encrypted store holds no name or value of the site, and every reader still works.

The key comes from the ``jira_assets_encryption_key`` connection (an environment variable here, as a
secrets backend would give it), read when the backup database is opened (``hooks.backup_store``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets import cli
from airflow_assets.backfill.reconstruct import reconstruct_run
from airflow_assets.backup.run import BackupRun
from airflow_assets.config.storage import RetentionPolicy
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.hooks.backup_store import backup_database
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotReader, SnapshotStore
from airflow_assets.store.encryption import EncryptionKeyError, Keyring, key_id_of, keyring_of, use_keyring
from airflow_assets.store.layout import VERSIONS
from airflow_assets.store.prune import forget, prune
from airflow_assets.store.versions import DamagedContentError
from tests.integration.backup_support import back_up, client_for, set_connections, stored, write_demo_config
from tests.integration.encryption_support import KEY_1, KEY_2, key_connection, raw_dump, sandbox_strings
from tests.integration.restore_support import DEMO_KEYS, restore

KEY_CONN = "AIRFLOW_CONN_JIRA_ASSETS_ENCRYPTION_KEY"
pytestmark = pytest.mark.slow


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def opened(mongo_server: EmbeddedMongo, mongo_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Return an opener of the test's database as a task opens it (the key read from the connection)."""

    def open_db() -> Any:
        return backup_database("jira_assets_backup", mongo_db.name)

    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(mongo_db.name))
    yield open_db


def _rename(sandbox: RunningSandbox, schema_key: str, label: str) -> str:
    """Give the first object of a schema a new label on the site; return its id."""
    site = sandbox.site
    (schema_id,) = [sid for sid, s in site.schemas.items() if s.key == schema_key]
    record = min((o for o in site.objects.values() if o.schema_id == schema_id), key=lambda o: o.object_id)
    (attribute,) = [
        a for a in site.effective_attributes(record.object_type_id) if a.label and a.system_role is None
    ]
    site.update_object(
        str(record.object_id),
        {
            "attributes": [
                {"objectTypeAttributeId": attribute.id, "objectAttributeValues": [{"value": label}]}
            ]
        },
    )
    return str(record.object_id)


def test_an_encrypted_store_holds_no_name_or_value_and_restore_verify_export_diff_backfill_work(
    sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    opened: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    set_connections(monkeypatch, sandbox, mongo_server, mongo_db.name)
    monkeypatch.setenv(KEY_CONN, key_connection(KEY_1))
    client = client_for(sandbox)
    # The sandbox's own names and values, before anything is backed up (and a plain backup to prove the
    # search finds them when they are there).
    secrets = sandbox_strings(sandbox.site, DEMO_KEYS)
    assert len(secrets) > 500
    plain = mongo_db.client[f"{mongo_db.name}_plain"]
    try:
        back_up(client, plain, "LOC", "run-1")
        plain_leaks = raw_dump(plain).leaks(secrets)
    finally:
        mongo_db.client.drop_database(plain.name)
    assert len(plain_leaks) > 100

    with opened() as db:
        assert keyring_of(db) is not None
        first = {key: back_up(client, db, key, "run-1").snapshot_id for key in DEMO_KEYS}
        # A backfill: LOC as it was halfway through its history, rewound from the snapshot just taken.
        loc_id = SnapshotStore(db).get(first["LOC"])
        assert loc_id is not None
        times = sorted(
            entry.created
            for record in sandbox.site.objects.values()
            if record.schema_id == loc_id.schema_id
            for entry in sandbox.site.history.get(record.object_id, [])
        )
        moment = times[len(times) // 2].replace(microsecond=0)
        run = BackupRun("jira_assets_backup_test_loc", f"backfill__{moment.isoformat()}", "backfill", moment,
                        moment, moment, moment + timedelta(days=1))  # fmt: skip
        rebuilt = reconstruct_run(client, db, "LOC", run, moment, base_wait=0)
        rebuilt_snapshot = SnapshotStore(db).get(rebuilt.snapshot_id)
        assert rebuilt_snapshot is not None and rebuilt_snapshot.status == "complete"
        assert list(stored(db, rebuilt.snapshot_id, "object"))

    dump = raw_dump(mongo_db)
    assert dump.sealed_values() > 1000
    assert {collection for collection, _ in dump.documents} >= {"snapshots", "versions", "spans", "heads"}
    leaks = dump.leaks(secrets)
    assert leaks == set(), f"{len(leaks)} names or values of the sandbox in the clear: {sorted(leaks)[:20]}"
    # Content ids are keyed HMACs named by the key id, never a plain SHA-256.
    ids = [document["_id"] for collection, document in dump.documents if collection == VERSIONS]
    assert ids and all(str(i).startswith(f"{key_id_of(KEY_1.encode())}:") for i in ids)

    # verify, through the command and the connections, as an operator runs it.
    config = write_demo_config(tmp_path / "jira_assets.yaml", mongo_db.name)
    code, out, err = _cli(capsys, "snapshots", "verify", "--all", "--json", "--config", str(config))
    assert code == 0, out + err
    report = json.loads(out)
    assert report["sound"] is True
    assert len(report["snapshots"]) == 4 and all(row["items"] > 0 for row in report["snapshots"])
    # Every version was decrypted and hashed again (a version shared by two snapshots, once).
    assert sum(row["versions_hashed"] for row in report["snapshots"]) >= len(ids)

    # export: the files hold the site's labels again.
    code, out, err = _cli(capsys, "snapshots", "export", first["LOC"], "--out", str(tmp_path / "x"),
                          "--config", str(config))  # fmt: skip
    assert code == 0, err
    exported = "".join(path.read_text() for path in (tmp_path / "x" / "LOC" / "objects").glob("*.json"))
    loc_labels = {o.label for o in sandbox.site.objects.values() if o.schema_id == loc_id.schema_id}
    assert loc_labels and all(label in exported for label in loc_labels)

    # diff: a label changed on the site between two encrypted snapshots.
    changed = _rename(sandbox, "LOC", "Renamed under encryption")
    with opened() as db:
        second = back_up(client, db, "LOC", "run-2").snapshot_id
    code, out, err = _cli(
        capsys, "snapshots", "diff", first["LOC"], second, "--json", "--config", str(config)
    )
    assert code == 0, err
    diff = json.loads(out)
    assert diff["objects"] == {"added": 0, "removed": 0, "changed": 1}
    assert changed in out and "Renamed under encryption" in out

    # restore into new keys, verified against the site.
    with opened() as db:
        _, verified = restore(client, db, {"schema_mappings": [{"old_key": "LOC", "new_key": "LOCE"}],
                                           "snapshot": second})  # fmt: skip
    assert verified.ok, verified.differences[:10]
    assert verified.objects_checked == len(loc_labels)
    # The restore's own records (its plan, intents with labels, warnings, the key map) are sealed too...
    leaks = raw_dump(mongo_db).leaks(secrets)
    assert leaks == set(), f"after a restore, {len(leaks)} in the clear: {sorted(leaks)[:20]}"
    # ... and the operator still reads them.
    key_map = tmp_path / "key-map.csv"
    code, out, err = _cli(capsys, "restores", "show", "restore-1", "--key-map", str(key_map),
                          "--config", str(config))  # fmt: skip
    assert code == 0, err
    assert "LOCE" in out and "verify" in out
    assert key_map.read_text().count("LOCE-") == len(loc_labels)


def test_tampered_ciphertext_fails_loudly_naming_the_version(
    demo_sandbox: RunningSandbox, mongo_db: Database, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_CONN, key_connection(KEY_1))
    with opened() as db, client_for(demo_sandbox) as client:
        snapshot_id = back_up(client, db, "LOC", "run-1").snapshot_id
        objects = list(stored(db, snapshot_id, "object"))
    versions = mongo_db[VERSIONS]
    victim, other = list(versions.find({"kind": "object"}).limit(2))
    sealed = bytearray(victim["sealed"])
    sealed[-1] ^= 1
    versions.update_one(
        {"_id": victim["_id"]}, {"$set": {"sealed": type(victim["sealed"])(bytes(sealed), 0x80)}}
    )
    with opened() as db:
        with pytest.raises(DamagedContentError) as raised:
            list(stored(db, snapshot_id, "object"))
        assert raised.value.digest == victim["_id"] and raised.value.item_id == victim["item_id"]
        assert "AES-GCM tag" in str(raised.value)
        # A genuine ciphertext moved onto another version fails too: it is bound to its own document.
        versions.update_one({"_id": victim["_id"]}, {"$set": {"sealed": other["sealed"]}})
        with pytest.raises(DamagedContentError, match="AES-GCM tag"):
            SnapshotStore(db).get(snapshot_id).versions(db).versions_by_hash([victim["_id"]])  # type: ignore[union-attr]
        versions.update_one({"_id": victim["_id"]}, {"$set": {"sealed": victim["sealed"]}})
        assert list(stored(db, snapshot_id, "object")) == objects


def test_a_missing_or_wrong_key_names_the_key_and_repair_quarantines_nothing(
    demo_sandbox: RunningSandbox,
    mongo_db: Database,
    opened: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(KEY_CONN, key_connection(KEY_1))
    with opened() as db, client_for(demo_sandbox) as client:
        snapshot_id = back_up(client, db, "LOC", "run-1").snapshot_id
    wanted = key_id_of(KEY_1.encode())
    for connection in (None, key_connection(KEY_2)):
        if connection is None:
            monkeypatch.delenv(KEY_CONN)
        else:
            monkeypatch.setenv(KEY_CONN, connection)
        with opened() as db:
            with pytest.raises(EncryptionKeyError, match=f"encrypted with key {wanted}") as raised:
                SnapshotReader(db).get(snapshot_id)
            assert raised.value.key_id == wanted
            assert KEY_1 not in str(raised.value) and KEY_2 not in str(raised.value)
    versions_before = mongo_db[VERSIONS].count_documents({})
    # A second writer without the key (its connection missing) is refused before it writes anything.
    monkeypatch.delenv(KEY_CONN)
    with opened() as db, client_for(demo_sandbox) as client:
        with pytest.raises(EncryptionKeyError, match=wanted):
            back_up(client, db, "LOC", "run-2")
        # A schema never backed up: refused by the store's encryption marker.
        with pytest.raises(EncryptionKeyError, match=f"is encrypted \\(keys {wanted}\\).*nothing is written"):
            back_up(client, db, "PEOPLE", "run-1")
    assert mongo_db[VERSIONS].count_documents({}) == versions_before
    assert mongo_db[VERSIONS].count_documents({"data": {"$exists": True}}) == 0
    assert mongo_db["snapshots"].count_documents({}) == 1
    config = write_demo_config(tmp_path / "jira_assets.yaml", mongo_db.name)
    for command in (["verify", "--all"], ["repair"]):
        code, out, err = _cli(capsys, "snapshots", *command, "--config", str(config))
        assert code != 0 and wanted in out + err, (command, out, err)
    # Nothing was taken for damage: the same key opens everything again.
    assert mongo_db[VERSIONS].count_documents({}) == versions_before
    assert mongo_db["quarantine"].count_documents({}) == 0
    monkeypatch.setenv(KEY_CONN, key_connection(KEY_1))
    code, out, err = _cli(capsys, "snapshots", "verify", "--all", "--config", str(config))
    assert code == 0, out + err


def test_rotation_writes_with_the_new_key_and_reads_with_both(
    sandbox: RunningSandbox, mongo_db: Database, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(sandbox)
    first_id, second_id = key_id_of(KEY_1.encode()), key_id_of(KEY_2.encode())
    monkeypatch.setenv(KEY_CONN, key_connection(KEY_1))
    with opened() as db:
        first = back_up(client, db, "LOC", "run-1").snapshot_id
        before = list(stored(db, first, "object"))
    versions_before = mongo_db[VERSIONS].count_documents({})
    changed = _rename(sandbox, "LOC", "Renamed after rotation")

    monkeypatch.setenv(KEY_CONN, key_connection(KEY_2, previous=[KEY_1]))
    with opened() as db:
        second = back_up(client, db, "LOC", "run-2").snapshot_id
        # Both snapshots read whole: the first with the previous key, the second with both.
        assert list(stored(db, first, "object")) == before
        after = {o["id"]: o for o in stored(db, second, "object")}
        assert after[changed]["label"] == "Renamed after rotation"
    # New writes use key 2; unchanged content keeps its key-1 version (a rotation rewrites nothing).
    new = list(mongo_db[VERSIONS].find({"_id": {"$regex": f"^{second_id}:"}}, {"kind": 1, "item_id": 1}))
    assert new and all(v["kind"] in ("object", "history") for v in new)
    assert {v["item_id"] for v in new if v["kind"] == "object"} == {changed}
    assert mongo_db[VERSIONS].count_documents({"_id": {"$regex": f"^{first_id}:"}}) == versions_before
    assert all(
        str(v["key_id"]) == second_id
        for v in mongo_db[VERSIONS].find({"_id": {"$in": [n["_id"] for n in new]}})
    )

    # Retention under the rotated keyring: forget the first snapshot, prune what only it named (the renamed
    # object's key-1 version): every check decrypts with both keys, and the second snapshot stays whole.
    with opened() as db:
        forget(db, RetentionPolicy(keep_last=1), dry_run=False)
        pruned = prune(db, dry_run=False)
        assert pruned.versions_deleted >= 1 and SnapshotStore(db).get(first) is None
        assert {o["id"]: o for o in stored(db, second, "object")} == after

    # Key 1 dropped from the connection: the unchanged content of the second snapshot needs it, by name.
    monkeypatch.setenv(KEY_CONN, key_connection(KEY_2))
    with opened() as db, pytest.raises(EncryptionKeyError, match=first_id):
        list(stored(db, second, "object"))


def test_encryption_turned_on_over_a_plain_store_reads_the_old_and_seals_the_new(
    demo_sandbox: RunningSandbox, mongo_db: Database, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(demo_sandbox)
    monkeypatch.delenv(KEY_CONN, raising=False)
    with opened() as db:
        assert keyring_of(db) is None
        plain = back_up(client, db, "LOC", "run-1").snapshot_id
        before = sorted(json.dumps(o, sort_keys=True) for o in stored(db, plain, "object"))
    plain_versions = mongo_db[VERSIONS].count_documents({})
    assert mongo_db[VERSIONS].count_documents({"data": {"$exists": True}}) == plain_versions

    monkeypatch.setenv(KEY_CONN, key_connection(KEY_1))
    with opened() as db:
        sealed = back_up(client, db, "LOC", "run-2").snapshot_id
        # The old plain snapshot reads as before; the new one holds the same content, all of it sealed.
        assert sorted(json.dumps(o, sort_keys=True) for o in stored(db, plain, "object")) == before
        assert sorted(json.dumps(o, sort_keys=True) for o in stored(db, sealed, "object")) == before
        seq = SnapshotStore(db).get(sealed).seq  # type: ignore[union-attr]
        hashes = {
            span["hash"] for span in SnapshotStore(db).get(sealed).versions(db).visible_spans(None, seq)
        }  # type: ignore[union-attr]
    assert hashes and all(":" in h for h in hashes)
    assert mongo_db[VERSIONS].count_documents(
        {"_id": {"$in": sorted(hashes)}, "sealed": {"$exists": True}}
    ) == len(hashes)
    assert mongo_db[VERSIONS].count_documents({"data": {"$exists": True}}) == plain_versions


def test_a_backup_dag_run_in_airflow_reads_the_key_connection_and_seals_everything(
    backup_dags: Any, sandbox: RunningSandbox, mongo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_CONN, key_connection(KEY_1))
    dag = backup_dags("LOC")["jira_assets_backup_test_loc"]

    dag_run = dag.test()

    assert str(dag_run.state) == "success"
    # Read without the key the store is closed; with it, the snapshot holds what the site holds.
    with pytest.raises(EncryptionKeyError, match=key_id_of(KEY_1.encode())):
        SnapshotStore(mongo_db).find_for_run(dag.dag_id, dag_run.run_id)
    assert mongo_db[VERSIONS].count_documents({"data": {"$exists": True}}) == 0
    use_keyring(mongo_db, Keyring.from_secrets(KEY_1.encode()))
    snapshot = SnapshotStore(mongo_db).find_for_run(dag.dag_id, dag_run.run_id)
    assert snapshot is not None and snapshot.status == "complete"
    labels = {o["label"] for o in stored(mongo_db, snapshot.snapshot_id, "object")}
    assert labels == {o.label for o in sandbox.site.objects.values() if o.schema_id == snapshot.schema_id}
    # No name or value in XCom either (each task's summary is pushed there).
    summaries = [ti.xcom_pull(task_ids=ti.task_id) for ti in dag_run.get_task_instances()]
    text = json.dumps(summaries, default=str)
    assert {s for s in sandbox_strings(sandbox.site, ["LOC"]) if s in text} == set()

"""The end-to-end demo: a sandbox site, an embedded MongoDB, and the backup and restore DAGs in Airflow."""

from __future__ import annotations

import csv
import io
import logging
import os
import signal
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import DAG
    from pymongo.database import Database

    from airflow_assets.api import AssetsClient
    from airflow_assets.sandbox.launch import RunningSandbox

RESTORE_DAG_ID = "jira_assets_restore"
# The schema whose objects the demo deletes and brings back, and the copy of another one it restores.
RECREATE_SCHEMA = "ITAM"
COPY_MAPPING = {"old_key": "LOC", "new_key": "LOC2", "new_name": "Locations (restored)"}


DEMO_CONFIG = """\
# Written by `airflow-assets demo`: back up every schema of the demo sandbox.
mongo: {conn_id: jira_assets_backup, database: jira_assets_backup}
sites:
  demo:
    conn_id: jira_assets_default
    schemas: [PEOPLE, LOC, {key: ITAM, include: {connected_tickets: true}}]
    include: {history: true, comments: true}
retention: {keep_last: 7, keep_daily: 14, keep_weekly: 8, keep_monthly: 12}
"""
DEMO_DAG_FILE = """\
# Written by `airflow-assets demo`: the same two lines a deployment's dags/ folder holds.
from airflow_assets.dags import build_from_config

globals().update(build_from_config())
"""


def run_demo(*, workdir: str | os.PathLike[str] = ".demo") -> int:
    """Start the sandbox and the embedded MongoDB, back up the demo schemas with Airflow, then restore.

    After the backups the demo deletes two servers other objects refer to, brings them back with the
    restore DAG (``recreate_missing``) and restores the schema LOC into the new key LOC2; it returns 1
    when a DAG run fails or a restore's verify finds a difference.

    :param workdir: directory for the demo's Airflow home and MongoDB data (kept between runs).
    """
    root = Path(workdir).resolve()
    # Airflow reads its configuration at import time: point it at the demo's own home first, and keep a
    # developer's secrets backend out of it (it is asked before environment variables, and could hand the
    # demo a real site's jira_assets_default instead of the sandbox).
    os.environ["AIRFLOW_HOME"] = str(root / "airflow")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # dag.test() logs every scheduling step at INFO: keep the demo's own lines readable.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.pop("AIRFLOW__SECRETS__BACKEND", None)
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    # The demo's own DAG folder and backup config, as a deployment would have them.
    dags = root / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "jira_assets_backup.py").write_text(DEMO_DAG_FILE)
    (dags / "jira_assets.yaml").write_text(DEMO_CONFIG)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["JIRA_ASSETS_CONFIG"] = str(dags / "jira_assets.yaml")
    # A stop request unwinds the context managers below (sandbox, MongoDB) instead of killing the process.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    _quiet_known_warnings()

    from airflow.providers.mongo.hooks.mongo import MongoHook

    from airflow_assets.devtools.connections import sandbox_connection
    from airflow_assets.devtools.embedded_mongo import embedded_mongo
    from airflow_assets.hooks import JiraAssetsHook
    from airflow_assets.sandbox.launch import run_sandbox

    with embedded_mongo(root / "mongo") as mongo, run_sandbox(seed="demo") as sandbox:
        print(f"sandbox (a local Jira Cloud site with Assets): {sandbox.url}")
        print(f"MongoDB ({mongo.kind}):{' ' * max(1, 37 - len(mongo.kind))}{mongo.uri}")
        # The same connections a deployment defines in the UI or in its secrets backend.
        # The sandbox enforces no limit: pace at 20x the documented ones so the demo takes seconds.
        os.environ["AIRFLOW_CONN_JIRA_ASSETS_DEFAULT"] = sandbox_connection(sandbox, rate_limit_scale=20)
        os.environ["AIRFLOW_CONN_JIRA_ASSETS_BACKUP"] = mongo.airflow_conn_uri("jira_assets_backup")

        print(
            "  (the sandbox speaks plain http on loopback: its connection sets allow_insecure_http, "
            "which a real site never needs)"
        )
        hook = JiraAssetsHook()
        ok, message = hook.test_connection()
        print(f"connection jira_assets_default: {'OK' if ok else 'FAILED'} - {message}")
        if not ok:
            return 1
        client = hook.get_client()
        print()
        print(f"{'key':<10} {'schema':<24} {'object types':>12} {'objects':>8}")
        total = 0
        for schema in client.iter_object_schemas():
            objects = client.count_objects(f"objectSchemaId = {schema['id']}")
            types = len(client.get_object_types(schema["id"]))
            total += objects
            print(f"{schema['objectSchemaKey']:<10} {schema['name']:<24} {types:>12} {objects:>8}")
        print(f"{'':<10} {'total':<24} {'':>12} {total:>8}")

        backup_db = MongoHook(mongo_conn_id="jira_assets_backup").get_conn()["jira_assets_backup"]
        reply = backup_db.command("ping")
        version = backup_db.client.server_info().get("version", "?")
        print()
        print(
            f"connection jira_assets_backup: MongoDB wire protocol, "
            f"server version {version}, ping ok={reply['ok']}"
        )
        print()
        from airflow.utils.db import initdb

        from airflow_assets.dags import build_from_config

        initdb()
        built = build_from_config()
        failed = _run_backups(backup_db, built)
        print()
        failed += _run_restores(backup_db, client, cycle_keys=_cycle_keys(sandbox))
        _print_next_steps(root)
        return 1 if failed else 0
    return 0


def _print_next_steps(root: Path) -> None:
    """Say what to look at next, once the demo's services are about to stop."""
    print()
    print("next:")
    print(f"  run the demo again: it takes incremental backups and restores from them (data kept in {root})")
    print("  see it in Airflow's UI: airflow-assets standalone, then docs/ui.md (a restore from the form)")
    print(
        "  back up your own site: README, 'Back up object schemas' (airflow-assets schemas list --conn-id X)"
    )
    print("  probe a real site, read-only: airflow-assets check --conn-id X")
    print("  " + cli_hint(root).replace("\n", "\n  "))


class _SandboxCleartextFilter(logging.Filter):
    """Drop the hook's plain-http warning: every task of the demo would repeat it for the loopback sandbox."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "allow_insecure_http is set" not in record.getMessage()


def _quiet_known_warnings() -> None:
    """Keep the demo's output to its own lines: drop two warnings that say nothing about the demo.

    The hook warns in every task that the sandbox's connection is plain http (the demo says so once
    instead), and starlette warns that Airflow's execution API (through ``svcs``) imports its test client
    while ``httpx2`` is not installed: third-party, and harmless here.
    """
    logging.getLogger("airflow_assets.hooks.jira_assets").addFilter(_SandboxCleartextFilter())
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")


def _run_backups(backup_db: Database, dags: Mapping[str, DAG]) -> int:
    """Run every backup DAG once with ``dag.test()``; print each schema's snapshot and counts.

    :return: how many runs failed.
    """
    from airflow_assets.store import SnapshotStore

    snapshots = SnapshotStore(backup_db)
    columns = ("objects", "history_entries", "comments", "tickets")
    headings = "".join(f" {column.split('_')[0]:>8}" for column in columns)
    print(f"{'backup DAG':<34} {'state':<8} {'kind':<11}{headings}  snapshot")
    failed = 0
    for dag_id, dag in sorted(dags.items()):
        if not dag_id.startswith("jira_assets_backup_"):
            continue
        dag_run = dag.test()
        snapshot = snapshots.find_for_run(dag_id, dag_run.run_id)
        counts = snapshot.counts if snapshot else {}
        state = str(dag_run.state)
        failed += state != "success"
        figures = "".join(f" {counts.get(column, '-'):>8}" for column in columns)
        # full: every object with its history and comments; incremental: only what changed since.
        kind = snapshot.kind if snapshot else "-"
        print(f"{dag_id:<34} {state:<8} {kind:<11}{figures}  {snapshot.snapshot_id if snapshot else '-'}")
    return failed


@dataclass(frozen=True)
class LostReference:
    """A reference from an object that stays to one the demo deletes."""

    referrer_id: str
    referrer_key: str
    attribute_id: str
    target_key: str


def _run_restores(backup_db: Database, client: AssetsClient, *, cycle_keys: Sequence[str]) -> int:
    """Delete two referenced servers, bring them back with the restore DAG, then restore LOC into LOC2.

    :return: how many restore runs failed or did not verify.
    """
    schema_id = _schema_id(client, RECREATE_SCHEMA)
    objects = {str(obj["objectKey"]): obj for obj in client.iter_objects(f"objectSchemaId = {schema_id}")}
    # Two servers of the seed's reference cycle: other servers and applications point at them.
    deleted = [key for key in cycle_keys[:2] if key in objects]
    lost = [ref for ref in _references(objects.values(), deleted) if ref.referrer_key not in deleted]
    for key in deleted:
        client.delete_object(str(objects[key]["id"]))
    names = ", ".join(f"{key} ({_label(objects[key])})" for key in deleted)
    referrers = len({ref.referrer_key for ref in lost})
    print(f"deleted with the client: {names}")
    print(f"  {len(lost)} references from {referrers} other objects pointed at them")
    print()
    print(f"{'restore run':<34} {'state':<8} {'objects':>8} {'warnings':>8} {'seconds':>8}  verify")

    recreate = _restore(
        backup_db,
        f"recreate_missing {RECREATE_SCHEMA}",
        {"mode": "recreate_missing", "schema_mappings": [{"old_key": RECREATE_SCHEMA}], "dry_run": False},
    )
    back = [ref for ref in lost if recreate.key_map.get(ref.target_key) in _referenced_keys(client, ref)]
    recreated = ", ".join(f"{old} -> {new}" for old, new in recreate.key_map.items()) or "none"
    print(f"  recreated {recreated}; lost references back: {len(back)} of {len(lost)}")

    copy = _restore(
        backup_db,
        f"new_schema {COPY_MAPPING['old_key']} -> {COPY_MAPPING['new_key']}",
        {"schema_mappings": [COPY_MAPPING], "dry_run": False},
    )
    print()
    print(f"restore reports: MongoDB {backup_db.name}.restores, one document per restore:")
    for run in (recreate, copy):
        print(f"  _id {run.restore_id}")
    print("  the old -> new key maps: restore_files (name key_map.csv, restore_id as above)")
    return sum(not run.ok for run in (recreate, copy)) + (len(back) != len(lost))


@dataclass(frozen=True)
class RestoreOutcome:
    """What a restore run left in MongoDB: its state, report, verify result and key map."""

    restore_id: str
    state: str
    report: dict[str, Any]
    verify: dict[str, Any]
    key_map: dict[str, str]

    @property
    def ok(self) -> bool:
        """Tell whether the run succeeded and its verify found no difference."""
        return self.state == "success" and self.verify.get("ok") is True


def _restore(backup_db: Database, title: str, conf: dict[str, Any]) -> RestoreOutcome:
    """Run the restore DAG once with ``conf``; print one line (and the first differences verify found)."""
    from airflow_assets.dags import build_from_config
    from airflow_assets.restore.ledger import Ledger
    from airflow_assets.restore.session import KEY_MAP_FILE

    # A fresh DAG per run: tasks run in this process, and Airflow's params processing stores a run's conf
    # in the DAG's own Param objects, so a second dag.test() would inherit the first run's mode.
    dag = build_from_config()[RESTORE_DAG_ID]
    dag_run = dag.test(run_conf=conf)
    restore_id = f"{dag.dag_id}:{dag_run.run_id}"
    ledger = Ledger(backup_db, restore_id)
    document = ledger.document()
    outcome = RestoreOutcome(
        restore_id=restore_id,
        state=str(dag_run.state),
        report=document.get("report") or {},
        verify=(document.get("steps") or {}).get("verify") or {},
        key_map={
            row["old_key"]: row["new_key"]
            for row in csv.DictReader(io.StringIO(ledger.read_file(KEY_MAP_FILE) or ""))
        },
    )
    report, verify = outcome.report, outcome.verify
    if not verify:
        checked = "not run"
    else:
        checked = (
            f"{'ok' if verify.get('ok') else 'FAILED'}: {verify.get('objects_checked', 0)} objects checked, "
            f"{verify.get('differences', 0)} differences, {verify.get('read_calls', 0)} reads"
        )
    figures = "".join(
        f" {report.get(name, '-')!s:>8}" for name in ("objects_restored", "warnings", "duration_s")
    )
    print(f"{title:<34} {outcome.state:<8}{figures}  {checked}")
    for difference in (verify.get("first_differences") or [])[:3]:
        print(f"  difference: {difference}")
    return outcome


def cli_hint(root: Path) -> str:
    """Return the lines that point ``airflow-assets`` at the demo's data.

    The demo's MongoDB stops with it; ``standalone`` on the same work directory serves the same data and
    stores both connections in Airflow's database, where the command finds them.
    """
    import shlex

    return (
        "to read this data with airflow-assets: start `airflow-assets standalone --workdir "
        f"{shlex.quote(str(root))}`, then in another shell:\n"
        f"  export AIRFLOW_HOME={shlex.quote(str(root / 'airflow'))} "
        f"JIRA_ASSETS_CONFIG={shlex.quote(str(root / 'dags' / 'jira_assets.yaml'))}\n"
        "  airflow-assets snapshots list; airflow-assets restores list"
    )


def _references(objects: Iterable[Mapping[str, Any]], target_keys: Sequence[str]) -> list[LostReference]:
    """Return every reference of ``objects`` to an object whose key is in ``target_keys``."""
    targets = set(target_keys)
    return [
        LostReference(str(obj["id"]), str(obj["objectKey"]), str(attribute["objectTypeAttributeId"]), key)
        for obj in objects
        for attribute in obj.get("attributes") or []
        for key in _value_keys(attribute)
        if key in targets
    ]


def _referenced_keys(client: AssetsClient, reference: LostReference) -> set[str]:
    """Return the keys the referrer's attribute points at now, as the site answers them."""
    for attribute in client.get_object_attributes(reference.referrer_id):
        if str(attribute.get("objectTypeAttributeId")) == reference.attribute_id:
            return set(_value_keys(attribute))
    return set()


def _value_keys(attribute: Mapping[str, Any]) -> list[str]:
    """Return the object keys an attribute value of the API refers to."""
    return [
        str(value["referencedObject"]["objectKey"])
        for value in attribute.get("objectAttributeValues") or []
        if isinstance(value.get("referencedObject"), Mapping)
    ]


def _schema_id(client: AssetsClient, key: str) -> str:
    """Return the id of the site's object schema with ``key``."""
    for schema in client.iter_object_schemas():
        if schema.get("objectSchemaKey") == key:
            return str(schema["id"])
    raise LookupError(f"the sandbox has no object schema {key}")


def _label(obj: Mapping[str, Any]) -> str:
    return str(obj.get("label") or obj.get("name") or obj["objectKey"])


def _cycle_keys(sandbox: RunningSandbox) -> tuple[str, ...]:
    """Return the keys of the seed's server reference cycle."""
    if sandbox.seed is None:
        raise LookupError("the demo sandbox was started without its seed")
    return sandbox.seed.cycle_keys


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)

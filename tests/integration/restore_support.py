"""Helpers of the restore tests: back up the demo schemas, run a restore's steps in plain Python."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.restore import RestoreSession, SessionSettings, parse_request
from airflow_assets.restore.verify import VerifyReport
from tests.integration.backup_support import back_up

DEMO_KEYS = ("PEOPLE", "LOC", "ITAM")


def back_up_demo(
    client: AssetsClient, db: Database, run_id: str = "run-1", keys: tuple[str, ...] = DEMO_KEYS
) -> None:
    """Take a complete snapshot of each demo schema, as the backup DAGs do."""
    for key in keys:
        back_up(client, db, key, run_id)


def session(
    client: AssetsClient,
    db: Database,
    params: Mapping[str, Any],
    restore_id: str = "restore-1",
    **options: Any,
) -> RestoreSession:
    """Return a restore session over the backups of the site ``test``."""
    options.setdefault("settle_seconds", 0.05)
    settings = SessionSettings(
        restore_id=restore_id, sites=("test",), target_conn_id="jira_assets_default", **options
    )
    return RestoreSession(parse_request(params), db, client, settings)


def restore(
    client: AssetsClient,
    db: Database,
    params: Mapping[str, Any],
    restore_id: str = "restore-1",
    *,
    on_created: Callable[[str], None] | None = None,
    **options: Any,
) -> tuple[RestoreSession, VerifyReport]:
    """Run every step of a restore as the DAG does (no dry run); return the session and the verify report."""
    run = session(client, db, {"dry_run": False, **params}, restore_id, **options)
    run.on_created = on_created
    run.plan()
    run.build_structure()
    run.restore_objects()
    run.roll_back()
    run.relink()
    run.restore_comments()
    run.apply_restrictions()
    report = run.verify()
    run.report()
    return run, report

"""Time each view of the "Jira Assets" page over a store of many snapshots: p50 and p95 per view.

Set-up: the sandbox's demo seed, scaled with ``--objects`` (ITAM holds most of them), serves in this
process; ``--schema`` is backed up ``--snapshots`` times by the real backup (``backup_now``), ``--edits``
objects renamed on the site between two backups, so every snapshot has changes. The page's
real app is mounted under ``/jira-assets`` of an app, as Airflow's API server mounts it, with Airflow's
SimpleAuthManager checking an admin's JWT on every request (Airflow's metadata DB is a temporary SQLite).

Then every view is asked ``--repeat`` times through a TestClient (HTTP in process: routing, auth, MongoDB
reads, rendering), and the p50 and p95 of each are printed in ms: the overview, the schema's table, the
newest snapshot, the diff of the first and the newest snapshot (every edit since: the first page, and the
last page), an edited object's versions, and the prefilled restore form. This one builds its store through
the real backup, so it stays at sizes a backup of the sandbox reaches in minutes; the issue's scale (1,000
snapshots, 100,000 objects per snapshot) is ``ui_views_scale.py``'s, which shares this file's helpers.

Usage: python benchmarks/ui_views.py [--schema ITAM] [--snapshots 20] [--edits 50] [--objects 5000]
       [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

# Airflow reads its configuration when first imported: a home of its own first.
_HOME = tempfile.mkdtemp(prefix="bench-ui-airflow-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(_HOME) / "dags")

import pymongo  # noqa: E402
from bench_support import bench_mongo  # noqa: E402

from airflow_assets.api import AssetsClient, RateLimits  # noqa: E402
from airflow_assets.backup.adhoc import backup_now  # noqa: E402
from airflow_assets.backup.run import BackupRun  # noqa: E402
from airflow_assets.backup.schema_config import BackupTarget  # noqa: E402
from airflow_assets.sandbox.launch import run_sandbox  # noqa: E402
from airflow_assets.store import SnapshotStore  # noqa: E402

DATABASE = "bench_ui"
FAST = RateLimits(default_limit=1_000_000, limits={}, total_limit=None)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", default="ITAM", help="the demo schema backed up (ITAM scales)")
    parser.add_argument("--snapshots", type=int, default=20, help="backups of LOC")
    parser.add_argument("--edits", type=int, default=50, help="objects renamed between two backups")
    parser.add_argument("--objects", type=int, default=5000, help="objects of the demo seed (all schemas)")
    parser.add_argument("--repeat", type=int, default=20, help="requests per view")
    return parser.parse_args()


def _rename(site: Any, record: Any, suffix: str) -> None:
    """Give an object a new label on the site (its label attribute), as a user's edit would."""
    (attribute,) = [
        a for a in site.effective_attributes(record.object_type_id) if a.label and a.system_role is None
    ]
    value = {"objectTypeAttributeId": attribute.id, "objectAttributeValues": [{"value": f"Edited {suffix}"}]}
    site.update_object(str(record.object_id), {"attributes": [value]})


def backup_target(schema: str) -> BackupTarget:
    """Return the benchmark's backup of ``schema`` on the site ``bench``: history and comments, daily."""
    return BackupTarget(site="bench", schema_key=schema, include={"history": True, "comments": True},
                        full_sweep_every=7, schedule="0 2 * * *", timezone="UTC")  # fmt: skip


def backup(client: AssetsClient, db: Any, target: BackupTarget, number: int) -> str:
    """Back ``target`` up now with the real backup (run ``run_<number>``); return the snapshot's id."""
    now = datetime.now(UTC)
    run = BackupRun("jira_assets_backup_bench", f"run_{number:04d}", "manual", now, now, now, now)
    return backup_now(client, db, target, run, key=None, wait=600).snapshot_id


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def main() -> int:
    """Build the store, then time every view."""
    args = _arguments()
    from airflow.utils.db import initdb

    initdb()
    with bench_mongo(DATABASE) as mongo, run_sandbox(seed="demo", objects=args.objects) as sandbox:
        client = AssetsClient(
            site_url=sandbox.url, email=sandbox.email, api_token=sandbox.api_token,
            api_base_url=sandbox.api_base_url, limits=FAST,
        )  # fmt: skip
        db = pymongo.MongoClient(mongo.uri)[DATABASE]
        target = backup_target(args.schema)
        site = sandbox.site
        (schema_id,) = [sid for sid, schema in site.schemas.items() if schema.key == args.schema]
        records = sorted(
            (o for o in site.objects.values() if o.schema_id == schema_id), key=lambda o: o.object_id
        )
        started = time.monotonic()
        ids: list[str] = []
        for number in range(args.snapshots):
            if number:
                for index in range(args.edits):
                    _rename(site, records[(number * args.edits + index) % len(records)], f"{number}-{index}")
            ids.append(backup(client, db, target, number))
        newest = SnapshotStore(db).get(ids[-1])
        built = time.monotonic() - started
        print(f"   store: {len(ids)} snapshots of {args.schema}, {newest.objects if newest else '?'} objects "
              f"each, {args.edits} objects renamed between two; built in {built:.0f} s")  # fmt: skip
        edited = str(records[args.edits % len(records)].object_id)
        print(f"   timing {args.repeat} requests per view: {_time_views(mongo, ids, edited, args)}")
    return 0


def _time_views(mongo: Any, ids: list[str], edited: str, args: argparse.Namespace) -> str:
    from airflow_assets.ui.app import URL_PREFIX

    page = page_client(mongo, args.schema)
    lines = []
    for name, path in views(page, ids, edited, args.schema).items():
        p50, p95 = _percentiles(_samples(lambda path=path: page.get(URL_PREFIX + path), args.repeat))
        lines.append(f"\n     {name:<18} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    return "".join(lines)


def page_client(mongo: Any, schema: str) -> Any:
    """Return a TestClient of the page's real app mounted as Airflow mounts it, signed in as an admin."""
    from airflow.api_fastapi.app import get_auth_manager, init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from airflow_assets.ui.app import URL_PREFIX, create_app
    from airflow_assets.ui.catalog import load_catalog

    config = Path(_HOME) / "jira_assets.yaml"
    config.write_text(textwrap.dedent(f"""
        mongo: {{conn_id: jira_assets_backup, database: {DATABASE}}}
        sites:
          bench: {{conn_id: jira_assets_default, schemas: [{schema}]}}
        """))  # fmt: skip
    os.environ["AIRFLOW_CONN_JIRA_ASSETS_BACKUP"] = mongo.airflow_conn_uri(DATABASE)
    init_auth_manager()
    airflow = FastAPI()
    airflow.mount(URL_PREFIX, create_app(catalog=lambda: load_catalog(str(config))))
    page = TestClient(airflow)
    page.cookies.set(
        "_token", get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    )
    return page


def views(page: Any, ids: list[str], edited: str, schema: str) -> dict[str, str]:
    """Return each view's path under the page: the diff is of the first and the newest snapshot."""
    from airflow_assets.ui.app import URL_PREFIX

    first, newest = quote(ids[0], safe=""), quote(ids[-1], safe="")
    diff = f"/diff/{first}/{newest}"
    last_page = page.get(URL_PREFIX + diff).text.count("next →")  # 1 when there is a next page
    return {
        "overview": "/",
        "schema": f"/schemas/bench/{schema}",
        "snapshot": f"/snapshots/{newest}",
        "diff (page 1)": diff,
        "diff (last page)": f"{diff}?page_number=9999" if last_page else diff,
        "object": f"/objects/{newest}/{edited}",
        "restore form": "/restore?conf=" + quote(json.dumps({"snapshot": ids[-1]})),
    }


def _samples(request: Callable[[], Any], repeat: int) -> list[float]:
    answer = request()
    if answer.status_code != 200:
        raise SystemExit(f"the view answered {answer.status_code}: {answer.text[:300]}")
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        request()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


if __name__ == "__main__":
    sys.exit(main())

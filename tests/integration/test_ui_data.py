"""The page on data built otherwise than the CLI's store: encrypted, reconstructed, a site of every schema.

One sandbox, one encrypted store (the key read from its Airflow connection, as the page reads it in the API
server): LOC backed up, an object renamed on the site, LOC backed up again, LOC reconstructed at a past
moment by a backfill. The config backs up the site's every schema (``schemas: "*"``), and the site's
listings say ITAM was listed an hour ago and is gone now.
"""

from __future__ import annotations

import html
import os
import re
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pymongo.database import Database

from airflow_assets.backfill.reconstruct import reconstruct_run
from airflow_assets.backup.run import BackupRun
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.hooks.backup_store import backup_database
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.site_schemas import ListedSchema, SiteListing, SiteListings
from airflow_assets.ui.app import URL_PREFIX, create_app
from airflow_assets.ui.catalog import load_catalog
from tests.integration.backup_support import back_up, client_for, set_connections
from tests.integration.encryption_support import KEY_1, key_connection, raw_dump
from tests.integration.ui_support import AUTH_MANAGER, token

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KEY_CONN = "AIRFLOW_CONN_JIRA_ASSETS_ENCRYPTION_KEY"
SITE_DAG = "jira_assets_backup_test"


@dataclass(frozen=True)
class Built:
    """The store, what was done to the site, and the page over it."""

    db: Database
    first: str
    second: str
    rebuilt: str
    renamed_id: str
    old_label: str
    new_label: str
    page: TestClient


def _rename(sandbox: RunningSandbox, schema_key: str, label: str) -> tuple[str, str]:
    """Give the first object of a schema a new label on the site; return its id and its old label."""
    site = sandbox.site
    (schema_id,) = [sid for sid, s in site.schemas.items() if s.key == schema_key]
    record = min((o for o in site.objects.values() if o.schema_id == schema_id), key=lambda o: o.object_id)
    old = record.label
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
    return str(record.object_id), old


@pytest.fixture
def built(
    sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Built]:
    from airflow.api_fastapi.app import init_auth_manager

    set_connections(monkeypatch, sandbox, mongo_server, mongo_db.name)
    monkeypatch.setenv(KEY_CONN, key_connection(KEY_1))
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", AUTH_MANAGER)
    init_auth_manager()
    client = client_for(sandbox)
    new_label = f"Renamed {uuid.uuid4().hex[:8]}"
    with backup_database("jira_assets_backup", mongo_db.name) as db:
        first = back_up(client, db, "LOC", "run-1")
        renamed_id, old_label = _rename(sandbox, "LOC", new_label)
        second = back_up(client, db, "LOC", "run-2")
        loc = SnapshotStore(db).get(first.snapshot_id)
        assert loc is not None
        times = sorted(
            entry.created
            for record in sandbox.site.objects.values()
            if record.schema_id == loc.schema_id
            for entry in sandbox.site.history.get(record.object_id, [])
        )
        moment = times[len(times) // 2].replace(microsecond=0)
        run = BackupRun(SITE_DAG, f"backfill__{moment.isoformat()}", "backfill", moment, moment, moment,
                        moment + timedelta(days=1))  # fmt: skip
        rebuilt = reconstruct_run(client, db, "LOC", run, moment, base_wait=0)
        listings = SiteListings(db)
        now = datetime.now(UTC)
        itam = ListedSchema("ITAM", "1", "IT assets")
        listings.record(SiteListing("test", SITE_DAG, "run-1", now - timedelta(hours=1),
                                    (ListedSchema("LOC", loc.schema_id), itam)))  # fmt: skip
        listings.record(SiteListing("test", SITE_DAG, "run-2", now, (ListedSchema("LOC", loc.schema_id),)))
    config = tmp_path / "jira_assets.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            mongo: {{conn_id: jira_assets_backup, database: {mongo_db.name}}}
            sites:
              test:
                conn_id: jira_assets_default
                schemas: "*"
            """
        )
    )
    airflow = FastAPI()
    airflow.mount(URL_PREFIX, create_app(catalog=lambda: load_catalog(str(config))))
    with TestClient(airflow) as page:
        page.cookies.set("_token", token("admin", "admin"))
        yield Built(mongo_db, first.snapshot_id, second.snapshot_id, rebuilt.snapshot_id, renamed_id,
                    old_label, new_label, page)  # fmt: skip


def _get(built: Built, path: str) -> Any:
    return built.page.get(URL_PREFIX + path, follow_redirects=False)


def test_the_page_reads_an_encrypted_store_a_reconstruction_and_a_schema_gone_from_the_site(
    built: Built,
) -> None:
    # The store really is sealed: the new label is nowhere in the clear.
    assert not raw_dump(built.db).leaks({built.new_label})

    overview = _get(built, "/")
    assert overview.status_code == 200
    assert 'data-schema="test/LOC"' in overview.text
    # The reconstruction is on the chart, marked, with its legend.
    assert "ja-dot-marked" in overview.text and ">reconstructed<" in overview.text
    # ITAM was listed an hour ago and is gone from the site now: its row says so, and so do the alerts.
    itam = re.search(r'data-schema="test/ITAM">(.*?)</tr>', overview.text, re.S)
    assert itam is not None and ">gone<" in itam.group(1)
    assert "test/ITAM: gone from the site" in html.unescape(overview.text)

    diff = _get(built, f"/diff/{quote(built.first, safe='')}/{quote(built.second, safe='')}")
    assert diff.status_code == 200
    row = re.search(r'<tr class="ja-change"[^>]*>(.*?)</tr>', diff.text, re.S)
    assert row is not None
    shown = html.unescape(diff.text)
    assert built.old_label in shown and built.new_label in shown

    versions = _get(built, f"/objects/{quote(built.second, safe='')}/{built.renamed_id}")
    assert versions.status_code == 200
    assert built.new_label in html.unescape(versions.text) and built.old_label in html.unescape(versions.text)

    rebuilt = _get(built, f"/snapshots/{quote(built.rebuilt, safe='')}")
    assert rebuilt.status_code == 200
    assert "Fidelity of this reconstruction" in rebuilt.text and "reconstructed" in rebuilt.text

    # The schema's table shows the last weeks; all snapshots adds the reconstruction of a past moment.
    recent = _get(built, "/schemas/test/LOC")
    listed = re.findall(r'<tr class="ja-snapshot" data-id="([^"]+)">', recent.text)
    assert listed == [built.second, built.first] and "showing the last 30 days" in recent.text
    everything = _get(built, "/schemas/test/LOC?everything=true")
    listed = re.findall(r'<tr class="ja-snapshot" data-id="([^"]+)">', everything.text)
    assert listed == [built.second, built.first, built.rebuilt] and "reconstructed" in everything.text


def test_without_the_key_the_page_says_which_key_is_missing(built: Built) -> None:
    os.environ.pop(KEY_CONN, None)
    answer = _get(built, f"/snapshots/{quote(built.second, safe='')}")
    assert answer.status_code == 503
    assert "jira_assets_encryption_key" in answer.text and "mongodb://" not in answer.text

"""The "Jira Assets" page: the real app mounted as Airflow mounts it, real snapshots, real auth.

The store is the one ``test_cli_snapshots`` builds (LOC backed up, four known edits made on the sandbox, LOC
backed up again; ITAM once). Callers carry JWTs of Airflow's SimpleAuthManager (narrowed per DAG for one
user, see ``ui_support``), sent as the UI sends them: the ``_token`` cookie or a Bearer header.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_assets.dags.plan import RESTORE_DAG_ID, backup_dag_id
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.restore.request import parse_request
from airflow_assets.store.reader import short_id
from airflow_assets.ui import queries
from airflow_assets.ui.app import URL_PREFIX, create_app
from airflow_assets.ui.catalog import load_catalog
from tests.integration.test_cli_snapshots import Store, store  # noqa: F401  (the module's store fixture)
from tests.integration.ui_support import AUTH_MANAGER, PerDagAuthManager, token

pytestmark = [pytest.mark.slow]

LOC_DAG, ITAM_DAG = backup_dag_id("test", "LOC"), backup_dag_id("test", "ITAM")


@pytest.fixture(scope="module")
def page(store: Store, mongo_server: EmbeddedMongo, airflow_db: None) -> Iterator[TestClient]:  # noqa: F811
    """Return a client of the page mounted under /jira-assets of an app, as Airflow's API server does."""
    from airflow.api_fastapi.app import init_auth_manager

    saved = {
        name: os.environ.get(name)
        for name in ("AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW_CONN_JIRA_ASSETS_BACKUP")
    }
    os.environ["AIRFLOW__CORE__AUTH_MANAGER"] = AUTH_MANAGER
    os.environ["AIRFLOW_CONN_JIRA_ASSETS_BACKUP"] = mongo_server.airflow_conn_uri(store.db.name)
    PerDagAuthManager.DAGS_OF = {"loc_only": {LOC_DAG, RESTORE_DAG_ID}}
    try:
        init_auth_manager()
        airflow = FastAPI()
        airflow.mount(URL_PREFIX, create_app(catalog=lambda: load_catalog(str(store.config))))
        with TestClient(airflow) as client:
            yield client
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def get(
    page: TestClient, path: str, user: str | None = "admin", role: str | None = "admin", **kw: Any
) -> Any:
    """GET a path of the page as ``user`` (the UI's cookie); None: anonymous."""
    page.cookies.clear()
    if user:
        page.cookies.set("_token", token(user, role))
    return page.get(URL_PREFIX + path, follow_redirects=False, **kw)


def text_of(answer: Any) -> str:
    """Return the page's text as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", answer.text, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def paths(store: Store) -> list[str]:  # noqa: F811
    """Every view of the page, on the module's data."""
    conf = quote(json.dumps({"snapshot": store.loc_second}))
    return [
        "/",
        "/schemas/test/LOC",
        f"/snapshots/{quote(store.loc_second, safe='')}",
        f"/diff/{quote(store.loc_first, safe='')}/{quote(store.loc_second, safe='')}",
        f"/objects/{quote(store.loc_second, safe='')}/{store.edited['id']}",
        f"/restore?conf={conf}",
        f"/restores/{quote(RESTORE_DAG_ID + ':manual__x', safe='')}",
        f"/dag/{LOC_DAG}",
        f"/run/{LOC_DAG}/run_2",
    ]


# -- security -----------------------------------------------------------------------------------------------


def test_every_view_refuses_an_anonymous_caller(page: TestClient, store: Store) -> None:  # noqa: F811
    for path in paths(store):
        answer = get(page, path, user=None)
        assert answer.status_code == 401, path
        # Nothing of the store leaks into the refusal.
        assert store.loc_second not in answer.text and "mongodb://" not in answer.text


def test_a_forged_token_is_refused(page: TestClient) -> None:
    answer = page.get(URL_PREFIX + "/", headers={"Authorization": "Bearer not-a-jwt"})
    assert answer.status_code == 403


def test_every_view_refuses_a_user_without_access(page: TestClient, store: Store) -> None:  # noqa: F811
    for path in paths(store):
        answer = get(page, path, user="nobody", role=None)
        assert answer.status_code == 403, path
        assert store.edited["key"] not in answer.text and "mongodb://" not in answer.text


def test_a_user_of_one_schema_sees_only_that_schema(page: TestClient, store: Store) -> None:  # noqa: F811
    overview = get(page, "/", user="loc_only", role="user")
    assert overview.status_code == 200
    assert 'data-schema="test/LOC"' in overview.text and 'data-schema="test/ITAM"' not in overview.text

    assert get(page, f"/snapshots/{quote(store.loc_second, safe='')}", "loc_only", "user").status_code == 200
    itam = get(page, f"/snapshots/{quote(store.itam, safe='')}", "loc_only", "user")
    assert itam.status_code == 403
    assert get(page, "/schemas/test/ITAM", "loc_only", "user").status_code == 403
    # A diff or an object page of the other schema is refused the same way.
    mixed = f"/diff/{quote(store.itam, safe='')}/{quote(store.loc_second, safe='')}"
    assert get(page, mixed, "loc_only", "user").status_code == 403


def test_a_viewer_reads_but_is_offered_no_restore(page: TestClient, store: Store) -> None:  # noqa: F811
    snapshot = get(page, f"/snapshots/{quote(store.loc_second, safe='')}", "viewer", "viewer")
    assert snapshot.status_code == 200
    assert "Restore…" not in snapshot.text and "/restore?" not in snapshot.text
    conf = quote(json.dumps({"snapshot": store.loc_second}))
    assert get(page, f"/restore?conf={conf}", "viewer", "viewer").status_code == 403


def test_the_bearer_header_works_as_the_cookie_does(page: TestClient) -> None:
    page.cookies.clear()
    answer = page.get(URL_PREFIX + "/", headers={"Authorization": f"Bearer {token('admin', 'admin')}"})
    assert answer.status_code == 200


# -- the views ----------------------------------------------------------------------------------------------


def test_the_overview_shows_each_schema_fresh_with_its_objects_and_a_chart(
    page: TestClient,
    store: Store,  # noqa: F811
) -> None:
    answer = get(page, "/")
    assert answer.status_code == 200
    text = text_of(answer)
    row = re.search(r'<tr class="ja-schema" data-schema="test/LOC">(.*?)</tr>', answer.text, re.S)
    assert row is not None
    loc_objects = sum(store.sandbox_counts.values())
    assert short_id(store.loc_second) in row.group(1) and "fresh" in row.group(1)
    assert f">{loc_objects}<" in row.group(1)
    assert "test/ITAM" in text
    # One chart per schema, with its axes' units.
    assert answer.text.count('<svg class="ja-chart"') == 2
    assert ">objects<" in answer.text and "time (UTC)" in answer.text


def test_the_schema_view_lists_snapshots_with_their_changes_and_filters_by_time(
    page: TestClient,
    store: Store,  # noqa: F811
) -> None:
    answer = get(page, "/schemas/test/LOC")
    assert answer.status_code == 200
    rows = re.findall(r'<tr class="ja-snapshot" data-id="([^"]+)">(.*?)</tr>', answer.text, re.S)
    assert [snapshot_id for snapshot_id, _ in rows] == [store.loc_second, store.loc_first]
    cells = [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1], re.S)
    ]
    # id, taken, state, kind, status, objects, +added, -removed, ~changed, soundness, diff
    assert cells[0] == short_id(store.loc_second) and cells[3:5] == ["incremental", "complete"]
    assert cells[6:10] == ["1", "1", "2", "sound"] and cells[10] == "diff"
    assert "changes per day" in answer.text and "day (UTC)" in answer.text

    later = get(page, "/schemas/test/LOC?since=2999-01-01")
    assert 'class="ja-snapshot"' not in later.text and "No snapshot in this period" in later.text
    assert get(page, "/schemas/test/LOC?since=yesterday").status_code == 400


def _loc_counts(page: TestClient, snapshot_id: str) -> list[str]:
    """Return the +added, -removed, ~changed cells of one row of LOC's table."""
    answer = get(page, "/schemas/test/LOC?everything=true")
    row = re.search(
        rf'<tr class="ja-snapshot" data-id="{re.escape(snapshot_id)}">(.*?)</tr>', answer.text, re.S
    )
    assert row is not None
    cells = [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    ]
    return cells[6:9]


def test_the_schema_table_reads_the_counts_finalize_recorded_and_recounts_a_stale_record(
    page: TestClient,
    store: Store,  # noqa: F811
) -> None:
    snapshots = store.db["snapshots"]
    recorded = snapshots.find_one({"_id": store.loc_second})["changes"]
    # finalize counted what changed since the first snapshot: what the spans say (the view's other test).
    assert recorded == {"since": store.loc_first, "added": 1, "removed": 1, "changed": 2}
    try:
        # A record is what the table shows (it reads no span for this row)...
        snapshots.update_one({"_id": store.loc_second}, {"$set": {"changes.changed": 9}})
        assert _loc_counts(page, store.loc_second) == ["1", "1", "9"]
        # ...unless it counts against another snapshot than the previous complete one (one deleted
        # between them, say): then the spans are counted again.
        snapshots.update_one({"_id": store.loc_second}, {"$set": {"changes.since": "a pruned snapshot"}})
        assert _loc_counts(page, store.loc_second) == ["1", "1", "2"]
    finally:
        snapshots.update_one({"_id": store.loc_second}, {"$set": {"changes": recorded}})


def test_the_schema_table_is_paged(page: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(queries, "SCHEMA_PAGE_SIZE", 1)
    pages = [get(page, f"/schemas/test/LOC?page_number={number}") for number in (1, 2)]
    listed = [re.findall(r'<tr class="ja-snapshot" data-id="([^"]+)">', answer.text) for answer in pages]
    assert listed == [[store.loc_second], [store.loc_first]]
    assert "Page 2 of 2 (2 snapshots)" in text_of(pages[1])
    # The first snapshot, alone on its page, counts every object as added.
    row = re.search(r'<tr class="ja-snapshot"[^>]*>(.*?)</tr>', pages[1].text, re.S)
    assert row is not None
    cells = [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    ]
    assert cells[5] == cells[6] == str(sum(store.sandbox_counts.values())) and cells[7:9] == ["0", "0"]


def test_the_diff_shows_an_edit_and_a_moved_reference_as_on_the_site(
    page: TestClient,
    store: Store,  # noqa: F811
) -> None:
    path = f"/diff/{quote(store.loc_first, safe='')}/{quote(store.loc_second, safe='')}"
    answer = get(page, path)
    assert answer.status_code == 200
    assert "+1 \N{MINUS SIGN}1 ~2" in text_of(answer)
    changes = {
        key: text_of(type("A", (), {"text": body})())
        for key, body in re.findall(
            r'<tr class="ja-change" data-object="([^"]*)">(.*?)</tr>', answer.text, re.S
        )
    }
    # The office whose city changed: the reference shows as key + label on both sides.
    moved = changes[store.moved["key"]]
    old_city, new_city = store.old_city, store.new_city
    assert (
        f"{old_city['key']} {old_city['label']}" in moved
        and f"{new_city['key']} {new_city['label']}" in moved
    )
    assert "https://changed.example.com" in answer.text and store.edited["website"] in answer.text
    assert store.deleted["key"] in changes and store.created["key"] in changes


def test_the_diff_is_paged(page: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(queries, "DIFF_PAGE_SIZE", 1)
    path = f"/diff/{quote(store.loc_first, safe='')}/{quote(store.loc_second, safe='')}"
    seen = []
    for number in (1, 2, 3, 4):
        answer = get(page, f"{path}?page_number={number}")
        objects = set(re.findall(r'<tr class="ja-change" data-object="([^"]*)">', answer.text))
        assert len(objects) == 1
        seen += objects
        assert f"Page {number} of 4 (4 objects)" in text_of(answer)
    assert sorted(seen) == sorted(
        {store.edited["key"], store.deleted["key"], store.created["key"], store.moved["key"]}
    )


def test_the_object_view_shows_its_versions_across_snapshots(page: TestClient, store: Store) -> None:  # noqa: F811
    answer = get(page, f"/objects/{quote(store.loc_second, safe='')}/{store.edited['id']}")
    assert answer.status_code == 200
    versions = re.findall(r'<tr class="ja-version">(.*?)</tr>', answer.text, re.S)
    assert len(versions) == 2
    assert "https://changed.example.com" in versions[0] and "now" in versions[0]
    assert store.edited["website"] in versions[1]
    # The history the second snapshot stored has the edit, by attribute, old -> new.
    history = re.search(r'<table id="history">(.*?)</table>', answer.text, re.S)
    assert history is not None
    assert "https://changed.example.com" in history.group(1) and store.edited["website"] in history.group(1)
    assert get(page, f"/objects/{quote(store.loc_second, safe='')}/999999").status_code == 404


def test_the_snapshot_view_and_its_prefilled_dry_run_restore(page: TestClient, store: Store) -> None:  # noqa: F811
    answer = get(page, f"/snapshots/{quote(store.loc_second, safe='')}")
    assert answer.status_code == 200
    text = text_of(answer)
    assert "Office" in text and "export_objects" in text
    link = re.search(r'id="restore" href="([^"]+)"', answer.text)
    assert link is not None
    conf = json.loads(parse_qs(urlparse(html.unescape(link.group(1))).query)["conf"][0])
    assert conf["snapshot"] == store.loc_second and conf["dry_run"] is True and conf["mode"] == "rollback"
    # The restore DAG takes the prefilled params as they are.
    request = parse_request(conf)
    assert request.dry_run is True
    # Each type's "Restore…" narrows it to the type, the object's to the object, by key.
    types = re.search(r'<table id="types">(.*?)</table>', answer.text, re.S)
    assert types is not None
    office = re.search(r"<td>Office</td>.*?href=\"([^\"]+)\"", types.group(1), re.S)
    assert office is not None
    assert parse_request(_conf(office.group(1))).object_types == ("Office",)
    edited = get(page, f"/objects/{quote(store.loc_second, safe='')}/{store.edited['id']}")
    link = re.search(r'id="restore" href="([^"]+)"', edited.text)
    assert link is not None and parse_request(_conf(link.group(1))).object_keys == (store.edited["key"],)
    link = re.search(r'id="restore" href="([^"]+)"', answer.text)
    assert link is not None

    form = get(page, urlparse(html.unescape(link.group(1))).path.removeprefix(URL_PREFIX) + "?" +
               urlparse(html.unescape(link.group(1))).query)  # fmt: skip
    assert form.status_code == 200
    assert f"/api/v2/dags/{RESTORE_DAG_ID}/dagRuns" in form.text
    # A conf that names anything else is refused before anything starts; a hostile value shows as text.
    extra = quote(json.dumps({**conf, "delete_created": True}))
    assert get(page, f"/restore?conf={extra}").status_code == 400
    hostile = quote(json.dumps({**conf, "source_site": "<script>alert(1)</script>"}))
    shown = get(page, f"/restore?conf={hostile}").text
    assert "<script>alert(1)</script>" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    # A conf that asks for a real run still starts as a dry run.
    wet = quote(json.dumps({**conf, "dry_run": False}))
    assert '"dry_run": true' in html.unescape(get(page, f"/restore?conf={wet}").text)


def _conf(link: str) -> dict[str, Any]:
    return dict(json.loads(parse_qs(urlparse(html.unescape(link)).query)["conf"][0]))


def test_the_dag_and_run_tabs_open_the_schema_and_the_snapshot(page: TestClient, store: Store) -> None:  # noqa: F811
    schema = get(page, f"/dag/{LOC_DAG}")
    assert schema.status_code == 307 and schema.headers["location"] == f"{URL_PREFIX}/schemas/test/LOC"
    snapshot = get(page, "/run/jira_assets_backup_test/run_2")
    assert snapshot.status_code == 307
    assert snapshot.headers["location"] == f"{URL_PREFIX}/snapshots/{quote(store.loc_second, safe='')}"
    restore = get(page, f"/run/{RESTORE_DAG_ID}/manual__1")
    assert (
        restore.headers["location"]
        == f"{URL_PREFIX}/restores/{quote(RESTORE_DAG_ID + ':manual__1', safe='')}"
    )
    # A run of a restore not planned yet says so.
    assert "No plan stored yet" in get(page, restore.headers["location"].removeprefix(URL_PREFIX)).text

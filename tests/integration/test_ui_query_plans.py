"""Every query the page's views send is bounded by an index, on the large store of ``test_query_plans``.

The views run through their query functions (``airflow_assets.ui.queries``) as the app calls them, over the
demo schemas copied as 50 other schemas; each command they send is explained, and a collection scan of a
growing collection, or a plan that examines far more than it answers, fails.
"""

from __future__ import annotations

import pytest

from airflow_assets.store import SnapshotStore
from airflow_assets.ui import queries
from airflow_assets.ui.catalog import load_catalog
from tests.integration.test_query_plans import Store, _problems, recording, store  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_page_views_use_indexes(store: Store) -> None:  # noqa: F811
    db = store.db
    catalog = load_catalog(str(store.config))
    anyone = lambda site, key: True  # noqa: E731
    snapshots = SnapshotStore(db)
    older, newer = snapshots.get(store.snapshot_ids["LOC run-1"]), snapshots.get(store.snapshot_ids["LOC"])
    assert older is not None and newer is not None
    with recording(db) as recorded:
        view = queries.overview(db, catalog, anyone)
        assert {summary.schema_key for summary in view.schemas} == {"PEOPLE", "LOC", "ITAM"}
        for key in ("LOC", "ITAM"):
            assert queries.schema_view(db, catalog, "test", key).rows
        for snapshot_id in store.snapshot_ids.values():
            snapshot = queries.find_snapshot(db, snapshot_id, anyone)
            assert queries.snapshot_view(db, snapshot)["object_types"]
        queries.diff_page(db, older, newer)
        first = next(iter(queries.SnapshotReader(db).objects(newer)))
        assert queries.object_view(db, newer, str(first["id"])).versions
        queries.restore_summary(db, "jira_assets_restore:none")

    assert _problems(db, recorded) == []

"""The typed fields of a snapshot manifest: what a run was, its moments in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from airflow_assets.store.snapshots import (
    COMPLETE,
    RUN_BACKFILL_BASE,
    RUN_REAL,
    RUN_RECONSTRUCTION,
    Snapshot,
)


def _snapshot(**fields: Any) -> Snapshot:
    document = {
        "_id": "x",
        "workspace_id": "ws",
        "schema_id": "1",
        "schema_key": "ITAM",
        "seq": 1,
        "status": COMPLETE,
        "kind": "full",
        **fields,
    }
    return Snapshot.from_document(document)


def test_run_kind_is_read_from_the_manifest_or_derived_for_old_ones() -> None:
    assert _snapshot().run_kind == RUN_REAL
    assert _snapshot(taken_for="the base of backfill runs (first: r)").run_kind == RUN_BACKFILL_BASE
    assert _snapshot(kind="reconstructed").run_kind == RUN_RECONSTRUCTION
    assert _snapshot(run_kind=RUN_BACKFILL_BASE).run_kind == RUN_BACKFILL_BASE
    assert _snapshot(run_kind=RUN_REAL, taken_for="prose, not a flag").run_kind == RUN_REAL


def test_moments_are_utc_whether_stored_naive_or_aware() -> None:
    naive = datetime(2026, 11, 1, 12, 0)
    aware = datetime(2026, 11, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    expected = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    assert _snapshot(started_at=naive).state_at == expected
    assert _snapshot(started_at=naive, state_at=aware).state_at == expected
    assert _snapshot(started_at=aware, finished_at=naive).started_at == expected
    assert _snapshot(finished_at=naive).finished_at == expected
    assert _snapshot().state_at is None


def test_counts_and_fields_default_to_empty() -> None:
    bare = _snapshot()
    assert (bare.counts, bare.objects, bare.fidelity, bare.root, bare.site) == ({}, None, {}, None, None)
    full = _snapshot(counts={"objects": 3}, site="prod", root={"digest": "d"})
    assert (full.objects, full.site, full.root) == (3, "prod", {"digest": "d"})

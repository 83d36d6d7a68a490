"""Every version one item had across a schema's snapshots (one lane): its spans, oldest first.

An item's spans are one range of the primary index (span ids start with ``ws|schema|kind|item|``), so the
versions of one object are found without reading any other object's spans, whatever the store's size.
"""

from __future__ import annotations

from typing import Any

from airflow_assets.store.layout import SPANS
from airflow_assets.store.versions import VersionStore

SPAN_FIELDS = {"_id": 0, "item_id": 1, "from_seq": 1, "to_seq": 1, "hash": 1, "type_id": 1, "kind": 1}


def item_spans(lane: VersionStore, kind: str, item_id: str) -> list[dict[str, Any]]:
    """Return the spans of one item of ``kind`` in a lane, oldest first (``from_seq`` ascending)."""
    prefix = f"{lane.workspace_id}|{lane.span_schema}|{kind}|{item_id}|"
    # "|" + 1 is "}": the range holds exactly the ids with this prefix.
    query = {"_id": {"$gte": prefix, "$lt": prefix[:-1] + chr(ord(prefix[-1]) + 1)}}
    spans = list(lane.db[SPANS].find(query, SPAN_FIELDS))
    return sorted(spans, key=lambda span: int(span["from_seq"]))

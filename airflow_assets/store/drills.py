"""The restore drills' records: one document per drilled schema per drill run, in ``drills``.

``_id`` is ``<dag id>:<run id>:<site>/<KEY>``, so every try of a drill task updates the same record (its
``tries`` count goes up) and a retried drill is one line of the history, not two. Fields: ``site``,
``schema_key``, ``run_id``, ``status`` (``running``, ``succeeded``, ``failed``), ``started_at``,
``finished_at``, ``snapshot_id``, ``scratch_key``, ``target``, ``objects``, ``objects_total``, ``partial``,
``types``, ``seconds`` (the RTO: wall time of the restore, plan to verify), ``objects_per_min``,
``bound_seconds`` (the least time the rate limits allow for the restore's object writes, comment writes and
verify reads; ``bound_parts`` per step), ``ratio``
(bound / seconds), ``verify_ok``, ``scratch_deleted``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database

DRILLS = "drills"
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
_INDEXES = [
    IndexModel([("site", ASCENDING), ("schema_key", ASCENDING), ("started_at", DESCENDING)], name="schema")
]


def drill_id(dag_id: str, run_id: str, site: str, schema_key: str) -> str:
    """Return the record id of one schema's drill in one run."""
    return f"{dag_id}:{run_id}:{site}/{schema_key}"


def start_drill(db: Database, record_id: str, fields: Mapping[str, Any], *, now: datetime) -> int:
    """Record that a try of a drill started (status ``running``); return the try's number (1, 2...)."""
    db[DRILLS].create_indexes(_INDEXES)
    document = db[DRILLS].find_one_and_update(
        {"_id": record_id},
        {
            "$set": {**fields, "status": RUNNING, "try_started_at": now, "errors": []},
            "$setOnInsert": {"started_at": now},
            "$inc": {"tries": 1},
        },
        upsert=True,
        return_document=True,
    )
    assert document is not None  # upserted
    return int(document["tries"])


def update_drill(db: Database, record_id: str, fields: Mapping[str, Any]) -> None:
    """Set fields of a drill's record."""
    db[DRILLS].update_one({"_id": record_id}, {"$set": dict(fields)})


def drill_history(
    db: Database, *, site: str | None = None, schema_key: str | None = None, limit: int = 0
) -> list[dict[str, Any]]:
    """Return the drill records, newest first, optionally of one site or schema."""
    query: dict[str, Any] = {}
    if site is not None:
        query["site"] = site
    if schema_key is not None:
        query["schema_key"] = schema_key
    return list(db[DRILLS].find(query).sort("started_at", DESCENDING).limit(limit))


def last_successful(db: Database, site: str, schema_key: str) -> dict[str, Any] | None:
    """Return the newest successful drill of a schema (None: it was never restored and verified)."""
    return db[DRILLS].find_one(
        {"site": site, "schema_key": schema_key, "status": SUCCEEDED}, sort=[("finished_at", DESCENDING)]
    )


def first_drill(db: Database, site: str, schema_key: str) -> dict[str, Any] | None:
    """Return the oldest drill of a schema, whatever its result (None: never drilled)."""
    return db[DRILLS].find_one({"site": site, "schema_key": schema_key}, sort=[("started_at", ASCENDING)])

"""Collection names and indexes; creating them is safe to repeat (every task does it on first use)."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database

# Configuration kinds stored per snapshot, in the order a restore needs them.
CONFIG_KINDS = (
    "schema",
    "schema_properties",
    "object_type",
    "attribute",
    "status_type",
    "reference_type",
    "global_status_type",
    "global_reference_type",
)
# Content kinds: objects and what each object has.
CONTENT_KINDS = ("object", "history", "comment", "ticket")

SNAPSHOTS = "snapshots"
VERSIONS = "versions"
SPANS = "spans"
COUNTERS = "counters"
LEASES = "leases"
HEADS = "heads"
PROGRESS = "progress"
# Versions whose content no longer hashed to their name, moved aside by a repair (kept for inspection).
QUARANTINE = "quarantine"
# One document per value a reconstructed snapshot could not rewind exactly (its fidelity report in full).
RECONSTRUCTION_NOTES = "reconstruction_notes"
# Sites backed up with schemas: "*": which schemas each run of a site listed, and each schema ever listed.
SITE_LISTINGS = "site_listings"
SITE_SCHEMAS = "site_schemas"
# A site's shared rate budget: one counter per site, endpoint class and time slot (store.rate_budget).
RATE_BUDGET = "rate_budget"

_INDEXES: dict[str, list[IndexModel]] = {
    SNAPSHOTS: [
        IndexModel(
            [("workspace_id", ASCENDING), ("schema_id", ASCENDING), ("seq", DESCENDING)],
            name="schema_seq",
            unique=True,
        ),
        IndexModel([("dag_id", ASCENDING), ("run_id", ASCENDING)], name="dag_run"),
        IndexModel([("schema_key", ASCENDING), ("status", ASCENDING)], name="key_status"),
    ],
    SPANS: [
        # What a snapshot reads back: from_seq <= seq < to_seq. The current state is found through heads.
        IndexModel(
            [("ws", ASCENDING), ("schema_id", ASCENDING), ("kind", ASCENDING), ("from_seq", ASCENDING)],
            name="from_seq",
        ),
        # What changed between two snapshots: the spans that end between them (a schema's table, a diff).
        # Without it, that half of the query examines every span of the kind, whatever the period.
        IndexModel(
            [("ws", ASCENDING), ("schema_id", ASCENDING), ("kind", ASCENDING), ("to_seq", ASCENDING)],
            name="to_seq",
        ),
        # The history, comments or tickets of some objects (a rollback narrowed to a window reads the
        # history of the objects it would change, a batch of objects per query).
        IndexModel(
            [("ws", ASCENDING), ("schema_id", ASCENDING), ("kind", ASCENDING), ("parent_id", ASCENDING)],
            name="parent",
        ),
        # Pruning: which spans still name a version.
        IndexModel([("hash", ASCENDING)], name="hash"),
    ],
    RECONSTRUCTION_NOTES: [IndexModel([("snapshot_id", ASCENDING)], name="snapshot")],
    SITE_LISTINGS: [IndexModel([("site", ASCENDING), ("listed_at", DESCENDING)], name="site_listed_at")],
    SITE_SCHEMAS: [IndexModel([("site", ASCENDING), ("schema_key", ASCENDING)], name="site_key")],
    HEADS: [
        IndexModel(
            [("ws", ASCENDING), ("schema_id", ASCENDING), ("kind", ASCENDING), ("parent", ASCENDING)],
            name="kind_parent",
        ),
    ],
}


def ensure_indexes(db: Database) -> None:
    """Create the collections' indexes (a no-op when they exist)."""
    for collection, indexes in _INDEXES.items():
        db[collection].create_indexes(indexes)


# The collections a snapshot lives in (its manifest, which versions it holds, their content): what a backup
# writes and a restore reads. The tasks name them as their OpenLineage datasets (operators/lineage.py).
SNAPSHOT_COLLECTIONS = (SNAPSHOTS, SPANS, VERSIONS)

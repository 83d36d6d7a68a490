"""Which schemas a site had at which run: the listings of the sites backed up with ``schemas: "*"``.

Each run of a site's DAG records what it listed (one document per run, written again unchanged by a
retried listing), and every schema ever listed keeps one document with when it was first and last listed.
A schema that the newest listing lacks is gone from the site: its snapshots stay, and the monitor says so
instead of calling it stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING, UpdateOne
from pymongo.database import Database

from airflow_assets.store.encryption import keyring_of, seal_fields, unseal_fields
from airflow_assets.store.layout import SITE_LISTINGS, SITE_SCHEMAS, SNAPSHOTS
from airflow_assets.store.snapshots import RUNNING, Snapshot


@dataclass(frozen=True)
class ListedSchema:
    """One object schema a listing found on the site.

    :param key: the schema key.
    :param schema_id: the schema's id on the site.
    :param name: its name.
    """

    key: str
    schema_id: str
    name: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the schema as JSON-compatible values."""
        return {"key": self.key, "schema_id": self.schema_id, "name": self.name}


@dataclass(frozen=True)
class SiteListing:
    """What one run of a site's DAG listed.

    :param site: the site's name in the configuration.
    :param dag_id: the site's DAG.
    :param run_id: the run.
    :param listed_at: when the listing was taken (a retried listing keeps the first one's).
    :param schemas: the schemas to back up, by key.
    :param left_out: keys on the site the run does not back up (excluded, or backed up by name elsewhere).
    """

    site: str
    dag_id: str
    run_id: str
    listed_at: datetime
    schemas: tuple[ListedSchema, ...]
    left_out: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Return the keys to back up."""
        return tuple(schema.key for schema in self.schemas)


@dataclass(frozen=True)
class KnownSchema:
    """A schema some listing of the site found, with when it was first and last listed."""

    site: str
    key: str
    schema_id: str
    first_listed_at: datetime
    last_listed_at: datetime


# Listings older than this are dropped by the next listing: the monitor reads the newest, and each schema's
# first and last listing live on in site_schemas. At a 15-minute schedule that is about 8,600 small documents.
KEEP_LISTINGS = timedelta(days=90)


class SiteListings:
    """The listings of the ``schemas: "*"`` sites.

    :param db: the backup database.
    """

    def __init__(self, db: Database) -> None:
        self._listings = db[SITE_LISTINGS]
        self._schemas = db[SITE_SCHEMAS]
        self._snapshots = db[SNAPSHOTS]
        # An encrypted store keeps the schemas' names sealed (they are names of the site's content).
        self._keyring = keyring_of(db)

    def record(self, listing: SiteListing) -> SiteListing:
        """Store a run's listing; a run that listed before (a retry) keeps its first listing, returned.

        The first listing of a run is the one its mapped tasks were expanded over: a retry must not
        change which schemas the run stands for.
        """
        listing_id = f"{listing.site}|{listing.run_id}"
        document = {
            "_id": listing_id,
            "site": listing.site,
            "dag_id": listing.dag_id,
            "run_id": listing.run_id,
            "listed_at": listing.listed_at,
            "schemas": [
                seal_fields(
                    self._keyring,
                    schema.as_dict(),
                    collection=SITE_LISTINGS,
                    doc_id=f"{listing_id}|{schema.key}",
                    names=("name",),
                )
                for schema in listing.schemas
            ],
            "left_out": list(listing.left_out),
        }
        self._listings.update_one({"_id": document["_id"]}, {"$setOnInsert": document}, upsert=True)
        stored = self._listings.find_one({"_id": document["_id"]})
        assert stored is not None
        kept = self._listing(stored)
        self._remember(kept)
        cutoff = kept.listed_at - KEEP_LISTINGS
        self._listings.delete_many({"site": listing.site, "listed_at": {"$lt": cutoff}})
        return kept

    def _remember(self, listing: SiteListing) -> None:
        updates = [
            UpdateOne(
                {"_id": f"{listing.site}|{schema.key}"},
                {
                    "$setOnInsert": {
                        "site": listing.site,
                        "schema_key": schema.key,
                        "first_listed_at": listing.listed_at,
                    },
                    "$set": seal_fields(
                        self._keyring,
                        {"schema_id": schema.schema_id, "name": schema.name},
                        collection=SITE_SCHEMAS,
                        doc_id=f"{listing.site}|{schema.key}",
                        names=("name",),
                    ),
                    "$max": {"last_listed_at": listing.listed_at},
                },
                upsert=True,
            )
            for schema in listing.schemas
        ]
        if updates:
            self._schemas.bulk_write(updates, ordered=False)

    def latest(self, site: str) -> SiteListing | None:
        """Return the newest listing of a site, or None when its DAG never listed."""
        document = self._listings.find_one({"site": site}, sort=[("listed_at", DESCENDING)])
        return self._listing(document) if document else None

    def of_run(self, site: str, run_id: str) -> SiteListing | None:
        """Return the listing of one run, or None."""
        document = self._listings.find_one({"_id": f"{site}|{run_id}"})
        return self._listing(document) if document else None

    def known(self, site: str) -> list[KnownSchema]:
        """Return every schema any listing of the site found, by key."""
        return [
            KnownSchema(
                site=document["site"],
                key=document["schema_key"],
                schema_id=str(document.get("schema_id", "")),
                first_listed_at=document["first_listed_at"],
                last_listed_at=document["last_listed_at"],
            )
            for document in self._schemas.find({"site": site}, sort=[("schema_key", 1)])
        ]

    def running_of_runs(self, dag_id: str, run_ids: Iterable[str]) -> list[Snapshot]:
        """Return the running snapshots a DAG's run (under any of its attempt run ids) left open."""
        query = {"dag_id": dag_id, "run_id": {"$in": list(run_ids)}, "status": RUNNING}
        found = self._snapshots.find(query, {"steps": 0})
        return [Snapshot.from_document(document, keyring=self._keyring) for document in found]

    def _listing(self, document: Mapping[str, Any]) -> SiteListing:
        listing_id = str(document["_id"])
        schemas: Sequence[Mapping[str, Any]] = [
            unseal_fields(
                self._keyring, {**item, "_id": f"{listing_id}|{item['key']}"}, collection=SITE_LISTINGS
            )
            for item in document.get("schemas") or []
        ]
        return _listing(document, schemas)


def _listing(document: Mapping[str, Any], schemas: Sequence[Mapping[str, Any]]) -> SiteListing:
    return SiteListing(
        site=document["site"],
        dag_id=document["dag_id"],
        run_id=document["run_id"],
        listed_at=document["listed_at"],
        schemas=tuple(
            ListedSchema(str(item["key"]), str(item["schema_id"]), str(item.get("name", "")))
            for item in schemas
        ),
        left_out=tuple(document.get("left_out") or ()),
    )

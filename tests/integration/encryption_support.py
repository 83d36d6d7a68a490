"""Helpers of the encryption tests: the sandbox's own names and values, and a raw dump of a whole database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import bson
from bson.binary import Binary
from pymongo.database import Database

from airflow_assets.sandbox.model import Site
from airflow_assets.store.encryption import SEALED_SUBTYPE

KEY_1 = "k1-" + "a" * 13 + "first-encryption-key"
KEY_2 = "k2-" + "b" * 13 + "second-encryption-key"
# Values made of digits and punctuation only (numbers, dates, times) cannot be told from the ids, sequence
# numbers, counts and run times a store keeps in the clear by design (docs/storage.md); they are left out.
_NOT_TEXT = re.compile(r"^[\d\s.:+\-/TZ,]*$")


def key_connection(current: str, previous: Iterable[str] = ()) -> str:
    """Return the JSON of an Airflow connection holding an encryption key (and the previous ones)."""
    connection: dict[str, Any] = {"conn_type": "generic", "password": current}
    if previous:
        connection["extra"] = {"previous_keys": list(previous)}
    return json.dumps(connection)


def sandbox_strings(site: Site, schema_keys: Iterable[str]) -> set[str]:
    """Return the names and values of some schemas of ``site``, read from its own state (not from a store).

    Schema, type and attribute names and descriptions, object labels, keys and values, comment texts,
    history values, the names and emails of users and the summaries of issues the objects hold. Strings of
    4 characters or more; the schema keys (kept in the clear: they name DAGs and snapshots) are left out.
    """
    keys = set(schema_keys)
    schemas = {sid: s for sid, s in site.schemas.items() if s.key in keys}
    types = {tid: t for tid, t in site.object_types.items() if t.schema_id in schemas}
    found: set[str] = set()
    for schema in schemas.values():
        found |= {schema.name, schema.description}
    for object_type in types.values():
        found |= {object_type.name, object_type.description}
    for attribute in site.attributes.values():
        if attribute.object_type_id in types:
            found |= {attribute.name, attribute.description}
    for record in site.objects.values():
        if record.schema_id not in schemas:
            continue
        found |= {record.label, record.key}
        for values in record.values.values():
            for value in values:
                if isinstance(value, str):
                    found.add(value)
                    user = site.users.get(value)
                    if user is not None:
                        found |= {user.display_name, user.email or ""}
        found |= {comment.comment for comment in site.comments.get(record.object_id, [])}
        for entry in site.history.get(record.object_id, []):
            found |= {entry.old_value or "", entry.new_value or "", entry.affected_attribute or ""}
        for issue_key in site.tickets.get(record.object_id, []):
            issue = site.issues.get(issue_key)
            if issue is not None:
                found.add(issue.summary)
    return {s for s in found if len(s) >= 4 and s not in keys and not _NOT_TEXT.match(s)}


@dataclass
class RawDump:
    """Every document of every collection of a database, as the server sent them, and their indexes."""

    raw: bytes
    documents: list[tuple[str, dict[str, Any]]]
    indexes: str

    def clear_texts(self) -> Iterator[str]:
        """Yield every field name and every value that is not a sealed value, as text (``_id`` included)."""
        for collection, document in self.documents:
            yield collection
            yield from _texts(document)
        yield self.indexes

    def leaks(self, secrets: Iterable[str]) -> set[str]:
        """Return the strings of ``secrets`` found in the clear anywhere in the dump.

        Searched in every text outside sealed values, and in the raw bytes as well for strings of 8
        characters or more (shorter ones occur in ciphertext by chance).
        """
        texts = "\x00".join(self.clear_texts())
        found = {s for s in secrets if s in texts}
        found |= {s for s in secrets if len(s) >= 8 and s.encode("utf-8") in self.raw}
        return found

    def sealed_values(self) -> int:
        """Return how many sealed values the dump holds."""
        return sum(_count_sealed(document) for _, document in self.documents)


def raw_dump(db: Database) -> RawDump:
    """Dump every collection of ``db`` through raw BSON batches (no decoding by the driver)."""
    raw = bytearray()
    documents: list[tuple[str, dict[str, Any]]] = []
    indexes = []
    for name in sorted(db.list_collection_names()):
        for batch in db[name].find_raw_batches():
            raw += batch
            documents.extend((name, document) for document in bson.decode_all(batch))
        indexes.append(f"{name}: {db[name].index_information()}")
    return RawDump(bytes(raw), documents, "\n".join(indexes))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, Binary) and value.subtype == SEALED_SUBTYPE:
        return
    if isinstance(value, Mapping):
        for name, item in value.items():
            yield str(name)
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", errors="replace")
    else:
        yield str(value)


def _count_sealed(value: Any) -> int:
    if isinstance(value, Binary) and value.subtype == SEALED_SUBTYPE:
        return 1
    if isinstance(value, Mapping):
        return sum(_count_sealed(item) for item in value.values())
    if isinstance(value, list | tuple):
        return sum(_count_sealed(item) for item in value)
    return 0

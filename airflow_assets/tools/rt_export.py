"""Write a snapshot as plain files in the layout of the public backupAssets.py / importAssets.py scripts.

The layout (``/work/shared/rt-export-layout.md``, summarised in :func:`export_snapshot`) keeps, per object
type, ``objects/<Type>_<typeId>.json``: each object's attributes by name with their display values, a
reference as ``{"displayValue": label, "searchValue": key}``. A snapshot stores normalised content (no
display values: references by id, statuses by id, users by account id), so the display values are rebuilt
here the way Assets renders them: dates as ``06/Jan/25``, date-times as ``06/Jan/25 8:25 AM`` (UTC),
statuses by name, users by display name, groups by name, references from the referenced object's label and
key (read from this snapshot, in its own lane when it is reconstructed, or from the newest complete
snapshot of the schema it lives in; every read goes through
:class:`~airflow_assets.store.reader.SnapshotReader`). ``objectsmeta/<Type>_<typeId>.json`` lists the
objects as the API does (``objectType``, ``name``, ``attributes`` with ``objectAttributeValues``):
importAssets.py reads ``object['objectType']['id']`` there. docs/export.md lists every field that script
reads.

Objects are read a type at a time and a batch at a time, and every file is written as it is read: memory
holds the configuration and a bounded cache of referenced labels, never the whole schema.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pymongo.database import Database

from airflow_assets.ids import id_order
from airflow_assets.model.attributes import ATTR_DEFAULT, attribute_kind, default_type_id
from airflow_assets.model.display import display_plain
from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot
from airflow_assets.store.versions import BATCH

JsonDict = dict[str, Any]

INDENT = 4
_UNSAFE = re.compile(r'[<>:"/\\|?* ]')
# Referenced objects whose label and key are kept between batches.
LABEL_CACHE = 50_000


def safe_name(name: str) -> str:
    """Return an object type name as the scripts put it in file names (``<>:"/\\|?*`` and space -> ``_``)."""
    return _UNSAFE.sub("_", name)


def type_file(object_type: Mapping[str, Any]) -> str:
    """Return the file name of an object type: ``<Type>_<typeId>.json``."""
    return f"{safe_name(str(object_type.get('name', '')))}_{object_type['id']}.json"


def read_schema_config(reader: SnapshotReader, snapshot: Snapshot) -> SchemaConfig:
    """Read the configuration a snapshot holds (one query), each kind's items in id order."""
    kinds = {
        kind: sorted(items, key=lambda item: id_order(item.get("id")))
        for kind, items in reader.config(snapshot).items()
    }
    if not kinds.get("schema"):
        raise LookupError(
            f"snapshot {snapshot.seq} of schema {snapshot.schema_id} holds no schema: the store is damaged"
        )
    return SchemaConfig(kinds)


def attribute_as_listed(config: SchemaConfig, attribute: Mapping[str, Any]) -> JsonDict:
    """Return an attribute definition with its owner type embedded again, as the API lists it."""
    listed = dict(attribute)
    owner = config.object_types.get(str(attribute.get("objectTypeId")))
    if owner is not None:
        listed = {"objectType": owner, **listed}
    return listed


class ReferencedObjects:
    """Find the label and key of referenced objects, in this snapshot or another schema's newest snapshot.

    :param reader: the backup store's snapshot reader.
    :param sources: the snapshots to look in, in order: the exported snapshot first. Each is read in its own
        lane (a reconstructed snapshot's objects, and their labels as of its moment, are in its own).
    """

    def __init__(self, reader: SnapshotReader, sources: Sequence[Snapshot]) -> None:
        self._reader = reader
        self._sources = list(sources)
        self._known: dict[str, tuple[str, str] | None] = {}
        self.unresolved: set[str] = set()

    def resolve(self, object_ids: set[str]) -> dict[str, tuple[str, str] | None]:
        """Return (label, key) of each object id (None when no snapshot holds it)."""
        missing = {object_id for object_id in object_ids if object_id not in self._known}
        if missing and len(self._known) + len(missing) > LABEL_CACHE:
            self._known.clear()
            missing = set(object_ids)
        for source in self._sources:
            if not missing:
                break
            # Hashed again like every read of stored content: an altered label is never exported.
            found = self._reader.labels(source, sorted(missing, key=id_order))
            self._known.update(found)
            missing -= set(found)
        for object_id in missing:
            self._known[object_id] = None
            self.unresolved.add(object_id)
        return {object_id: self._known.get(object_id) for object_id in object_ids}


@dataclass(frozen=True)
class RenderedObject:
    """One stored object as the layout holds it.

    :param object_id: the object's id (the key in ``objects/<Type>_<id>.json``).
    :param listed: the object as the API lists it, for ``objectsmeta/`` (``objectType``, ``name``,
        ``attributes`` with ``objectAttributeValues``).
    :param values: its attributes by name with their display values, for ``objects/``.
    """

    object_id: str
    listed: JsonDict
    values: JsonDict


class ValueRenderer:
    """Turn a stored object back into the shapes the API answers, and its values into display values.

    A value is rendered once as the API sends it (``value``/``referencedObject``/``status``/``user``/
    ``group`` with ``displayValue``, ``searchValue``, ``referencedType``); its entry in ``objects/`` is then
    taken from that value the way backupAssets.py takes it: ``{displayValue, searchValue}`` for a
    reference, the ``displayValue`` otherwise.
    """

    def __init__(
        self, config: SchemaConfig, references: ReferencedObjects, schema_keys: Mapping[str, str]
    ) -> None:
        self.config = config
        self.references = references
        self.schema_keys = schema_keys

    def render_batch(
        self, objects: Sequence[Mapping[str, Any]], order: Mapping[str, int]
    ) -> Iterator[RenderedObject]:
        """Yield each object of a batch of stored objects as the layout holds it."""
        referenced = {
            str(value["referencedObjectId"])
            for stored in objects
            for attribute in stored.get("attributes") or []
            for value in attribute.get("values") or []
            if value.get("referencedObjectId") is not None
        }
        labels = self.references.resolve(referenced) if referenced else {}
        for stored in objects:
            yield self._render(stored, order, labels)

    def _render(
        self,
        stored: Mapping[str, Any],
        order: Mapping[str, int],
        labels: Mapping[str, tuple[str, str] | None],
    ) -> RenderedObject:
        object_id = str(stored["id"])
        values: JsonDict = {}
        listed_attributes: list[JsonDict] = []
        attributes = sorted(
            stored.get("attributes") or [],
            key=lambda a: (
                order.get(str(a.get("objectTypeAttributeId")), 1 << 30),
                id_order(a.get("objectTypeAttributeId")),
            ),
        )
        for attribute in attributes:
            stored_values = attribute.get("values") or []
            if not stored_values:
                continue
            attribute_id = str(attribute.get("objectTypeAttributeId"))
            definition = self.config.attributes.get(attribute_id, {})
            listed_values = [self._listed_value(definition, value, labels) for value in stored_values]
            listed_attributes.append(
                {
                    "objectTypeAttributeId": attribute_id,
                    "objectAttributeValues": listed_values,
                    "objectId": object_id,
                }
            )
            shown = [
                {"displayValue": value["displayValue"], "searchValue": value["searchValue"]}
                if value["referencedType"]
                else value["displayValue"]
                for value in listed_values
            ]
            values[str(definition.get("name", attribute_id))] = shown[0] if len(shown) == 1 else shown
        return RenderedObject(object_id, self._listed_object(stored, listed_attributes), values)

    def _listed_object(self, stored: Mapping[str, Any], attributes: list[JsonDict]) -> JsonDict:
        """Return a stored object in the shape of an ``objectEntries`` item of ``iql/objects``."""
        object_id = str(stored["id"])
        type_id = str(stored.get("objectTypeId"))
        label = str(stored.get("label") or "")
        listed: JsonDict = {
            "id": object_id,
            "label": label,
            "objectKey": stored.get("objectKey"),
            "objectType": self.config.object_types.get(type_id, {"id": type_id, "name": ""}),
            "created": stored.get("created"),
            "updated": stored.get("updated"),
            "hasAvatar": bool(stored.get("hasAvatar")),
        }
        if stored.get("avatarUUID"):
            listed["avatar"] = {"avatarUUID": stored["avatarUUID"], "objectId": object_id}
        listed["attributes"] = attributes
        if "attachmentsExists" in stored:
            listed["extendedInfo"] = {"attachmentsExists": bool(stored["attachmentsExists"])}
        listed["name"] = label
        return listed

    def _listed_value(
        self,
        definition: Mapping[str, Any],
        value: Mapping[str, Any],
        labels: Mapping[str, tuple[str, str] | None],
    ) -> JsonDict:
        """Return one stored value as the API sends it, ``displayValue`` rendered as Assets renders it."""
        if value.get("referencedObjectId") is not None:
            object_id = str(value["referencedObjectId"])
            found = labels.get(object_id)
            if found is None:
                # Not in any snapshot: the restore script only needs the number after the dash.
                key = f"{self._key_prefix(definition)}-{object_id}"
                label, referenced = key, {"id": object_id}
            else:
                label, key = found
                referenced = {"id": object_id, "objectKey": key, "label": label, "name": label}
            return {
                "referencedObject": referenced,
                "displayValue": label,
                "searchValue": key,
                "referencedType": True,
            }
        if value.get("statusId") is not None:
            status_id = str(value["statusId"])
            status = self.config.status(status_id) or {"id": status_id, "name": status_id}
            name = str(status.get("name", status_id))
            shown_status = {"id": status_id, "name": name, "category": status.get("category", 0)}
            return {
                "status": shown_status,
                "displayValue": name,
                "searchValue": status_id,
                "referencedType": False,
            }
        if "user" in value:
            person = value.get("user") or {}
            account_id = str(person.get("accountId") or "")
            shown_name = str(person.get("displayName") or account_id)
            user: JsonDict = {"displayName": shown_name, "name": shown_name, "key": account_id}
            if person.get("emailAddress"):
                user["emailAddress"] = person["emailAddress"]
            return {
                "user": user,
                "displayValue": shown_name,
                "searchValue": account_id,
                "referencedType": False,
            }
        if "groupName" in value:
            group = str(value.get("groupName") or "")
            return {
                "group": {"name": group},
                "displayValue": group,
                "searchValue": group,
                "referencedType": False,
            }
        raw = value.get("value")
        text = "" if raw is None else "true" if raw is True else "false" if raw is False else str(raw)
        listed: JsonDict = {
            "value": text,
            "displayValue": self._plain_display(definition, text),
            "searchValue": text,
            "referencedType": False,
        }
        if value.get("additionalValue") is not None:
            listed["additionalValue"] = value["additionalValue"]
        return listed

    @staticmethod
    def _plain_display(definition: Mapping[str, Any], text: str) -> str:
        if attribute_kind(definition) != ATTR_DEFAULT:
            return text
        return display_plain(text, default_type_id(definition))

    def _key_prefix(self, definition: Mapping[str, Any]) -> str:
        target = definition.get("referenceObjectType")
        schema_id = str(target.get("objectSchemaId")) if isinstance(target, Mapping) else ""
        return self.schema_keys.get(schema_id, "?")


@dataclass
class ExportSummary:
    """What an export wrote."""

    snapshot_id: str
    schema_key: str
    directory: str
    object_types: int = 0
    objects: int = 0
    history_files: int = 0
    comment_files: int = 0
    files: int = 0
    unresolved_references: int = 0


class _Files:
    """Write pretty-printed JSON files under a root, counting them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def path(self, relative: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self.count += 1
        return path

    def write(self, relative: str, value: Any) -> None:
        with self.path(relative).open("w", encoding="utf-8") as handle:
            json.dump(value, handle, indent=INDENT, ensure_ascii=False)
            handle.write("\n")

    @contextmanager
    def mapping(self, relative: str) -> Iterator[_JsonStream]:
        with self.path(relative).open("w", encoding="utf-8") as handle:
            stream = _JsonStream(handle, "{", "}")
            yield stream
            stream.close()

    @contextmanager
    def listing(self, relative: str) -> Iterator[_JsonStream]:
        with self.path(relative).open("w", encoding="utf-8") as handle:
            stream = _JsonStream(handle, "[", "]")
            yield stream
            stream.close()


class _JsonStream:
    """Write a JSON object or array entry by entry, byte for byte as ``json.dump(indent=INDENT)`` would."""

    def __init__(self, handle: IO[str], opening: str, closing: str) -> None:
        self.handle = handle
        self.opening, self.closing = opening, closing
        self.entries = 0

    def _entry(self, text: str) -> None:
        self.handle.write(",\n" if self.entries else self.opening + "\n")
        self.handle.write(" " * INDENT + text)
        self.entries += 1

    def add(self, value: Any) -> None:
        self._entry(self._nested(value))

    def put(self, key: str, value: Any) -> None:
        self._entry(f"{json.dumps(key, ensure_ascii=False)}: {self._nested(value)}")

    @staticmethod
    def _nested(value: Any) -> str:
        # JSON strings escape their newlines: every newline here is layout, indented one level deeper.
        return json.dumps(value, indent=INDENT, ensure_ascii=False).replace("\n", "\n" + " " * INDENT)

    def close(self) -> None:
        self.handle.write(f"\n{self.closing}\n" if self.entries else f"{self.opening}{self.closing}\n")


def export_snapshot(db: Database, snapshot: Snapshot, out: Path) -> ExportSummary:
    """Write ``snapshot`` under ``out`` in the backupAssets.py layout; replace ``out/<KEY>`` as a whole.

    Files: ``config/objectschemas.json`` (every schema of the workspace this store knows),
    ``<KEY>/config/*.json``, ``<KEY>/config/attributes/<Type>_<id>.json``, ``<KEY>/objectsmeta/`` and
    ``<KEY>/objects/<Type>_<id>.json`` per object type, ``<KEY>/objects/history|comments/<objectId>.json``
    for the objects that have any. The new ``<KEY>`` folder is written beside the old one and swapped in at
    the end, so files of objects deleted since an earlier export do not linger (a git diff shows them gone).
    """
    reader = SnapshotReader(db)
    config = read_schema_config(reader, snapshot)
    others = reader.latest_per_schema(snapshot.workspace_id)
    others.pop(snapshot.schema_id, None)
    schemas = [config.schema]
    schema_keys = {snapshot.schema_id: str(config.schema.get("objectSchemaKey") or snapshot.schema_key)}
    for schema_id, other in sorted(others.items(), key=lambda pair: id_order(pair[0])):
        other_schema = next(iter(reader.read(other, "schema")), None)
        if other_schema is not None:
            schemas.append(other_schema)
        schema_keys[schema_id] = str((other_schema or {}).get("objectSchemaKey") or other.schema_key)
    key = schema_keys[snapshot.schema_id]
    out.mkdir(parents=True, exist_ok=True)
    root = _Files(out)
    root.write("config/objectschemas.json", sorted(schemas, key=lambda schema: id_order(schema.get("id"))))

    final = out / safe_name(key)
    staging = out / f".{safe_name(key)}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    files = _Files(staging)
    summary = ExportSummary(snapshot.snapshot_id, key, str(final))
    _write_config(files, config)
    references = ReferencedObjects(reader, [snapshot, *others.values()])
    renderer = ValueRenderer(config, references, schema_keys)
    for object_type in config.types_in_order():
        summary.object_types += 1
        summary.objects += _write_type(files, reader, snapshot, config, renderer, object_type)
    summary.history_files = _write_entries(files, reader, snapshot, "history", "objects/history")
    summary.comment_files = _write_entries(files, reader, snapshot, "comment", "objects/comments")
    summary.unresolved_references = len(references.unresolved)
    _swap(staging, final)
    summary.files = root.count + files.count
    return summary


def _write_config(files: _Files, config: SchemaConfig) -> None:
    files.write("config/objectschema.json", config.schema)
    files.write("config/objectschema_properties.json", config.properties)
    files.write("config/global_referencetypes.json", config.global_reference_types)
    files.write("config/global_statustypes.json", config.global_status_types)
    files.write("config/referencetypes.json", config.reference_types)
    files.write("config/statustypes.json", config.status_types)
    files.write("config/objecttypes.json", config.types_in_order())
    for object_type in config.object_types.values():
        files.write(
            f"config/attributes/{type_file(object_type)}",
            [attribute_as_listed(config, a) for a in config.carried_attributes(str(object_type["id"]))],
        )


def _write_type(
    files: _Files,
    reader: SnapshotReader,
    snapshot: Snapshot,
    config: SchemaConfig,
    renderer: ValueRenderer,
    object_type: Mapping[str, Any],
) -> int:
    type_id = str(object_type["id"])
    order = {str(a["id"]): index for index, a in enumerate(config.carried_attributes(type_id))}
    written = 0
    name = type_file(object_type)
    with files.mapping(f"objects/{name}") as objects, files.listing(f"objectsmeta/{name}") as meta:
        batch: list[JsonDict] = []
        for stored in reader.objects(snapshot, type_id=type_id):
            batch.append(stored)
            if len(batch) >= BATCH:
                written += _flush(batch, renderer, order, objects, meta)
                batch = []
        written += _flush(batch, renderer, order, objects, meta)
    return written


def _flush(
    batch: Sequence[JsonDict],
    renderer: ValueRenderer,
    order: Mapping[str, int],
    objects: _JsonStream,
    meta: _JsonStream,
) -> int:
    for rendered in renderer.render_batch(batch, order):
        meta.add(rendered.listed)
        objects.put(rendered.object_id, rendered.values)
    return len(batch)


def _write_entries(files: _Files, reader: SnapshotReader, snapshot: Snapshot, kind: str, folder: str) -> int:
    """Write one file per object that has entries of ``kind``; return how many."""
    written = 0
    current: str | None = None
    entries: list[JsonDict] = []
    for entry in reader.entries(snapshot, kind):
        object_id = str(entry.get("objectId"))
        if object_id != current and entries:
            _write_object_entries(files, kind, folder, current, entries)
            written += 1
            entries = []
        current = object_id
        entries.append(entry)
    if entries:
        _write_object_entries(files, kind, folder, current, entries)
        written += 1
    return written


def _write_object_entries(
    files: _Files, kind: str, folder: str, object_id: str | None, entries: list[JsonDict]
) -> None:
    # As the API answers: history newest first, comments oldest first.
    entries.sort(
        key=lambda entry: (str(entry.get("created") or ""), id_order(entry.get("id"))),
        reverse=kind == "history",
    )
    files.write(f"{folder}/{object_id}.json", [_listed_entry(entry) for entry in entries])


def _listed_entry(entry: Mapping[str, Any]) -> JsonDict:
    """Return a stored history entry or comment with its author as the API names it (``key``: account id)."""
    listed = dict(entry)
    actor = dict(entry.get("actor") or {})
    if actor.get("accountId") and "key" not in actor:
        actor["key"] = actor["accountId"]
    # importAssets.py writes the author's name into the comment it makes: it must be there, if empty.
    actor.setdefault("displayName", "")
    listed["actor"] = actor
    return listed


def _swap(staging: Path, final: Path) -> None:
    """Put the freshly written folder in place of the old one."""
    retired = final.with_name(f".{final.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if final.exists():
        os.replace(final, retired)
    os.replace(staging, final)
    shutil.rmtree(retired, ignore_errors=True)

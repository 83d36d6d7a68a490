"""The plain-file export holds what the older public restore script reads, and references carry labels.

``importAssets.py`` of github.com/Rudy-Tmc/backupAndRestoreAssetsCloud (commit 9f5406a5, read through in
issue 15) restores a folder of the backupAssets.py layout. It indexes the JSON it loads directly, so every
field it reads must be in every file and entry, with the type it uses it as: a missing ``objectType`` in
``objectsmeta`` stopped it at once. :data:`SCRIPT_READS` lists each field path it reads, with the function
and expression of the script that reads it; the tests export the demo schemas with the CLI and check every
path against every file, then the conditions its logic needs (a parent type it can order, a status id it
can translate, a reference key whose number after the dash is an exported object...). Its code is not run
here: it talks to api.atlassian.com only. docs/export.md lists the same paths for readers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from airflow_assets import cli
from airflow_assets.backfill.reconstruct import reconstruct
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.sandbox.launch import RunningSandbox
from airflow_assets.store import SnapshotStore
from airflow_assets.store.snapshots import Snapshot
from airflow_assets.tools.rt_export import export_snapshot
from tests.integration.backup_support import back_up, client_for, fresh_database_name, run_info, stored

pytestmark = pytest.mark.slow

SCHEMAS = ("PEOPLE", "LOC", "ITAM")
ROOT = "/"  # a file of the export's root folder, not of a schema's folder


@dataclass(frozen=True)
class Read:
    """A field importAssets.py reads from a file of the layout.

    :param file: the file (a glob) under ``<KEY>/``, or under the root when it starts with ``/``.
    :param entries: which values of the file the script reads the field of: ``""`` the document,
        ``"[]"`` each entry of a list, ``"[0]"`` the first entry, ``"{}"`` each value of a mapping.
    :param field: the dotted path it reads within each of them.
    :param expected: the type it uses the value as.
    :param where: the script's function and expression (importAssets.py at commit 9f5406a5).
    :param optional: read with ``.get`` or after an ``in`` test: may be absent, but typed when present.
    :param when: only entries this holds for are read (e.g. reference attributes).
    """

    file: str
    entries: str
    field: str
    expected: type | tuple[type, ...]
    where: str
    optional: bool = False
    when: Callable[[Mapping[str, Any]], bool] | None = None


def _kind(kind: int) -> Callable[[Mapping[str, Any]], bool]:
    return lambda attribute: attribute.get("type") == kind


def _default_kind(kind: int) -> Callable[[Mapping[str, Any]], bool]:
    return lambda attribute: (
        attribute.get("type") == 0 and (attribute.get("defaultType") or {}).get("id") == kind
    )


def _child(object_type: Mapping[str, Any]) -> bool:
    return "parentObjectTypeId" in object_type


ATTRIBUTES = "config/attributes/*.json"
# Every field importAssets.py reads from the files (github.com/Rudy-Tmc/backupAndRestoreAssetsCloud,
# importAssets.py at commit 9f5406a5, and the assets.py helpers it hands the file data to).
SCRIPT_READS = (
    # getObjectSchemaIdTranslation(): objectSchema['objectSchemaKey'] == ..., translation[objectSchema['id']]
    Read(
        "/config/objectschemas.json",
        "[]",
        "objectSchemaKey",
        str,
        "getObjectSchemaIdTranslation: objectSchema['objectSchemaKey']",
    ),
    Read(
        "/config/objectschemas.json",
        "[]",
        "id",
        str,
        "getObjectSchemaIdTranslation: translation[objectSchema['id']]",
    ),
    # main: createReferenceType(referenceType['name'], referenceType['color'], referenceType['description'])
    Read("config/global_referencetypes.json", "[]", "name", str, "main: referenceType['name']"),
    Read("config/global_referencetypes.json", "[]", "color", str, "main: referenceType['color']"),
    Read("config/global_referencetypes.json", "[]", "description", str, "main: referenceType['description']"),
    # main: createStatusType(statusType['name'], statusType['category'], statusType['description'])
    Read("config/global_statustypes.json", "[]", "name", str, "main: statusType['name']"),
    Read("config/global_statustypes.json", "[]", "category", int, "main: statusType['category']"),
    Read("config/global_statustypes.json", "[]", "description", str, "main: statusType['description']"),
    Read("config/global_statustypes.json", "[]", "id", str, "main: statusTypeIdTranslate[statusType['id']]"),
    Read(
        "config/objectschema.json",
        "",
        "description",
        str,
        "main: objectSchema.get('description')",
        optional=True,
    ),
    # main: updateObjectSchemaProperties(newObjectSchema['id'], objectSchemaProperties['...'], ...)
    Read(
        "config/objectschema_properties.json",
        "",
        "allowOtherObjectSchema",
        bool,
        "main: objectSchemaProperties['allowOtherObjectSchema']",
    ),
    Read(
        "config/objectschema_properties.json",
        "",
        "createObjectsCustomField",
        bool,
        "main: objectSchemaProperties['createObjectsCustomField']",
    ),
    Read(
        "config/objectschema_properties.json",
        "",
        "quickCreateObjects",
        bool,
        "main: objectSchemaProperties['quickCreateObjects']",
    ),
    Read(
        "config/objectschema_properties.json",
        "",
        "serviceDescCustomersEnabled",
        bool,
        "main: objectSchemaProperties['serviceDescCustomersEnabled']",
    ),
    Read(
        "config/objectschema_properties.json",
        "",
        "validateQuickCreate",
        bool,
        "main: objectSchemaProperties['validateQuickCreate']",
    ),
    # main: createReferenceType(referenceType['name'], referenceType['color'], description, ...)
    Read("config/referencetypes.json", "[]", "name", str, "main: referenceType['name']"),
    Read("config/referencetypes.json", "[]", "color", str, "main: referenceType['color']"),
    Read(
        "config/referencetypes.json",
        "[]",
        "description",
        str,
        "main: referenceType.get('description')",
        optional=True,
    ),
    Read("config/statustypes.json", "[]", "name", str, "main: statusType['name']"),
    Read("config/statustypes.json", "[]", "category", int, "main: statusType['category']"),
    Read("config/statustypes.json", "[]", "description", str, "main: statusType['description']"),
    Read("config/statustypes.json", "[]", "id", str, "main: statusTypeIdTranslate[statusType['id']]"),
    # orderObjectTypes(): 'parentObjectTypeId' not in objectType (roots), otpl['id'] (see _check_type_tree)
    Read(
        "config/objecttypes.json",
        "[]",
        "id",
        str,
        "orderObjectTypes: otpl['id']; main: objectTypeIdTranslate[objectType['id']]",
    ),
    Read("config/objecttypes.json", "[]", "name", str, "main: getObjectTypeByName(objectType['name'], ...)"),
    Read("config/objecttypes.json", "[]", "icon.id", str, "main: 'iconId': objectType['icon']['id']"),
    Read(
        "config/objecttypes.json",
        "[]",
        "description",
        str,
        "main: objectType.get('description')",
        optional=True,
    ),
    Read(
        "config/objecttypes.json", "[]", "inherited", bool, "main: objectType.get('inherited')", optional=True
    ),
    Read(
        "config/objecttypes.json",
        "[]",
        "abstractObjectType",
        bool,
        "main: objectType.get('abstractObjectType')",
        optional=True,
    ),
    Read(
        "config/objecttypes.json",
        "[]",
        "parentObjectTypeId",
        str,
        "main: objectTypeIdTranslate[objectType['parentObjectTypeId']]",
        when=_child,
    ),
    Read(
        "config/objecttypes.json",
        "[]",
        "position",
        int,
        "main: changeObjectTypePosition(..., objectType['position'])",
        when=_child,
    ),
    # createObjectAttribute()
    Read(
        ATTRIBUTES,
        "[]",
        "id",
        str,
        "createObjectAttribute: attribute['id']; attributeIdTranslate[attribute['id']]",
    ),
    Read(ATTRIBUTES, "[]", "name", str, "createObjectAttribute: getAttributeByName(..., attribute['name'])"),
    Read(
        ATTRIBUTES,
        "[]",
        "type",
        int,
        "createObjectAttribute: 'type': attribute['type']; updateAttributeType: match attribute['type']",
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "description",
        str,
        "createObjectAttribute: attribute.get('description')",
        optional=True,
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "defaultType.id",
        int,
        "createObjectAttribute: attribute['defaultType']['id']; updateAttributeType: case 0",
        when=_kind(0),
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "referenceObjectType.objectSchemaId",
        str,
        "createObjectAttribute: attribute['referenceObjectType']['objectSchemaId']",
        when=_kind(1),
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "referenceObjectType.parentObjectTypeId",
        str,
        "createObjectAttribute: attribute['referenceObjectType'].get('parentObjectTypeId')",
        optional=True,
        when=_kind(1),
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "referenceObjectType.name",
        str,
        "createObjectAttribute: attribute['referenceObjectType']['name']",
        when=_kind(1),
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "referenceType.name",
        str,
        "createObjectAttribute: attribute['referenceType']['name']",
        when=_kind(1),
    ),
    # updateAttributeType(): the restrictions, by attribute kind
    Read(
        ATTRIBUTES,
        "[]",
        "options",
        str,
        "updateAttributeType: data['options'] = attribute['options'] (Select)",
        when=_default_kind(10),
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "regexValidation",
        str,
        "updateAttributeType: 'regexValidation' in attribute",
        optional=True,
    ),
    Read(ATTRIBUTES, "[]", "suffix", str, "updateAttributeType: 'suffix' in attribute", optional=True),
    Read(ATTRIBUTES, "[]", "summable", bool, "updateAttributeType: 'summable' in attribute", optional=True),
    Read(
        ATTRIBUTES,
        "[]",
        "minimumCardinality",
        int,
        "updateAttributeType: 'minimumCardinality' in attribute",
        optional=True,
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "maximumCardinality",
        int,
        "updateAttributeType: 'maximumCardinality' in attribute",
        optional=True,
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "includeChildObjectTypes",
        bool,
        "updateAttributeType: 'includeChildObjectTypes' in attribute",
        optional=True,
    ),
    Read(ATTRIBUTES, "[]", "iql", str, "updateAttributeType: 'iql' in attribute", optional=True),
    Read(
        ATTRIBUTES,
        "[]",
        "additionalValue",
        str,
        "updateAttributeType: 'additionalValue' in attribute",
        optional=True,
        when=_kind(2),
    ),
    Read(
        ATTRIBUTES,
        "[]",
        "typeValueMulti",
        list,
        "updateAttributeType: for value in attribute['typeValueMulti'] (users, statuses)",
        optional=True,
    ),
    # main, creating the objects: createObject(objectTypeIdTranslate.get(object['objectType']['id']), object)
    Read(
        "objectsmeta/*.json",
        "[]",
        "objectType.id",
        str,
        "main: objectTypeIdTranslate.get(object['objectType']['id'])",
    ),
    Read("objectsmeta/*.json", "[]", "objectType.name", str, "createObject: object['objectType']['name']"),
    Read(
        "objectsmeta/*.json",
        "[]",
        "id",
        str,
        "createObject: object['id'] in objectIdTranslate; main: objectIdTranslate[oldObject['id']]",
    ),
    Read("objectsmeta/*.json", "[]", "name", str, "createObject: object['name'] (an object restored before)"),
    Read(
        "objectsmeta/*.json",
        "[]",
        "label",
        str,
        "createObject: data = {labelAttribute['name']: object['label']}",
    ),
    # main, setting the values: for objectId, obj in objects.items() (see _check_values)
    Read("objects/*.json", "", "", dict, "main: objects.items()"),
    # addComment()
    Read(
        "objects/comments/*.json",
        "[0]",
        "objectId",
        str,
        "addComment: translate.get(comments[0]['objectId'])",
    ),
    Read(
        "objects/comments/*.json",
        "[]",
        "created",
        str,
        "addComment: re.search('(.*?)T.*', comment['created'])",
    ),
    Read(
        "objects/comments/*.json",
        "[]",
        "actor.displayName",
        str,
        "addComment: comment['actor']['displayName']",
    ),
    Read("objects/comments/*.json", "[]", "comment", str, "addComment: comment['comment']"),
    # addHistoryasComment()
    Read(
        "objects/history/*.json",
        "[0]",
        "objectId",
        str,
        "addHistoryasComment: translate.get(history[0]['objectId'])",
    ),
    Read("objects/history/*.json", "[]", "created", str, "addHistoryasComment: historyline['created']"),
    Read(
        "objects/history/*.json", "[]", "type", int, "addHistoryasComment: historyType[historyline['type']]"
    ),
    Read(
        "objects/history/*.json",
        "[]",
        "actor.displayName",
        str,
        "addHistoryasComment: historyline['actor']['displayName']",
    ),
    Read(
        "objects/history/*.json",
        "[]",
        "affectedAttribute",
        str,
        "addHistoryasComment: 'affectedAttribute' in historyline",
        optional=True,
    ),
)
# addHistoryasComment(): historyType[historyline['type']] knows these codes only (a KeyError stops it).
HISTORY_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 17, 25, 26, 27}
# updateAttributeType(): other attribute kinds and default types end the script (exit(-1)).
ATTRIBUTE_KINDS = {0, 1, 2, 4, 7}
DEFAULT_TYPES = set(range(-1, 12))


def _snapshot(db: Database, snapshot_id: str) -> Snapshot:
    snapshot = SnapshotStore(db).get(snapshot_id)
    assert snapshot is not None and snapshot.status == "complete"
    return snapshot


def _type_files(root: Path, key: str, folder: str) -> dict[str, Any]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((root / key / folder).glob("*.json"))
    }


def test_a_reconstructed_snapshot_exports_its_references_with_the_labels_of_its_moment(
    sandbox: RunningSandbox, mongo_db: Database, tmp_path: Path
) -> None:
    with client_for(sandbox) as client:
        back_up(client, mongo_db, "PEOPLE", "run-1")
        first = back_up(client, mongo_db, "LOC", "run-1").snapshot_id
        moment = datetime.now(UTC)
        time.sleep(0.05)
        # A country cities refer to is renamed after the moment: the reconstruction holds its old name, the
        # real lane (which the export used to read) only the new one.
        before = {item["id"]: item for item in stored(mongo_db, first, "object")}
        referenced = sorted(
            str(value["referencedObjectId"])
            for item in before.values()
            for attribute in item["attributes"]
            for value in attribute["values"]
            if value.get("referencedObjectId") is not None
        )
        renamed = before[max(set(referenced), key=referenced.count)]
        name_attribute = next(
            attribute
            for attribute in client.get_object_type_attributes(renamed["objectTypeId"])
            if attribute.get("label")
        )
        client.update_object(
            renamed["id"],
            {
                "objectTypeId": renamed["objectTypeId"],
                "attributes": [
                    {
                        "objectTypeAttributeId": str(name_attribute["id"]),
                        "objectAttributeValues": [{"value": f"{renamed['label']} (renamed)"}],
                    }
                ],
            },
        )
        base = _snapshot(mongo_db, back_up(client, mongo_db, "LOC", "run-2").snapshot_id)
        summary = reconstruct(
            mongo_db, base, moment, manifest=run_info("backfill-1").manifest_fields(), client=client
        )
    rebuilt = _snapshot(mongo_db, summary.snapshot_id)
    assert rebuilt.reconstructed
    then = {item["objectKey"]: item for item in stored(mongo_db, rebuilt.snapshot_id, "object")}
    assert then[renamed["objectKey"]]["label"] == renamed["label"]

    export_snapshot(mongo_db, rebuilt, tmp_path)

    shown_references = [
        shown
        for values_by_object in _type_files(tmp_path, "LOC", "objects").values()
        for values in values_by_object.values()
        for value in values.values()
        for shown in (value if isinstance(value, list) else [value])
        if isinstance(shown, dict)
    ]
    assert len(shown_references) == len(referenced) > 0
    for shown in shown_references:
        # The label the referenced object had at the snapshot's moment, never a bare key.
        target = then[shown["searchValue"]]
        assert shown == {"displayValue": target["label"], "searchValue": target["objectKey"]}
    assert {"displayValue": renamed["label"], "searchValue": renamed["objectKey"]} in shown_references


# What objectsmeta/ entries hold beyond what the script reads: objects as the API lists them.
LISTED_SHAPE = (
    Read("objectsmeta/*.json", "[]", "objectKey", str, "the API's Object"),
    Read("objectsmeta/*.json", "[]", "attributes", list, "the API's Object"),
    Read("objectsmeta/*.json", "[]", "created", str, "the API's Object"),
    Read("objectsmeta/*.json", "[]", "updated", str, "the API's Object"),
)


def _files(root: Path, key: str, pattern: str) -> list[Path]:
    base = root if pattern.startswith("/") else root / key
    return sorted(base.glob(pattern.lstrip("/")))


def _selected(document: Any, entries: str) -> list[Any]:
    if entries == "":
        return [document]
    if entries == "{}":
        assert isinstance(document, dict)
        return list(document.values())
    assert isinstance(document, list)
    if entries == "[0]":
        assert document, "an empty list (the script reads its first entry)"
        return document[:1]
    return list(document)


def _typed(value: Any, expected: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in (expected if isinstance(expected, tuple) else (expected,)):
        return False
    return isinstance(value, expected)


def _problems(root: Path, reads: tuple[Read, ...]) -> tuple[list[str], dict[Read, int]]:
    """Check each read against every file of every exported schema; return problems and values checked."""
    problems: list[str] = []
    checked = dict.fromkeys(reads, 0)
    for read in reads:
        for key in SCHEMAS:
            for path in _files(root, key, read.file):
                document = json.loads(path.read_text(encoding="utf-8"))
                for index, entry in enumerate(_selected(document, read.entries)):
                    if read.when is not None and not read.when(entry):
                        continue
                    value: Any = entry
                    for name in [part for part in read.field.split(".") if part]:
                        value = value.get(name, _ABSENT) if isinstance(value, dict) else _ABSENT
                    where = f"{path.relative_to(root)} entry {index}: {read.field or 'the document'}"
                    if value is _ABSENT:
                        if not read.optional:
                            problems.append(f"{where} is missing ({read.where})")
                    elif not _typed(value, read.expected):
                        problems.append(f"{where} is {value!r}, not {read.expected} ({read.where})")
                    else:
                        checked[read] += 1
    return problems, checked


_ABSENT = object()


def _script_file_name(object_type: Mapping[str, Any]) -> str:
    """Return the attribute file main() loads for an object type: only / \\ and space become _."""
    name = f"{object_type['name']}_{object_type['id']}"
    return name.replace("/", "_").replace("\\", "_").replace(" ", "_") + ".json"


def _object_ids(root: Path) -> set[str]:
    return {
        str(entry["id"])
        for key in SCHEMAS
        for path in _files(root, key, "objectsmeta/*.json")
        for entry in json.loads(path.read_text(encoding="utf-8"))
    }


def _logic_problems(root: Path, key: str, every_object: set[str]) -> Iterator[str]:
    """Yield what would stop the script's logic (beyond a missing field) on the files of schema ``key``."""
    folder = root / key

    def load(relative: str) -> Any:
        return json.loads((folder / relative).read_text(encoding="utf-8"))

    # orderObjectTypes() takes the types without the key as roots, then each level's children: a parent
    # that is not in the file (or a root holding the key) loops forever.
    object_types = load("config/objecttypes.json")
    type_ids = {object_type["id"] for object_type in object_types}
    for object_type in object_types:
        if "parentObjectTypeId" in object_type and object_type["parentObjectTypeId"] not in type_ids:
            yield f"{key}: object type {object_type['id']} names a parent not in objecttypes.json"
        if not (folder / "config" / "attributes" / _script_file_name(object_type)).is_file():
            yield f"{key}: main() finds no attribute file for object type {object_type['id']}"
    statuses = {s["id"] for s in load("config/global_statustypes.json") + load("config/statustypes.json")}
    schemas = {schema["id"] for schema in json.loads((root / "config" / "objectschemas.json").read_text())}
    for path in _files(root, key, ATTRIBUTES):
        for attribute in json.loads(path.read_text(encoding="utf-8")):
            where = f"{path.relative_to(root)} attribute {attribute['id']}"
            if attribute["type"] not in ATTRIBUTE_KINDS:
                yield f"{where}: updateAttributeType() exits on type {attribute['type']}"
            if attribute["type"] == 0 and attribute["defaultType"]["id"] not in DEFAULT_TYPES:
                yield f"{where}: updateAttributeType() exits on default type {attribute['defaultType']}"
            if attribute["type"] == 7 and not set(attribute.get("typeValueMulti", [])) <= statuses:
                yield f"{where}: statusTypeIdTranslate[value] fails for {attribute['typeValueMulti']}"
            if attribute["type"] == 1 and attribute["referenceObjectType"]["objectSchemaId"] not in schemas:
                yield f"{where}: the referenced schema is not in config/objectschemas.json"
    for path in _files(root, key, "objectsmeta/*.json"):
        listed = json.loads(path.read_text(encoding="utf-8"))
        values = json.loads((folder / "objects" / path.name).read_text(encoding="utf-8"))
        if " " in path.name:
            yield f"{path.name}: main() loads the name with its spaces made _"
        if [entry["id"] for entry in listed] != list(values):
            yield f"{path.name}: objects/ and objectsmeta/ hold other objects"
        for entry in listed:
            if entry["objectType"]["id"] not in type_ids:
                yield f"{path.name}: object {entry['id']} of a type not in objecttypes.json"
        for object_id, by_name in values.items():
            for name, value in by_name.items():
                yield from _value_problems(f"{path.name} {object_id} {name}", value, every_object)
    for folder_name in ("history", "comments"):
        for path in _files(root, key, f"objects/{folder_name}/*.json"):
            entries = json.loads(path.read_text(encoding="utf-8"))
            if path.stem != entries[0]["objectId"] or path.stem not in every_object:
                yield f"{path.relative_to(root)}: not the file of an exported object"
            for entry in entries:
                # addComment() splits created into date and time: '(.*?)T.*' and '.*?T(.*?)\\..*'
                if not re.search(r".*?T(.*?)\..*", entry["created"]):
                    yield f"{path.relative_to(root)}: created {entry['created']!r} has no T...'.'"
                if folder_name == "history" and entry["type"] not in HISTORY_CODES:
                    yield f"{path.relative_to(root)}: historyType has no code {entry['type']}"


def _value_problems(where: str, value: Any, every_object: set[str]) -> Iterator[str]:
    """Check a value of objects/ as updateObjectByObjectTypeId() and constructObjectPayload() use it."""
    for one in value if isinstance(value, list) else [value]:
        if isinstance(one, dict):
            # objectIdTranslate.get(refValue['searchValue'].split("-", 1)[1]); refValue['displayValue']
            if not isinstance(one.get("displayValue"), str) or not isinstance(one.get("searchValue"), str):
                yield f"{where}: a reference without displayValue and searchValue: {one!r}"
            elif "-" not in one["searchValue"]:
                yield f"{where}: searchValue {one['searchValue']!r} has no dash"
            elif one["searchValue"].split("-", 1)[1] not in every_object:
                yield f"{where}: searchValue {one['searchValue']!r} names no exported object"
            elif one["displayValue"] == one["searchValue"]:
                yield f"{where}: a bare key where the label is known: {one!r}"
        elif not isinstance(one, str):
            # value.split("||") and aggVal.replace(...): plain values are strings
            yield f"{where}: {one!r} is not a string"


@pytest.fixture(scope="module")
def exported(
    demo_sandbox: RunningSandbox, mongo_server: EmbeddedMongo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Back up the demo schemas and export each with ``airflow-assets snapshots export``; yield the root."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_server.uri)
    db = client[fresh_database_name("export_script")]
    root = tmp_path_factory.mktemp("export")
    config = tmp_path_factory.mktemp("config") / "jira_assets.yaml"
    config.write_text(
        f"mongo: {{conn_id: jira_assets_backup, database: {db.name}}}\n"
        f"sites: {{test: {{conn_id: jira_assets_default, schemas: [{', '.join(SCHEMAS)}]}}}}\n"
    )
    try:
        with client_for(demo_sandbox) as assets:
            ids = {key: back_up(assets, db, key, "run-1").snapshot_id for key in SCHEMAS}
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(db.name))
            for key in SCHEMAS:
                command = ["snapshots", "export", ids[key], "--out", str(root), "--config", str(config)]
                assert cli.main(command) == 0
        yield root
    finally:
        client.drop_database(db.name)
        client.close()


def test_every_field_the_restore_script_reads_is_in_every_exported_file(exported: Path) -> None:
    problems, checked = _problems(exported, SCRIPT_READS)
    assert problems[:20] == [], f"{len(problems)} problems"
    # Each read met values to check (those read only when present may meet none).
    assert [read.where for read, count in checked.items() if count == 0 and not read.optional] == []
    assert checked[SCRIPT_READS[-1]] > 0  # history entries name the attribute they changed


def test_the_restore_scripts_logic_finds_nothing_to_stop_at(exported: Path) -> None:
    every_object = _object_ids(exported)
    assert len(every_object) > 250
    problems = [problem for key in SCHEMAS for problem in _logic_problems(exported, key, every_object)]
    assert problems[:20] == [], f"{len(problems)} problems"


def test_objectsmeta_lists_objects_as_the_api_does(exported: Path, demo_sandbox: RunningSandbox) -> None:
    problems, checked = _problems(exported, LISTED_SHAPE)
    assert problems[:20] == []
    assert all(checked.values())
    with client_for(demo_sandbox) as client:
        laptops = json.loads(next((exported / "ITAM" / "objectsmeta").glob("Laptop_*.json")).read_text())
        for listed in laptops[:5]:
            live = client.get_object(listed["id"])
            assert listed["objectType"]["id"] == str(live["objectType"]["id"])
            assert listed["objectType"]["name"] == live["objectType"]["name"]
            assert (listed["name"], listed["label"], listed["objectKey"]) == (
                live["name"], live["label"], live["objectKey"],
            )  # fmt: skip
            live_values = {
                attribute["objectTypeAttributeId"]: [
                    {name: value.get(name) for name in _VALUE_FIELDS if name in value}
                    for value in attribute["objectAttributeValues"]
                ]
                for attribute in live["attributes"]
            }
            listed_values = {
                attribute["objectTypeAttributeId"]: [
                    {name: value.get(name) for name in _VALUE_FIELDS if name in value}
                    for value in attribute["objectAttributeValues"]
                ]
                for attribute in listed["attributes"]
            }
            assert listed_values == live_values, listed["id"]
            for attribute in listed["attributes"]:
                for value in attribute["objectAttributeValues"]:
                    if value["referencedType"]:
                        assert set(value["referencedObject"]) >= {"id", "objectKey", "label"}
                    for kind, fields in (
                        ("status", {"id", "name", "category"}),
                        ("user", {"displayName", "key"}),
                    ):
                        if kind in value:
                            assert set(value[kind]) >= fields


_VALUE_FIELDS = ("value", "displayValue", "searchValue", "referencedType")

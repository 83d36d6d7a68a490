"""``airflow-assets snapshots diff A B``: what changed from snapshot A to snapshot B of one schema.

``A`` and ``B`` are snapshot ids or unique ends of ids (see ``snapshots show``); both must be complete
snapshots of the same schema (else exit 2). A is the "old" side whichever was taken first.

Objects are compared by version hash, from the spans that start or end between the two snapshots: only
items whose hash differs are read. Configuration (schema, properties, object types, attributes, status and
reference types) is small and compared field by field. Values are shown readably: plain values as text,
references as the referenced object's key and label (when the snapshot holds it, else ``object <id>``),
statuses by name, users by display name, groups by name.

``--json`` prints one object (lists sorted by name or id; keys always present)::

    {"schema": {"workspace_id": "...", "schema_id": "3", "schema_key": "ITAM"},
     "from": {"id": "...", "seq": 1, "started_at": "<ISO 8601>"},
     "to":   {"id": "...", "seq": 2, "started_at": "<ISO 8601>"},
     "config": {
        "added":   [{"kind": "attribute", "id": "71", "name": "Rack", "object_type": "Server"}],
        "removed": [{"kind": "object_type", "id": "12", "name": "Printer", "object_type": null}],
        "changed": [{"kind": "attribute", "id": "49", "name": "Cost", "object_type": "Hardware",
                     "fields": {"description": {"old": "...", "new": "..."}}}]},
     "objects": {"added": 1, "removed": 1, "changed": 2},
     "object_types": [
        {"id": "9", "name": "Laptop",
         "added":   [{"id": "215", "key": "ITAM-215", "label": "..."}],
         "removed": [{"id": "208", "key": "ITAM-208", "label": "..."}],
         "changed": [{"id": "153", "key": "ITAM-153", "label": "...",
                      "fields": {"label": {"old": "...", "new": "..."}},
                      "attributes": [{"id": "47", "name": "Serial number",
                                      "old": ["SN1"], "new": ["SN2"],
                                      "old_raw": [{"value": "SN1"}], "new_raw": [{"value": "SN2"}]}]}]}]}

``kind`` is one of schema, schema_properties, object_type, attribute, status_type, global_status_type,
reference_type, global_reference_type. ``fields`` holds changed top-level fields besides the attributes
(``updated`` moves with every edit). ``old``/``new`` are rendered values, ``old_raw``/``new_raw`` the stored
ones (``{"value"}``, ``{"referencedObjectId"}``, ``{"statusId"}``, ``{"user": {...}}``, ``{"groupName"}``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_assets.tools import EXIT_OK, EXIT_USAGE
from airflow_assets.tools.snapshot_reading import CONFIG_KINDS, OBJECT, SnapshotConfig, ToolError, run_tool

if TYPE_CHECKING:
    from pymongo.database import Database

    from airflow_assets.store.snapshots import Snapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``snapshots diff``."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument("old", metavar="A", help="the older snapshot: an id or a unique end of one")
    parser.add_argument("new", metavar="B", help="the newer snapshot: an id or a unique end of one")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Show what changed between two snapshots of one schema."""
    return run_tool("snapshots diff", args, _diff)


def _diff(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.store.reader import SnapshotReader
    from airflow_assets.tools.snapshot_reading import print_json, resolve_snapshot

    old, new = resolve_snapshot(db, args.old), resolve_snapshot(db, args.new)
    if (old.workspace_id, old.schema_id) != (new.workspace_id, new.schema_id):
        raise ToolError(
            f"{old.snapshot_id} ({old.schema_key}) and {new.snapshot_id} ({new.schema_key}) are snapshots of "
            "different schemas: a diff compares two snapshots of one schema",
            EXIT_USAGE,
        )
    if old.reconstructed != new.reconstructed:
        # Changes are found from the spans of one lane; a reconstruction's spans live in a lane of their own.
        raise ToolError(
            f"{old.snapshot_id} and {new.snapshot_id}: a reconstructed snapshot is compared with another "
            "reconstructed snapshot of its schema, a real one with a real one",
            EXIT_USAGE,
        )
    for snapshot in (old, new):
        if not SnapshotReader.readable(snapshot):
            raise ToolError(
                f"snapshot {snapshot.snapshot_id} is {snapshot.status}: only complete snapshots hold a whole "
                "schema to compare",
                EXIT_USAGE,
            )
    if old.seq > new.seq:
        old, new = new, old
    report = snapshot_diff(db, old, new)
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    return EXIT_OK


def snapshot_diff(db: Database, old: Snapshot, new: Snapshot) -> dict[str, Any]:
    """Return what changed from ``old`` to ``new`` (see the module docstring); ``old.seq <= new.seq``."""
    from airflow_assets.store.reader import SnapshotReader
    from airflow_assets.tools.snapshot_reading import iso, objects_at, read_snapshot_config

    reader = SnapshotReader(db)
    old_config, new_config = read_snapshot_config(db, old), read_snapshot_config(db, new)
    pairs = [(old.seq, new.seq)] if old.seq < new.seq else []
    changes = reader.changes(old, OBJECT, pairs).get((old.seq, new.seq))
    added = dict(changes.added) if changes else {}
    removed = dict(changes.removed) if changes else {}
    changed = dict(changes.changed) if changes else {}
    contents = reader.contents(
        old,
        [span["hash"] for span in (*added.values(), *removed.values())]
        + [span["hash"] for spans in changed.values() for span in spans],
    )
    # Referenced objects, to show by key and label: those read already, the rest looked up on each side.
    references: dict[str, set[str]] = {"old": set(), "new": set()}
    for before, after in changed.values():
        references["old"] |= _referenced(contents[before["hash"]])
        references["new"] |= _referenced(contents[after["hash"]])
    known_old = objects_at(db, old, references["old"])
    known_new = objects_at(db, new, references["new"])

    by_type: dict[str, dict[str, Any]] = {}

    def type_entry(type_id: str | None) -> dict[str, Any]:
        key = str(type_id)
        if key not in by_type:
            name = (
                new_config.type_name(key)
                if key in new_config.of("object_type")
                else old_config.type_name(key)
            )
            by_type[key] = {"id": key, "name": name, "added": [], "removed": [], "changed": []}
        return by_type[key]

    for item_id, span in added.items():
        type_entry(span.get("type_id"))["added"].append(_brief(item_id, contents[span["hash"]]))
    for item_id, span in removed.items():
        type_entry(span.get("type_id"))["removed"].append(_brief(item_id, contents[span["hash"]]))
    for item_id, (before, after) in changed.items():
        entry = _object_changes(
            item_id,
            contents[before["hash"]],
            contents[after["hash"]],
            (old_config, known_old),
            (new_config, known_new),
        )
        type_entry(after.get("type_id"))["changed"].append(entry)
    for entry in by_type.values():
        for change in ("added", "removed", "changed"):
            entry[change].sort(key=_object_order)
    return {
        "schema": {
            "workspace_id": new.workspace_id,
            "schema_id": new.schema_id,
            "schema_key": new.schema_key,
        },
        "from": {"id": old.snapshot_id, "seq": old.seq, "started_at": iso(old.started_at)},
        "to": {"id": new.snapshot_id, "seq": new.seq, "started_at": iso(new.started_at)},
        "config": _config_changes(old_config, new_config),
        "objects": {"added": len(added), "removed": len(removed), "changed": len(changed)},
        "object_types": sorted(by_type.values(), key=lambda entry: (str(entry["name"]).lower(), entry["id"])),
    }


def _object_order(entry: Mapping[str, Any]) -> tuple[int, str]:
    item_id = str(entry["id"])
    return (int(item_id), "") if item_id.isdigit() else (1 << 62, item_id)


def _brief(item_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": item_id, "key": data.get("objectKey"), "label": data.get("label")}


def _referenced(data: Mapping[str, Any]) -> set[str]:
    return {
        str(value["referencedObjectId"])
        for attribute in data.get("attributes") or []
        for value in attribute.get("values") or []
        if isinstance(value, Mapping) and value.get("referencedObjectId") is not None
    }


def _object_changes(
    item_id: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    old_side: tuple[SnapshotConfig, Mapping[str, Mapping[str, Any]]],
    new_side: tuple[SnapshotConfig, Mapping[str, Mapping[str, Any]]],
) -> dict[str, Any]:
    fields = {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(set(before) | set(after))
        if key not in ("id", "attributes") and before.get(key) != after.get(key)
    }
    old_values = {
        str(a["objectTypeAttributeId"]): a.get("values") or [] for a in before.get("attributes") or []
    }
    new_values = {
        str(a["objectTypeAttributeId"]): a.get("values") or [] for a in after.get("attributes") or []
    }
    attributes = []
    for attribute_id in sorted(set(old_values) | set(new_values), key=lambda key: (len(key), key)):
        old_raw, new_raw = old_values.get(attribute_id, []), new_values.get(attribute_id, [])
        if old_raw == new_raw:
            continue
        name = new_side[0].attribute_name(attribute_id) or old_side[0].attribute_name(attribute_id)
        attributes.append(
            {
                "id": attribute_id,
                "name": name or f"attribute {attribute_id}",
                "old": [render_value(value, *old_side) for value in old_raw],
                "new": [render_value(value, *new_side) for value in new_raw],
                "old_raw": old_raw,
                "new_raw": new_raw,
            }
        )
    return {**_brief(item_id, after), "fields": fields, "attributes": attributes}


def render_value(
    value: Mapping[str, Any], config: SnapshotConfig, objects: Mapping[str, Mapping[str, Any]]
) -> str:
    """Render one stored attribute value as a person would name it.

    :param config: the configuration of the snapshot that holds the value (status names).
    :param objects: objects of that snapshot by id (referenced objects' key and label).
    """
    if value.get("referencedObjectId") is not None:
        object_id = str(value["referencedObjectId"])
        referenced = objects.get(object_id)
        if referenced is None:
            return f"object {object_id}"
        return f"{referenced.get('objectKey')} {referenced.get('label')}"
    if value.get("statusId") is not None:
        status_id = str(value["statusId"])
        return config.status_name(status_id) or f"status {status_id}"
    if isinstance(value.get("user"), Mapping):
        user = value["user"]
        return str(user.get("displayName") or user.get("accountId") or user.get("emailAddress") or "(user)")
    if value.get("groupName") is not None:
        return str(value["groupName"])
    plain = value.get("value")
    if isinstance(plain, bool):
        return "true" if plain else "false"
    return "" if plain is None else str(plain)


def _config_changes(old: SnapshotConfig, new: SnapshotConfig) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    for kind, _ in CONFIG_KINDS:
        before, after = old.of(kind), new.of(kind)
        for item_id in sorted(set(before) | set(after), key=lambda key: (len(key), key)):
            old_item, new_item = before.get(item_id), after.get(item_id)
            if old_item == new_item:
                continue
            current = new_item if new_item is not None else old_item
            assert current is not None
            entry: dict[str, Any] = {
                "kind": kind,
                "id": item_id,
                "name": current.get("name") or current.get("objectSchemaKey") or item_id,
                "object_type": _owner(kind, current, old, new),
            }
            if old_item is None:
                result["added"].append(entry)
            elif new_item is None:
                result["removed"].append(entry)
            else:
                entry["fields"] = {
                    key: {"old": old_item.get(key), "new": new_item.get(key)}
                    for key in sorted(set(old_item) | set(new_item))
                    if old_item.get(key) != new_item.get(key)
                }
                result["changed"].append(entry)
    return result


def _owner(kind: str, item: Mapping[str, Any], old: SnapshotConfig, new: SnapshotConfig) -> str | None:
    if kind != "attribute":
        return None
    type_id = str(item.get("objectTypeId"))
    return new.type_name(type_id) if type_id in new.of("object_type") else old.type_name(type_id)


# -- tables -----------------------------------------------------------------------------------------------


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from airflow_assets.tools.snapshot_reading import console, when

    out = console()
    old, new = report["from"], report["to"]
    out.print(
        Text(
            f"{report['schema']['schema_key']} (schema {report['schema']['schema_id']}): "
            f"#{old['seq']} {old['id']} ({when(old['started_at'])}) -> "
            f"#{new['seq']} {new['id']} ({when(new['started_at'])})"
        )
    )
    config = report["config"]
    if any(config.values()):
        table = Table(title="Configuration")
        for column in ("change", "kind", "name", "field", "old", "new"):
            table.add_column(column, overflow="fold")
        kinds = dict(CONFIG_KINDS)
        for change in ("added", "removed", "changed"):
            for entry in config[change]:
                name = entry["name"] + (f" ({entry['object_type']})" if entry["object_type"] else "")
                name += f" [{entry['id']}]"
                fields = entry.get("fields") or {"": {"old": "", "new": ""}}
                for index, (field, values) in enumerate(fields.items()):
                    table.add_row(
                        change if index == 0 else "",
                        kinds[entry["kind"]] if index == 0 else "",
                        Text(name) if index == 0 else "",
                        Text(field),
                        Text(_short(values["old"])),
                        Text(_short(values["new"])),
                    )
        out.print(table)
    else:
        out.print("Configuration: no changes")

    counts = report["objects"]
    if not any(counts.values()):
        out.print("Objects: no changes")
        return
    summary = Table(title=f"Objects: +{counts['added']} -{counts['removed']} ~{counts['changed']}")
    summary.add_column("object type")
    for column in ("added", "removed", "changed"):
        summary.add_column(column, justify="right")
    for entry in report["object_types"]:
        summary.add_row(
            Text(entry["name"]), *(str(len(entry[column])) for column in ("added", "removed", "changed"))
        )
    out.print(summary)

    table = Table(title="Object changes")
    for column in ("object type", "change", "object", "attribute", "old", "new"):
        table.add_column(column, overflow="fold")
    for entry in report["object_types"]:
        for change in ("added", "removed"):
            for item in entry[change]:
                table.add_row(Text(entry["name"]), change, Text(_object_name(item)), "", "", "")
        for item in entry["changed"]:
            # The `updated` stamp also shows as the Updated attribute: one row is enough.
            rows = [
                (str(field), _short(v["old"]), _short(v["new"]))
                for field, v in item["fields"].items()
                if field != "updated"
            ]
            rows += [(a["name"], ", ".join(a["old"]), ", ".join(a["new"])) for a in item["attributes"]]
            for index, (name, before, after) in enumerate(rows):
                first = index == 0
                table.add_row(
                    Text(entry["name"]) if first else "",
                    "changed" if first else "",
                    Text(_object_name(item)) if first else "",
                    Text(name),
                    Text(before),
                    Text(after),
                )
    out.print(table)


def _object_name(item: Mapping[str, Any]) -> str:
    return f"{item['key']} {item['label']}" if item.get("key") else f"object {item['id']}"


def _short(value: Any, limit: int = 120) -> str:
    import json

    text = value if isinstance(value, str) else ("" if value is None else json.dumps(value, default=str))
    return text if len(text) <= limit else text[: limit - 1] + "…"

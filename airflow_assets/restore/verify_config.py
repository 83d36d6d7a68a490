"""Verify the status and reference types a restore mapped: a schema's own stay its own, names, categories.

A schema's own type must map to a type of the restored schema with the same name (exactly) and category;
a global one to a global type of the same name (case aside: a case-only match was warned in the plan)
and category.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.restore.config_match import scope_of
from airflow_assets.restore.schema_source import SchemaSource

JsonDict = dict[str, Any]
STATUS_FIELDS = ("name", "category")
REFERENCE_FIELDS = ("name",)


def verify_config_types(
    client: AssetsClient,
    schema: SchemaSource,
    new_schema_id: str,
    statuses: Mapping[str, str],
    reference_types: Mapping[str, str],
    differ: Callable[[str], None],
) -> int:
    """Compare the mapped status and reference types of one schema; return the reads made."""
    old_schema_id = schema.source.snapshot.schema_id
    target_statuses = [*client.get_status_types(), *client.get_status_types(object_schema_id=new_schema_id)]
    target_references = [
        *client.get_reference_types(),
        *client.get_reference_types(object_schema_id=new_schema_id),
    ]
    for kind, own, globals_, mapped, target, fields in (
        ("status", schema.status_types, schema.global_status_types, statuses, target_statuses,
         STATUS_FIELDS),
        ("reference type", schema.reference_types, schema.global_reference_types, reference_types,
         target_references, REFERENCE_FIELDS),
    ):  # fmt: skip
        by_id = {str(item.get("id")): dict(item) for item in target}
        seen: set[str] = set()
        for item in [*own, *globals_]:
            if str(item["id"]) in seen:
                continue
            seen.add(str(item["id"]))
            scope = scope_of(item)
            if scope not in (None, old_schema_id):
                continue  # another schema's type, listed by its schema: not this restore's
            found = by_id.get(mapped.get(str(item["id"]), ""))
            where = (schema.new_key, new_schema_id)
            _compare(kind, item, found, fields, own=scope is not None, schema=where, differ=differ)
    return 4


def _compare(
    kind: str,
    item: JsonDict,
    target: JsonDict | None,
    fields: Sequence[str],
    *,
    own: bool,
    schema: tuple[str, str],
    differ: Callable[[str], None],
) -> None:
    key, schema_id = schema
    where = f"{key}: {'the schema' if own else 'global'} {kind} {item.get('name')!r}"
    if target is None:
        differ(f"{where}: not restored (no {kind} on the target is mapped to it)")
        return
    if own and scope_of(target) != schema_id:
        differ(
            f"{where} is mapped to {target.get('name')!r} (id {target.get('id')}), not a {kind} of the schema"
        )
        return
    if not own and scope_of(target) is not None:
        differ(f"{where} is mapped to a schema's own {kind} (id {target.get('id')})")
    for name in fields:
        old, new = item.get(name), target.get(name)
        if name == "name" and not own:
            same = str(old or "").casefold() == str(new or "").casefold()
        else:
            same = str(old if old is not None else "") == str(new if new is not None else "")
        if not same:
            differ(f"{where}: {name} is {new!r} on the target")

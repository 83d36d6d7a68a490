"""What the target site would refuse of a new schema, found by reading before anything is written.

A name the site already has, attribute names that clash within a type, two status or reference types of
one scope whose names differ in case only, a category the site does not know: each would stop the
structure step half-way with a 400 ("Name has to be unique"). The plan raises a
:class:`~airflow_assets.restore.request.RestoreParamError` naming the parameter instead. Names are
compared ignoring case: the sandbox does, and whether Atlassian does is unconfirmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_assets.restore.config_match import match_global, scope_of
from airflow_assets.restore.request import FORBIDDEN_NAME_CHARS, RestoreParamError
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.scope import TypeScope
from airflow_assets.restore.target import TargetSite

STATUS_CATEGORIES = (0, 1, 2)


def check_new_schema(
    schema: SchemaSource,
    name: str,
    target: TargetSite,
    scope: TypeScope,
    *,
    ours: str | None,
    names_before: Mapping[str, int],
) -> None:
    """Refuse a new schema the site would refuse: a taken or invalid name, clashing names inside it.

    :param name: the name the schema gets.
    :param ours: the id of the target schema an earlier try of this restore created (not a clash).
    :param names_before: the names (case-folded) the restore's earlier mappings give, by their index.
    """
    where = f"schema_mappings[{schema.source.index}]"
    bad = sorted(set(name) & FORBIDDEN_NAME_CHARS)
    if bad:
        raise RestoreParamError(
            f"{where}.new_name",
            f"the schema's name {name!r} has {' '.join(bad)}, which Assets refuses: give a new_name",
        )
    for existing in target.schemas.values():
        if str(existing.get("id")) != ours and str(existing.get("name") or "").casefold() == name.casefold():
            raise RestoreParamError(
                f"{where}.new_name",
                f"a schema named {existing.get('name')!r} (key {existing.get('objectSchemaKey')}) exists on "
                f"{target.site_url}: schema names are unique (case aside), choose another new_name",
            )
    if name.casefold() in names_before:
        raise RestoreParamError(
            f"{where}.new_name",
            f"schema_mappings[{names_before[name.casefold()]}] gives the name {name!r} too: choose another",
        )
    schema_id = schema.source.snapshot.schema_id
    for kind, items in (("status", schema.status_types), ("reference type", schema.reference_types)):
        own = [item for item in items if scope_of(item) == schema_id]
        _unique_names(own, f"{where}: the schema's own {kind}s", where)
    _check_categories([s for s in schema.status_types if scope_of(s) == schema_id], where)
    for type_id in scope.included.get(schema.old_key, set()):
        carried = schema.carried_attributes(type_id)
        _unique_names(carried, f"{where}: object type {schema.type_name(type_id)!r} (attributes)", where)


def check_new_globals(schemas: Sequence[SchemaSource], target: TargetSite, *, same_site: bool) -> None:
    """Refuse global status or reference types to create that the site would refuse (names, categories)."""
    for kind, items_of, target_items in (
        ("status", lambda s: s.global_status_types, target.global_status_types),
        ("reference type", lambda s: s.global_reference_types, target.global_reference_types),
    ):
        missing: dict[str, dict[str, Any]] = {}
        where = "schema_mappings"
        for schema in schemas:
            for item in items_of(schema):
                if match_global(item, target_items, same_site=same_site) is None:
                    missing.setdefault(str(item["id"]), dict(item))
        _unique_names(
            missing.values(), f"the global {kind}s this restore creates on {target.site_url}", where
        )
        if kind == "status":
            _check_categories(missing.values(), where)


def _unique_names(items: Iterable[Mapping[str, Any]], what: str, param: str) -> None:
    seen: dict[str, str] = {}
    for item in items:
        name = str(item.get("name") or "")
        if not name.strip():
            raise RestoreParamError(param, f"{what}: one (id {item.get('id')}) has no name")
        other = seen.get(name.casefold())
        if other is not None:
            raise RestoreParamError(
                param,
                f"{what}: {other!r} and {name!r} clash: the site keeps names unique, case aside "
                "(rename one on the source, back it up again and restore that snapshot)",
            )
        seen[name.casefold()] = name


def _check_categories(statuses: Iterable[Mapping[str, Any]], param: str) -> None:
    for status in statuses:
        try:
            category = int(status.get("category"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            category = -1
        if category not in STATUS_CATEGORIES:
            raise RestoreParamError(
                param,
                f"status {status.get('name')!r} has category {status.get('category')!r}; the site accepts "
                "0 (inactive), 1 (active) or 2 (pending)",
            )

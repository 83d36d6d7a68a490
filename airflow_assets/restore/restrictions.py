"""The restrictions a new schema's attributes get after the data: minimum cardinality, uniqueness, regexes.

Each could refuse objects being loaded, so the structure step leaves them off and
:func:`~airflow_assets.restore.structure.apply_restrictions` sets them once the objects are in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_assets.model.attributes import is_system
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.scope import TypeScope

# Settings that could refuse objects being loaded: applied after the data.
RESTRICTIONS = ("minimumCardinality", "uniqueAttribute", "regexValidation")


@dataclass
class Restriction:
    """A setting applied after the data: the attribute and the values to set."""

    old_attribute_id: str
    old_type_id: str
    name: str
    settings: dict[str, Any]


def restrictions_of(schemas: Sequence[SchemaSource], scope: TypeScope) -> list[Restriction]:
    """Return the restrictions of the included types' attributes that were left off at creation."""
    found = []
    for schema in schemas:
        for type_id in scope.included.get(schema.old_key, set()):
            for attribute in schema.attributes_of.get(type_id, []):
                if is_system(attribute):
                    continue
                settings = {
                    "minimumCardinality": int(attribute.get("minimumCardinality") or 0),
                    "uniqueAttribute": bool(attribute.get("uniqueAttribute")),
                    "regexValidation": attribute.get("regexValidation") or "",
                }
                if (
                    settings["minimumCardinality"]
                    or settings["uniqueAttribute"]
                    or settings["regexValidation"]
                ):
                    where = f"{schema.new_key}/{schema.type_name(type_id)}.{attribute.get('name')}"
                    found.append(Restriction(attribute["id"], type_id, where, settings))
    return found

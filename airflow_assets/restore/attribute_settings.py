"""The settings of an attribute definition a restore writes, read alike from a snapshot and from the site.

Creating an attribute (:class:`~airflow_assets.restore.structure.StructureBuilder`) and putting a live
one's configuration back (:mod:`~airflow_assets.restore.config_revert`) send the same settings; reading
them through one function keeps "what the snapshot holds" and "what the site holds" comparable (a
missing description and an empty one are the same setting).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

JsonDict = dict[str, Any]

# The settings every kind of attribute has, in the order a create body lists them.
SETTINGS = (
    "description",
    "minimumCardinality",
    "maximumCardinality",
    "uniqueAttribute",
    "regexValidation",
    "suffix",
    "hidden",
    "summable",
    "includeChildObjectTypes",
    "qlQuery",
    "options",
)


def attribute_settings(attribute: Mapping[str, Any]) -> JsonDict:
    """Return the settings of an attribute definition as a create or update body writes them.

    :param attribute: an attribute definition, as stored in a snapshot or listed by the site.
    """
    return {
        "description": attribute.get("description") or "",
        "minimumCardinality": int(attribute.get("minimumCardinality") or 0),
        "maximumCardinality": int(attribute.get("maximumCardinality") or 1),
        "uniqueAttribute": bool(attribute.get("uniqueAttribute")),
        "regexValidation": attribute.get("regexValidation") or "",
        "suffix": attribute.get("suffix") or "",
        "hidden": bool(attribute.get("hidden")),
        "summable": bool(attribute.get("summable")),
        "includeChildObjectTypes": bool(attribute.get("includeChildObjectTypes")),
        "qlQuery": attribute.get("qlQuery") or "",
        "options": attribute.get("options") or "",
    }


def mapped_statuses(attribute: Mapping[str, Any], status_id: Callable[[str], str | None]) -> list[str]:
    """Return the status types a status attribute allows, as ids of the target (unmapped ones left out).

    :param status_id: the target id of a snapshot status type id, or None when it has none.
    """
    statuses = []
    for status in attribute.get("typeValueMulti") or []:
        mapped = status_id(str(status))
        if mapped is not None:
            statuses.append(mapped)
    return statuses

"""Attribute definitions as the Assets API gives them: kinds, value types, the attributes a new type gets.

An attribute definition's ``type`` is its kind (``0`` a plain value, ``1`` a reference to objects...); a plain
attribute's ``defaultType.id`` says which value (text, date...). A new object type that does not inherit its
parent's attributes gets Key, Name (its label), Created and Updated; the server owns the values of Key,
Created and Updated (``system``), and ignores any sent for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The kinds of attribute (``type`` of a definition).
ATTR_DEFAULT = 0
ATTR_REFERENCE = 1
ATTR_USER = 2
ATTR_CONFLUENCE = 3
ATTR_GROUP = 4
ATTR_VERSION = 5
ATTR_PROJECT = 6
ATTR_STATUS = 7

# The value types of plain (``ATTR_DEFAULT``) attributes (``defaultType.id``, ``defaultTypeId`` in a create).
DEFAULT_NONE = -1
DEFAULT_TEXT = 0
DEFAULT_INTEGER = 1
DEFAULT_BOOLEAN = 2
DEFAULT_DOUBLE = 3
DEFAULT_DATE = 4
DEFAULT_TIME = 5
DEFAULT_DATETIME = 6
DEFAULT_URL = 7
DEFAULT_EMAIL = 8
DEFAULT_TEXTAREA = 9
DEFAULT_SELECT = 10
DEFAULT_IP_ADDRESS = 11

# What ``objecttype/create`` gives a type that does not inherit its parent's attributes, in position order.
NEW_TYPE_ATTRIBUTES = ("Key", "Name", "Created", "Updated")
# Of those, the label: a restore turns it into the snapshot's label attribute.
AUTO_LABEL = "Name"


def attribute_kind(attribute: Mapping[str, Any]) -> int:
    """Return an attribute's kind (``ATTR_DEFAULT``...; -1 when its ``type`` is not a number)."""
    try:
        return int(attribute.get("type", ATTR_DEFAULT))
    except (TypeError, ValueError):
        return -1


def default_type_id(attribute: Mapping[str, Any]) -> int | None:
    """Return the value type of a plain attribute (``DEFAULT_DATE``...), or None when it names none."""
    default = attribute.get("defaultType")
    if not isinstance(default, Mapping):
        return None
    try:
        return int(default["id"])
    except (KeyError, TypeError, ValueError):
        return None


def is_system(attribute: Mapping[str, Any]) -> bool:
    """Tell whether the server owns the attribute's values (Key, Created, Updated)."""
    return bool(attribute.get("system")) or attribute.get("editable") is False


def referenced_type(attribute: Mapping[str, Any]) -> str | None:
    """Return the object type id a reference attribute points to (None for other kinds)."""
    if attribute_kind(attribute) != ATTR_REFERENCE:
        return None
    value = attribute.get("referenceObjectTypeId") or attribute.get("typeValue")
    return str(value) if value not in (None, "") else None


def reference_type_id(attribute: Mapping[str, Any]) -> str | None:
    """Return the reference type id of a reference attribute."""
    reference = attribute.get("referenceType")
    if isinstance(reference, Mapping) and reference.get("id") is not None:
        return str(reference["id"])
    value = attribute.get("additionalValue")
    return str(value) if value not in (None, "") else None

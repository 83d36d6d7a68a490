"""Decide which history entry a change of attribute values produces, with Atlassian's type codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_assets.sandbox.records import (
    ATTR_GROUP,
    ATTR_REFERENCE,
    ATTR_USER,
    HISTORY_GROUP,
    HISTORY_REFERENCE,
    HISTORY_USER,
    HISTORY_VALUE,
    AttributeRecord,
)
from airflow_assets.sandbox.render import display_value

if TYPE_CHECKING:
    from airflow_assets.sandbox.model import Site


def type_codes(attribute: AttributeRecord) -> tuple[int, int, int]:
    """Return the (added, changed, deleted) history codes for values of ``attribute``."""
    if attribute.kind == ATTR_REFERENCE:
        return HISTORY_REFERENCE
    if attribute.kind == ATTR_USER:
        return HISTORY_USER
    if attribute.kind == ATTR_GROUP:
        return HISTORY_GROUP
    return HISTORY_VALUE


def joined_display(site: Site, attribute: AttributeRecord, values: tuple[Any, ...]) -> str | None:
    """Render values as one display string (multi-values joined), None when there are none."""
    if not values:
        return None
    return ", ".join(display_value(site, attribute, value) for value in values)


def change_entry(
    site: Site, attribute: AttributeRecord, old: tuple[Any, ...], new: tuple[Any, ...]
) -> tuple[int, str | None, str | None] | None:
    """Return ``(type, oldValue, newValue)`` for a change of values, or None when nothing changed."""
    if old == new:
        return None
    added, changed, deleted = type_codes(attribute)
    old_text = joined_display(site, attribute, old)
    new_text = joined_display(site, attribute, new)
    if not old:
        return added, None, new_text
    if not new:
        return deleted, old_text, None
    return changed, old_text, new_text

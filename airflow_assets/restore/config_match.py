"""Find a snapshot's status and reference types on the target: a schema's own stay its own.

A schema may have its own "In service" beside the site's global "In Service": two different types. A
type of the schema is looked for only among the restored schema's own types; a global type by id on the
site it came from, else by its exact name. A global that matches only when case is ignored is mapped
(the site refuses a second name differing only in case) but never silently: :func:`match_global` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

BY_ID, BY_NAME, BY_CASE = "id", "name", "case"


@dataclass(frozen=True)
class GlobalMatch:
    """A target global type a snapshot's global type maps to, and how it was found."""

    target: Mapping[str, Any]
    how: str

    @property
    def target_id(self) -> str:
        """Return the target type's id."""
        return str(self.target.get("id"))


def scope_of(item: Mapping[str, Any]) -> str | None:
    """Return the schema id a status or reference type belongs to (None: global)."""
    schema_id = item.get("objectSchemaId")
    return str(schema_id) if schema_id not in (None, "") else None


def match_own(
    item: Mapping[str, Any], candidates: Iterable[Mapping[str, Any]], schema_id: str, *, by_id: bool
) -> Mapping[str, Any] | None:
    """Return the type of schema ``schema_id`` that ``item`` is: by id when ``by_id``, else by exact name.

    Globals among ``candidates`` (a schema's status list shows them too) are never returned.
    """
    own = [candidate for candidate in candidates if scope_of(candidate) == schema_id]
    if by_id:
        for candidate in own:
            if str(candidate.get("id")) == str(item.get("id")):
                return candidate
    for candidate in own:
        if candidate.get("name") == item.get("name"):
            return candidate
    return None


def match_global(
    item: Mapping[str, Any], target_globals: Iterable[Mapping[str, Any]], *, same_site: bool
) -> GlobalMatch | None:
    """Return the target's global type that the snapshot's global ``item`` is (None: it must be created)."""
    globals_ = [candidate for candidate in target_globals if scope_of(candidate) is None]
    if same_site:
        for candidate in globals_:
            if str(candidate.get("id")) == str(item.get("id")):
                return GlobalMatch(candidate, BY_ID)
    name = str(item.get("name") or "")
    for candidate in globals_:
        if candidate.get("name") == name:
            return GlobalMatch(candidate, BY_NAME)
    for candidate in globals_:
        if str(candidate.get("name") or "").casefold() == name.casefold():
            return GlobalMatch(candidate, BY_CASE)
    return None

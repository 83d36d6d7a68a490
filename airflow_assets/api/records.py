"""Small typed records the client returns where a plain dict would hide the shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_assets.api.paging import is_last_page


@dataclass(frozen=True)
class AqlPage:
    """One page of an AQL search.

    :param start_at: index of the first value of this page in the whole result.
    :param max_results: page size the server used (it may cap what was asked).
    :param is_last: the server said this is the last page.
    :param values: the objects of this page (attributes carry only ``objectTypeAttributeId``).
    :param object_type_attributes: the attribute definitions the page's values refer to.
    """

    start_at: int
    max_results: int
    is_last: bool
    values: Sequence[Mapping[str, Any]]
    object_type_attributes: Sequence[Mapping[str, Any]]

    @classmethod
    def from_json(cls, page: Mapping[str, Any], *, start_at: int) -> AqlPage:
        """Build a page from the JSON answer of ``POST object/aql`` requested at ``start_at``."""
        values = page.get("values") or []
        return cls(
            start_at=start_at,
            max_results=_int(page.get("maxResults"), default=len(values)),
            is_last=is_last_page(page),
            values=values,
            object_type_attributes=page.get("objectTypeAttributes") or [],
        )


def _int(value: Any, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default

"""Render where a problem is in the configuration: ``sites.prod.schemas[2].key``."""

from __future__ import annotations

from collections.abc import Iterable

from airflow_assets.config.fields import SITE_NAME_PATTERN
from airflow_assets.messages import cut, shown

ROOT_PATH = "(top level)"


def format_path(loc: Iterable[str | int]) -> str:
    """Render a location as ``sites.prod.schemas[2].key`` (indexes in brackets, odd names quoted)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif SITE_NAME_PATTERN.match(part):
            text += f".{cut(part)}" if text else cut(part)
        else:
            text += f"[{shown(part)}]"
    return text or ROOT_PATH

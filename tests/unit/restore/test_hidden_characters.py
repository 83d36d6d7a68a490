"""Names with bidirectional overrides or zero-width characters are warned of in the restore plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_assets.restore.hidden_characters import hidden_characters, warn_hidden_characters


@dataclass
class _Schema:
    old_key: str
    name: str
    object_types: list[dict[str, Any]] = field(default_factory=list)


@pytest.mark.parametrize(
    "char", ["\u202a", "\u202e", "\u2066", "\u2069", "\u200b", "\u200f", "\ufeff", "\u2060"]
)
def test_each_hidden_character_is_found_and_named(char: str) -> None:
    (found,) = hidden_characters(f"Lap{char}tops")

    assert found.startswith(f"U+{ord(char):04X} ")


def test_ordinary_names_have_none() -> None:
    assert hidden_characters("Laptops (restored) — Zürich, 東京") == []


def test_schema_and_object_type_names_with_hidden_characters_are_warned_of() -> None:
    warnings: list[tuple[str, str]] = []
    schemas = [
        _Schema("ITAM", "IT assets\u202e2moc", [{"name": "Server"}, {"name": "Lap\u200btop"}]),
        _Schema("LOC", "Locations", [{"name": "Office"}]),
    ]

    warn_hidden_characters(schemas, lambda kind, text: warnings.append((kind, text)))

    assert [kind for kind, _ in warnings] == ["hidden characters", "hidden characters"]
    assert warnings[0][1].startswith(
        "ITAM: the schema name 'IT assets\\u202e2moc' holds U+202E RIGHT-TO-LEFT"
    )
    assert warnings[1][1].startswith(
        "ITAM: the object type name 'Lap\\u200btop' holds U+200B ZERO WIDTH SPACE"
    )
    assert "\u202e" not in warnings[0][1]

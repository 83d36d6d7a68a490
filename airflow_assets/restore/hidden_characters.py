"""Find characters that change how a name reads without showing: bidirectional overrides, zero-width marks.

A schema named ``Laptops\\u202eCBA`` displays as something else than it is (Trojan Source, CVE-2021-42574);
a zero-width space makes two names look equal. The restore does not refuse them (the snapshot may hold
them legitimately) but its plan warns, so whoever reviews the dry run sees them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from airflow_assets.messages import cut

HIDDEN_CHARACTERS = frozenset(
    [chr(code) for code in range(0x202A, 0x202F)]  # LRE, RLE, PDF, LRO, RLO
    + [chr(code) for code in range(0x2066, 0x206A)]  # LRI, RLI, FSI, PDI
    + [chr(code) for code in range(0x200B, 0x2010)]  # zero-width space, non-joiner, joiner; LRM, RLM
    + ["\u2060", "\ufeff"]  # word joiner, zero-width no-break space (BOM)
)
WARNING_KIND = "hidden characters"


class _PlannedSchema(Protocol):
    old_key: str
    name: str
    object_types: list[dict[str, Any]]


def hidden_characters(text: str) -> list[str]:
    """Return the hidden characters of ``text``, each as ``U+202E RIGHT-TO-LEFT OVERRIDE``, in order."""
    found = dict.fromkeys(char for char in text if char in HIDDEN_CHARACTERS)
    return [f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}" for char in found]


def warn_hidden_characters(schemas: Iterable[_PlannedSchema], warn: Callable[[str, str], None]) -> None:
    """Warn (``warn(kind, text)``) of every schema or object type name of the plan with hidden characters.

    :param schemas: the plan's schemas (their ``name`` and the ``name`` of each of their object types).
    :param warn: the plan's warning collector.
    """
    for schema in schemas:
        names: list[tuple[str, Any]] = [("schema name", schema.name)]
        names += [("object type name", t.get("name")) for t in schema.object_types if isinstance(t, Mapping)]
        for what, name in names:
            found = hidden_characters(str(name or ""))
            if found:
                warn(
                    WARNING_KIND,
                    f"{schema.old_key}: the {what} {cut(ascii(name))} holds {', '.join(found)}: invisible "
                    "characters that change how it reads; check it is the name intended",
                )

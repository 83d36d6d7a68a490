"""Read the restore form's schema mappings: one mapping per line, or the JSON list of objects.

A line is ``OLD -> NEW "New name"``: the key in the snapshot, the key to restore under, and an optional
quoted name (``OLD`` alone in ``recreate_missing``). Text that starts with ``[`` or ``{`` is read as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_assets.messages import shown

PARAM = "schema_mappings"
# Keys never hold "-", ">", "=" or quotes, so the arrow and the quoted name need no escaping.
LINE = re.compile(r'^(?P<old>[^\s"=>-]+)\s*(?:(?:->|→|=>)\s*(?P<new>[^\s"]*))?\s*(?:"(?P<name>.*)")?\s*$')
EXAMPLE = 'LOC -> LOC2 "Locations copy"'


@dataclass(frozen=True)
class MappingEntry:
    """One mapping as written, before its keys are checked.

    :param where: the parameter as messages name it (``schema_mappings line 2``, ``schema_mappings[1]``).
    :param value: a mapping of ``old_key``, ``new_key``, ``new_name``; or the text of a line.
    """

    where: str
    value: Any

    @property
    def line(self) -> str | None:
        """Return the line's text when the entry was written as a line."""
        return self.value if isinstance(self.value, str) else None


class MappingTextError(ValueError):
    """The schema mappings cannot be read; ``where`` names the parameter or line."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


def mapping_entries(raw: Any) -> list[MappingEntry]:
    """Return the entries of the ``schema_mappings`` parameter: text lines, strings or JSON objects.

    :raises MappingTextError: text that looks like JSON but is not, or a value of another type.
    """
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith(("[", "{")):
            try:
                decoded = json.loads(text)
            except json.JSONDecodeError as error:
                raise MappingTextError(
                    PARAM,
                    f"looks like JSON but is not valid JSON ({error.msg} at line {error.lineno}, column "
                    f"{error.colno}); or write one mapping per line, e.g. {EXAMPLE}",
                ) from None
            return mapping_entries([decoded] if isinstance(decoded, Mapping) else decoded)
        return [
            MappingEntry(f"{PARAM} line {number}", line.strip())
            for number, line in enumerate(raw.splitlines(), start=1)
            if line.strip() and not line.strip().startswith("#")
        ]
    if isinstance(raw, Sequence) and not isinstance(raw, bytes):
        return [MappingEntry(f"{PARAM}[{index}]", entry) for index, entry in enumerate(raw)]
    raise MappingTextError(
        PARAM,
        f"write one mapping per line, e.g. {EXAMPLE} (or a JSON list of {{old_key, new_key, new_name}})",
    )


def read_line(line: str, where: str) -> dict[str, str | None]:
    """Turn ``OLD -> NEW "New name"`` into its fields (unchecked).

    :raises MappingTextError: the line does not have that shape.
    """
    match = LINE.match(line.strip())
    if match is None:
        raise MappingTextError(
            where,
            f"cannot read {shown(line)}: write old key -> new key and, optionally, a quoted new name, "
            f"e.g. {EXAMPLE}",
        )
    return {"old_key": match["old"], "new_key": match["new"] or None, "new_name": match["name"]}

"""Order Assets ids as numbers: ``"9"`` before ``"10"`` (ids are decimal strings; any other sorts last)."""

from __future__ import annotations


def id_order(identifier: object) -> tuple[int, str]:
    """Return a sort key that orders decimal ids by value and puts anything else after them."""
    text = str(identifier)
    return (int(text), "") if text.isdigit() else (1 << 62, text)

"""Quote values in error messages and warnings without pasting a megabyte of input into a task log."""

from __future__ import annotations

# Long enough to recognise a name or a URL, short enough to keep one problem on one line.
ECHO_LIMIT = 80


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """Return ``text`` as is, or its first ``limit`` characters and how long it was.

    :param text: the text to show.
    :param limit: the most characters shown.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} chars)"


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """Return ``repr(value)`` for a message, cut to ``limit`` characters of the value.

    A long string is cut before it is quoted, so the quotes still show where the value ends.

    :param value: the value to show (usually what a user wrote).
    :param limit: the most characters of the value shown.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value)} chars)"
    return cut(repr(value), limit)

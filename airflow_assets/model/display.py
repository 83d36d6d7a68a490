"""Jira's display forms of values: rendered for an export, read back from object history.

The UI and history show every value as text: a date as ``31/Jan/24``, a date-time as ``31/Jan/24 10:05 AM``
(without seconds), several values joined by ``", "``. Rendering gives that form (in UTC, month names in
English whatever the locale); parsing is liberal (ISO forms and the common Jira display forms are accepted)
and says when a value cannot be read back exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from airflow_assets.model.attributes import (
    DEFAULT_BOOLEAN,
    DEFAULT_DATE,
    DEFAULT_DATETIME,
    DEFAULT_DOUBLE,
    DEFAULT_INTEGER,
)

SEPARATOR = ", "
# Not locale-dependent like %b.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_DATE_FORMATS = ("%Y-%m-%d", "%d/%b/%y", "%d/%b/%Y", "%d.%m.%Y", "%b %d, %Y", "%d %b %Y")
_DATETIME_FORMATS = (
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%y %H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%d.%m.%Y %H:%M",
)


class UnreadableValue(ValueError):
    """A display string that cannot be read back into a stored value (the message says why)."""


@dataclass(frozen=True)
class Parsed:
    """A value read back from display text.

    :param value: the stored ``value`` string, as the API sends it for that attribute type.
    :param inexact: why the display text may not carry the whole value ("" when it does).
    """

    value: str
    inexact: str = ""


def display_date(text: str) -> str:
    """Render an ISO date (``2025-01-06``) as Jira displays it (``06/Jan/25``); other text unchanged."""
    try:
        day = date.fromisoformat(text.strip()[:10])
    except ValueError:
        return text
    return f"{day.day:02d}/{_MONTHS[day.month - 1]}/{day.year % 100:02d}"


def display_datetime(text: str) -> str:
    """Render an ISO date-time (``2025-01-06T08:25:00.000Z``) as Jira displays it (``06/Jan/25 8:25 AM``)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return text
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{display_date(moment.date().isoformat())} {hour}:{moment.minute:02d} {half}"


def display_plain(text: str, default_type: int | None) -> str:
    """Render the stored value of a plain attribute of ``default_type`` as Jira displays it."""
    if text and default_type == DEFAULT_DATE:
        return display_date(text)
    if text and default_type == DEFAULT_DATETIME:
        return display_datetime(text)
    return text


def parse_plain(text: str, default_type: int | None) -> Parsed:
    """Return the stored value of one plain value shown as ``text``.

    :raises UnreadableValue: the text is not a value of that type.
    """
    text = text.strip()
    if default_type == DEFAULT_INTEGER:
        number = _number(text)
        if number != int(number):
            raise UnreadableValue(f"{text!r} is not a whole number")
        return Parsed(str(int(number)))
    if default_type == DEFAULT_DOUBLE:
        return Parsed(str(_number(text)))
    if default_type == DEFAULT_BOOLEAN:
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return Parsed("true")
        if lowered in ("false", "no", "0"):
            return Parsed("false")
        raise UnreadableValue(f"{text!r} is not a boolean")
    if default_type == DEFAULT_DATE:
        return Parsed(_date(text).isoformat())
    if default_type == DEFAULT_DATETIME:
        return _datetime(text)
    return Parsed(text)


def split_values(text: str | None, *, multiple: bool) -> list[str]:
    """Split the display text of an attribute's values (joined by ``", "`` when several)."""
    if text is None or text == "":
        return []
    if not multiple:
        return [text]
    return [part for part in text.split(SEPARATOR) if part != ""]


def _number(text: str) -> float:
    cleaned = text.replace("\u00a0", "").replace(" ", "")
    try:
        return float(cleaned)
    except ValueError:
        raise UnreadableValue(f"{text!r} is not a number") from None


def _date(text: str) -> date:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise UnreadableValue(f"{text!r} is not a date in a known display form") from None


def _datetime(text: str) -> Parsed:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return Parsed(iso_ms(moment))
    for pattern in _DATETIME_FORMATS:
        try:
            moment = datetime.strptime(_upper_meridiem(text), pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
        inexact = "" if "%S" in pattern else "the display form of a date-time has no seconds"
        return Parsed(iso_ms(moment), inexact)
    raise UnreadableValue(f"{text!r} is not a date-time in a known display form")


def _upper_meridiem(text: str) -> str:
    return re.sub(r"\b(am|pm)\b", lambda match: match.group(1).upper(), text.strip())


def iso_ms(moment: datetime) -> str:
    """Render a moment as the API does: ISO 8601 UTC with milliseconds and ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_moment(text: str | None) -> datetime | None:
    """Return an API timestamp (``created``, ``updated``) as an aware UTC datetime, or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

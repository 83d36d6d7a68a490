"""Interpret AQL literals as numbers, booleans, dates and times; evaluate date functions (``now(-2h)``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from airflow_assets.sandbox.aql_lexer import AqlError

# re.ASCII throughout: \d must not accept "²" or full-width digits.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)
_DATETIME = re.compile(
    r"(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,6}))?)?)?"
    r"\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE | re.ASCII,
)
_TIME = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?", re.ASCII)
_DURATION_PART = re.compile(r"([+-]?)(\d+)([yMwdhms]?)", re.ASCII)
# The widest zone offset ISO 8601 and java.time allow.
_MAX_ZONE_OFFSET = timedelta(hours=18)
_TINY = timedelta(microseconds=1)
_LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Instant:
    """A moment written at some precision: ``start`` is the instant, ``end`` the end of its precision window.

    ``"2024-01-31"`` is the whole day; ``"2024-01-31 10:00"`` that minute; a function result a single instant.
    """

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Value:
    """A literal of the query with every interpretation it supports, computed once at compile time."""

    text: str
    folded: str
    number: float | None
    boolean: bool | None
    instant: Instant | None
    time_of_day: time | None


def to_utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime; naive ones are taken to be UTC (the sandbox's zone)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def date_start(day: date) -> datetime:
    """Return midnight UTC of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def literal_value(text: str) -> Value:
    """Interpret a literal written in the query."""
    number = float(text) if _NUMBER.fullmatch(text) else None
    lowered = text.casefold()
    boolean = True if lowered == "true" else False if lowered == "false" else None
    time_match = _TIME.fullmatch(text)
    time_of_day = None
    if time_match:
        try:
            time_of_day = time(
                int(time_match["hour"]), int(time_match["minute"]), int(time_match["second"] or 0)
            )
        except ValueError:
            time_of_day = None
    return Value(text, text.casefold(), number, boolean, parse_instant(text), time_of_day)


def instant_value(moment: datetime) -> Value:
    """Wrap the result of a date function as a value."""
    text = moment.isoformat()
    return Value(text, text.casefold(), None, None, Instant(moment, _window_end(moment, _TINY)), None)


def parse_instant(text: str) -> Instant | None:
    """Parse an ISO-like date or date-time: ``2024-01-31``, ``2024-01-31 10:00``, ``...T10:00:00.000Z``.

    Return None for text that is not such a date or names one out of range (``2024-02-30``, a zone beyond
    +-18:00, a moment before year 1 or after 9999 in UTC): date fields then refuse it with a 400.
    """
    match = _DATETIME.fullmatch(text.strip())
    if not match:
        return None
    try:
        fraction = match["fraction"]
        start = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return None
    zone = match["zone"]
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if int(digits[2:]) > 59 or offset > _MAX_ZONE_OFFSET:
            return None
        try:
            start = (start - sign * offset).replace(tzinfo=UTC)
        except OverflowError:
            return None
    else:
        start = start.replace(tzinfo=UTC)
    if match["hour"] is None:
        width = timedelta(days=1)
    elif match["second"] is None:
        width = timedelta(minutes=1)
    elif fraction is None:
        width = timedelta(seconds=1)
    else:
        width = timedelta(microseconds=10 ** (6 - len(fraction)))
    return Instant(start, _window_end(start, width))


def _window_end(start: datetime, width: timedelta) -> datetime:
    # The last day of year 9999 is a valid date whose window cannot end on the next day: end it at the last
    # representable instant instead.
    try:
        return start + width
    except OverflowError:
        return _LAST_INSTANT


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    # Clamp the day (31 Jan + 1 month = 28/29 Feb), as calendars do.
    next_month = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=moment.tzinfo)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _apply_offset(moment: datetime, offset: str, default_unit: str, function: str) -> datetime:
    """Shift ``moment`` by ``offset`` such as ``-2h 15m`` (a sign applies to the parts that follow it)."""
    text = offset.strip().strip("\"'")
    if not text:
        return moment
    sign = 1
    position = 0
    compact = text.replace(" ", "")
    if not compact:
        return moment
    for match in _DURATION_PART.finditer(compact):
        if match.start() != position:
            break
        position = match.end()
        if match[1]:
            sign = -1 if match[1] == "-" else 1
        unit = match[3] or default_unit
        try:
            amount = sign * int(match[2])
            if unit == "y":
                moment = _add_months(moment, 12 * amount)
            elif unit == "M":
                moment = _add_months(moment, amount)
            else:
                seconds = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
                moment += timedelta(seconds=amount * seconds)
        except (OverflowError, ValueError):
            raise _out_of_range(function, offset) from None
    if position != len(compact):
        raise AqlError(
            f"AQL: invalid time offset '{offset}' in {function}(): "
            "use e.g. -2h 15m, +1d, -1w (units y M w d h m s)"
        )
    return moment


def evaluate_date_function(name: str, arguments: list[str], now: datetime) -> datetime:
    """Evaluate ``now()``, ``startOfDay()``, ``endOfMonth(-1)`` etc. at ``now`` (weeks start on Monday)."""
    lowered = name.casefold()
    if len(arguments) > 1:
        raise AqlError(f"AQL: {name}() takes at most one argument")
    offset = arguments[0] if arguments else ""
    now = to_utc(now)
    if lowered == "now":
        return _apply_offset(now, offset, "m", name)
    period = lowered.removeprefix("startof").removeprefix("endof")
    unit = {"day": "d", "week": "w", "month": "M", "year": "y"}[period]
    moment = _apply_offset(now, offset, unit, name)
    day = date_start(moment.date())
    if period == "day":
        start = day
    elif period == "week":
        start = day - timedelta(days=day.weekday())  # 1 January of year 1 was a Monday: never before it
    elif period == "month":
        start = day.replace(day=1)
    else:
        start = day.replace(month=1, day=1)
    if lowered.startswith("start"):
        return start
    try:
        if period == "day":
            end = start + timedelta(days=1)
        elif period == "week":
            end = start + timedelta(weeks=1)
        elif period == "month":
            end = _add_months(start, 1)
        else:
            end = start.replace(year=start.year + 1)
    except (OverflowError, ValueError):
        # The period after the last one of year 9999 does not exist: this one ends at the last instant.
        return _LAST_INSTANT
    return end - _TINY


def _out_of_range(function: str, offset: str) -> AqlError:
    return AqlError(f"AQL: {function}({offset}) falls outside the supported dates (years 1 to 9999)")

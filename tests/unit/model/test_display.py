"""History display strings read back into stored values, liberally, saying when precision was lost."""

from __future__ import annotations

import pytest

from airflow_assets.model.attributes import DEFAULT_BOOLEAN as BOOLEAN
from airflow_assets.model.attributes import DEFAULT_DATE as DATE
from airflow_assets.model.attributes import DEFAULT_DATETIME as DATETIME
from airflow_assets.model.attributes import DEFAULT_DOUBLE as DOUBLE
from airflow_assets.model.attributes import DEFAULT_INTEGER as INTEGER
from airflow_assets.model.attributes import DEFAULT_TEXT as TEXT
from airflow_assets.model.display import (
    Parsed,
    UnreadableValue,
    display_date,
    display_datetime,
    display_plain,
    parse_plain,
    split_values,
)


@pytest.mark.parametrize(
    ("text", "default_type", "expected"),
    [
        ("hello, world", TEXT, Parsed("hello, world")),
        ("42", INTEGER, Parsed("42")),
        ("42.0", INTEGER, Parsed("42")),
        ("2.25", DOUBLE, Parsed("2.25")),
        ("True", BOOLEAN, Parsed("true")),
        ("false", BOOLEAN, Parsed("false")),
        ("31/Jan/26", DATE, Parsed("2026-01-31")),
        ("2026-01-31", DATE, Parsed("2026-01-31")),
        ("2026-01-31T10:05:07.000Z", DATETIME, Parsed("2026-01-31T10:05:07.000Z")),
        ("2026-01-31 10:05:07", DATETIME, Parsed("2026-01-31T10:05:07.000Z")),
    ],
)
def test_display_forms_read_back_exactly(text: str, default_type: int, expected: Parsed) -> None:
    assert parse_plain(text, default_type) == expected


@pytest.mark.parametrize("text", ["31/Jan/26 10:05 AM", "31/Jan/26 10:05 am", "31/Jan/2026 10:05 AM"])
def test_a_displayed_date_time_reads_back_to_the_minute_and_says_so(text: str) -> None:
    parsed = parse_plain(text, DATETIME)
    assert parsed.value == "2026-01-31T10:05:00.000Z"
    assert "no seconds" in parsed.inexact


def test_the_afternoon_is_read_as_such() -> None:
    assert parse_plain("01/Mar/26 8:00 PM", DATETIME).value == "2026-03-01T20:00:00.000Z"


@pytest.mark.parametrize(
    ("text", "default_type"),
    [("many", INTEGER), ("4.5", INTEGER), ("maybe", BOOLEAN), ("31 Feb", DATE), ("yesterday", DATETIME)],
)
def test_a_value_that_is_not_of_its_type_is_refused_with_the_text(text: str, default_type: int) -> None:
    with pytest.raises(UnreadableValue, match=repr(text)):
        parse_plain(text, default_type)


def test_several_values_split_on_the_separator_only_when_the_attribute_holds_several() -> None:
    assert split_values("red, green", multiple=True) == ["red", "green"]
    assert split_values("red, green", multiple=False) == ["red, green"]
    assert split_values(None, multiple=True) == []
    assert split_values("", multiple=False) == []


def test_dates_and_date_times_render_as_jira_displays_them_in_utc() -> None:
    assert display_date("2025-01-06") == "06/Jan/25"
    assert display_datetime("2025-01-06T08:25:00.000Z") == "06/Jan/25 8:25 AM"
    assert display_datetime("2025-01-06T23:05:00+02:00") == "06/Jan/25 9:05 PM"
    assert display_datetime("2025-01-06T00:00:00Z") == "06/Jan/25 12:00 AM"
    assert display_date("not a date") == "not a date"
    assert display_plain("2025-01-06", DATE) == "06/Jan/25"
    assert display_plain("2025-01-06T12:30:00.000Z", DATETIME) == "06/Jan/25 12:30 PM"
    assert display_plain("2025-01-06", TEXT) == "2025-01-06"
    assert display_plain("", DATE) == ""


def test_a_rendered_date_reads_back_to_its_value() -> None:
    assert parse_plain(display_date("2024-01-31"), DATE) == Parsed("2024-01-31")
    moment = "2024-01-31T10:05:00.000Z"
    assert parse_plain(display_datetime(moment), DATETIME).value == moment

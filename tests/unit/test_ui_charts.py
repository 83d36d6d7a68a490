"""The page's charts: axes with round ticks and units, reconstructed snapshots marked, data of any spread."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from airflow_assets.ui.charts import Point, bar_chart, line_chart, nice_ticks


def test_ticks_are_round_and_cover_the_highest_value() -> None:
    assert nice_ticks(34) == [0, 10, 20, 30, 40]
    assert nice_ticks(100_000)[-1] >= 100_000 and nice_ticks(0) == [0.0, 1.0]


def test_a_line_chart_over_three_years_marks_reconstructed_points_and_labels_its_axes() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    points = [Point(start + timedelta(days=day), 1000 + day, marked=day % 100 == 0) for day in range(1000)]
    svg = line_chart(points, title="LOC: objects per snapshot", y_unit="objects")
    assert svg.count('class="ja-dot-marked"') == 10 + 1  # ten points and the legend's
    assert ">objects<" in svg and "time (UTC)" in svg and ">2024-01-01<" in svg
    # Every drawn point stays inside the plot.
    for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg):
        assert 0 <= float(x) <= 560 and 0 <= float(y) <= 180


def test_points_seconds_apart_get_distinct_time_labels_and_no_data_says_so() -> None:
    now = datetime(2026, 12, 7, 9, 2, tzinfo=UTC)
    svg = line_chart([Point(now, 34), Point(now + timedelta(seconds=40), 35)], title="t", y_unit="objects")
    labels = re.findall(r">(\d\d:\d\d:\d\d)<", svg)
    assert len(set(labels)) == len(labels) > 1
    assert "no data yet" in line_chart([], title="t", y_unit="objects")
    assert "no data yet" in bar_chart([], title="t", y_unit="changes")


def test_a_bar_chart_draws_one_bar_per_day_with_its_count() -> None:
    days = [(datetime(2026, 12, day, tzinfo=UTC), day * 3) for day in range(1, 8)]
    svg = bar_chart(days, title="changes per day", y_unit="changes")
    assert svg.count("<rect") == 7 and "2026-12-07: 21 changes" in svg and "day (UTC)" in svg

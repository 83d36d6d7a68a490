"""Values quoted in messages are cut, so a huge input cannot flood a task log."""

from __future__ import annotations

from airflow_assets.messages import ECHO_LIMIT, cut, shown


def test_short_values_are_shown_whole() -> None:
    assert shown("Server") == "'Server'"
    assert shown(42) == "42"
    assert cut("Server") == "Server"
    assert shown("x" * ECHO_LIMIT) == repr("x" * ECHO_LIMIT)


def test_long_values_are_cut_and_say_how_long_they_were() -> None:
    huge = "y" * 1_000_000

    assert shown(huge) == repr("y" * ECHO_LIMIT) + "… (1000000 chars)"
    assert cut(huge) == "y" * ECHO_LIMIT + "… (1000000 chars)"
    assert shown(["z" * 200]).endswith("… (204 chars)")
    assert len(shown(["z" * 200])) < ECHO_LIMIT + 20

"""Restored comments name their author and time; history becomes one readable comment."""

from __future__ import annotations

from airflow_assets.restore.comments import HISTORY_COMMENT_LIMIT, comment_text, history_marker, history_text


def test_a_restored_comment_names_its_author_time_and_origin() -> None:
    comment = {"id": "77", "comment": "Rebooted.", "created": "2025-01-06T08:15:00.000Z",
               "actor": {"displayName": "Ada Lovelace", "accountId": "5b10aaa"}}  # fmt: skip

    text = comment_text(comment, "ITAM-12")

    assert text == (
        "[Restored comment · originally by Ada Lovelace on 2025-01-06 08:15 UTC · ITAM-12 #77]\n\nRebooted."
    )


def test_history_is_one_comment_oldest_first_with_old_and_new_values() -> None:
    entries = [
        {"id": "2", "type": 2, "created": "2025-01-07T09:00:00Z", "actor": {"displayName": "Grace Hopper"},
         "affectedAttribute": "Status", "oldValue": "Active", "newValue": "Closed"},
        {"id": "1", "type": 0, "created": "2025-01-06T08:00:00Z", "actor": {"displayName": "Ada Lovelace"}},
        {"id": "3", "type": 99, "created": "2025-01-08T09:00:00Z", "actor": None, "affectedAttribute": "Odd"},
    ]  # fmt: skip

    lines = history_text(entries, "ITAM-12").split("\n")

    assert lines[0] == f"{history_marker('ITAM-12')} · 3 entries, oldest first]"
    assert lines[1] == "2025-01-06 08:00 UTC · Ada Lovelace · created the object"
    assert lines[2] == "2025-01-07 09:00 UTC · Grace Hopper · changed Status: Active → Closed"
    assert lines[3] == "2025-01-08 09:00 UTC · an unknown user · change of type 99 Odd"


def test_a_long_history_is_cut_below_the_limit_and_says_so() -> None:
    entries = [
        {"id": str(n), "type": 2, "created": f"2025-01-06T08:{n % 60:02d}:00Z",
         "actor": {"displayName": "Ada"}, "affectedAttribute": "Notes", "oldValue": "x" * 200,
         "newValue": "y" * 200}
        for n in range(500)
    ]  # fmt: skip

    text = history_text(entries, "ITAM-12")

    assert len(text) <= HISTORY_COMMENT_LIMIT
    assert text.rstrip().endswith("more entries (see the backup)")

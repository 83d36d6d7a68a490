"""A rollback narrowed to accounts and a time window, on hand-built history: which attributes go back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_assets.restore.rollback_diff import Rewrite
from airflow_assets.restore.rollback_window import (
    CHANGED_BEFORE,
    CHANGED_LATER,
    ChangeWindow,
    ChangeWindowError,
    WindowPlan,
    classify,
    created_in_window,
    creation,
)

TYPE = "7"
HOSTNAME, OWNER, TAGS, COST, SITE, NOTE = "31", "32", "33", "34", "35", "36"
NAMES = {
    HOSTNAME: {"Hostname"},
    OWNER: {"Owner"},
    TAGS: {"Tags"},
    COST: {"Cost"},
    SITE: {"Site"},
    NOTE: {"Note"},
}
ADA = {"accountId": "5b10a0000000000000000001", "displayName": "Ada Import", "emailAddress": "ada@x.test"}
BOB = {"accountId": "557058:0b0b0b0b-0000-4000-8000-000000000002", "displayName": "Bob Hand"}
CAROL = {"accountId": "5b10c0000000000000000003", "displayName": "Carol Desk"}

SNAPSHOT_AT = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
END = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def _at(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


class _History:
    """Hand-built history entries per object, numbered in the order they are added."""

    def __init__(self) -> None:
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.number = 1000

    def add(
        self,
        object_id: str,
        attribute: str | None,
        created: str,
        actor: Mapping[str, Any] | None,
        code: int = 2,
        old: str | None = "old",
        new: str | None = "new",
    ) -> None:
        self.number += 1
        entry: dict[str, Any] = {
            "id": str(self.number),
            "objectId": object_id,
            "type": code,
            "created": created,
        }
        if attribute is not None:
            entry["affectedAttribute"] = attribute
        if actor is not None:
            entry["actor"] = dict(actor)
        if old is not None:
            entry["oldValue"] = old
        if new is not None:
            entry["newValue"] = new
        self.entries.setdefault(object_id, []).append(entry)

    def of(self, object_id: str) -> Sequence[Mapping[str, Any]]:
        # Any order: classify sorts by moment itself.
        return list(reversed(self.entries.get(object_id, [])))


def _plan(
    rewrites: Sequence[Rewrite],
    history: _History,
    window: ChangeWindow,
    *,
    names: Mapping[str, set[str]] = NAMES,
    on_conflict: str = "keep",
    state_at: datetime = SNAPSHOT_AT,
) -> WindowPlan:
    return classify(
        rewrites,
        history.of,
        lambda attribute_id: names.get(attribute_id, set()),
        window,
        snapshot_state_at=state_at,
        on_conflict=on_conflict,
        key_of=lambda object_id: f"ITAM-{object_id}",
    )


def _back(plan: WindowPlan) -> dict[str, set[str]]:
    return {rewrite.object_id: set(rewrite.attribute_ids) for rewrite in plan.rewrites}


def _import_then_edits() -> tuple[list[Rewrite], _History]:
    """Ada imports 3 attributes in the window; Bob edits one of them later and another attribute."""
    history = _History()
    history.add("101", None, _at(1, 12), ADA, code=0, old=None, new=None)  # an object's "created" entry
    history.add("101", "Note", _at(1, 20), CAROL)  # after the snapshot, long before the window: Note is left
    for attribute in ("Hostname", "Owner", "Tags"):
        history.add("101", attribute, _at(2, 9), ADA)
    history.add("101", "Owner", _at(3, 10), BOB)
    history.add("101", "Cost", _at(3, 11), BOB)
    history.add("101", "Cost", _at(2, 9, 30), CAROL)  # in the window, but not by Ada
    rewrites = [Rewrite("101", TYPE, (HOSTNAME, OWNER, TAGS, COST, NOTE))]
    return rewrites, history


def test_an_import_goes_back_a_later_edit_by_someone_else_is_a_conflict_and_other_changes_stay() -> None:
    rewrites, history = _import_then_edits()
    plan = _plan(rewrites, history, ChangeWindow(frozenset({ADA["accountId"]}), START, END))

    assert _back(plan) == {"101": {HOSTNAME, TAGS}}
    assert plan.rewrites[0].attribute_ids == (HOSTNAME, TAGS)  # the diff's order kept
    assert plan.left == 2  # Cost (Carol and Bob), Note (Carol before the window)
    [conflict] = plan.conflicts
    assert (conflict.object_id, conflict.object_key, conflict.attribute_id) == ("101", "ITAM-101", OWNER)
    assert conflict.attribute_name == "Owner"
    assert conflict.changed_by == "Bob Hand"
    assert conflict.changed_at == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert conflict.reason.startswith(f"{CHANGED_LATER} by Bob Hand at 2026-12-03T10:00:00+00:00")
    assert not conflict.overridden
    counts = plan.counts()
    assert counts["attributes_differing"] == 5
    assert counts["attributes_back"] == 2
    assert counts["conflicts_left"] == 1
    summary = plan.as_dict()
    assert summary["window"]["accounts"] == [ADA["accountId"]]
    assert summary["first_conflicts"][0]["attribute"] == "Owner"
    assert summary["on_conflict"] == "keep"


def test_on_conflict_snapshot_puts_conflicts_back_and_still_lists_them() -> None:
    rewrites, history = _import_then_edits()
    window = ChangeWindow(frozenset({ADA["accountId"]}), START, END)
    plan = _plan(rewrites, history, window, on_conflict="snapshot")

    assert _back(plan) == {"101": {HOSTNAME, OWNER, TAGS}}
    [conflict] = plan.conflicts
    assert conflict.overridden
    assert "put back anyway" in conflict.line()
    assert plan.counts()["conflicts_overridden"] == 1


def test_an_unknown_on_conflict_is_refused_by_name() -> None:
    rewrites, history = _import_then_edits()
    with pytest.raises(ChangeWindowError, match="on_conflict 'overwrite'"):
        _plan(rewrites, history, ChangeWindow(frozenset({"x"})), on_conflict="overwrite")


def test_display_names_match_case_insensitively_and_account_ids_exactly() -> None:
    window = ChangeWindow(frozenset({"  ada IMPORT "}))
    assert window.matches_actor(ADA)
    assert not window.matches_actor(BOB)
    assert not window.matches_actor(None)
    assert ChangeWindow(frozenset({BOB["accountId"]})).matches_actor(BOB)
    # An account id is opaque: another case is another account.
    assert not ChangeWindow(frozenset({ADA["accountId"].upper()})).matches_actor(
        {"accountId": ADA["accountId"]}
    )
    # The raw API form (``key`` holds the account id) matches as well.
    assert ChangeWindow(frozenset({BOB["accountId"]})).matches_actor({"key": BOB["accountId"]})
    # No accounts: anyone, even an unknown actor.
    assert ChangeWindow(start=START).matches_actor(None)

    rewrites, history = _import_then_edits()
    by_name = _plan(rewrites, history, ChangeWindow(frozenset({"ADA import"}), START, END))
    by_id = _plan(rewrites, history, ChangeWindow(frozenset({ADA["accountId"]}), START, END))
    assert by_name.rewrites == by_id.rewrites
    assert by_name.conflicts == by_id.conflicts


def test_several_accounts_count_as_one_side() -> None:
    rewrites, history = _import_then_edits()
    window = ChangeWindow(frozenset({ADA["accountId"], "carol desk"}), START, END)
    plan = _plan(rewrites, history, window)
    # Carol's window edit of Cost now matches; Bob's later edit of it conflicts.
    assert _back(plan) == {"101": {HOSTNAME, TAGS}}
    assert {c.attribute_id for c in plan.conflicts} == {OWNER, COST}
    assert plan.left == 1  # Note: Carol changed it before the window


def test_the_window_bounds_are_inclusive() -> None:
    history = _History()
    history.add("5", "Hostname", _at(2, 8), ADA)  # exactly at the start
    history.add("5", "Owner", _at(2, 18), ADA)  # exactly at the end
    history.add("5", "Tags", "2026-12-02T07:59:59.999Z", ADA)  # a millisecond before the start
    history.add("5", "Cost", "2026-12-02T18:00:00.001Z", ADA)  # a millisecond after the end
    rewrites = [Rewrite("5", TYPE, (HOSTNAME, OWNER, TAGS, COST))]
    plan = _plan(rewrites, history, ChangeWindow(frozenset({"Ada Import"}), START, END))

    assert _back(plan) == {"5": {HOSTNAME, OWNER}}
    # Tags was changed after the snapshot and before the window by Ada herself: still no exact value to
    # go back to just before the window, but it has no change in the window either: left.
    assert plan.left == 2
    assert plan.conflicts == ()


def test_moments_written_with_other_offsets_compare_as_instants() -> None:
    history = _History()
    # 09:30+02:00 is 07:30Z: before the window that starts at 08:00Z.
    history.add("6", "Hostname", "2026-12-02T09:30:00.000+02:00", ADA)
    # 03:30-05:00 is 08:30Z: inside.
    history.add("6", "Owner", "2026-12-02T03:30:00-05:00", ADA)
    # 19:30+02:00 is 17:30Z: inside, though its wall clock is after the end.
    history.add("6", "Tags", "2026-12-02T19:30:00+02:00", ADA)
    rewrites = [Rewrite("6", TYPE, (HOSTNAME, OWNER, TAGS))]
    # The window itself given in another zone: 10:00+02:00 to 20:00+02:00 is 08:00Z to 18:00Z.
    plus_two = timezone(timedelta(hours=2))
    window = ChangeWindow(
        frozenset({ADA["accountId"]}),
        datetime(2026, 12, 2, 10, tzinfo=plus_two),
        datetime(2026, 12, 2, 20, tzinfo=plus_two),
    )
    plan = _plan(rewrites, history, window)
    assert _back(plan) == {"6": {OWNER, TAGS}}
    assert plan.left == 1


def test_open_ended_windows() -> None:
    history = _History()
    history.add("7", "Hostname", _at(1, 6), ADA)
    history.add("7", "Owner", _at(4, 6), ADA)
    history.add("7", "Tags", _at(6, 6), BOB)
    rewrites = [Rewrite("7", TYPE, (HOSTNAME, OWNER, TAGS))]

    until = _plan(rewrites, history, ChangeWindow(end=datetime(2026, 12, 3, tzinfo=UTC)))
    assert _back(until) == {"7": {HOSTNAME}}
    assert until.left == 2  # Owner and Tags changed after the window only
    assert until.conflicts == ()

    since = _plan(rewrites, history, ChangeWindow(start=datetime(2026, 12, 3, tzinfo=UTC)))
    assert _back(since) == {"7": {OWNER, TAGS}}
    assert since.left == 1

    anyone_any_time_by_ada = _plan(rewrites, history, ChangeWindow(frozenset({"Ada Import"})))
    assert _back(anyone_any_time_by_ada) == {"7": {HOSTNAME, OWNER}}
    assert anyone_any_time_by_ada.left == 1


def test_with_no_accounts_any_change_after_the_window_end_is_a_conflict() -> None:
    history = _History()
    history.add("8", "Hostname", _at(2, 9), ADA)
    history.add("8", "Hostname", _at(2, 20), ADA)  # the same account, after the window: stays, so conflict
    history.add("8", "Owner", _at(2, 10), BOB)
    rewrites = [Rewrite("8", TYPE, (HOSTNAME, OWNER))]
    plan = _plan(rewrites, history, ChangeWindow(start=START, end=END))
    assert _back(plan) == {"8": {OWNER}}
    [conflict] = plan.conflicts
    assert conflict.attribute_id == HOSTNAME
    assert conflict.changed_at == datetime(2026, 12, 2, 20, tzinfo=UTC)


def test_a_change_between_the_snapshot_and_the_window_is_a_conflict() -> None:
    history = _History()
    history.add("9", "Hostname", _at(1, 20), BOB)  # after the snapshot (1 Dec 00:00), before the window
    history.add("9", "Hostname", _at(2, 9), ADA)
    history.add("9", "Owner", "2026-11-30T23:00:00Z", BOB)  # before the snapshot: in it already
    history.add("9", "Owner", _at(2, 9), ADA)
    history.add("9", "Tags", "2026-12-01T00:00:00Z", BOB)  # exactly at the snapshot's moment: in it
    history.add("9", "Tags", _at(2, 9), ADA)
    rewrites = [Rewrite("9", TYPE, (HOSTNAME, OWNER, TAGS))]
    plan = _plan(rewrites, history, ChangeWindow(frozenset({"Ada Import"}), START, END))

    assert _back(plan) == {"9": {OWNER, TAGS}}
    [conflict] = plan.conflicts
    assert conflict.attribute_id == HOSTNAME
    assert conflict.reason == f"{CHANGED_BEFORE} by Bob Hand at 2026-12-01T20:00:00+00:00"
    assert conflict.changed_by == "Bob Hand"

    overridden = _plan(
        rewrites, history, ChangeWindow(frozenset({"Ada Import"}), START, END), on_conflict="snapshot"
    )
    assert _back(overridden) == {"9": {HOSTNAME, OWNER, TAGS}}


def test_changes_before_and_after_give_one_conflict_with_both_reasons() -> None:
    history = _History()
    history.add("10", "Hostname", _at(1, 20), CAROL)
    history.add("10", "Hostname", _at(2, 9), ADA)
    history.add("10", "Hostname", _at(3, 9), BOB)
    history.add("10", "Hostname", _at(4, 9), CAROL)
    plan = _plan(
        [Rewrite("10", TYPE, (HOSTNAME,))], history, ChangeWindow(frozenset({"Ada Import"}), START, END)
    )
    [conflict] = plan.conflicts
    # The last later change holds the live value: it is the one named.
    assert (conflict.changed_by, conflict.changed_at) == ("Carol Desk", datetime(2026, 12, 4, 9, tzinfo=UTC))
    assert CHANGED_LATER in conflict.reason and CHANGED_BEFORE in conflict.reason
    assert plan.rewrites == ()


def test_someone_elses_change_overwritten_in_the_window_is_no_conflict() -> None:
    history = _History()
    history.add("11", "Owner", _at(2, 9), ADA)
    history.add("11", "Owner", _at(2, 10), BOB)  # between two of Ada's: her last one overwrote it
    history.add("11", "Owner", _at(2, 11), ADA)
    plan = _plan(
        [Rewrite("11", TYPE, (OWNER,))], history, ChangeWindow(frozenset({"Ada Import"}), START, END)
    )
    assert _back(plan) == {"11": {OWNER}}
    assert plan.conflicts == ()


def test_a_renamed_attribute_is_matched_by_its_old_name() -> None:
    history = _History()
    history.add("12", "Host name", _at(2, 9), ADA)  # named so in the snapshot, renamed since
    history.add("12", "Hostname", _at(3, 9), BOB)  # its live name, after the rename
    names = {**NAMES, HOSTNAME: {"Host name", "Hostname"}}
    plan = _plan(
        [Rewrite("12", TYPE, (HOSTNAME,))],
        history,
        ChangeWindow(frozenset({"Ada Import"}), START, END),
        names=names,
    )
    [conflict] = plan.conflicts
    assert conflict.attribute_id == HOSTNAME
    assert conflict.changed_by == "Bob Hand"

    # Without the old name, Ada's change is not recognised: nothing goes back.
    only_live = _plan(
        [Rewrite("12", TYPE, (HOSTNAME,))], history, ChangeWindow(frozenset({"Ada Import"}), START, END)
    )
    assert only_live.rewrites == ()
    assert only_live.left == 1

    # The same name given twice (snapshot and live agree) counts each entry once.
    same = {**NAMES, OWNER: {"Owner", "owner"}}
    history.add("13", "Owner", _at(2, 9), ADA)
    plan = _plan(
        [Rewrite("13", TYPE, (OWNER,))],
        history,
        ChangeWindow(frozenset({"Ada Import"}), START, END),
        names=same,
    )
    assert _back(plan) == {"13": {OWNER}}


def test_multi_value_additions_and_removals_count_as_changes_of_the_attribute() -> None:
    history = _History()
    history.add("14", "Tags", _at(2, 9), ADA, code=1, old=None, new="blue")  # added value
    history.add("14", "Tags", _at(2, 9, 1), ADA, code=3, old="red", new=None)  # deleted value
    history.add("14", "Site", _at(2, 9, 2), ADA, code=4, old=None, new="Sydney")  # added reference
    history.add("14", "Owner", _at(2, 9, 3), ADA, code=11, old="Bob Hand", new=None)  # deleted user
    history.add("14", "Site", _at(3, 9), BOB, code=6, old="Sydney", new=None)  # deleted reference, later
    history.add("14", "Note", _at(2, 9), ADA, code=42)  # an unknown code naming an attribute counts
    rewrites = [Rewrite("14", TYPE, (OWNER, TAGS, SITE, NOTE))]
    plan = _plan(rewrites, history, ChangeWindow(frozenset({"Ada Import"}), START, END))
    assert _back(plan) == {"14": {OWNER, TAGS, NOTE}}
    assert [c.attribute_id for c in plan.conflicts] == [SITE]


def test_entries_that_change_no_value_are_ignored_and_unreadable_moments_counted() -> None:
    history = _History()
    history.add("15", "Avatar", _at(2, 9), ADA, code=26)  # an avatar change, even if an attribute is so named
    history.add("15", "Hostname", _at(2, 9), ADA, code=0)  # "created" is no attribute change
    history.add("15", "Owner", "yesterday-ish", ADA)
    history.add("15", "Owner", "", ADA)
    names = {**NAMES, NOTE: {"Avatar"}}
    rewrites = [Rewrite("15", TYPE, (HOSTNAME, OWNER, NOTE))]
    plan = _plan(rewrites, history, ChangeWindow(frozenset({"Ada Import"}), START, END), names=names)
    assert plan.rewrites == ()
    assert plan.left == 3
    assert plan.unreadable_entries == 2


def test_objects_with_nothing_going_back_are_dropped_and_others_kept_in_order() -> None:
    history = _History()
    history.add("30", "Owner", _at(2, 9), BOB)
    history.add("20", "Owner", _at(2, 9), ADA)
    history.add("40", "Tags", _at(2, 9), ADA)
    rewrites = [Rewrite("20", TYPE, (OWNER,)), Rewrite("30", "8", (OWNER,)), Rewrite("40", "9", (TAGS, COST))]
    plan = _plan(rewrites, history, ChangeWindow(frozenset({"Ada Import"}), START, END))
    assert plan.rewrites == (Rewrite("20", TYPE, (OWNER,)), Rewrite("40", "9", (TAGS,)))
    assert plan.left == 2


def test_an_inactive_window_narrows_nothing() -> None:
    rewrites, history = _import_then_edits()
    window = ChangeWindow()
    assert not window.active
    plan = _plan(rewrites, history, window)
    assert plan.rewrites == tuple(rewrites)
    assert plan.conflicts == () and plan.left == 0


def test_invalid_windows_are_refused_with_the_field_named() -> None:
    with pytest.raises(ChangeWindowError, match=r"changed_from .* has no time zone"):
        ChangeWindow(start=datetime(2026, 12, 2, 8))
    with pytest.raises(ChangeWindowError, match=r"changed_to .* has no time zone"):
        ChangeWindow(end=datetime(2026, 12, 2, 8))
    with pytest.raises(ChangeWindowError, match="is after changed_to"):
        ChangeWindow(start=END, end=START)
    with pytest.raises(ChangeWindowError, match="empty account"):
        ChangeWindow(frozenset({" "}))
    assert isinstance(ChangeWindowError("x"), ValueError)
    # A one-instant window is allowed (both bounds inclusive).
    assert ChangeWindow(start=START, end=START).covers(START)


def test_covers_treats_a_naive_moment_as_utc() -> None:
    window = ChangeWindow(start=START, end=END)
    assert window.covers(datetime(2026, 12, 2, 8, 0))
    assert not window.covers(datetime(2026, 12, 2, 7, 59))


def test_objects_created_by_the_window() -> None:
    window = ChangeWindow(frozenset({"Ada Import"}), START, END)
    objects = [
        ("50", datetime(2026, 12, 2, 9, tzinfo=UTC), ADA),  # in, by Ada
        ("51", datetime(2026, 12, 2, 9, tzinfo=UTC), BOB),  # in, by Bob
        ("52", datetime(2026, 12, 3, 9, tzinfo=UTC), ADA),  # after
        ("53", None, ADA),  # moment unknown: never guessed into a bounded window
        ("54", END, ADA),  # at the end: inclusive
        ("55", datetime(2026, 12, 2, 9, tzinfo=UTC), None),  # creator unknown
    ]
    assert created_in_window(objects, window) == ["50", "54"]
    assert created_in_window(objects, ChangeWindow(frozenset({"Ada Import"}))) == ["50", "52", "53", "54"]
    assert created_in_window(objects, ChangeWindow(start=START, end=END)) == ["50", "51", "54", "55"]
    assert created_in_window(objects, ChangeWindow()) == ["50", "51", "52", "53", "54", "55"]

    history = _History()
    history.add("56", "Hostname", _at(2, 9, 1), ADA)
    history.add("56", None, "2026-12-02T11:00:00+02:00", ADA, code=0, old=None, new=None)
    moment, actor = creation(history.entries["56"])
    assert moment == datetime(2026, 12, 2, 9, tzinfo=UTC)
    assert actor is not None and actor["displayName"] == "Ada Import"
    assert creation([]) == (None, None)

"""Restore parameters: every invalid combination is refused with a message naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_assets.restore.request import RestoreParamError, parse_request

ITAM = [{"old_key": "ITAM", "new_key": "ITAM2"}]


def test_a_full_request_is_parsed_into_typed_fields() -> None:
    request = parse_request(
        {
            "snapshot": "2026-11-30T02:00:00Z",
            "schema_mappings": [{"old_key": "ITAM", "new_key": "ITAM2", "new_name": "IT assets copy"}],
            "object_types": ["Server", "Laptop"],
            "object_keys": ["ITAM-42"],
            "include_comments": False,
            "history_as_comments": True,
            "dry_run": False,
        }
    )

    assert request.snapshot.at == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert request.mappings[0].new_name == "IT assets copy"
    assert request.object_types == ("Server", "Laptop")
    assert request.object_keys == ("ITAM-42",)
    assert (request.include_comments, request.history_as_comments, request.dry_run) == (False, True, False)


def test_defaults_are_a_dry_run_of_the_latest_snapshot_with_comments() -> None:
    request = parse_request({"schema_mappings": ITAM})

    assert request.dry_run and request.include_comments and not request.history_as_comments
    assert request.snapshot.latest and request.mode == "new_schema"


def test_recreate_missing_restores_into_the_same_key() -> None:
    request = parse_request({"mode": "recreate_missing", "schema_mappings": [{"old_key": "ITAM"}]})

    assert request.mappings[0].new_key == "ITAM"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "schema_mappings"),
        ({"schema_mappings": []}, "schema_mappings"),
        ({"schema_mappings": ["ITAM"]}, "schema_mappings[0]"),
        ({"schema_mappings": [{"old_key": "ITAM"}]}, "schema_mappings[0].new_key"),
        ({"schema_mappings": [{"new_key": "ITAM2"}]}, "schema_mappings[0].old_key"),
        ({"schema_mappings": [{"old_key": "itam", "new_key": "ITAM2"}]}, "schema_mappings[0].old_key"),
        ({"schema_mappings": [{"old_key": "ITAM", "new_key": "IT-2"}]}, "schema_mappings[0].new_key"),
        ({"schema_mappings": [{"old_key": "ITAM", "new_key": "X2", "colour": 1}]}, "schema_mappings[0]"),
        ({"schema_mappings": [{"old_key": "ITAM", "new_key": "ITAM2", "new_name": "a.b"}]},
         "schema_mappings[0].new_name"),
        ({"schema_mappings": [*ITAM, {"old_key": "ITAM", "new_key": "ITAM3"}]}, "schema_mappings[1].old_key"),
        ({"schema_mappings": [*ITAM, {"old_key": "LOC", "new_key": "ITAM2"}]}, "schema_mappings[1].new_key"),
        ({"mode": "recreate_missing", "schema_mappings": ITAM}, "schema_mappings[0].new_key"),
        ({"mode": "recreate_missing", "schema_mappings": [{"old_key": "ITAM", "new_name": "x"}]},
         "schema_mappings[0].new_name"),
        ({"mode": "restore_everything", "schema_mappings": ITAM}, "mode"),
        ({"snapshot": "yesterday", "schema_mappings": ITAM}, "snapshot"),
        ({"snapshot": "2026-13-45", "schema_mappings": ITAM}, "snapshot"),
        ({"schema_mappings": ITAM, "object_keys": ["ITAM42"]}, "object_keys[0]"),
        ({"schema_mappings": ITAM, "object_keys": ["LOC-4"]}, "object_keys[0]"),
        ({"schema_mappings": ITAM, "object_keys": ["ITAM-4", "ITAM-4"]}, "object_keys[1]"),
        ({"schema_mappings": ITAM, "object_types": [""]}, "object_types[0]"),
        ({"schema_mappings": ITAM, "dry_run": "no"}, "dry_run"),
        ({"schema_mappings": ITAM, "source_site": 3}, "source_site"),
    ],
)  # fmt: skip
def test_invalid_parameters_are_refused_naming_the_parameter(params: dict[str, Any], param: str) -> None:
    with pytest.raises(RestoreParamError) as raised:
        parse_request(params)

    assert raised.value.param == param
    assert str(raised.value).startswith(f"parameter {param}: ")


HUGE = "Q" * 1_000_000


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"schema_mappings": ITAM, "mode": HUGE}, "mode"),
        ({"schema_mappings": ITAM, "snapshot": HUGE}, "snapshot"),
        ({"schema_mappings": [{"old_key": HUGE, "new_key": "ITAM2"}]}, "schema_mappings[0].old_key"),
        ({"schema_mappings": [{"old_key": "ITAM", "new_key": "X2", HUGE: 1}]}, "schema_mappings[0]"),
        ({"schema_mappings": ITAM, "object_keys": [HUGE]}, "object_keys[0]"),
        ({"schema_mappings": ITAM, "object_types": [HUGE, HUGE]}, "object_types[1]"),
        ({"schema_mappings": ITAM, "target_conn_id": [HUGE]}, "target_conn_id"),
        ({"schema_mappings": ITAM, "target_conn_id": HUGE}, "target_conn_id"),
    ],
)
def test_a_huge_parameter_is_cut_in_the_message(params: dict[str, Any], param: str) -> None:
    with pytest.raises(RestoreParamError) as caught:
        parse_request(params)

    assert caught.value.param == param
    assert len(str(caught.value)) < 400
    assert "… (1000000 chars)" in str(caught.value) or "… (1000004 chars)" in str(caught.value)


def test_mappings_are_read_from_lines_of_old_key_arrow_new_key_and_an_optional_quoted_name() -> None:
    text = 'LOC -> LOC2 "Locations copy"\n\n# a comment\nITAM->ITAM2\n  PEOPLE → PPL2  \n'

    request = parse_request({"schema_mappings": text})

    assert [(m.old_key, m.new_key, m.new_name) for m in request.mappings] == [
        ("LOC", "LOC2", "Locations copy"),
        ("ITAM", "ITAM2", None),
        ("PEOPLE", "PPL2", None),
    ]


def test_mappings_are_read_from_a_list_of_lines_and_from_json_text() -> None:
    as_lines = parse_request({"schema_mappings": ['LOC -> LOC2 "Locations copy"']})
    as_json_text = parse_request(
        {"schema_mappings": '[{"old_key": "LOC", "new_key": "LOC2", "new_name": "Locations copy"}]'}
    )
    as_objects = parse_request(
        {"schema_mappings": [{"old_key": "LOC", "new_key": "LOC2", "new_name": "Locations copy"}]}
    )

    assert as_lines.mappings == as_json_text.mappings == as_objects.mappings


def test_recreate_missing_takes_a_line_with_the_key_alone() -> None:
    request = parse_request({"mode": "recreate_missing", "schema_mappings": "ITAM\n"})

    assert request.mappings[0].new_key == "ITAM"


@pytest.mark.parametrize(
    ("mappings", "param", "said"),
    [
        ("LOC -> LOC2\nITAM -> itam2", "schema_mappings line 2", "'ITAM -> itam2': 'itam2' is not a"),
        ("LOC -> LOC2\n\nITAM", "schema_mappings line 3", "give the key it gets, e.g. ITAM -> ITAM2"),
        ("LOC -> LOC2 Locations copy", "schema_mappings line 1", "cannot read 'LOC -> LOC2 Locations"),
        ("LOC -> LOC2\nLOC -> LOC3", "schema_mappings line 2", "twice (also in schema_mappings line 1)"),
        ('LOC -> LOC2 "a.b"', "schema_mappings line 1", "may not contain ."),
        ('[{"old_key": "LOC", "new_key": "LOC2"', "schema_mappings", "looks like JSON but is not valid JSON"),
        ("\n# nothing\n", "schema_mappings", "list at least one schema"),
        (["LOC -> LOC2", "ITAM -> LOC2"], "schema_mappings[1]", "twice (also in schema_mappings[0])"),
    ],
)  # fmt: skip
def test_a_bad_mapping_line_is_named_and_quoted(mappings: Any, param: str, said: str) -> None:
    with pytest.raises(RestoreParamError) as raised:
        parse_request({"schema_mappings": mappings})

    assert raised.value.param == param
    assert said in raised.value.message


ROLLBACK = {"mode": "rollback", "schema_mappings": "ITAM"}


def test_a_rollback_reads_its_window_and_returns_to_the_snapshot_before_it() -> None:
    request = parse_request(
        {
            **ROLLBACK,
            "changed_by": "Import Bot, 5b10ac8d82e05b22cc7d4ef5",
            "changed_from": "2026-12-07T11:00:00+02:00",
            "changed_to": "2026-12-07T10:30:00Z",
            "on_conflict": "snapshot",
            "delete_created": True,
            "relink_issues": True,
        }
    )

    assert request.mappings[0].new_key == "ITAM"
    scope = request.rollback
    assert scope.changed_by == ("Import Bot", "5b10ac8d82e05b22cc7d4ef5")
    assert scope.changed_from == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert scope.windowed and scope.on_conflict == "snapshot" and scope.delete_created and scope.relink_issues
    # "latest" means the latest snapshot from before the window, not one taken during it.
    assert request.snapshot.at == scope.changed_from and not request.snapshot.latest
    assert parse_request(ROLLBACK).rollback.windowed is False


@pytest.mark.parametrize(
    ("params", "param", "says"),
    [
        ({"changed_by": ["Ada"]}, "changed_from", "say from when"),
        ({"changed_from": "yesterday"}, "changed_from", "not an ISO 8601 timestamp"),
        (
            {"changed_from": "2026-12-07T10:00:00Z", "changed_to": "2026-12-07T09:00:00Z"},
            "changed_to",
            "is before changed_from",
        ),
        ({"on_conflict": "mine"}, "on_conflict", "must be keep or snapshot"),
        (
            {"snapshot": "2026-12-07T12:00:00Z", "changed_from": "2026-12-07T10:00:00Z"},
            "snapshot",
            "before the window",
        ),
        ({"schema_mappings": "ITAM -> ITAM2"}, "schema_mappings line 1", "rollback restores into"),
    ],
)
def test_a_bad_rollback_is_refused_naming_the_parameter(
    params: dict[str, Any], param: str, says: str
) -> None:
    with pytest.raises(RestoreParamError) as raised:
        parse_request({**ROLLBACK, **params})

    assert raised.value.param == param
    assert says in raised.value.message


@pytest.mark.parametrize("field", ["changed_by", "delete_created", "aql", "on_conflict"])
def test_rollback_fields_are_refused_in_another_mode(field: str) -> None:
    value: Any = {
        "changed_by": ["Ada"],
        "delete_created": True,
        "aql": "Name = x",
        "on_conflict": "snapshot",
    }[field]
    with pytest.raises(RestoreParamError) as raised:
        parse_request({"mode": "new_schema", "schema_mappings": "ITAM -> ITAM2", field: value})

    assert raised.value.param == field and "only mode rollback" in raised.value.message
    # relink_issues is also recreate_missing's.
    assert parse_request({"mode": "recreate_missing", "schema_mappings": "ITAM", "relink_issues": True})

"""Rewinding one object by its history entries: values back, added removed, removed restored, and notes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow_assets.backfill.rewind import (
    AMBIGUOUS_LABEL,
    PRECISION,
    RENAMED,
    UNKNOWN_LABEL,
    Attribute,
    ObjectRewinder,
    Resolver,
)

MOMENT = datetime(2026, 11, 5, tzinfo=UTC)
NAME = Attribute("1", "Name", 0, 0, False, None, True)
COUNT = Attribute("2", "Count", 0, 1, False, None, False)
OWNER = Attribute("3", "Owner", 1, None, False, frozenset({"10"}), False)
USERS = Attribute("4", "Users", 1, None, True, frozenset({"10"}), False)
SEEN = Attribute("5", "Seen", 0, 6, False, None, False)
ATTRIBUTES = {a.name: a for a in (NAME, COUNT, OWNER, USERS, SEEN)}
# Person objects 100 (Ann), 101 (Bob, called Robert since the 10th), 102 and 103 (both "Twin").
LABELS = {"100": [("Ann", None)], "101": [("Bob", "2026-11-10"), ("Robert", None)], "102": [("Twin", None)],
          "103": [("Twin", None)]}  # fmt: skip


def _label_at(object_id: str, at: datetime) -> str | None:
    for label, until in LABELS.get(object_id, []):
        if until is None or at < datetime.fromisoformat(until).replace(tzinfo=UTC):
            return label
    return None


def _rewinder() -> ObjectRewinder:
    by_label: dict[str, set[str]] = {}
    for object_id, labels in LABELS.items():
        for label, _ in labels:
            by_label.setdefault(label, set()).add(object_id)
    resolver = Resolver(
        label_at=_label_at, objects_by_label=by_label, object_type=dict.fromkeys(LABELS, "10"),
        users_named=lambda name: [], statuses_by_name={}, schema_types={"10", "11"},
    )  # fmt: skip
    return ObjectRewinder(MOMENT, lambda type_id: ATTRIBUTES, resolver)


def _object(**values: list[dict[str, Any]]) -> dict[str, Any]:
    ids = {a.name: a.attribute_id for a in ATTRIBUTES.values()}
    return {
        "id": "7", "objectTypeId": "11", "label": "Box", "created": "2026-10-01T00:00:00.000Z",
        "updated": "2026-11-20T00:00:00.000Z",
        "attributes": [{"objectTypeAttributeId": ids[name], "values": v} for name, v in values.items()],
    }  # fmt: skip


def _entry(at: str, attribute: str, old: str | None, new: str | None, code: int = 2) -> dict[str, Any]:
    return {"id": at, "type": code, "created": f"2026-11-{at}T09:00:00.000Z", "affectedAttribute": attribute,
            "oldValue": old, "newValue": new}  # fmt: skip


def _values(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    names = {a.attribute_id: a.name for a in ATTRIBUTES.values()}
    return {names[a["objectTypeAttributeId"]]: a["values"] for a in data["attributes"]}


def test_changes_after_the_moment_are_undone_newest_first_and_the_label_follows() -> None:
    data = _object(Name=[{"value": "Crate"}], Count=[{"value": "3"}])
    result = _rewinder().rewind(
        data,
        [
            _entry("07", "Name", "Box", "Bin"),
            _entry("08", "Name", "Bin", "Crate"),
            _entry("09", "Count", None, "3", code=1),
        ],
        last_before="2026-11-01T08:00:00.000Z",
    )
    assert result.data is not None
    assert _values(result.data) == {"Name": [{"value": "Box"}]}  # Count was added after: gone
    assert result.data["label"] == "Box"
    assert result.data["updated"] == "2026-11-01T08:00:00.000Z"
    assert result.values_rewound == 3 and result.notes == []


def test_a_reference_is_resolved_by_the_label_it_had_when_the_entry_was_recorded() -> None:
    # On the 7th the owner changed from Bob (who is called Robert today) to Ann.
    result = _rewinder().rewind(
        _object(Owner=[{"referencedObjectId": "100"}]), [_entry("07", "Owner", "Bob", "Ann", code=5)], None
    )
    assert result.data is not None
    assert _values(result.data)["Owner"] == [{"referencedObjectId": "101"}]


def test_multi_values_added_are_removed_and_removed_ones_restored() -> None:
    data = _object(Users=[{"referencedObjectId": "100"}])
    entries = [_entry("07", "Users", None, "Bob", code=4), _entry("12", "Users", "Robert", None, code=6),
               _entry("13", "Users", "Ann, Robert", "Ann", code=5)]  # fmt: skip
    result = _rewinder().rewind(data, entries, None)
    assert result.data is not None and result.notes == []
    # Ann was there all along; Bob (Robert since the 10th) came on the 7th.
    assert _values(result.data)["Users"] == [{"referencedObjectId": "100"}]


def test_what_cannot_be_rewound_exactly_is_noted_per_attribute_with_the_reason() -> None:
    data = (
        _object(Owner=[], Seen=[{"value": "2026-11-08T10:05:07.000Z"}], Colour=[])
        if False
        else _object(Seen=[{"value": "2026-11-08T10:05:07.000Z"}])
    )
    entries = [
        _entry("07", "Owner", "Twin", None, code=6),  # two objects are called Twin
        _entry("08", "Seen", "01/Nov/26 10:05 AM", "08/Nov/26 10:05 AM"),
        _entry("09", "Colour", "red", "blue"),  # no attribute has that name now
        _entry("10", "Count", None, "1", code=1),
    ]
    result = _rewinder().rewind(data, entries, None)
    reasons = {note.attribute: note.reason for note in result.notes}
    assert reasons == {"Owner": AMBIGUOUS_LABEL, "Seen": PRECISION, "Colour": RENAMED}
    assert result.data is not None
    assert _values(result.data)["Seen"] == [{"value": "2026-11-01T10:05:00.000Z"}]


def test_a_later_replacement_that_reads_back_clears_an_earlier_failure() -> None:
    entries = [_entry("12", "Owner", "Gone", None, code=6), _entry("07", "Owner", "Ann", "Gone", code=5)]
    result = _rewinder().rewind(_object(), entries, None)
    assert result.notes == []
    assert result.data is not None and _values(result.data)["Owner"] == [{"referencedObjectId": "100"}]
    only_removal = _rewinder().rewind(_object(), entries[:1], None)
    assert [note.reason for note in only_removal.notes] == [UNKNOWN_LABEL]


def test_an_object_created_after_the_moment_is_left_out() -> None:
    data = {**_object(), "created": "2026-11-06T00:00:00.000Z"}
    assert _rewinder().rewind(data, [], None).data is None

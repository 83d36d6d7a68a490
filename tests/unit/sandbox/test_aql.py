"""Tests of the sandbox's AQL: tokenizer, parser, evaluation semantics, ordering, hints and errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar

import pytest

from airflow_assets.sandbox.aql import AqlError, AqlReference, AqlSubject, compile_aql
from airflow_assets.sandbox.aql_lexer import TokenKind, tokenize
from airflow_assets.sandbox.aql_parser import And, Condition, Or, parse

NOW = datetime(2024, 3, 15, 12, 30, tzinfo=UTC)


# -- test doubles of the site: the smallest model that lets aql.py be exercised on its own ---------


@dataclass(eq=False)
class FakeSubject:
    object_id: int
    key: str
    label: str
    object_type_id: str
    schema_id: str
    created: datetime
    updated: datetime
    values: dict[str, list[object]] = field(default_factory=dict)


class FakeCatalog:
    """Schemas 1 "IT Assets" and 2 "People"; Hardware(10) > Host(11) > Server(13), Hardware > Laptop(12)."""

    schemas: ClassVar[dict[str, str]] = {"1": "IT Assets", "2": "People"}
    types: ClassVar[dict[str, tuple[str, str, str | None]]] = {
        "10": ("Hardware", "1", None),
        "11": ("Host", "1", "10"),
        "12": ("Laptop", "1", "10"),
        "13": ("Server", "1", "11"),
        "20": ("Person", "2", None),
        "21": ("Department", "2", None),
    }
    hardware_attributes = frozenset(
        {"name", "serial number", "owner", "price", "cores", "in service", "purchased", "last seen", "tags",
         "backup time", "users", "notes"}
    )  # fmt: skip
    attributes: ClassVar[dict[str, frozenset[str]]] = {
        "10": hardware_attributes,
        "11": hardware_attributes,
        "12": hardware_attributes,
        "13": hardware_attributes,
        "20": frozenset({"name", "email", "manager", "belongs to"}),
        "21": frozenset({"name"}),
    }

    def __init__(self, subjects: list[FakeSubject]) -> None:
        self.subjects = subjects

    def schema_ids_named(self, name: str) -> set[str]:
        return {sid for sid, schema in self.schemas.items() if schema.casefold() == name.casefold()}

    def type_ids_named(self, name: str) -> set[str]:
        return {
            tid for tid, (type_name, _, _) in self.types.items() if type_name.casefold() == name.casefold()
        }

    def type_and_descendants(self, type_id: str) -> set[str]:
        if type_id not in self.types:
            return set()
        found = {type_id}
        for child, (_, _, parent) in self.types.items():
            if parent == type_id:
                found |= self.type_and_descendants(child)
        return found

    def is_known_attribute(self, name: str) -> bool:
        return any(name.casefold() in names for names in self.attributes.values())

    def attribute_values(self, subject: AqlSubject, name: str) -> list[object] | None:
        assert isinstance(subject, FakeSubject)
        if name.casefold() not in self.attributes[subject.object_type_id]:
            return None
        return subject.values.get(name.casefold(), [])

    def all_subjects(self) -> Iterable[AqlSubject]:
        return iter(self.subjects)

    def outbound_references(self, subject: AqlSubject) -> Iterator[AqlSubject]:
        assert isinstance(subject, FakeSubject)
        for values in subject.values.values():
            for value in values:
                if isinstance(value, AqlReference):
                    yield value.subject


def ref(subject: FakeSubject) -> AqlReference:
    return AqlReference(label=subject.label, key=subject.key, subject=subject)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)


def make_site() -> FakeCatalog:
    hr = FakeSubject(1, "PEO-1", "HR", "21", "2", at(1), at(1), {"name": ["HR"]})
    it = FakeSubject(2, "PEO-2", "IT", "21", "2", at(1), at(1), {"name": ["IT"]})
    ted = FakeSubject(
        3,
        "PEO-3",
        "Ted Anderson",
        "20",
        "2",
        at(2),
        at(20),
        {"name": ["Ted Anderson"], "belongs to": [ref(hr)]},
    )
    amy = FakeSubject(
        4,
        "PEO-4",
        "amy",
        "20",
        "2",
        at(3),
        at(3),
        {"name": ["amy"], "manager": [ref(ted)], "belongs to": [ref(it)]},
    )
    syd = FakeSubject(
        88,
        "ITSM-88",
        "SYD-1",
        "11",
        "1",
        at(10, 9, 15),
        at(31, 10, 0),
        {
            "name": ["SYD-1"],
            "serial number": ["abc"],
            "owner": [ref(ted)],
            "price": [1200.5],
            "cores": [16],
            "in service": [True],
            "purchased": [date(2023, 6, 1)],
            "last seen": [datetime(2024, 1, 31, 10, 0, 30, tzinfo=UTC)],
            "tags": ["prod", "Linux"],
            "backup time": [time(2, 30)],
            "users": [ref(ted), ref(amy)],
        },
    )
    mel = FakeSubject(
        9,
        "ITSM-9",
        "mel-2",
        "13",
        "1",
        at(11),
        at(12),
        {
            "name": ["mel-2"],
            "serial number": ["ABC"],
            "owner": [ref(amy)],
            "price": [99],
            "cores": [9],
            "in service": [False],
            "purchased": [date(2024, 1, 31)],
            "tags": ["test"],
            "notes": ['15" Screen'],
        },
    )
    lap = FakeSubject(
        10,
        "ITSM-10",
        "Laptop 7",
        "12",
        "1",
        at(12),
        at(13),
        {"name": ["Laptop 7"], "serial number": [], "cores": [4], "tags": []},
    )
    return FakeCatalog([hr, it, ted, amy, syd, mel, lap])


@pytest.fixture(scope="module")
def site() -> FakeCatalog:
    return make_site()


def keys(query: str, site: FakeCatalog) -> list[str]:
    """Return the keys of the matches, in result order."""
    compiled = compile_aql(query, site, now=NOW)
    matches = [subject for subject in site.subjects if compiled.matches(subject)]
    matches.sort(key=compiled.sort_key, reverse=compiled.descending)
    return [subject.key for subject in matches]


def key_set(query: str, site: FakeCatalog) -> set[str]:
    return set(keys(query, site))


def error(query: str, site: FakeCatalog) -> str:
    with pytest.raises(AqlError) as raised:
        compile_aql(query, site, now=NOW)
    assert raised.value.message == str(raised.value)
    return raised.value.message


# -- tokenizer and parser --------------------------------------------------------------------------


def test_tokenizer_splits_words_strings_operators_and_punctuation() -> None:
    tokens = tokenize('Name="SYD 1" and Cores>=4 or (Tag!=x)')
    assert [(token.kind, token.text) for token in tokens] == [
        (TokenKind.WORD, "Name"),
        (TokenKind.OPERATOR, "="),
        (TokenKind.STRING, "SYD 1"),
        (TokenKind.WORD, "and"),
        (TokenKind.WORD, "Cores"),
        (TokenKind.OPERATOR, ">="),
        (TokenKind.WORD, "4"),
        (TokenKind.WORD, "or"),
        (TokenKind.LPAREN, "("),
        (TokenKind.WORD, "Tag"),
        (TokenKind.OPERATOR, "!="),
        (TokenKind.WORD, "x"),
        (TokenKind.RPAREN, ")"),
        (TokenKind.END, ""),
    ]
    assert [token.position for token in tokens[:3]] == [0, 4, 5]


@pytest.mark.parametrize(
    ("source", "text"),
    [
        (r'"15\" Screen"', '15" Screen'),
        (r"'it''s'", "it"),  # two adjacent strings; the first ends at the second quote
        (r"'O\'Brien'", "O'Brien"),
        (r'"back\\slash"', "back\\slash"),
        ('"a, b (c)"', "a, b (c)"),
    ],
)
def test_strings_unescape_backslashes_in_both_quote_styles(source: str, text: str) -> None:
    assert tokenize(source)[0].text == text


def test_and_binds_tighter_than_or() -> None:
    where = parse("a = 1 or b = 2 and c = 3").where
    assert isinstance(where, Or)
    assert isinstance(where.parts[1], And)
    grouped = parse("(a = 1 or b = 2) and c = 3").where
    assert isinstance(grouped, And)
    assert isinstance(grouped.parts[0], Or)


def test_dot_notation_paths_split_at_dots_outside_quotes() -> None:
    for source in ('"Belongs to".Name = HR', 'Manager."Belongs to".Name = HR', "Manager.Name = x"):
        where = parse(source).where
        assert isinstance(where, Condition)
        assert [name.text for name in where.path][-1] == "Name"
    where = parse('"Belongs to"."Name" = HR').where
    assert isinstance(where, Condition)
    assert [name.text for name in where.path] == ["Belongs to", "Name"]


# -- keywords --------------------------------------------------------------------------------------


def test_empty_query_matches_everything(site: FakeCatalog) -> None:
    assert len(keys("", site)) == len(site.subjects)
    assert len(keys("   ", site)) == len(site.subjects)


def test_object_schema_id_and_name(site: FakeCatalog) -> None:
    assert key_set("objectSchemaId = 1", site) == {"ITSM-88", "ITSM-9", "ITSM-10"}
    assert key_set("objectSchemaId in (2)", site) == {"PEO-1", "PEO-2", "PEO-3", "PEO-4"}
    assert key_set('objectSchema = "it assets"', site) == {"ITSM-88", "ITSM-9", "ITSM-10"}
    assert key_set("objectSchema != People", site) == {"ITSM-88", "ITSM-9", "ITSM-10"}


def test_object_type_id_and_in(site: FakeCatalog) -> None:
    assert keys("objectTypeId = 11", site) == ["ITSM-88"]
    assert key_set("objectTypeId in (12, 13)", site) == {"ITSM-9", "ITSM-10"}
    assert key_set("objectTypeId not in (20, 21)", site) == {"ITSM-88", "ITSM-9", "ITSM-10"}
    assert key_set("objectTypeId > 12", site) == {"ITSM-9", "PEO-1", "PEO-2", "PEO-3", "PEO-4"}


def test_object_type_name_is_exact_and_type_and_children_includes_descendants(site: FakeCatalog) -> None:
    assert keys('objectType = "Host"', site) == ["ITSM-88"]
    assert keys("objectType = Hardware", site) == []
    assert key_set('objectType = objectTypeAndChildren("Host")', site) == {"ITSM-88", "ITSM-9"}
    assert key_set('objectType in objectTypeAndChildren("hardware")', site) == {
        "ITSM-88",
        "ITSM-9",
        "ITSM-10",
    }
    assert key_set("objectType in objectTypeAndChildren(10)", site) == {"ITSM-88", "ITSM-9", "ITSM-10"}
    assert key_set("objectTypeId in objectTypeAndChildren(11)", site) == {"ITSM-88", "ITSM-9"}
    assert key_set('objectType in (Host, "Laptop")', site) == {"ITSM-88", "ITSM-10"}
    assert key_set("objectType != Person and objectSchemaId = 2", site) == {"PEO-1", "PEO-2"}


def test_key_object_id_and_label(site: FakeCatalog) -> None:
    assert keys('Key = "ITSM-88"', site) == ["ITSM-88"]
    assert keys("key = itsm-88", site) == ["ITSM-88"]
    assert key_set("Key in (ITSM-9, PEO-1, NOPE-1)", site) == {"ITSM-9", "PEO-1"}
    assert keys("objectId = 88", site) == ["ITSM-88"]
    assert key_set("objectId >= 9 and objectId < 88", site) == {"ITSM-9", "ITSM-10"}
    assert keys("label = syd-1", site) == ["ITSM-88"]
    assert keys('Label == "SYD-1"', site) == ["ITSM-88"]
    assert keys('Label == "syd-1"', site) == []


def test_keywords_and_operators_ignore_case(site: FakeCatalog) -> None:
    assert keys("OBJECTTYPEID = 11 AND name LIKE syd", site) == ["ITSM-88"]
    assert keys("objecttypeid = 11 and Name Like syd", site) == ["ITSM-88"]
    assert key_set("objectTypeId = 11 Or objectTypeId = 12", site) == {"ITSM-88", "ITSM-10"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('Created > "2024-01-10"', {"ITSM-88", "ITSM-9", "ITSM-10"}),  # 10 Jan 09:15 is after midnight
        ('Created >= "2024-01-11"', {"ITSM-9", "ITSM-10"}),
        ('Created < "2024-01-02"', {"PEO-1", "PEO-2"}),
        ('Created <= "2024-01-02"', {"PEO-1", "PEO-2", "PEO-3"}),
        ('Created = "2024-01-10"', {"ITSM-88"}),  # a date is its whole day
        ('Created = "2024-01-10 09:15"', {"ITSM-88"}),
        ('Created = "2024-01-10 09:16"', set()),
        ('Updated >= "2024-01-31 10:00"', {"ITSM-88"}),
        ('Updated > "2024-01-31T09:59:59.999Z"', {"ITSM-88"}),
        ('Updated > "2024-01-31T11:00:00+02:00"', {"ITSM-88"}),  # 09:00 UTC
        ('Updated > "2024-01-31T11:00:00+0000"', set()),
        ("Updated > 2024/01/19", {"PEO-3", "ITSM-88"}),
        ('Created != "2024-01-01"', {"PEO-3", "PEO-4", "ITSM-88", "ITSM-9", "ITSM-10"}),
    ],
)
def test_created_and_updated_compare_as_dates(site: FakeCatalog, query: str, expected: set[str]) -> None:
    assert key_set(query, site) == expected


def test_date_functions_are_relative_to_now(site: FakeCatalog) -> None:
    later = make_site()
    later.subjects[0].updated = NOW - timedelta(hours=2)
    later.subjects[1].updated = NOW - timedelta(hours=2, minutes=20)
    assert key_set("Updated > now(-2h 15m)", later) == {"PEO-1"}
    assert key_set('Updated > now("-2h 30m")', later) == {"PEO-1", "PEO-2"}
    assert key_set("Updated >= startOfDay()", later) == {"PEO-1", "PEO-2"}
    assert key_set("Updated < startOfDay(-1)", later) == {s.key for s in later.subjects[2:]}
    assert key_set("Updated > endOfDay()", later) == set()
    assert key_set("Updated >= startOfWeek() and Updated <= endOfMonth()", later) == {"PEO-1", "PEO-2"}
    january = "Updated >= startOfYear() and Updated < startOfMonth(-1M)"
    assert key_set(f"{january} and Updated > 2024-01-19", later) == {"ITSM-88", "PEO-3"}
    assert key_set("Updated > endOfMonth(-2M)", later) == {"PEO-1", "PEO-2"}
    assert "invalid time offset" in error("Updated > now(-2x)", later)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("Created > now(99999999999d)", "now(99999999999d) falls outside the supported dates"),
        ("Created > now(-2024y)", "falls outside"),
        ("Created > startOfYear(9999y)", "startOfYear(9999y) falls outside"),
        ("Created > endOfMonth(+99999999M)", "falls outside"),
        (f"Created > now({'9' * 5000}s)", "falls outside"),
        ('Created > "2024-01-31T10:00:00+99:99"', "not a valid date for Created"),
        ('Created > "2024-01-31T10:00:00+18:01"', "not a valid date"),
        ('Created > "2024-01-31T10:00:00-1860"', "not a valid date"),
        ('Created > "9999-12-31T23:59-01:00"', "not a valid date"),  # after year 9999 in UTC
        ('Created > "0001-01-01T00:30+01:00"', "not a valid date"),
        ('Created > "\uff12\uff10\uff12\uff14-01-31"', "not a valid date"),
        ("objectTypeId = \u00b2", "is not a valid id"),
        ("objectSchemaId = \uff11", "is not a valid id"),
        ("objectType in objectTypeAndChildren(\u00b2)", "object type '\u00b2'"),
    ],
)
def test_dates_out_of_range_and_non_ascii_digits_are_aql_errors(
    site: FakeCatalog, query: str, fragment: str
) -> None:
    assert fragment in error(query, site)


def test_the_last_dates_of_the_calendar_still_compare(site: FakeCatalog) -> None:
    everything = {subject.key for subject in site.subjects}
    assert key_set('Created < "9999-12-31T23:59"', site) == everything
    assert key_set('Created < "9999-12-31"', site) == everything
    assert key_set('Created = "9999-12-31"', site) == set()
    assert key_set('Created < "2024-01-31T10:00:00+18:00"', site) == key_set(
        'Created < "2024-01-30T16:00"', site
    )
    # Year 9999 is the last the calendar has: its end is the last instant, not an overflow.
    assert key_set("Created < endOfYear(+7975y)", site) == everything
    assert key_set("Created < startOfYear(+7975y)", site) == everything


# -- attributes and operators ----------------------------------------------------------------------


def test_equals_is_case_insensitive_and_double_equals_is_not(site: FakeCatalog) -> None:
    assert keys('Name = "syd-1"', site) == ["ITSM-88"]
    assert keys('Name == "syd-1"', site) == []
    assert keys('Name == "SYD-1"', site) == ["ITSM-88"]
    assert key_set('"Serial number" = abc', site) == {"ITSM-88", "ITSM-9"}
    assert key_set('"Serial number" == abc', site) == {"ITSM-88"}


def test_not_equals_and_missing_attributes(site: FakeCatalog) -> None:
    # Only objects whose type has the attribute take part; an empty value has no value equal to abc.
    assert key_set('"Serial number" != abc', site) == {"ITSM-10"}
    assert key_set("Email != x", site) == {"PEO-3", "PEO-4"}


def test_numbers_compare_numerically(site: FakeCatalog) -> None:
    assert key_set("Cores > 8", site) == {"ITSM-88", "ITSM-9"}
    assert key_set("Cores >= 9", site) == {"ITSM-88", "ITSM-9"}
    assert key_set("Cores < 10", site) == {"ITSM-9", "ITSM-10"}
    assert key_set("Cores <= 4", site) == {"ITSM-10"}
    assert key_set("Price = 1200.50", site) == {"ITSM-88"}
    assert key_set("Price > 100.0", site) == {"ITSM-88"}
    assert key_set("Cores = sixteen", site) == set()


def test_strings_order_ignoring_case(site: FakeCatalog) -> None:
    assert key_set("Name > m and objectSchemaId = 1", site) == {"ITSM-88", "ITSM-9"}
    assert key_set("Name < M and objectSchemaId = 1", site) == {"ITSM-10"}


def test_booleans_dates_and_times(site: FakeCatalog) -> None:
    assert keys('"In service" = true', site) == ["ITSM-88"]
    assert keys('"In service" = FALSE', site) == ["ITSM-9"]
    assert keys('"In service" > true', site) == []
    assert keys('Purchased = "2024-01-31"', site) == ["ITSM-9"]
    assert keys("Purchased < 2024-01-01", site) == ["ITSM-88"]
    assert keys("Purchased > 2024-01-30", site) == ["ITSM-9"]
    assert keys('"Last seen" = "2024-01-31 10:00"', site) == ["ITSM-88"]
    assert keys('"Last seen" > "2024-01-31 10:00:31"', site) == []
    assert keys('"Backup time" = "02:30"', site) == ["ITSM-88"]
    assert keys('"Backup time" < "03:00"', site) == ["ITSM-88"]


def test_like_startswith_endswith_ignore_case(site: FakeCatalog) -> None:
    assert key_set("Name like SYD", site) == {"ITSM-88"}
    assert key_set("Name like -", site) == {"ITSM-88", "ITSM-9"}
    assert key_set('Name not like "-" and objectSchemaId = 1', site) == {"ITSM-10"}
    assert key_set("Name startswith ted", site) == {"PEO-3"}
    assert key_set('Name endswith "-1"', site) == {"ITSM-88"}
    assert key_set("Cores like 1", site) == {"ITSM-88"}
    assert keys(r'Notes = "15\" Screen"', site) == ["ITSM-9"]
    assert keys(r"Notes like '15\"'", site) == ["ITSM-9"]


def test_in_and_not_in(site: FakeCatalog) -> None:
    assert key_set('Name in ("syd-1", "Laptop 7", nothing)', site) == {"ITSM-88", "ITSM-10"}
    assert key_set("Name not in (syd-1, HR) and objectSchemaId = 1", site) == {"ITSM-9", "ITSM-10"}
    assert key_set("Cores in (4, 9)", site) == {"ITSM-9", "ITSM-10"}


def test_object_id_in_many_ids_matches_the_same_objects_as_one_by_one(site: FakeCatalog) -> None:
    # A batch read back by id: hundreds of ids, written as integers or decimals.
    many = ", ".join(str(number) for number in range(1000, 1300))
    assert key_set(f"objectId in (9, {many}, 88.0)", site) == {"ITSM-9", "ITSM-88"}
    assert key_set(f"objectId not in (9, {many}) and objectSchemaId = 1", site) == {"ITSM-10", "ITSM-88"}
    assert key_set(f"objectId in ({many})", site) == set()


def test_is_empty_and_is_not_empty(site: FakeCatalog) -> None:
    assert key_set('"Serial number" is EMPTY', site) == {"ITSM-10"}
    assert key_set("Owner is empty", site) == {"ITSM-10"}
    assert key_set('"Serial number" IS NOT EMPTY', site) == {"ITSM-88", "ITSM-9"}
    assert key_set("Manager is not empty", site) == {"PEO-4"}
    # Departments have no Manager attribute at all: they match neither.
    assert key_set("Manager is empty", site) == {"PEO-3"}


def test_multi_value_attributes_match_on_any_value(site: FakeCatalog) -> None:
    assert key_set("Tags = linux", site) == {"ITSM-88"}
    assert key_set("Tags = prod and Tags = Linux", site) == {"ITSM-88"}
    assert key_set("Tags != linux", site) == {"ITSM-9", "ITSM-10"}
    assert key_set("Tags not in (prod, test)", site) == {"ITSM-10"}
    assert key_set('Users = "amy"', site) == {"ITSM-88"}


def test_references_compare_with_label_or_key(site: FakeCatalog) -> None:
    assert keys('Owner = "Ted Anderson"', site) == ["ITSM-88"]
    assert keys('Owner = "ted anderson"', site) == ["ITSM-88"]
    assert keys("Owner = PEO-4", site) == ["ITSM-9"]
    assert keys('Owner == "ted anderson"', site) == []
    assert keys("Owner like ander", site) == ["ITSM-88"]
    assert key_set('Owner != "Ted Anderson"', site) == {"ITSM-9", "ITSM-10"}


def test_dot_notation_follows_references(site: FakeCatalog) -> None:
    assert keys('"Belongs to".Name = HR', site) == ["PEO-3"]
    assert keys('Owner."Belongs to".Name = it', site) == ["ITSM-9"]
    assert keys('Manager.Name = "ted anderson"', site) == ["PEO-4"]
    assert keys("Owner.Key = PEO-3", site) == ["ITSM-88"]
    assert keys('Owner.Created < "2024-01-03"', site) == ["ITSM-88"]
    assert key_set("Users.Manager is not empty", site) == {"ITSM-88"}


def test_and_or_precedence_and_parentheses(site: FakeCatalog) -> None:
    assert key_set("objectTypeId = 21 or objectTypeId = 11 and Cores = 4", site) == {"PEO-1", "PEO-2"}
    assert key_set("(objectTypeId = 21 or objectTypeId = 12) and Name = HR", site) == {"PEO-1"}
    assert key_set("objectTypeId = 21 or (objectTypeId = 12 and Cores = 4)", site) == {
        "PEO-1",
        "PEO-2",
        "ITSM-10",
    }
    assert key_set("((Key = PEO-1))", site) == {"PEO-1"}


def test_having_inbound_and_outbound_references(site: FakeCatalog) -> None:
    assert key_set("object having inboundReferences()", site) == {"PEO-1", "PEO-2", "PEO-3", "PEO-4"}
    assert key_set('object having inR(objectType = "Host")', site) == {"PEO-3", "PEO-4"}
    assert key_set('object having inboundReferences("objectType = Server")', site) == {"PEO-4"}
    assert key_set("object having outR(Name = HR)", site) == {"PEO-3"}
    assert key_set("objectType = Person and object not having outboundReferences()", site) == set()
    assert key_set("objectSchemaId = 2 and object not having outboundReferences()", site) == {
        "PEO-1",
        "PEO-2",
    }


# -- ordering --------------------------------------------------------------------------------------


def test_default_order_is_label_then_id(site: FakeCatalog) -> None:
    assert keys("objectSchemaId = 2", site) == ["PEO-4", "PEO-1", "PEO-2", "PEO-3"]  # amy, HR, IT, Ted


def test_order_by_attribute_both_directions_with_missing_values_last(site: FakeCatalog) -> None:
    assert keys("objectSchemaId = 1 order by Cores", site) == ["ITSM-10", "ITSM-9", "ITSM-88"]
    assert keys("objectSchemaId = 1 ORDER BY Cores DESC", site) == ["ITSM-88", "ITSM-9", "ITSM-10"]
    assert keys("objectSchemaId = 1 order by Price asc", site) == ["ITSM-9", "ITSM-88", "ITSM-10"]
    assert keys("objectSchemaId = 1 order by Price desc", site) == ["ITSM-88", "ITSM-9", "ITSM-10"]
    assert keys("objectSchemaId = 1 order by Owner", site) == ["ITSM-9", "ITSM-88", "ITSM-10"]


def test_order_by_keywords(site: FakeCatalog) -> None:
    assert keys("objectSchemaId = 1 order by Key", site) == ["ITSM-9", "ITSM-10", "ITSM-88"]
    assert keys("objectSchemaId = 1 order by key desc", site) == ["ITSM-88", "ITSM-10", "ITSM-9"]
    assert keys("objectSchemaId = 1 order by Created desc", site) == ["ITSM-10", "ITSM-9", "ITSM-88"]
    assert keys("objectSchemaId = 1 order by label", site) == ["ITSM-10", "ITSM-9", "ITSM-88"]
    assert keys("objectSchemaId = 1 order by objectId", site) == ["ITSM-9", "ITSM-10", "ITSM-88"]
    assert keys("order by Updated desc", site)[:2] == ["ITSM-88", "PEO-3"]


def test_ties_keep_ascending_ids_in_both_directions(site: FakeCatalog) -> None:
    assert keys("objectTypeId = 21 order by Created", site) == ["PEO-1", "PEO-2"]
    assert keys("objectTypeId = 21 order by Created desc", site) == ["PEO-1", "PEO-2"]


def test_descending_flag(site: FakeCatalog) -> None:
    assert compile_aql("Name = x order by Name desc", site).descending is True
    assert compile_aql("Name = x order by Name", site).descending is False
    assert compile_aql("Name = x", site).descending is False


# -- narrowing hint --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "hint"),
    [
        ("objectSchemaId = 1", {"1"}),
        ("objectSchemaId = 1 and objectTypeId = 11", {"1"}),
        ("objectTypeId = 11 and (objectSchemaId in (1, 2) and objectSchema = People)", {"2"}),
        ('objectSchema = "IT Assets" order by Name', {"1"}),
        ("objectSchemaId = 1 or objectSchemaId = 2", None),
        ("objectSchemaId != 1", None),
        ("objectTypeId = 11", None),
        ("Owner.objectSchemaId = 2", None),
        ("", None),
    ],
)
def test_schema_ids_hint(site: FakeCatalog, query: str, hint: set[str] | None) -> None:
    assert compile_aql(query, site).schema_ids == hint


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("Colour = red", "'Colour' at position 0 is not a valid attribute"),
        ("Name = x and Colour = red", "'Colour' at position 13 is not a valid attribute"),
        ("Owner.Colour = red", "'Colour' at position 6 is not a valid attribute"),
        ("order by Colour", "'Colour' at position 9 is not a valid attribute"),
        ("Name foo bar", "unexpected token 'foo' at position 5, expected an operator"),
        ("Name = x foo", "unexpected token 'foo' at position 9, expected AND, OR or ORDER BY"),
        ("Name =", "unexpected end of query at position 6, expected a value"),
        ("Name = x and", "unexpected end of query at position 12, expected an attribute"),
        ("(Name = x", "expected ')' or AND/OR"),
        ("()", "unexpected token ')' at position 1, expected a condition"),
        ("= x", "unexpected token '=' at position 0, expected an attribute"),
        ('Name = "unterminated', "unterminated string starting at position 7"),
        ("Name ! x", "unexpected character '!' at position 5"),
        ("Name in x", "expected '(' and a list of values"),
        ("Name in (a b)", "expected ',' or ')'"),
        ("Name is blank", "expected EMPTY"),
        ("Name = foo(1)", "unknown function 'foo()' at position 7"),
        ("Owner = currentUser()", "function 'currentUser()' at position 8 is not supported"),
        (
            "object having connectedTickets(labels is empty)",
            "'connectedTickets()' at position 14 is not supported",
        ),
        ("object having foo()", "'foo()' at position 14 cannot be used with HAVING"),
        ("object having inR(objectType = Host, refType(Owner))", "reference type filters"),
        ("Name = objectTypeAndChildren(Host)", "can only be used with objectType"),
        ('objectType = "Router"', "object type 'Router' at position 13 does not exist"),
        ('objectType in objectTypeAndChildren("Router")', "object type 'Router'"),
        ("objectType in objectTypeAndChildren(999)", "object type '999'"),
        ("objectSchema = Nope", "object schema 'Nope' at position 15 does not exist"),
        ("objectType like Host", "operator 'like' cannot be used with objectType"),
        ("objectTypeId = abc", "'abc' at position 15 is not a valid id"),
        ("objectId = abc", "'abc' at position 11 is not a number"),
        ("objectId > abc", "is not a number"),
        ('Created > "yesterday"', "'yesterday' at position 10 is not a valid date for Created"),
        ('Created > "2024-02-30"', "not a valid date"),
        ("Key.Name = x", "'Key' at position 0 is not a reference attribute"),
        ("Owner..Name = x", "empty attribute name"),
        ("Owner. = x", "attribute path ends with '.'"),
        ("order by Name, Cores", "order by takes a single attribute"),
        ("order by objectType", "cannot order by objectType"),
        ("Name = x order by Name sideways", "expected end of query"),
        ("Owner having inR()", "HAVING is only supported as 'object having ...'"),
        ("Name = and", "expected a value"),
    ],
)
def test_invalid_queries_raise_aql_errors(site: FakeCatalog, query: str, fragment: str) -> None:
    message = error(query, site)
    assert message.startswith("AQL: ")
    assert fragment in message

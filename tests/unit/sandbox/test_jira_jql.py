"""The sandbox's JQL parser: tokens, strings with escapes, precedence, and refusal of anything else."""

from __future__ import annotations

import pytest

from airflow_assets.sandbox.jql import And, Clause, FieldRef, FunctionCall, JqlError, Not, Or, Sort, parse_jql


def test_quoted_strings_keep_escaped_quotes_and_backslashes() -> None:
    query = parse_jql(r'"Affected assets" IN aqlFunction("Key = \"CUST-5\" AND Name like \\x \u00e9")')
    assert query.where == Clause(
        FieldRef("Affected assets"),
        "in",
        FunctionCall("aqlFunction", ('Key = "CUST-5" AND Name like \\x \u00e9',)),
    )
    single = parse_jql(r"summary ~ 'it\'s down'")
    assert single.where == Clause(FieldRef("summary"), "~", ("it's down",))


def test_and_binds_tighter_than_or_and_not_applies_to_one_clause() -> None:
    query = parse_jql(
        "key = A-1 or not key = A-2 AND (project = A or project = B) order by created DESC, key"
    )
    a1, a2 = Clause(FieldRef("key"), "=", ("A-1",)), Clause(FieldRef("key"), "=", ("A-2",))
    projects = Or((Clause(FieldRef("project"), "=", ("A",)), Clause(FieldRef("project"), "=", ("B",))))
    assert query.where == Or((a1, And((Not(a2), projects))))
    assert query.order == (Sort(FieldRef("created"), True), Sort(FieldRef("key"), False))


def test_custom_field_references_lists_and_empty_checks() -> None:
    assert parse_jql("cf[10100] is not EMPTY").where == Clause(FieldRef("cf[10100]", 10100), "is not", None)
    assert parse_jql("issue NOT IN (A-1, 'A-2')").where == Clause(FieldRef("issue"), "not in", ("A-1", "A-2"))
    assert parse_jql("order by key").where is None


@pytest.mark.parametrize(
    "jql",
    [
        "key =",
        "key = A-1 and",
        "key in ()",
        "key in (A-1,)",
        "(key = A-1",
        "key = A-1)",
        "key A-1",
        'summary ~ "open',
        r'summary ~ "bad \q escape"',
        "key ! A-1",
        "cf[abc] in aqlFunction('x')",
        "key = in",
        "order key",
        "key = A-1 order by key asc desc",
    ],
)
def test_malformed_jql_is_an_error_in_the_query(jql: str) -> None:
    with pytest.raises(JqlError) as raised:
        parse_jql(jql)
    assert raised.value.message.startswith("Error in the JQL Query: ")

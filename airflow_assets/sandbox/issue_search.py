"""Evaluate parsed JQL over the sandbox's issues: which fields and operators mean what, and the order.

Conditions the sandbox understands:

- ``key``/``issue``/``issuekey``/``id`` with ``=``, ``!=``, ``IN``, ``NOT IN`` (issue keys or ids; an unknown
  issue is an error, as in Jira);
- ``project`` with the same operators (project key, id or name);
- ``status``, ``issuetype``/``type``, ``priority`` with the same operators (names, case-insensitive);
- ``summary`` with ``~`` and ``!~`` (case-insensitive substring);
- each Assets field, by name or ``cf[<customId>]``: ``IN``/``NOT IN aqlFunction("<AQL>")`` (issues whose
  field holds any object the AQL matches) and ``IS [NOT] EMPTY``.

``ORDER BY`` takes ``key``, ``id``, ``created`` and ``updated``; without it issues come newest first. Anything
else is refused with 400, never read as "every issue".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from airflow_assets.sandbox.issue_fields import ASSETS_FIELDS
from airflow_assets.sandbox.jql import And, Clause, FieldRef, FunctionCall, JqlError, JqlQuery, Node, Not, Or
from airflow_assets.sandbox.records import IssueRecord

__all__ = ["IssueCatalog", "IssueMatcher", "compile_jql"]

IssueMatcher = Callable[[IssueRecord], bool]

_IDENTITY = frozenset({"key", "issue", "issuekey", "id"})
_NAMED = {"status": "status", "issuetype": "issuetype", "type": "issuetype", "priority": "priority"}
_LIST_OPERATORS = ("=", "!=", "in", "not in")
_SORT_KEYS: dict[str, Callable[[IssueRecord], tuple[object, ...]]] = {
    "key": lambda issue: (issue.project_key, issue.number),
    "issuekey": lambda issue: (issue.project_key, issue.number),
    "id": lambda issue: (int(issue.id),),
    "created": lambda issue: (issue.created, int(issue.id)),
    "updated": lambda issue: (issue.updated, int(issue.id)),
}


class IssueCatalog(Protocol):
    """What evaluating JQL needs from the site."""

    def jql_issue(self, text: str) -> IssueRecord | None:
        """Return the issue with this key or id."""

    def jql_project(self, text: str) -> str | None:
        """Return the key of the project with this key, id or name."""

    def jql_names(self, field: str) -> set[str]:
        """Return the known values (lower case) of ``status``, ``issuetype`` or ``priority``."""

    def jql_assets(self, aql: str) -> set[int]:
        """Return the ids of the objects an AQL query matches; raise ``JqlError`` if it is invalid."""


def compile_jql(
    query: JqlQuery, catalog: IssueCatalog
) -> tuple[IssueMatcher, Callable[[list[IssueRecord]], None]]:
    """Return a matcher for the query's condition and a function sorting issues in its order (in place)."""
    if query.where is None:
        raise JqlError(
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
            syntax=False,
        )
    matcher = _Compiler(catalog).node(query.where)
    sorts = []
    for sort in query.order:
        sort_key = _SORT_KEYS.get(sort.field.name.lower()) if sort.field.custom_id is None else None
        if sort_key is None:
            raise JqlError(f"Not able to sort using field '{sort.field}'.")
        sorts.append((sort_key, sort.descending))

    def order(issues: list[IssueRecord]) -> None:
        issues.sort(key=_SORT_KEYS["created"], reverse=True)
        # Stable sorts from the last key to the first give the first key priority.
        for sort_key, descending in reversed(sorts):
            issues.sort(key=sort_key, reverse=descending)

    return matcher, order


class _Compiler:
    def __init__(self, catalog: IssueCatalog) -> None:
        self.catalog = catalog

    def node(self, node: Node) -> IssueMatcher:
        if isinstance(node, And):
            parts = [self.node(part) for part in node.parts]
            return lambda issue: all(part(issue) for part in parts)
        if isinstance(node, Or):
            parts = [self.node(part) for part in node.parts]
            return lambda issue: any(part(issue) for part in parts)
        if isinstance(node, Not):
            inner = self.node(node.part)
            return lambda issue: not inner(issue)
        return self.clause(node)

    def clause(self, clause: Clause) -> IssueMatcher:
        field = clause.field
        name = field.name.lower()
        assets_field = _assets_field_id(field)
        if assets_field is not None:
            return self.assets_clause(clause, assets_field)
        if field.custom_id is None and name in _IDENTITY:
            return _membership(clause.operator, self.issue_keys(clause, name), lambda issue: issue.key)
        if field.custom_id is None and name == "project":
            projects = {self.project_key(value) for value in self.values(clause, _LIST_OPERATORS)}
            return _membership(clause.operator, projects, lambda issue: issue.project_key)
        if field.custom_id is None and name in _NAMED:
            kind = _NAMED[name]
            known = self.catalog.jql_names(kind)
            names = {value.lower() for value in self.values(clause, _LIST_OPERATORS)}
            unknown = sorted(names - known)
            if unknown:
                raise JqlError(
                    f"The value '{unknown[0]}' does not exist for the field '{field}'.", syntax=False
                )
            return _membership(clause.operator, names, _NAME_OF[kind])
        if field.custom_id is None and name == "summary":
            (text,) = self.values(clause, ("~", "!~"), single=True)
            needle = text.lower()
            if clause.operator == "~":
                return lambda issue: needle in issue.summary.lower()
            return lambda issue: needle not in issue.summary.lower()
        raise JqlError(f"Field '{field}' does not exist or is not supported by the sandbox.")

    def values(self, clause: Clause, operators: Iterable[str], *, single: bool = False) -> tuple[str, ...]:
        if clause.operator not in operators:
            raise JqlError(
                f"The operator '{clause.operator.upper()}' is not supported by the '{clause.field}' field."
            )
        if isinstance(clause.operand, FunctionCall):
            raise JqlError(
                f"The function '{clause.operand.name}' is not supported by the '{clause.field}' field "
                "in the sandbox."
            )
        values = clause.operand or ()
        if single and len(values) != 1:
            raise JqlError(
                f"The operator '{clause.operator}' takes one value for the '{clause.field}' field."
            )
        return values

    def issue_keys(self, clause: Clause, field: str) -> set[str]:
        """Return the keys a clause names; every one that does not exist (or may not be seen) is an error.

        Jira answers 400 with one message per such key, whatever the other keys (strict validation).
        """
        keys: set[str] = set()
        unknown: list[str] = []
        for value in self.values(clause, _LIST_OPERATORS):
            issue = self.catalog.jql_issue(value)
            if issue is None:
                unknown.append(f"An issue with key '{value}' does not exist for field '{field}'.")
            else:
                keys.add(issue.key)
        if unknown:
            raise JqlError(unknown[0], syntax=False, more=tuple(unknown[1:]))
        return keys

    def project_key(self, value: str) -> str:
        project = self.catalog.jql_project(value)
        if project is None:
            raise JqlError(f"The value '{value}' does not exist for the field 'project'.", syntax=False)
        return project

    def assets_clause(self, clause: Clause, field_id: str) -> IssueMatcher:
        def held(issue: IssueRecord) -> list[int]:
            return issue.assets_by_field.get(field_id, [])

        if clause.operator in ("is", "is not"):
            empty = clause.operator == "is"
            return lambda issue: (not held(issue)) == empty
        operand = clause.operand
        if clause.operator not in ("in", "not in") or not isinstance(operand, FunctionCall):
            raise JqlError(
                "The sandbox supports only 'IN aqlFunction(...)', 'NOT IN aqlFunction(...)' and "
                f"'IS [NOT] EMPTY' on the '{clause.field}' field."
            )
        if operand.name.lower() != "aqlfunction":
            raise JqlError(f"Unable to find JQL function '{operand.name}()'.")
        if len(operand.arguments) != 1:
            raise JqlError("Function 'aqlFunction' expects exactly one argument: an AQL query.")
        matched = self.catalog.jql_assets(operand.arguments[0])
        if clause.operator == "in":
            return lambda issue: any(object_id in matched for object_id in held(issue))
        return lambda issue: not any(object_id in matched for object_id in held(issue))


_NAME_OF: dict[str, Callable[[IssueRecord], str]] = {
    "status": lambda issue: issue.status.lower(),
    "issuetype": lambda issue: issue.issue_type.lower(),
    "priority": lambda issue: issue.priority.lower(),
}


def _assets_field_id(field: FieldRef) -> str | None:
    """Return the id of the Assets field a JQL field names (``cf[10100]`` or its name), else None."""
    for custom_id, name in ASSETS_FIELDS.items():
        if field.custom_id == custom_id or (field.custom_id is None and field.name.lower() == name.lower()):
            return f"customfield_{custom_id}"
    return None


def _membership(operator: str, wanted: set[str], value_of: Callable[[IssueRecord], str]) -> IssueMatcher:
    if operator in ("=", "in"):
        return lambda issue: value_of(issue) in wanted
    return lambda issue: value_of(issue) not in wanted

"""Assets Query Language for the sandbox: compile a query once, then test and sort many objects with it.

The grammar (see aql_parser.py) covers what Cloud AQL documents for plain searches: ``<attribute>
<operator> <value|function>`` joined with AND/OR (AND binds tighter) and parentheses, an optional
``order by <attribute> [asc|desc]``, dot notation through references and
``object [not] having inboundReferences(<aql>)``. Anything the sandbox does not understand is an AqlError
(400), never a query that silently matches everything. An empty query matches every object, as the real
``qlQuery`` does.

Semantics chosen where Atlassian does not document them (the sandbox's own decisions):

- ``=``, ``in``, ``like``, ``startswith``, ``endswith`` ignore case; ``==`` does not.
- A multi-value attribute matches when any value matches; ``!=``, ``not in`` and ``not like`` match when no
  value matches (so an object with no value matches them). An object whose type has no such attribute matches
  no condition on it at all, not even ``is EMPTY``.
- A reference value compares with the referenced object's label, and ``=``/``in`` also accept its key.
- Dates: ``=``/``!=``/``in`` match the literal's whole precision (``"2024-01-31"`` is that day,
  ``"2024-01-31 10:00"`` that minute); ``<``/``>``/``<=``/``>=`` compare with the literal's first instant,
  as JQL does. Naive times are UTC.
- ``objectType``/``objectSchema`` names that exist nowhere are an error rather than an empty result, so a
  typo in a script shows up at once.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

from airflow_assets.sandbox.aql_lexer import AqlError
from airflow_assets.sandbox.aql_parser import (
    DATE_FUNCTIONS,
    And,
    Condition,
    Expression,
    FunctionCall,
    Having,
    Literal,
    Name,
    Or,
    OrderBy,
    parse,
)
from airflow_assets.sandbox.aql_values import (
    Value,
    date_start,
    evaluate_date_function,
    instant_value,
    literal_value,
    to_utc,
)
from airflow_assets.sandbox.records import id_number

__all__ = ["AqlCatalog", "AqlError", "AqlReference", "AqlSubject", "CompiledAql", "compile_aql"]


class AqlSubject(Protocol):
    """One object, as the evaluator sees it."""

    @property
    def object_id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def object_type_id(self) -> str: ...
    @property
    def schema_id(self) -> str: ...
    @property
    def created(self) -> datetime: ...
    @property
    def updated(self) -> datetime: ...


@dataclass(frozen=True, slots=True, eq=False)
class AqlReference:
    """The value of a reference attribute: the referenced object, with its label and key."""

    label: str
    key: str
    subject: AqlSubject


class AqlCatalog(Protocol):
    """The site, as the evaluator sees it.

    ``outbound_references`` returns the objects a subject's reference attributes point to; ``object [not]
    having inboundReferences(...)``/``outboundReferences(...)`` are answered with it.
    """

    def schema_ids_named(self, name: str) -> set[str]: ...
    def type_ids_named(self, name: str) -> set[str]: ...
    def type_and_descendants(self, type_id: str) -> set[str]: ...
    def is_known_attribute(self, name: str) -> bool: ...
    def attribute_values(self, subject: AqlSubject, name: str) -> list[object] | None: ...
    def all_subjects(self) -> Iterable[AqlSubject]: ...
    def outbound_references(self, subject: AqlSubject) -> Iterable[AqlSubject]: ...


Predicate = Callable[[AqlSubject], bool]
Getter = Callable[[AqlSubject], "list[object] | None"]


class CompiledAql:
    """A compiled query: test with ``matches``, sort with ``sorted(objs, key=sort_key, reverse=descending)``.

    ``schema_ids`` is a narrowing hint: when set, only objects of these schemas can match.
    """

    __slots__ = ("_predicate", "_sort_key", "descending", "query", "schema_ids")

    def __init__(
        self,
        query: str,
        predicate: Predicate,
        sort_key: Callable[[AqlSubject], tuple[Any, ...]],
        descending: bool,
        schema_ids: set[str] | None,
    ) -> None:
        self.query = query
        self._predicate = predicate
        self._sort_key = sort_key
        self.descending = descending
        self.schema_ids = schema_ids

    def matches(self, subject: AqlSubject) -> bool:
        """Return whether ``subject`` satisfies the query."""
        return self._predicate(subject)

    def sort_key(self, subject: AqlSubject) -> tuple[Any, ...]:
        """Return the key that orders results as ``order by`` asks (default: label, then id), ties by id."""
        return self._sort_key(subject)

    def __repr__(self) -> str:
        return f"CompiledAql({self.query!r})"


def compile_aql(query: str, catalog: AqlCatalog, *, now: datetime | None = None) -> CompiledAql:
    """Compile ``query`` against ``catalog``; raise AqlError if it is not valid AQL.

    :param query: the ``qlQuery`` text; empty or blank matches every object.
    :param catalog: resolves schema, type and attribute names and reads attribute values.
    :param now: the moment ``now()``, ``startOfDay()`` etc. refer to (default: the current time).
    """
    parsed = parse(query)
    compiler = _Compiler(catalog, to_utc(now) if now is not None else datetime.now(UTC))
    predicate = compiler.expression(parsed.where) if parsed.where is not None else _always
    sort_key = compiler.sort_key(parsed.order_by)
    descending = parsed.order_by.descending if parsed.order_by is not None else False
    schema_ids = compiler.schema_hint(parsed.where)
    return CompiledAql(query, predicate, sort_key, descending, schema_ids)


def _always(subject: AqlSubject) -> bool:
    return True


# Left-hand keywords, matched case-insensitively, quoted or not; they win over attributes of the same name
# (Key, Created and Updated are system attributes of every type in Assets, with the same meaning).
_KEYWORDS = {
    "objectschemaid": "schema_id",
    "objectschema": "schema",
    "objecttypeid": "type_id",
    "objecttype": "type",
    "objectid": "object_id",
    "key": "key",
    "label": "label",
    "created": "created",
    "updated": "updated",
}
_KEYWORD_GETTERS: dict[str, Callable[[AqlSubject], object]] = {
    "schema_id": lambda subject: subject.schema_id,
    "schema": lambda subject: subject.schema_id,
    "type_id": lambda subject: subject.object_type_id,
    "type": lambda subject: subject.object_type_id,
    "object_id": lambda subject: subject.object_id,
    "key": lambda subject: subject.key,
    "label": lambda subject: subject.label,
    "created": lambda subject: subject.created,
    "updated": lambda subject: subject.updated,
}
_ID_KINDS = frozenset({"schema_id", "schema", "type_id", "type"})
_NEGATIONS = {"!=": "=", "not in": "in", "not like": "like"}
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_UNSUPPORTED_FUNCTIONS = frozenset(
    {"currentuser", "currentreporter", "user", "group", "connectedtickets", "currentproject", "anyattribute"}
)


@dataclass(frozen=True, slots=True)
class _Field:
    """A resolved left-hand side: how to read its values, and what kind of thing it is."""

    name: str
    kind: str  # "attribute" or a _KEYWORDS kind
    getter: Getter
    single: Callable[[AqlSubject], object] | None  # fast path for one-valued keyword fields


class _Compiler:
    def __init__(self, catalog: AqlCatalog, now: datetime) -> None:
        self._catalog = catalog
        self._now = now
        self._schema_sets: dict[int, set[str]] = {}

    # -- expressions -------------------------------------------------------------------------------

    def expression(self, node: Expression) -> Predicate:
        if isinstance(node, And):
            parts = tuple(self.expression(part) for part in node.parts)
            return lambda subject: all(part(subject) for part in parts)
        if isinstance(node, Or):
            parts = tuple(self.expression(part) for part in node.parts)
            return lambda subject: any(part(subject) for part in parts)
        if isinstance(node, Having):
            return self._having(node)
        return self._condition(node)

    def schema_hint(self, node: Expression | None) -> set[str] | None:
        """Return the schemas that top-level objectSchemaId/objectSchema conditions restrict matches to."""
        if node is None:
            return None
        hint: set[str] | None = None
        for part in _conjuncts(node):
            ids = self._schema_sets.get(id(part))
            if ids is not None:
                hint = set(ids) if hint is None else hint & ids
        return hint

    # -- fields ------------------------------------------------------------------------------------

    def _field(self, path: tuple[Name, ...]) -> _Field:
        *through, last = path
        field = self._single_field(last, allow_attribute=True)
        for name in reversed(through):
            if name.text.casefold() in _KEYWORDS:
                raise AqlError(
                    f"AQL: '{name.text}' at position {name.position} is not a reference attribute and "
                    "cannot be followed by '.'"
                )
            self._require_attribute(name)
            field = _through_reference(self._catalog, name.text, field)
        return field

    def _single_field(self, name: Name, *, allow_attribute: bool) -> _Field:
        kind = _KEYWORDS.get(name.text.casefold())
        if kind is not None:
            single = _KEYWORD_GETTERS[kind]
            return _Field(name.text, kind, lambda subject: [single(subject)], single)
        self._require_attribute(name)
        catalog = self._catalog
        attribute = name.text
        return _Field(
            attribute, "attribute", lambda subject: catalog.attribute_values(subject, attribute), None
        )

    def _require_attribute(self, name: Name) -> None:
        if not self._catalog.is_known_attribute(name.text):
            raise AqlError(f"AQL: '{name.text}' at position {name.position} is not a valid attribute")

    # -- conditions --------------------------------------------------------------------------------

    def _condition(self, condition: Condition) -> Predicate:
        field = self._field(condition.path)
        op = condition.operator
        if op in ("is empty", "is not empty"):
            return _emptiness(field.getter, op == "is empty")
        operands = condition.operand if isinstance(condition.operand, tuple) else (condition.operand,)
        positive_op = _NEGATIONS.get(op, op)
        negated = op in _NEGATIONS
        value_test: Callable[[object], bool]
        if field.kind in _ID_KINDS and positive_op in ("=", "==", "in"):
            ids = self._id_set(field, operands, condition)
            if field.kind in ("schema", "schema_id") and not negated and len(condition.path) == 1:
                self._schema_sets[id(condition)] = ids
            value_test = ids.__contains__
        elif field.kind in ("schema", "type"):
            raise AqlError(
                f"AQL: operator '{op}' cannot be used with {field.name} (position {condition.position}); "
                "use =, !=, in or not in"
            )
        else:
            if field.kind in ("schema_id", "type_id"):
                # Ordering ids compares them as numbers.
                field = _numeric_id_field(field)
            values = [self._value(operand, field) for operand in operands if operand is not None]
            value_test = _value_test(positive_op, values)
            if field.kind == "object_id" and positive_op == "in" and len(values) > 1:
                value_test = _object_id_test(values, value_test)
        if field.single is not None:
            single = field.single
            if negated:
                return lambda subject: not value_test(single(subject))
            return lambda subject: value_test(single(subject))
        getter = field.getter
        if negated:

            def no_value_matches(subject: AqlSubject) -> bool:
                found = getter(subject)
                return found is not None and not any(map(value_test, found))

            return no_value_matches

        def some_value_matches(subject: AqlSubject) -> bool:
            found = getter(subject)
            return found is not None and any(map(value_test, found))

        return some_value_matches

    def _value(self, operand: Literal | FunctionCall, field: _Field) -> Value:
        if isinstance(operand, FunctionCall):
            lowered = operand.name.casefold()
            if lowered not in DATE_FUNCTIONS:
                if lowered == "objecttypeandchildren":
                    raise AqlError(
                        f"AQL: objectTypeAndChildren() at position {operand.position} can only be used with "
                        "objectType or objectTypeId"
                    )
                raise _function_error(operand)
            arguments = [argument.text for argument in operand.arguments if isinstance(argument, Literal)]
            return instant_value(evaluate_date_function(operand.name, arguments, self._now))
        value = literal_value(operand.text)
        if field.kind in ("object_id", "id_number") and value.number is None:
            raise AqlError(
                f"AQL: '{operand.text}' at position {operand.position} is not a number ({field.name})"
            )
        if field.kind in ("created", "updated") and value.instant is None:
            raise AqlError(
                f"AQL: '{operand.text}' at position {operand.position} is not a valid date for {field.name}: "
                'use e.g. "2024-01-31", "2024-01-31 10:00" or "2024-01-31T10:00:00.000Z"'
            )
        return value

    def _id_set(
        self, field: _Field, operands: tuple[Literal | FunctionCall | None, ...], condition: Condition
    ) -> set[str]:
        ids: set[str] = set()
        for operand in operands:
            if operand is None:
                continue
            if isinstance(operand, FunctionCall):
                if operand.name.casefold() != "objecttypeandchildren" or field.kind not in (
                    "type",
                    "type_id",
                ):
                    if operand.name.casefold() == "objecttypeandchildren":
                        raise AqlError(
                            f"AQL: objectTypeAndChildren() at position {operand.position} can only be used "
                            "with objectType or objectTypeId"
                        )
                    raise _function_error(operand)
                ids |= self._type_and_children(operand)
            elif field.kind == "type":
                named = self._catalog.type_ids_named(operand.text)
                if not named:
                    raise AqlError(
                        f"AQL: object type '{operand.text}' at position {operand.position} does not exist"
                    )
                ids |= named
            elif field.kind == "schema":
                named = self._catalog.schema_ids_named(operand.text)
                if not named:
                    raise AqlError(
                        f"AQL: object schema '{operand.text}' at position {operand.position} does not exist"
                    )
                ids |= named
            else:
                ids.add(_normalise_id(operand, field.name))
        return ids

    def _type_and_children(self, call: FunctionCall) -> set[str]:
        if len(call.arguments) != 1 or not isinstance(call.arguments[0], Literal):
            raise AqlError(
                f"AQL: objectTypeAndChildren() at position {call.position} takes one object type name or id"
            )
        argument = call.arguments[0]
        roots = self._catalog.type_ids_named(argument.text)
        number = id_number(argument.text.strip())
        if not roots and number is not None:
            roots = {str(number)}
        found: set[str] = set()
        for root in roots:
            found |= self._catalog.type_and_descendants(root)
        if not found:
            raise AqlError(
                f"AQL: object type '{argument.text}' at position {argument.position} does not exist"
            )
        return found

    # -- having ------------------------------------------------------------------------------------

    def _having(self, node: Having) -> Predicate:
        function = node.function
        if function.name not in ("inboundReferences", "outboundReferences"):
            raise _function_error(function)
        if len(function.arguments) > 1:
            raise AqlError(
                f"AQL: reference type filters in {function.name}() at position {function.position} are not "
                "supported by the sandbox"
            )
        inner = function.arguments[0] if function.arguments else None
        # The parser reads the first argument of a reference function as a sub-query, never a literal.
        assert not isinstance(inner, Literal)
        inner_predicate = self.expression(inner) if inner is not None else _always
        inbound = function.name == "inboundReferences"
        related = _RelatedIds(self._catalog, inner_predicate, inbound=inbound)
        test = related.inbound if inbound else related.outbound
        if node.negated:
            return lambda subject: not test(subject)
        return test

    # -- ordering ----------------------------------------------------------------------------------

    def sort_key(self, order_by: OrderBy | None) -> Callable[[AqlSubject], tuple[Any, ...]]:
        if order_by is None:
            return lambda subject: (subject.label.casefold(), subject.label, subject.object_id)
        field = self._field(order_by.path)
        if field.kind in ("schema", "type"):
            raise AqlError(
                f"AQL: cannot order by {field.name}; order by an attribute, label, Key, Created or Updated"
            )
        getter = field.getter
        rank = _key_sort_value if field.kind == "key" else _sort_value
        if field.kind in ("schema_id", "type_id"):
            getter = _numeric_id_field(field).getter
        # With reverse=True the whole tuple flips, so missing values and ties need their own flags to stay
        # "missing last, ties by ascending id" in both directions.
        present, missing, id_sign = (1, 0, -1) if order_by.descending else (0, 1, 1)

        def key(subject: AqlSubject) -> tuple[Any, ...]:
            found = getter(subject)
            if found:
                first = found[0]
                if first is not None and first != "":
                    return (present, *rank(first), id_sign * subject.object_id)
            return (missing, 0, 0, id_sign * subject.object_id)

        return key


class _RelatedIds:
    """Compute once, lazily, the ids related through references to the objects the sub-query matches."""

    def __init__(
        self,
        catalog: AqlCatalog,
        predicate: Predicate,
        *,
        inbound: bool,
    ) -> None:
        self._catalog = catalog
        self._predicate = predicate
        self._inbound = inbound
        self._ids: set[int] | None = None

    def _related(self) -> set[int]:
        if self._ids is None:
            matching = [subject for subject in self._catalog.all_subjects() if self._predicate(subject)]
            if self._inbound:
                # Objects referenced by a match: each has an inbound reference from it.
                self._ids = {
                    target.object_id
                    for source in matching
                    for target in self._catalog.outbound_references(source)
                }
            else:
                self._ids = {subject.object_id for subject in matching}
        return self._ids

    def inbound(self, subject: AqlSubject) -> bool:
        return subject.object_id in self._related()

    def outbound(self, subject: AqlSubject) -> bool:
        related = self._related()
        return any(target.object_id in related for target in self._catalog.outbound_references(subject))


def _conjuncts(node: Expression) -> list[Expression]:
    if isinstance(node, And):
        return [leaf for part in node.parts for leaf in _conjuncts(part)]
    return [node]


def _function_error(call: FunctionCall) -> AqlError:
    if call.name.casefold() in _UNSUPPORTED_FUNCTIONS:
        return AqlError(
            f"AQL: function '{call.name}()' at position {call.position} is not supported by the sandbox"
        )
    return AqlError(f"AQL: unknown function '{call.name}()' at position {call.position}")


def _normalise_id(operand: Literal, what: str) -> str:
    number = id_number(operand.text.strip())
    if number is None:
        raise AqlError(f"AQL: '{operand.text}' at position {operand.position} is not a valid id ({what})")
    return str(number)


def _numeric_id_field(field: _Field) -> _Field:
    """Return ``field`` reading ids as numbers, so that ``objectTypeId > 9`` orders 10 after 9."""
    getter = field.getter
    single = field.single

    def numbers(subject: AqlSubject) -> list[object] | None:
        found = getter(subject)
        return None if found is None else [_as_number(value) for value in found]

    fast = None if single is None else (lambda subject: _as_number(single(subject)))
    return _Field(field.name, "id_number", numbers, fast)


def _as_number(value: object) -> object:
    text = str(value)
    number = id_number(text)
    return text if number is None else number


def _through_reference(catalog: AqlCatalog, attribute: str, target: _Field) -> _Field:
    """Return a field reading ``target`` on the objects that ``attribute`` references (dot notation)."""
    inner = target.getter

    def getter(subject: AqlSubject) -> list[object] | None:
        references = catalog.attribute_values(subject, attribute)
        if references is None:
            return None
        found: list[object] = []
        has_attribute = not references
        for reference in references:
            if isinstance(reference, AqlReference):
                values = inner(reference.subject)
                if values is not None:
                    has_attribute = True
                    found.extend(values)
        return found if has_attribute else None

    return _Field(f"{attribute}.{target.name}", target.kind, getter, None)


def _emptiness(getter: Getter, want_empty: bool) -> Predicate:
    def test(subject: AqlSubject) -> bool:
        found = getter(subject)
        if found is None:
            return False
        empty = all(value is None or value == "" for value in found)
        return empty is want_empty

    return test


# -- comparing one value with the query's literals -------------------------------------------------


def _value_test(op: str, values: list[Value]) -> Callable[[object], bool]:
    """Return a test of one attribute value against the literal(s) for a positive operator."""
    if op in ("=", "in"):
        if len(values) == 1:
            only = values[0]
            return lambda value: _equals(value, only, False)
        return lambda value: any(_equals(value, literal, False) for literal in values)
    if op == "==":
        only = values[0]
        return lambda value: _equals(value, only, True)
    if op in _ORDERINGS:
        compare = _ORDERINGS[op]
        only = values[0]

        def ordered(value: object) -> bool:
            pair = _ordering_pair(value, only)
            return pair is not None and compare(pair[0], pair[1])

        return ordered
    needle = values[0].folded
    if op == "like":
        return lambda value: needle in _text(value).casefold()
    if op == "startswith":
        return lambda value: _text(value).casefold().startswith(needle)
    if op == "endswith":
        return lambda value: _text(value).casefold().endswith(needle)
    raise AqlError(f"AQL: unsupported operator '{op}'")


def _object_id_test(values: list[Value], general: Callable[[object], bool]) -> Callable[[object], bool]:
    """Return ``objectId in (...)``'s test as one set lookup per object (the same answers as ``general``).

    A client reading a batch back by id sends hundreds of ids: testing each object of the site against every
    literal would cost the sandbox seconds per request, which Jira does not.
    """
    numbers = {literal.number for literal in values if literal.number is not None}
    return lambda value: value in numbers if type(value) is int else general(value)


def _equals(value: object, literal: Value, case_sensitive: bool) -> bool:
    if isinstance(value, str):
        return value == literal.text if case_sensitive else value.casefold() == literal.folded
    if isinstance(value, AqlReference):
        if case_sensitive:
            return literal.text in (value.label, value.key)
        return literal.folded in (value.label.casefold(), value.key.casefold())
    if isinstance(value, bool):
        return literal.boolean is not None and value is literal.boolean
    if isinstance(value, int | float):
        return literal.number is not None and value == literal.number
    if isinstance(value, datetime):
        window = literal.instant
        return window is not None and window.start <= to_utc(value) < window.end
    if isinstance(value, date):
        window = literal.instant
        return window is not None and window.start <= date_start(value) < window.end
    if isinstance(value, time):
        return literal.time_of_day is not None and value.replace(microsecond=0) == literal.time_of_day
    if value is None:
        return False
    return str(value) == literal.text if case_sensitive else str(value).casefold() == literal.folded


def _ordering_pair(value: object, literal: Value) -> tuple[Any, Any] | None:
    """Return (value, literal) in comparable form, or None when they cannot be ordered."""
    if isinstance(value, str):
        return value.casefold(), literal.folded
    if isinstance(value, AqlReference):
        return value.label.casefold(), literal.folded
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return (value, literal.number) if literal.number is not None else None
    if isinstance(value, datetime):
        return (to_utc(value), literal.instant.start) if literal.instant is not None else None
    if isinstance(value, date):
        return (date_start(value), literal.instant.start) if literal.instant is not None else None
    if isinstance(value, time):
        return (value, literal.time_of_day) if literal.time_of_day is not None else None
    return None


def _text(value: object) -> str:
    """Render a value as the text ``like``/``startswith``/``endswith`` search in."""
    if isinstance(value, str):
        return value
    if isinstance(value, AqlReference):
        return value.label
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | time):
        return value.isoformat()
    return "" if value is None else str(value)


def _sort_value(value: object) -> tuple[int, Any]:
    """Return (rank, comparable): values of different kinds never compare directly."""
    if isinstance(value, str):
        return 3, (value.casefold(), value)
    if isinstance(value, AqlReference):
        return 3, (value.label.casefold(), value.label)
    if isinstance(value, bool):
        return 0, int(value)
    if isinstance(value, int | float):
        return 0, value
    if isinstance(value, datetime):
        return 1, to_utc(value)
    if isinstance(value, date):
        return 1, date_start(value)
    if isinstance(value, time):
        return 2, value
    text = str(value)
    return 3, (text.casefold(), text)


def _key_sort_value(value: object) -> tuple[int, Any]:
    """Order keys naturally: ITSM-9 before ITSM-10."""
    text = str(value)
    prefix, _, suffix = text.rpartition("-")
    number = id_number(suffix)
    if number is not None:
        return 4, (prefix.casefold(), number)
    return 3, (text.casefold(), text)

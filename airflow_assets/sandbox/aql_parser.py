"""Parse AQL tokens into a small syntax tree (recursive descent; AND binds tighter than OR)."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_assets.sandbox.aql_lexer import AqlError, Token, TokenKind, tokenize

# Functions whose single argument is itself an AQL query.
REFERENCE_FUNCTIONS = {
    "inboundreferences": "inboundReferences",
    "inr": "inboundReferences",
    "outboundreferences": "outboundReferences",
    "outr": "outboundReferences",
}
# Date functions take a free-form offset such as ``-2h 15m``: their arguments are raw word runs.
DATE_FUNCTIONS = frozenset(
    {
        "now",
        "startofday",
        "endofday",
        "startofweek",
        "endofweek",
        "startofmonth",
        "endofmonth",
        "startofyear",
        "endofyear",
    }
)
COMPARISON_OPERATORS = frozenset({"=", "==", "!=", "<", ">", "<=", ">="})


@dataclass(frozen=True, slots=True)
class Name:
    """One segment of an attribute path (``"Belongs to".Name`` has two)."""

    text: str
    quoted: bool
    position: int


@dataclass(frozen=True, slots=True)
class Literal:
    """A value written in the query: a bare word, a number or a quoted string."""

    text: str
    quoted: bool
    position: int


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A function such as ``objectTypeAndChildren("Host")``; arguments are literals or sub-queries."""

    name: str
    arguments: tuple[Literal | Expression | None, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Condition:
    """``path operator operand``; ``operand`` is None for ``is EMPTY``/``is not EMPTY``."""

    path: tuple[Name, ...]
    operator: str
    operand: Literal | FunctionCall | tuple[Literal | FunctionCall, ...] | None
    position: int


@dataclass(frozen=True, slots=True)
class Having:
    """``object [not] having inboundReferences(...)`` / ``outboundReferences(...)``."""

    negated: bool
    function: FunctionCall
    position: int


@dataclass(frozen=True, slots=True)
class And:
    """All parts hold."""

    parts: tuple[Expression, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one part holds."""

    parts: tuple[Expression, ...]


Expression = Condition | Having | And | Or


@dataclass(frozen=True, slots=True)
class OrderBy:
    """``order by path [asc|desc]``."""

    path: tuple[Name, ...]
    descending: bool


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query; ``where`` is None when the query has no condition (it matches every object)."""

    where: Expression | None
    order_by: OrderBy | None


def parse(query: str) -> Query:
    """Parse ``query``; raise AqlError naming the offending token and its position."""
    return _Parser(tokenize(query)).parse_query()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0

    @property
    def _current(self) -> Token:
        return self._tokens[self._index]

    def _peek(self, ahead: int = 1) -> Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _advance(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not TokenKind.END:
            self._index += 1
        return token

    def _expect(self, kind: TokenKind, what: str) -> Token:
        if self._current.kind is not kind:
            raise self._unexpected(what)
        return self._advance()

    def _unexpected(self, expected: str) -> AqlError:
        token = self._current
        if token.kind is TokenKind.END:
            return AqlError(f"AQL: unexpected end of query at position {token.position}, expected {expected}")
        return AqlError(
            f"AQL: unexpected token {token.describe()} at position {token.position}, expected {expected}"
        )

    def _at_order_by(self) -> bool:
        return self._current.is_word("order") and self._peek().is_word("by")

    def parse_query(self) -> Query:
        where: Expression | None = None
        if self._current.kind is not TokenKind.END and not self._at_order_by():
            where = self._parse_or()
        order_by = self._parse_order_by() if self._at_order_by() else None
        if self._current.kind is not TokenKind.END:
            expected = "AND, OR or ORDER BY" if order_by is None else "end of query"
            raise self._unexpected(expected)
        return Query(where, order_by)

    def _parse_order_by(self) -> OrderBy:
        self._advance()
        self._advance()
        path = self._parse_path("an attribute to order by")
        descending = False
        if self._current.is_word("asc", "desc"):
            descending = self._advance().text.casefold() == "desc"
        if self._current.kind is TokenKind.COMMA:
            raise AqlError(
                "AQL: order by takes a single attribute "
                f"(unexpected ',' at position {self._current.position})"
            )
        return OrderBy(path, descending)

    def _parse_or(self) -> Expression:
        parts = [self._parse_and()]
        while self._current.is_word("or"):
            self._advance()
            parts.append(self._parse_and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _parse_and(self) -> Expression:
        parts = [self._parse_primary()]
        while self._current.is_word("and"):
            self._advance()
            parts.append(self._parse_primary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _parse_primary(self) -> Expression:
        token = self._current
        if token.kind is TokenKind.LPAREN:
            self._advance()
            if self._current.kind is TokenKind.RPAREN:
                raise self._unexpected("a condition")
            inner = self._parse_or()
            self._expect(TokenKind.RPAREN, "')' or AND/OR")
            return inner
        if token.is_word("object") and (
            self._peek().is_word("having")
            or (self._peek().is_word("not") and self._peek(2).is_word("having"))
        ):
            return self._parse_having()
        if token.is_word("and", "or") or token.kind not in (TokenKind.WORD, TokenKind.STRING):
            raise self._unexpected("an attribute")
        return self._parse_condition()

    def _parse_having(self) -> Having:
        position = self._advance().position
        negated = False
        if self._current.is_word("not"):
            self._advance()
            negated = True
        self._advance()
        if not (self._current.kind is TokenKind.WORD and self._peek().kind is TokenKind.LPAREN):
            raise self._unexpected("a function such as inboundReferences(...) after HAVING")
        function = self._parse_function()
        if function.name not in ("inboundReferences", "outboundReferences", "connectedTickets"):
            raise AqlError(
                f"AQL: function '{function.name}()' at position {function.position} "
                "cannot be used with HAVING"
            )
        return Having(negated, function, position)

    def _parse_path(self, what: str) -> tuple[Name, ...]:
        """Read ``Name``, ``"Belongs to".Name`` or ``Owner."Full name"``: adjacent names joined by dots."""
        token = self._current
        if token.kind not in (TokenKind.WORD, TokenKind.STRING) or token.is_word("and", "or"):
            raise self._unexpected(what)
        names: list[Name] = []
        pending_dot = True  # a name may start here
        previous_end = token.position
        while (
            self._current.kind in (TokenKind.WORD, TokenKind.STRING)
            and self._current.position == previous_end
        ):
            token = self._advance()
            previous_end = token.end
            if token.kind is TokenKind.STRING:
                if not pending_dot:
                    raise AqlError(
                        f"AQL: expected '.' before {token.describe()} at position {token.position}"
                    )
                names.append(Name(token.text, True, token.position))
                pending_dot = False
                continue
            offset = token.position
            for index, part in enumerate(token.text.split(".")):
                if index > 0:
                    if pending_dot:
                        raise AqlError(f"AQL: empty attribute name in '{token.text}' at position {offset}")
                    pending_dot = True
                if part:
                    if not pending_dot:
                        raise AqlError(f"AQL: expected '.' before '{part}' at position {offset}")
                    names.append(Name(part, False, offset))
                    pending_dot = False
                offset += len(part) + 1
        if pending_dot:
            raise AqlError(f"AQL: attribute path ends with '.' at position {previous_end - 1}")
        return tuple(names)

    def _parse_condition(self) -> Condition:
        position = self._current.position
        path = self._parse_path("an attribute")
        token = self._current
        if token.kind is TokenKind.OPERATOR:
            operator = self._advance().text
            return Condition(path, operator, self._parse_operand(), position)
        lowered = token.text.casefold() if token.kind is TokenKind.WORD else ""
        if lowered in ("like", "startswith", "endswith"):
            self._advance()
            return Condition(path, lowered, self._parse_operand(), position)
        if lowered == "in":
            self._advance()
            return Condition(path, "in", self._parse_list(), position)
        if lowered == "not" and self._peek().is_word("like", "in"):
            self._advance()
            negated = self._advance().text.casefold()
            operand = self._parse_list() if negated == "in" else self._parse_operand()
            return Condition(path, f"not {negated}", operand, position)
        if lowered == "is":
            self._advance()
            operator = "is empty"
            if self._current.is_word("not"):
                self._advance()
                operator = "is not empty"
            if not self._current.is_word("empty"):
                raise self._unexpected("EMPTY")
            self._advance()
            return Condition(path, operator, None, position)
        if lowered in ("having", "not"):
            raise AqlError(
                f"AQL: '{token.text}' at position {token.position}: "
                "HAVING is only supported as 'object having ...'"
            )
        raise self._unexpected("an operator (=, ==, !=, <, >, <=, >=, like, in, is, startswith, endswith)")

    def _parse_operand(self) -> Literal | FunctionCall:
        token = self._current
        if token.kind is TokenKind.WORD and self._peek().kind is TokenKind.LPAREN:
            return self._parse_function()
        if token.kind is TokenKind.STRING or (
            token.kind is TokenKind.WORD and not token.is_word("and", "or")
        ):
            self._advance()
            return Literal(token.text, token.quoted, token.position)
        raise self._unexpected("a value")

    def _parse_list(self) -> FunctionCall | tuple[Literal | FunctionCall, ...]:
        if self._current.kind is TokenKind.WORD and self._peek().kind is TokenKind.LPAREN:
            return self._parse_function()
        self._expect(TokenKind.LPAREN, "'(' and a list of values")
        items = [self._parse_operand()]
        while self._current.kind is TokenKind.COMMA:
            self._advance()
            items.append(self._parse_operand())
        self._expect(TokenKind.RPAREN, "',' or ')'")
        return tuple(items)

    def _parse_function(self) -> FunctionCall:
        name_token = self._advance()
        lowered = name_token.text.casefold()
        self._expect(TokenKind.LPAREN, "'('")
        arguments: list[Literal | Expression | None] = []
        if lowered in REFERENCE_FUNCTIONS:
            arguments.append(self._parse_subquery_argument())
            while self._current.kind is TokenKind.COMMA:
                self._advance()
                if self._current.kind is TokenKind.WORD and self._peek().kind is TokenKind.LPAREN:
                    # Reference type filters such as refType("Owner"); kept by name, rejected when compiled.
                    nested = self._parse_function()
                    arguments.append(Literal(nested.name, False, nested.position))
                else:
                    arguments.append(self._parse_raw_argument())
            name = REFERENCE_FUNCTIONS[lowered]
        else:
            if self._current.kind is not TokenKind.RPAREN:
                arguments.append(self._parse_raw_argument())
                while self._current.kind is TokenKind.COMMA:
                    self._advance()
                    arguments.append(self._parse_raw_argument())
            name = name_token.text
        self._expect(TokenKind.RPAREN, "',' or ')'")
        return FunctionCall(name, tuple(arguments), name_token.position)

    def _parse_subquery_argument(self) -> Expression | None:
        if self._current.kind in (TokenKind.RPAREN, TokenKind.COMMA):
            return None  # inboundReferences() = referenced by anything
        token = self._current
        if token.kind is TokenKind.STRING and self._peek().kind in (TokenKind.RPAREN, TokenKind.COMMA):
            # Some scripts quote the inner query: inR("objectType = Host").
            self._advance()
            try:
                inner = parse(token.text)
            except AqlError as error:
                raise AqlError(
                    f"{error.message} (inside the query quoted at position {token.position})"
                ) from None
            if inner.order_by is not None:
                raise AqlError(f"AQL: order by is not allowed inside the query at position {token.position}")
            return inner.where
        return self._parse_or()

    def _parse_raw_argument(self) -> Literal:
        """Read one argument: a quoted string, or bare words (``-2h 15m``) joined by single spaces."""
        token = self._current
        if token.kind is TokenKind.STRING:
            self._advance()
            return Literal(token.text, True, token.position)
        words: list[str] = []
        while self._current.kind is TokenKind.WORD:
            words.append(self._advance().text)
        if not words:
            raise self._unexpected("a function argument")
        return Literal(" ".join(words), False, token.position)

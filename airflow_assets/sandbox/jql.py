"""The JQL the sandbox understands: a tokenizer and a parser into a small tree.

Grammar (keywords, field names and function names are case-insensitive)::

    query    := [or] [ORDER BY sort ("," sort)*]
    or       := and (OR and)*
    and      := not (AND not)*
    not      := NOT not | "(" or ")" | clause
    clause   := field ("=" | "!=" | "~" | "!~" | "<" | ">" | "<=" | ">=") operand
              | field [NOT] IN (list | function)
              | field IS [NOT] (EMPTY | NULL)
    operand  := value | function
    list     := "(" value ("," value)* ")"
    function := word "(" [value ("," value)*] ")"
    field    := word | string | "cf" "[" number "]"
    sort     := field [ASC | DESC]
    value    := word | string            (strings in "..." or '...' with backslash escapes)

Which fields, operators and functions mean something is decided by ``issue_search``; this module only
checks the syntax, so that nothing malformed is ever read as "every issue".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NoReturn

__all__ = [
    "And",
    "Clause",
    "FieldRef",
    "FunctionCall",
    "JqlError",
    "JqlQuery",
    "Node",
    "Not",
    "Or",
    "Sort",
    "parse_jql",
]

# Jira refuses these as bare values: they must be quoted to be used as text.
RESERVED_WORDS = frozenset({"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"})
_OPERATORS = ("!=", "!~", "<=", ">=", "=", "~", "<", ">")
_WORD_STOP = frozenset(" \t\r\n()[],=!~<>\"'")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t", " ": " "}

TokenKind = Literal["word", "string", "operator", "lparen", "rparen", "comma", "lbracket", "rbracket", "end"]
_PUNCTUATION: dict[str, TokenKind] = {
    "(": "lparen", ")": "rparen", ",": "comma", "[": "lbracket", "]": "rbracket",
}  # fmt: skip


class JqlError(Exception):
    """A JQL query Jira would refuse with 400.

    :param message: what is wrong.
    :param syntax: whether Jira reports it as an error in the query ("Error in the JQL Query: ...") rather
        than as a value that does not exist (which Jira states without that prefix).
    :param more: further messages of the same answer (Jira lists every value that does not exist, one
        message each).
    """

    def __init__(self, message: str, *, syntax: bool = True, more: tuple[str, ...] = ()) -> None:
        self.message = f"Error in the JQL Query: {message}" if syntax else message
        self.messages = (self.message, *more)
        super().__init__(self.message)


@dataclass(frozen=True)
class Token:
    """One token with its 1-based character position in the query."""

    kind: TokenKind
    text: str
    position: int

    def shown(self) -> str:
        """Describe the token as Jira's messages quote it."""
        return "the end of the query" if self.kind == "end" else f"'{self.text}'"


@dataclass(frozen=True)
class FieldRef:
    """A field as the query names it: a name (``key``, ``"Affected assets"``) or ``cf[<customId>]``."""

    name: str
    custom_id: int | None = None

    def __str__(self) -> str:
        return f"cf[{self.custom_id}]" if self.custom_id is not None else self.name


@dataclass(frozen=True)
class FunctionCall:
    """A JQL function such as ``aqlFunction("Key = \\"CUST-5\\"")``."""

    name: str
    arguments: tuple[str, ...]


@dataclass(frozen=True)
class Clause:
    """``field operator operand``; ``operator`` is lower case (``in``, ``not in``, ``is not``, ``=``...)."""

    field: FieldRef
    operator: str
    operand: tuple[str, ...] | FunctionCall | None  # values, a function, or None for IS [NOT] EMPTY


@dataclass(frozen=True)
class And:
    """All of the parts."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of the parts."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The opposite of the part."""

    part: Node


Node = Clause | And | Or | Not


@dataclass(frozen=True)
class Sort:
    """One ``ORDER BY`` key."""

    field: FieldRef
    descending: bool


@dataclass(frozen=True)
class JqlQuery:
    """A parsed query: the condition (None when the query has none) and the ``ORDER BY`` keys."""

    where: Node | None
    order: tuple[Sort, ...]


def tokenize(text: str) -> list[Token]:
    """Split a JQL query into tokens, ending with an ``end`` token."""
    tokens: list[Token] = []
    index = 0
    while index < len(text):
        character = text[index]
        if character.isspace():
            index += 1
        elif character in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[character], character, index + 1))
            index += 1
        elif character in "\"'":
            value, index = _quoted(text, index)
            tokens.append(Token("string", value, index))
        else:
            operator = next((op for op in _OPERATORS if text.startswith(op, index)), None)
            if operator is not None:
                tokens.append(Token("operator", operator, index + 1))
                index += len(operator)
                continue
            if character == "!":
                raise JqlError(f"The character '!' at position {index + 1} must be followed by '=' or '~'.")
            start = index
            while index < len(text) and text[index] not in _WORD_STOP:
                index += 1
            tokens.append(Token("word", text[start:index], start + 1))
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    """Read the string opening at ``start``; return its value and the index after the closing quote."""
    quote = text[start]
    parts: list[str] = []
    index = start + 1
    while index < len(text):
        character = text[index]
        if character == quote:
            return "".join(parts), index + 1
        if character == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped in _ESCAPES:
                parts.append(_ESCAPES[escaped])
                index += 2
                continue
            if escaped == "u" and _is_hex(text[index + 2 : index + 6]):
                parts.append(chr(int(text[index + 2 : index + 6], 16)))
                index += 6
                continue
            raise JqlError(f"The escape sequence '\\{escaped}' at position {index + 1} is not valid.")
        parts.append(character)
        index += 1
    raise JqlError(f"The quoted string starting at position {start + 1} has not been completed.")


def _is_hex(text: str) -> bool:
    return len(text) == 4 and all(character in "0123456789abcdefABCDEF" for character in text)


def parse_jql(text: str) -> JqlQuery:
    """Parse a JQL query; raise ``JqlError`` on anything that is not JQL."""
    return _Parser(tokenize(text)).query()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.current
        return token.kind == "word" and token.text.lower() in words

    def expect_keyword(self, word: str) -> None:
        if not self.at_keyword(word):
            self.fail(f"Expecting '{word.upper()}'")
        self.advance()

    def expect(self, kind: TokenKind, shown: str) -> Token:
        if self.current.kind != kind:
            self.fail(f"Expecting {shown}")
        return self.advance()

    def fail(self, expecting: str) -> NoReturn:
        token = self.current
        raise JqlError(f"{expecting} but got {token.shown()}. (line 1, character {token.position})")

    # --- grammar ---------------------------------------------------------------------------------

    def query(self) -> JqlQuery:
        where = None if self.current.kind == "end" or self.at_keyword("order") else self.or_expression()
        order: list[Sort] = []
        if self.at_keyword("order"):
            self.advance()
            self.expect_keyword("by")
            order.append(self.sort())
            while self.current.kind == "comma":
                self.advance()
                order.append(self.sort())
        if self.current.kind != "end":
            self.fail("Expecting ',' or the end of the query" if order else "Expecting either 'OR' or 'AND'")
        return JqlQuery(where, tuple(order))

    def or_expression(self) -> Node:
        parts = [self.and_expression()]
        while self.at_keyword("or"):
            self.advance()
            parts.append(self.and_expression())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expression(self) -> Node:
        parts = [self.unary()]
        while self.at_keyword("and"):
            self.advance()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        if self.at_keyword("not"):
            self.advance()
            return Not(self.unary())
        if self.current.kind == "lparen":
            self.advance()
            inner = self.or_expression()
            self.expect("rparen", "')'")
            return inner
        return self.clause()

    def field(self) -> FieldRef:
        token = self.current
        if token.kind == "string":
            self.advance()
            return FieldRef(token.text)
        if token.kind != "word" or token.text.lower() in RESERVED_WORDS:
            self.fail("Expecting a field name")
        self.advance()
        if token.text.lower() == "cf" and self.current.kind == "lbracket":
            self.advance()
            number = self.expect("word", "a custom field id")
            if not (number.text.isascii() and number.text.isdigit()):
                raise JqlError(f"'cf[{number.text}]' is not a valid custom field reference.")
            self.expect("rbracket", "']'")
            return FieldRef(f"cf[{int(number.text)}]", int(number.text))
        return FieldRef(token.text)

    def clause(self) -> Clause:
        field = self.field()
        token = self.current
        if token.kind == "operator":
            self.advance()
            operand = self.operand()
            return Clause(field, token.text, operand)
        if self.at_keyword("in"):
            self.advance()
            return Clause(field, "in", self.list_or_function())
        if self.at_keyword("not"):
            self.advance()
            self.expect_keyword("in")
            return Clause(field, "not in", self.list_or_function())
        if self.at_keyword("is"):
            self.advance()
            operator = "is"
            if self.at_keyword("not"):
                self.advance()
                operator = "is not"
            if not self.at_keyword("empty", "null"):
                self.fail("Expecting 'EMPTY' or 'NULL'")
            self.advance()
            return Clause(field, operator, None)
        self.fail("Expecting operator")

    def operand(self) -> tuple[str, ...] | FunctionCall:
        if self.current.kind == "word" and self.tokens[self.index + 1].kind == "lparen":
            return self.function()
        return (self.value(),)

    def list_or_function(self) -> tuple[str, ...] | FunctionCall:
        if self.current.kind == "word" and self.tokens[self.index + 1].kind == "lparen":
            return self.function()
        self.expect("lparen", "'('")
        values = [self.value()]
        while self.current.kind == "comma":
            self.advance()
            values.append(self.value())
        self.expect("rparen", "')' or ','")
        return tuple(values)

    def function(self) -> FunctionCall:
        name = self.advance().text
        self.expect("lparen", "'('")
        arguments: list[str] = []
        if self.current.kind != "rparen":
            arguments.append(self.value())
            while self.current.kind == "comma":
                self.advance()
                arguments.append(self.value())
        self.expect("rparen", "')' or ','")
        return FunctionCall(name, tuple(arguments))

    def value(self) -> str:
        token = self.current
        if token.kind == "string":
            return self.advance().text
        if token.kind == "word":
            if token.text.lower() in RESERVED_WORDS:
                raise JqlError(
                    f"'{token.text}' is a reserved JQL word. You must surround it in quotation marks to use "
                    f"it in a query. (line 1, character {token.position})"
                )
            return self.advance().text
        self.fail("Expecting a value")

    def sort(self) -> Sort:
        field = self.field()
        descending = False
        if self.at_keyword("asc", "desc"):
            descending = self.advance().text.lower() == "desc"
        return Sort(field, descending)

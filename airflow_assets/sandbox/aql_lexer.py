"""Split an AQL query into tokens: bare words, quoted strings, parentheses, commas and operators."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class AqlError(Exception):
    """The query is not valid AQL; the site answers 400 with ``message`` as its ``errorMessages``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenKind(Enum):
    """What a token is."""

    WORD = "word"
    STRING = "string"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    OPERATOR = "operator"
    END = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    """One token; ``text`` is unescaped for strings, ``position`` is the 0-based offset in the query."""

    kind: TokenKind
    text: str
    position: int
    end: int

    @property
    def quoted(self) -> bool:
        """Return whether the token was a quoted string."""
        return self.kind is TokenKind.STRING

    def is_word(self, *words: str) -> bool:
        """Return whether this is a bare (unquoted) word equal to one of ``words``, ignoring case."""
        return self.kind is TokenKind.WORD and self.text.casefold() in words

    def describe(self) -> str:
        """Render the token for an error message."""
        if self.kind is TokenKind.END:
            return "end of query"
        if self.kind is TokenKind.STRING:
            return f'"{self.text}"'
        return f"'{self.text}'"


_PUNCTUATION = {"(": TokenKind.LPAREN, ")": TokenKind.RPAREN, ",": TokenKind.COMMA}
# A bare word ends at whitespace, punctuation or the start of a comparison operator.
_WORD_STOP = frozenset("(),=<>")


def tokenize(query: str) -> list[Token]:
    """Return the tokens of ``query`` then an END token; raise AqlError on a malformed string or operator."""
    tokens: list[Token] = []
    index = 0
    length = len(query)
    while index < length:
        char = query[index]
        if char.isspace():
            index += 1
        elif char in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[char], char, index, index + 1))
            index += 1
        elif char in "\"'":
            token = _read_string(query, index)
            tokens.append(token)
            index = token.end
        elif char in "=<>!":
            token = _read_operator(query, index)
            tokens.append(token)
            index = token.end
        else:
            start = index
            while index < length:
                char = query[index]
                if (
                    char.isspace()
                    or char in _WORD_STOP
                    or (char == "!" and query[index + 1 : index + 2] == "=")
                    # Owner."Full name": a quote right after a dot starts the next path segment.
                    or (char in "\"'" and query[index - 1] == ".")
                ):
                    break
                index += 1
            tokens.append(Token(TokenKind.WORD, query[start:index], start, index))
    tokens.append(Token(TokenKind.END, "", length, length))
    return tokens


def _read_string(query: str, start: int) -> Token:
    quote = query[start]
    chars: list[str] = []
    index = start + 1
    while index < len(query):
        char = query[index]
        if char == "\\":
            if index + 1 >= len(query):
                break
            # Any escaped character stands for itself: \" \' and \\ are the ones that matter.
            chars.append(query[index + 1])
            index += 2
        elif char == quote:
            return Token(TokenKind.STRING, "".join(chars), start, index + 1)
        else:
            chars.append(char)
            index += 1
    raise AqlError(f"AQL: unterminated string starting at position {start}: missing closing {quote}")


def _read_operator(query: str, start: int) -> Token:
    two = query[start : start + 2]
    if two in ("==", "!=", "<=", ">="):
        return Token(TokenKind.OPERATOR, two, start, start + 2)
    one = query[start]
    if one == "!":
        raise AqlError(f"AQL: unexpected character '!' at position {start}, did you mean '!='?")
    return Token(TokenKind.OPERATOR, one, start, start + 1)

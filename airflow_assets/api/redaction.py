"""Keep credentials out of every text the client produces (messages, logs, reprs)."""

from __future__ import annotations

import base64
import re

MASK = "***"
MIN_SECRET_LENGTH = 6


class Redactor:
    """Replace the API token, and the Basic-auth value built from it, with ``***`` in any text.

    Each secret is also found URL-encoded: any of its characters may be percent-encoded, in upper- or
    lower-case hex (``quote``, ``quote_plus``, a redirect URL, an error body that echoes a query string).

    :param email: the account email (part of the Basic-auth value).
    :param api_token: the secret to hide.
    """

    __slots__ = ("_pattern",)

    def __init__(self, email: str, api_token: str) -> None:
        basic = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
        # Longest first, so a secret containing another is masked whole. A token of a few characters is
        # not a credible secret and masking it would mangle every message (real ones have 24 or more).
        secrets = {basic} | ({api_token} if len(api_token) >= MIN_SECRET_LENGTH else set())
        ordered = sorted(secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(_encoded_forms(secret) for secret in ordered))

    def __repr__(self) -> str:
        return "Redactor(***)"

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret masked, plain or percent-encoded."""
        return self._pattern.sub(MASK, text)


def _encoded_forms(secret: str) -> str:
    """Return a regex matching ``secret`` with any of its characters percent-encoded (either hex case)."""
    return "".join(_character_forms(char) for char in secret)


def _character_forms(char: str) -> str:
    encoded = "".join(_percent(byte) for byte in char.encode("utf-8"))
    # quote_plus writes a space as "+".
    plus = "|\\+" if char == " " else ""
    return f"(?:{re.escape(char)}|{encoded}{plus})"


def _percent(byte: int) -> str:
    return "%" + "".join(f"[{digit.lower()}{digit}]" if digit.isalpha() else digit for digit in f"{byte:02X}")

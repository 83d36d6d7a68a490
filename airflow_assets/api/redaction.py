"""Keep credentials out of every text the client produces (messages, logs, reprs)."""

from __future__ import annotations

import base64

MASK = "***"
MIN_SECRET_LENGTH = 6


class Redactor:
    """Replace the API token, and the Basic-auth value built from it, with ``***`` in any text.

    :param email: the account email (part of the Basic-auth value).
    :param api_token: the secret to hide.
    """

    __slots__ = ("_secrets",)

    def __init__(self, email: str, api_token: str) -> None:
        basic = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
        # Longest first, so a secret containing another is masked whole. A token of a few characters is
        # not a credible secret and masking it would mangle every message (real ones have 24 or more).
        secrets = {basic} | ({api_token} if len(api_token) >= MIN_SECRET_LENGTH else set())
        self._secrets = tuple(sorted(secrets, key=len, reverse=True))

    def __repr__(self) -> str:
        return "Redactor(***)"

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret masked."""
        for secret in self._secrets:
            if secret and secret in text:
                text = text.replace(secret, MASK)
        return text

"""The redactor masks the token and the Basic-auth value, plain and in every URL encoding."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, quote_plus

import pytest

from airflow_assets.api.redaction import MASK, Redactor

EMAIL = "robot@example.com"
# "/", "+" and "=" are what URL encoding changes; real tokens and Basic values hold them.
TOKEN = "ATATT3x/Ff+GF0=tok&en?"
BASIC = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()


@pytest.mark.parametrize(
    "form",
    [
        lambda s: s,
        lambda s: quote(s, safe=""),
        lambda s: quote(s),
        lambda s: quote_plus(s),
        lambda s: re.sub("%[0-9A-F]{2}", lambda hit: hit.group().lower(), quote(s, safe="")),
        lambda s: "".join(f"%{byte:02x}" for byte in s.encode()),
        lambda s: "".join(f"%{byte:02X}" for byte in s.encode()),
    ],
    ids=["plain", "quote", "quote-safe-slash", "quote_plus", "lower-case", "all-lower", "all-upper"],
)
@pytest.mark.parametrize("secret", [TOKEN, BASIC], ids=["token", "basic"])
def test_every_encoding_of_each_secret_is_masked(form: object, secret: str) -> None:
    redact = Redactor(EMAIL, TOKEN)
    encoded = form(secret)  # type: ignore[operator]
    text = f"redirected to https://x.example/cb?auth=Basic%20{encoded}&next=1 ({encoded})"

    masked = redact(text)

    assert encoded not in masked
    assert masked == f"redirected to https://x.example/cb?auth=Basic%20{MASK}&next=1 ({MASK})"


def test_a_mixed_case_percent_encoding_is_masked() -> None:
    mixed = quote(TOKEN, safe="").replace("%2F", "%2f")

    assert Redactor(EMAIL, TOKEN)(f"token={mixed}") == f"token={MASK}"


def test_other_text_is_left_alone_and_a_short_token_is_not_a_secret() -> None:
    assert Redactor(EMAIL, TOKEN)("GET object/42: HTTP 404 %2F") == "GET object/42: HTTP 404 %2F"
    assert Redactor(EMAIL, "abc")("abc is not masked") == "abc is not masked"

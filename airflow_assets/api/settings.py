"""Validate the client's settings; each error names the setting and subclasses ``ValueError``."""

from __future__ import annotations

import math
import unicodedata
from urllib.parse import urlsplit

from airflow_assets.api.pacing import RateLimits
from airflow_assets.api.retry import RetryPolicy
from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.messages import shown


def check_url(field: str, value: object) -> str:
    """Return ``value`` as an http(s) URL without trailing slash, credentials, query or fragment."""
    if not isinstance(value, str) or not value.strip():
        raise AssetsConfigError(f"{field} must be an http(s) URL, got {shown(value)}")
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AssetsConfigError(
            f"{field} must be an http(s) URL such as https://your-site.atlassian.net, got {shown(text)}"
        )
    if parts.username or parts.password:
        raise AssetsConfigError(f"{field} must not carry credentials; use email and api_token")
    if parts.query or parts.fragment:
        raise AssetsConfigError(f"{field} must not have a query string or fragment, got {shown(text)}")
    return text


def check_text(field: str, value: object, *, secret: bool = False) -> str:
    """Return ``value`` stripped; it must fit in an HTTP header. A ``secret`` is never repeated in an error.

    The email and token travel in the ``Authorization`` header, which carries latin-1 only: a pasted
    zero-width space or a line break inside would otherwise fail deep in requests, with an error that
    holds the whole token.
    """
    if not isinstance(value, str) or not value.strip():
        got = "" if secret else f", got {shown(value)}"
        raise AssetsConfigError(f"{field} must be a non-empty string{got}")
    text = value.strip()
    unsendable = next((char for char in text if not _header_safe(char)), None)
    if unsendable is not None:
        # Name the character, never the value: the character itself cannot be part of a real token.
        name = unicodedata.name(unsendable, "a control character")
        raise AssetsConfigError(
            f"{field} contains U+{ord(unsendable):04X} ({name}), which an HTTP header cannot carry; "
            "copy it again without invisible characters or line breaks"
        )
    return text


def _header_safe(char: str) -> bool:
    """Tell whether ``char`` may appear in a header value: latin-1 and not a control character."""
    code = ord(char)
    return code < 256 and not (code < 32 or 127 <= code < 160)


def check_id(field: str, value: object) -> str | None:
    """Return an optional id stripped; it must not contain ``/``."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise AssetsConfigError(f"{field} must be a non-empty id without '/', got {shown(value)}")
    return value.strip()


def check_api_base_template(value: str | None, *, default: str, placeholder: str) -> str:
    """Return the Assets API base URL template; ``placeholder`` is the only ``{...}`` it may hold."""
    template = default if value is None else check_url("api_base_url", value)
    if "{" in template.replace(placeholder, ""):
        raise AssetsConfigError(
            f"api_base_url may contain only the {placeholder} placeholder, got {shown(value)}"
        )
    return template


def check_retry(value: RetryPolicy | None) -> RetryPolicy:
    """Return the retry policy, the default one when ``value`` is None."""
    if value is not None and not isinstance(value, RetryPolicy):
        raise AssetsConfigError(f"retry must be a RetryPolicy, got {type(value).__name__}")
    return value or RetryPolicy()


def check_limits(value: RateLimits | None) -> RateLimits:
    """Return the rate limits, the default ones when ``value`` is None."""
    if value is not None and not isinstance(value, RateLimits):
        raise AssetsConfigError(f"limits must be RateLimits, got {type(value).__name__}")
    return value or RateLimits()


def check_budget_share(value: object) -> float:
    """Return the budget share as a fraction in (0, 1]."""
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise AssetsConfigError(f"budget_share must be a fraction in (0, 1], got {shown(value)}")
    return float(value)


def check_timeout(value: object) -> tuple[float, float]:
    """Return the (connect, read) timeout in seconds; one number stands for both."""
    pair = (value, value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, tuple)
        or len(pair) != 2
        or not all(
            isinstance(part, int | float) and not isinstance(part, bool) and math.isfinite(part) and part > 0
            for part in pair
        )
    ):
        raise AssetsConfigError(
            f"timeout must be seconds > 0 or a (connect, read) pair of them, got {shown(value)}"
        )
    return float(pair[0]), float(pair[1])


def check_max_workers(value: object) -> int:
    """Return the thread count, an integer >= 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AssetsConfigError(f"max_workers must be an integer >= 1, got {shown(value)}")
    return value

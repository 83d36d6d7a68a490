"""Check what a ``jira_assets`` connection points at before any credential is sent there.

The connection's type must be ``jira_assets``; its host must be a site root (``https://x.atlassian.net``);
and plain ``http://`` is refused unless the connection says ``allow_insecure_http: true``, because Basic
auth would carry the email and API token in cleartext.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.messages import shown

INSECURE_EXTRA = "allow_insecure_http"
EXPECTED_CONN_TYPE = "jira_assets"
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0", "")
# A scheme's own port is no port: the UI's Test button needs a stored port, 443 (see provider_info).
DEFAULT_PORTS = {"https": 443, "http": 80}


def check_conn_type(conn_type: str | None, *, conn_id: str) -> None:
    """Refuse a connection of another type (a ``mongo`` or ``http`` connection named by mistake).

    :param conn_type: the connection's type as Airflow reads it (``jira-assets`` in a URI becomes
        ``jira_assets``).
    :param conn_id: the connection id, for the message.
    """
    if (conn_type or "").replace("-", "_") == EXPECTED_CONN_TYPE:
        return
    found = f"of type {shown(conn_type)}" if conn_type else "without a connection type"
    raise AssetsConfigError(f"connection {conn_id!r} is {found}, expected {EXPECTED_CONN_TYPE!r}")


def site_url(
    host: str | None, schema: str | None, port: int | None, *, conn_id: str, api_base_url: str | None
) -> str:
    """Turn the connection's host (with or without scheme) into the site's base URL.

    :param api_base_url: the connection's ``api_base_url`` extra; with it, a host may have a path (a proxy
        that serves the site below one), without it a path is a pasted page address and is refused.
    """
    host = (host or "").strip().rstrip("/")
    if not host:
        raise AssetsConfigError(
            f"connection {conn_id!r}: the host must be the Jira site URL, e.g. https://your-site.atlassian.net"
        )
    if "://" not in host:
        # URI-style connections lose the scheme of the host; `schema` may carry it, https otherwise.
        scheme = schema if schema in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    if parts.path not in ("", "/") and api_base_url is None:
        root = f"{parts.scheme}://{parts.netloc}"
        raise AssetsConfigError(
            f"connection {conn_id!r}: the host {shown(host)} has a path ({shown(parts.path)}): give just the "
            f"site root, {root} (a path is taken only together with the extra api_base_url)"
        )
    if port and parts.port is None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
    return host


def allows_insecure_http(extra: dict[str, Any], *, conn_id: str) -> bool:
    """Read the ``allow_insecure_http`` extra: true, false or absent (false)."""
    value = extra.get(INSECURE_EXTRA, extra.get(f"extra__{EXPECTED_CONN_TYPE}__{INSECURE_EXTRA}"))
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise AssetsConfigError(
        f"connection {conn_id!r}: extra {INSECURE_EXTRA} must be true or false, got {shown(value)}"
    )


def cleartext_urls(urls: Iterable[str | None]) -> list[str]:
    """Return the ``http://`` URLs among those the credentials are sent to."""
    return [url for url in urls if url and urlsplit(url).scheme.lower() == "http"]


def refuse_cleartext(urls: list[str], *, conn_id: str) -> None:
    """Refuse plain-http URLs: Basic auth would send the email and API token readable on the wire."""
    if urls:
        raise AssetsConfigError(
            f"connection {conn_id!r}: {shown(urls[0])} is plain http, which sends the email and API token "
            f"in cleartext: use https://, or set the extra {INSECURE_EXTRA}: true for a local test site"
        )


def cleartext_warning(urls: list[str], *, conn_id: str) -> str:
    """Return the warning every task using an allowed plain-http connection logs."""
    return (
        f"connection {conn_id!r} sends the email and API token in cleartext to {', '.join(urls)} "
        f"({INSECURE_EXTRA} is set): use it only for a local test site"
    )

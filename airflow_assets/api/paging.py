"""Paging strategies: each one says which query parameters fetch the next page and when to stop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from airflow_assets.exceptions import AssetsConfigError, AssetsTransportError


class Paginator(Protocol):
    """A paging strategy; a fresh instance serves one walk through the pages."""

    def first(self) -> dict[str, Any]:
        """Return the query parameters of the first page."""
        ...

    def following(self, page: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the query parameters of the page after ``page``, or None when ``page`` was the last."""
        ...


class StartAtPaginator:
    """``startAt``/``maxResults`` paging as Assets does it (AQL results, the schema list).

    The server may return fewer values than asked and echoes the page size it used, so ``startAt``
    advances by the number of values actually received. ``isLast`` (or ``last``) ends the walk; an empty
    page ends it too, so a server that never says ``isLast`` cannot loop forever. ``total`` is deprecated
    and never consulted.

    :param page_size: ``maxResults`` to ask for.
    :param start_at: index of the first value.
    :param values_key: key of the values list in a page.
    """

    def __init__(self, *, page_size: int, start_at: int = 0, values_key: str = "values") -> None:
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise AssetsConfigError(f"page_size must be an integer >= 1, got {page_size!r}")
        if not isinstance(start_at, int) or isinstance(start_at, bool) or start_at < 0:
            raise AssetsConfigError(f"start_at must be an integer >= 0, got {start_at!r}")
        self.page_size = page_size
        self.start_at = start_at
        self.values_key = values_key

    def first(self) -> dict[str, Any]:
        """Return the query parameters of the first page."""
        return {"startAt": self.start_at, "maxResults": self.page_size}

    def following(self, page: Mapping[str, Any]) -> dict[str, Any] | None:
        """Advance past ``page``; None when it was the last."""
        values = page.get(self.values_key) or []
        if not values or is_last_page(page):
            return None
        self.start_at += len(values)
        return {"startAt": self.start_at, "maxResults": self.page_size}


class NextPageTokenPaginator:
    """``nextPageToken`` paging as Jira's ``search/jql`` does it (no ``startAt``, no ``total``).

    A page without a ``nextPageToken`` (or one that says ``isLast``) ends the walk. A token the server
    handed out before would start the same pages again: that is refused rather than looped.

    :param page_size: ``maxResults`` to ask for (the server may return fewer).
    :param method: the HTTP method of the paged call (named in errors).
    :param endpoint: the path of the paged call (named in errors).
    """

    def __init__(self, *, page_size: int, method: str, endpoint: str) -> None:
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise AssetsConfigError(f"page_size must be an integer >= 1, got {page_size!r}")
        self.page_size = page_size
        self.method = method
        self.endpoint = endpoint
        self._seen: set[str] = set()

    def first(self) -> dict[str, Any]:
        """Return the paging fields of the first page."""
        return {"maxResults": self.page_size}

    def following(self, page: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the paging fields of the page after ``page``; None when it was the last."""
        token = page.get("nextPageToken")
        if not isinstance(token, str) or not token or is_last_page(page):
            return None
        if token in self._seen:
            raise AssetsTransportError(
                f"{self.method} {self.endpoint}: the server handed out the same nextPageToken twice; "
                "stopping rather than reading the same pages again",
                method=self.method,
                endpoint=self.endpoint,
            )
        self._seen.add(token)
        return {"maxResults": self.page_size, "nextPageToken": token}


def is_last_page(page: Mapping[str, Any]) -> bool:
    """Tell whether a page says it is the last one (``isLast``, or the older ``last``; bool or "true")."""
    return _last_flag(page) is True


def says_more_pages(page: Mapping[str, Any]) -> bool:
    """Tell whether a page says pages follow it (``isLast``/``last`` false, bool or "false").

    A page that says nothing either way is not taken to have more.
    """
    return _last_flag(page) is False


def _last_flag(page: Mapping[str, Any]) -> bool | None:
    """Return the page's ``isLast`` (or ``last``) as a bool; None when absent or unreadable."""
    flag = page.get("isLast", page.get("last"))
    if isinstance(flag, str):
        # The OpenAPI examples send the flag as a string.
        flag = {"true": True, "false": False}.get(flag.strip().lower())
    return flag if isinstance(flag, bool) else None

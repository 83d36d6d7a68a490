"""The exceptions of airflow-assets: one base class, each error carrying what an operator needs to act."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class JiraAssetsError(Exception):
    """Base class of every error raised by airflow-assets."""


class AssetsConfigError(JiraAssetsError, ValueError):
    """Configuration (connection, parameters, settings) is invalid; nothing was sent or written."""


class AssetsTransportError(JiraAssetsError):
    """The Assets API could not be reached, or its answer could not be read, after all retries.

    :param message: what went wrong (no credentials).
    :param method: HTTP method of the request.
    :param endpoint: endpoint path relative to the API base.
    :param maybe_applied: the call writes and the server may have processed it although no usable
        answer came back: check before repeating it (a repeated create makes a duplicate).
    """

    def __init__(self, message: str, *, method: str, endpoint: str, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.method = method
        self.endpoint = endpoint
        self.maybe_applied = maybe_applied

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: rebuild from them, so the error survives pickling (process pools, XCom).
        fields = {"method": self.method, "endpoint": self.endpoint, "maybe_applied": self.maybe_applied}
        return (_rebuild, (type(self), (str(self),), fields))


class AssetsApiError(JiraAssetsError):
    """The Assets API answered with an error status.

    :param status: HTTP status code.
    :param method: HTTP method of the request.
    :param endpoint: endpoint path relative to the API base (no host, no query string, no credentials).
    :param error_messages: Atlassian's ``errorMessages`` list.
    :param errors: Atlassian's ``errors`` mapping (per-field errors such as ``rlabs-insight-attribute-<id>``).
    :param hint: what the operator can do about it.
    :param maybe_applied: the call writes and the server may have processed it (a 5xx to a create, or an
        earlier attempt whose answer was lost): check before repeating it. False for reads and for
        refusals (429/503) of a call no earlier attempt may have applied.
    """

    def __init__(
        self,
        *,
        status: int,
        method: str,
        endpoint: str,
        error_messages: Sequence[str] = (),
        errors: Mapping[str, Any] | None = None,
        hint: str = "",
        maybe_applied: bool = False,
    ) -> None:
        self.status = status
        self.method = method
        self.endpoint = endpoint
        self.error_messages = list(error_messages)
        self.errors = dict(errors or {})
        self.hint = hint
        self.maybe_applied = maybe_applied
        super().__init__(self._describe())

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {
            "status": self.status,
            "method": self.method,
            "endpoint": self.endpoint,
            "error_messages": self.error_messages,
            "errors": self.errors,
            "hint": self.hint,
            "maybe_applied": self.maybe_applied,
        }
        return (_rebuild, (type(self), (), fields))

    def _describe(self) -> str:
        parts = [f"{self.method} {self.endpoint} failed with HTTP {self.status}"]
        details = list(self.error_messages) + [f"{key}: {value}" for key, value in self.errors.items()]
        if details:
            parts.append("; ".join(str(detail) for detail in details))
        if self.hint:
            parts.append(self.hint)
        return ": ".join(parts[:2]) + (f" ({parts[2]})" if len(parts) > 2 else "")


class AssetsBadRequestError(AssetsApiError):
    """HTTP 400: the request was invalid (bad AQL, invalid attribute value, duplicate name...)."""


class AssetsAuthError(AssetsApiError):
    """HTTP 401 or 403: the credentials are wrong, expired, or lack permission."""


class AssetsNotFoundError(AssetsApiError):
    """HTTP 404: the schema, object type or object does not exist (or is not visible to this account)."""


class AssetsRateLimitError(AssetsApiError):
    """HTTP 429 or 503 persisted after every retry the budget allowed."""


class AssetsServerError(AssetsApiError):
    """HTTP 5xx persisted after every retry the budget allowed (or the call was not safe to retry)."""


def _rebuild(cls: type[JiraAssetsError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> JiraAssetsError:
    """Recreate an error from its constructor arguments (the pickling counterpart of ``__reduce__``)."""
    return cls(*args, **kwargs)

"""Send Assets API calls over HTTP: one session, pacing per endpoint class, the retry policy, typed errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from airflow_assets import __version__
from airflow_assets.api.endpoints import Endpoint
from airflow_assets.api.pacing import TOTAL_CLASS, Pacer, PacerRegistry, RateLimits
from airflow_assets.api.paging import Paginator
from airflow_assets.api.redaction import Redactor
from airflow_assets.api.retry import RetryableFailure, RetryPolicy
from airflow_assets.api.shared_budget import BudgetGate, SharedBudget, SharedPacing, slot_plan
from airflow_assets.exceptions import (
    AssetsApiError,
    AssetsAuthError,
    AssetsBadRequestError,
    AssetsNotFoundError,
    AssetsRateLimitError,
    AssetsServerError,
    AssetsTransportError,
    JiraAssetsError,
)

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


class _CallState:
    """What one logical call (all its attempts) has seen so far."""

    __slots__ = ("ambiguous", "attempts")

    def __init__(self) -> None:
        self.attempts = 0
        # An earlier attempt may have been processed although its answer was lost.
        self.ambiguous = False


class Transport:
    """Send calls to one site's Assets API with pacing and retries; failures raise the typed errors.

    The settings are taken as validated (see :mod:`airflow_assets.api.settings`).

    :param site_url: the Jira site; its scheme and host key the shared pacers.
    :param email: the Atlassian account email.
    :param api_token: the account's API token (kept only in the session's auth, never in a message).
    :param site_base: the base URL of site (``/rest/...``) endpoints.
    :param api_base: returns the base URL of Assets endpoints (may discover the workspace on first use).
    :param retry: the retry policy.
    :param limits: per-endpoint rate budgets.
    :param budget_share: fraction of every per-endpoint budget this transport may use.
    :param timeout: seconds to connect and to read.
    :param max_workers: threads expected to share the session (sizes the connection pool).
    :param pacers: registry of shared pacers.
    :param shared_budget: the site's budget shared with other processes (None: this process paces alone).
    """

    def __init__(
        self,
        *,
        site_url: str,
        email: str,
        api_token: str,
        site_base: str,
        api_base: Callable[[], str],
        retry: RetryPolicy,
        limits: RateLimits,
        budget_share: float,
        timeout: tuple[float, float],
        max_workers: int,
        pacers: PacerRegistry,
        shared_budget: SharedBudget | None = None,
    ) -> None:
        self.site_url = site_url
        self.email = email
        self.redact = Redactor(email, api_token)
        self.site_base = site_base
        self._api_base = api_base
        self.retry = retry
        self.limits = limits
        self.budget_share = budget_share
        self.timeout = timeout
        self.max_workers = max_workers
        self._registry = pacers
        self._pacers: dict[str, Pacer] = {}
        self._session = _new_session(email, api_token, max_workers)
        self._shared: SharedPacing | None = None
        self._gates: dict[str, BudgetGate] = {}
        if shared_budget is not None and limits.enabled:
            plan = slot_plan(
                shared_budget, window_seconds=limits.window_seconds, target_fraction=limits.target_fraction
            )
            self._shared = SharedPacing(shared_budget, plan)

    def __repr__(self) -> str:
        return f"Transport(site_url={self.site_url!r}, email={self.email!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def call(
        self,
        endpoint: Endpoint,
        *ids: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one logical call with pacing and retries; return the parsed JSON answer (None if empty)."""
        path = endpoint.path(*ids)
        base = self.site_base if endpoint.site else self._api_base()
        url = f"{base}/{path}"
        query = _query(params)
        state = _CallState()
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableFailure),
            before_sleep=lambda retry_state: self._before_sleep(endpoint, path, retry_state, state),
            reraise=True,
        )
        # A write one of whose attempts may have been processed: whatever the last attempt met (a 400
        # because the first attempt's change already holds, a 429), the write may have been applied.
        try:
            return retrying(self._attempt, endpoint, path, url, query, body, state)
        except RetryableFailure as failure:
            final = _gave_up(
                failure.error, state.attempts, earlier_applied=endpoint.writes and state.ambiguous
            )
        except JiraAssetsError as error:
            if not (endpoint.writes and state.ambiguous):
                raise
            final = _restated(error, note=EARLIER_ATTEMPT_NOTE, maybe_applied=True)
        # Raised outside the handler: no exception context, so nothing links back to a request object.
        raise final

    def pages(
        self,
        endpoint: Endpoint,
        paginator: Paginator,
        *ids: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Iterator[tuple[dict[str, Any], JsonDict]]:
        """Yield (paging parameters, page) until the paginator says stop."""
        query: dict[str, Any] | None = paginator.first()
        while query is not None:
            page = self.page(endpoint, query, *ids, params=params, body=body)
            yield query, page
            query = paginator.following(page)

    def page(
        self,
        endpoint: Endpoint,
        query: Mapping[str, Any],
        *ids: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> JsonDict:
        """Fetch the one page that the paging parameters ``query`` name; check it is that page."""
        page = self.call(endpoint, *ids, params={**(params or {}), **query}, body=body)
        if not isinstance(page, dict):
            raise wrong_shape(endpoint, endpoint.path(*ids), "a page object", page)
        echoed = page.get("startAt")
        if "startAt" in query and echoed is not None and str(echoed) != str(query["startAt"]):
            # A server that ignores startAt would hand out the same page forever.
            path = endpoint.path(*ids)
            raise AssetsTransportError(
                f"{endpoint.method} {path}: asked for startAt={query['startAt']} but the answer is the "
                f"page at startAt={echoed}; stopping rather than repeating or skipping objects",
                method=endpoint.method,
                endpoint=path,
            )
        return page

    def pacer(self, rate_class: str) -> Pacer:
        """Return the shared pacer of ``rate_class`` on this site."""
        pacer = self._pacers.get(rate_class)
        if pacer is None:
            interval, burst = self.limits.spacing(rate_class, self.budget_share)
            pacer = self._registry.pacer(_site_key(self.site_url), rate_class, interval=interval, burst=burst)
            self._pacers[rate_class] = pacer
        return pacer

    def _attempt(
        self,
        endpoint: Endpoint,
        path: str,
        url: str,
        query: dict[str, str],
        body: Mapping[str, Any] | None,
        state: _CallState,
    ) -> Any:
        self._pace(endpoint)
        state.attempts += 1
        started = time.monotonic()
        try:
            response = self._session.request(
                endpoint.method,
                url,
                params=query or None,
                json=None if body is None else dict(body),
                timeout=self.timeout,
            )
        except requests.exceptions.RequestException as error:
            failure: Exception | None = self._transport_failure(endpoint, path, error)
        else:
            failure = None
        if failure is not None:
            # Raised outside the handler: requests' exceptions hold the request with its Authorization header.
            raise failure
        log.debug(
            "%s %s -> HTTP %d in %.3f s",
            endpoint.method,
            path,
            response.status_code,
            time.monotonic() - started,
        )
        return self._answer(endpoint, path, response, state)

    def _answer(self, endpoint: Endpoint, path: str, response: requests.Response, state: _CallState) -> Any:
        """Return the parsed success body, or raise the typed error (wrapped when it may be retried)."""
        status = response.status_code
        if 200 <= status < 300:
            if not response.content.strip():
                return None
            try:
                return response.json()
            except ValueError:
                kind = response.headers.get("Content-Type", "no content type")
            raise _unreadable(
                endpoint,
                path,
                f"HTTP {status} answer is not valid JSON ({kind}, {len(response.content)} bytes)",
            )
        messages, errors = self._error_details(response)
        details: dict[str, Any] = {
            "status": status,
            "method": endpoint.method,
            "endpoint": path,
            "error_messages": messages,
            "errors": errors,
        }
        if status in (429, 503):
            # The request was refused, not processed: safe to repeat even for a create.
            error: AssetsApiError = AssetsRateLimitError(
                **details, hint=f"over the rate limit of {endpoint.rate_class}"
            )
            raise RetryableFailure(error, server_wait=self.retry.server_wait(response.headers), refused=True)
        if status >= 500:
            if endpoint.idempotent:
                raise RetryableFailure(
                    AssetsServerError(**details, maybe_applied=endpoint.writes), ambiguous=True
                )
            raise AssetsServerError(
                **details,
                hint="not retried: the request may have been processed",
                maybe_applied=endpoint.writes,
            )
        if status == 404 and endpoint.method == "DELETE" and state.ambiguous:
            # An earlier attempt whose answer was lost did the deletion.
            log.info("%s %s: already deleted by an earlier attempt", endpoint.method, path)
            return None
        if status == 400:
            raise AssetsBadRequestError(**details)
        if status == 401:
            raise AssetsAuthError(
                **details,
                hint=f"the API token of {self.email} may be wrong or expired, or the email is wrong",
            )
        if status == 403:
            raise AssetsAuthError(
                **details, hint=f"{self.email} lacks permission for this (Assets role or Jira product access)"
            )
        if status == 404:
            raise AssetsNotFoundError(**details)
        raise AssetsApiError(**details)

    def _error_details(self, response: requests.Response) -> tuple[list[str], dict[str, Any]]:
        """Extract Atlassian's ``errorMessages`` and ``errors`` (or a short text) from an error answer."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        messages: list[str] = []
        errors: dict[str, Any] = {}
        if isinstance(payload, Mapping):
            raw_messages = payload.get("errorMessages")
            if isinstance(raw_messages, list):
                messages = [self.redact(str(message)) for message in raw_messages]
            elif isinstance(payload.get("message"), str):
                messages = [self.redact(payload["message"])]
            raw_errors = payload.get("errors")
            if isinstance(raw_errors, Mapping):
                errors = {str(key): self.redact(str(value)) for key, value in raw_errors.items()}
        elif payload is None:
            text = response.text.strip()
            if text and not text.startswith("<"):
                messages = [self.redact(text[:300])]
        return messages, errors

    def _transport_failure(
        self, endpoint: Endpoint, path: str, error: requests.exceptions.RequestException
    ) -> Exception:
        """Classify a connection-level failure: retryable (wrapped) or final."""
        description = self.redact(f"{type(error).__name__}: {error}")[:500]
        never_sent = _never_sent(error)
        if not never_sent and not isinstance(
            error,
            requests.exceptions.ConnectionError
            | requests.exceptions.Timeout
            | requests.exceptions.ChunkedEncodingError
            | requests.exceptions.ContentDecodingError,
        ):
            return AssetsTransportError(
                f"{endpoint.method} {path} could not be sent: {description}",
                method=endpoint.method,
                endpoint=path,
            )
        # Once sent, a write may have been processed although its answer was lost.
        maybe_applied = endpoint.writes and not never_sent
        if never_sent or endpoint.idempotent:
            transport = AssetsTransportError(
                f"{endpoint.method} {path} failed: {description}",
                method=endpoint.method,
                endpoint=path,
                maybe_applied=maybe_applied,
            )
            return RetryableFailure(transport, ambiguous=not never_sent)
        return AssetsTransportError(
            f"{endpoint.method} {path} failed and was not retried (the request may have been processed): "
            f"{description}",
            method=endpoint.method,
            endpoint=path,
            maybe_applied=maybe_applied,
        )

    def _wait(self, retry_state: RetryCallState) -> float:
        """Tenacity wait: the server's Retry-After when it sent one, else jittered exponential backoff."""
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(failure, RetryableFailure) and failure.server_wait is not None:
            return failure.server_wait
        return self.retry.backoff(retry_state.attempt_number)

    def _before_sleep(
        self, endpoint: Endpoint, path: str, retry_state: RetryCallState, state: _CallState
    ) -> None:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.upcoming_sleep
        if isinstance(failure, RetryableFailure):
            state.ambiguous = state.ambiguous or failure.ambiguous
            error = failure.error
            if failure.refused and (failure.server_wait is not None or _status(error) == 429):
                # Over the limit, or the server asked everyone to hold: every thread of this endpoint class
                # holds off, not just this one. A bare 503 is more often a passing fault than a quota, so
                # only the call that met it backs off (pausing the class for it idled every worker).
                self.pacer(endpoint.rate_class).pause(wait)
            cause = f"HTTP {_status(error)}" if isinstance(error, AssetsApiError) else str(error)
        else:
            cause = repr(failure)
        # Already redacted where it was built; masked again here, as a warning reaches every task log.
        cause = self.redact(cause)
        log.warning(
            "%s %s: %s; retry %d of %d in %.2f s",
            endpoint.method,
            path,
            cause,
            retry_state.attempt_number,
            self.retry.max_attempts - 1,
            wait,
        )

    def gate(self, rate_class: str) -> BudgetGate | None:
        """Return this transport's leases of ``rate_class`` from the shared budget (None without one)."""
        if self._shared is None:
            return None
        gate = self._gates.get(rate_class)
        if gate is None:
            gate = self._gates.setdefault(
                rate_class,
                BudgetGate(
                    self._shared.budget,
                    site=_site_key(self.site_url),
                    rate_class=rate_class,
                    # The site's whole limit: the budget is shared by counting, not split into shares.
                    limit=max(1, round(self.limits.limit_for(rate_class) * self.budget_share)),
                    plan=self._shared.plan,
                ),
            )
        return gate

    def _pace(self, endpoint: Endpoint) -> None:
        self.pacer(endpoint.rate_class).acquire()
        total = self.limits.enabled and self.limits.total_limit is not None
        if total:
            self.pacer(TOTAL_CLASS).acquire()
        gate = self.gate(endpoint.rate_class)
        if self._shared is not None and gate is not None:
            # Last, right before sending: a call leased for a slot must reach the server in that slot.
            self._shared.acquire(gate, self.gate(TOTAL_CLASS) if total else None)


def wrong_shape(endpoint: Endpoint, path: str, expected: str, answer: Any) -> AssetsTransportError:
    """Return the error for a well-formed answer of the wrong shape (``expected`` says what was wanted).

    The server answered with success: a write it answered may well have been applied.
    """
    return AssetsTransportError(
        f"{endpoint.method} {path}: expected {expected}, got {type(answer).__name__}",
        method=endpoint.method,
        endpoint=path,
        maybe_applied=endpoint.writes,
    )


def _new_session(email: str, api_token: str, max_workers: int) -> requests.Session:
    session = requests.Session()
    session.auth = (email, api_token)
    session.headers.update(
        {"Accept": "application/json", "User-Agent": f"airflow-provider-jira-assets/{__version__}"}
    )
    # One pooled connection per worker thread, so the concurrent map never discards connections.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, 2 * max_workers))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _unreadable(endpoint: Endpoint, path: str, reason: str) -> Exception:
    """Return the error for an answer that cannot be read (wrapped as retryable for idempotent calls)."""
    # The answer was a success: a write may have been applied whatever the body said.
    if endpoint.idempotent:
        error = AssetsTransportError(
            f"{endpoint.method} {path}: {reason}",
            method=endpoint.method,
            endpoint=path,
            maybe_applied=endpoint.writes,
        )
        return RetryableFailure(error, ambiguous=True)
    return AssetsTransportError(
        f"{endpoint.method} {path}: {reason}; not retried (the request may have been processed)",
        method=endpoint.method,
        endpoint=path,
        maybe_applied=endpoint.writes,
    )


EARLIER_ATTEMPT_NOTE = "an earlier attempt, whose answer was lost, may have been processed"


def _gave_up(error: JiraAssetsError, attempts: int, *, earlier_applied: bool) -> JiraAssetsError:
    """Return ``error`` restated to say how many attempts were made.

    :param earlier_applied: an earlier attempt of this write may have been processed, so the final
        error is ``maybe_applied`` whatever the last attempt met.
    """
    note = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
    maybe_applied = bool(getattr(error, "maybe_applied", False))
    if earlier_applied and not maybe_applied:
        note = f"{note}; {EARLIER_ATTEMPT_NOTE}"
    return _restated(error, note=note, maybe_applied=maybe_applied or earlier_applied)


def _restated(error: JiraAssetsError, *, note: str, maybe_applied: bool) -> JiraAssetsError:
    """Return a copy of ``error`` with ``note`` added to its message and the given ``maybe_applied``."""
    if isinstance(error, AssetsApiError):
        return type(error)(
            status=error.status,
            method=error.method,
            endpoint=error.endpoint,
            error_messages=error.error_messages,
            errors=error.errors,
            hint=f"{error.hint}; {note}" if error.hint else note,
            maybe_applied=maybe_applied,
        )
    if isinstance(error, AssetsTransportError):
        return type(error)(
            f"{error} ({note})", method=error.method, endpoint=error.endpoint, maybe_applied=maybe_applied
        )
    return error


def _never_sent(error: requests.exceptions.RequestException) -> bool:
    """Tell whether the connection failed before the request could reach the server."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError) and error.args:
        reason = getattr(error.args[0], "reason", None)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Render query parameters the way Atlassian expects: lower-case booleans, None left out."""
    query: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        query[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return query


def _site_key(site_url: str) -> str:
    parts = urlsplit(site_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _status(error: JiraAssetsError) -> int | None:
    return error.status if isinstance(error, AssetsApiError) else None

"""Airflow hook for the Jira Service Management Cloud Assets REST API."""

from __future__ import annotations

import dataclasses
import logging
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_assets.api import AssetsClient, RateLimits, RetryPolicy
from airflow_assets.api.shared_budget import SharedBudget
from airflow_assets.exceptions import AssetsConfigError, JiraAssetsError
from airflow_assets.hooks.site_address import (
    allows_insecure_http,
    check_conn_type,
    cleartext_urls,
    cleartext_warning,
    refuse_cleartext,
    site_url,
)
from airflow_assets.messages import shown

log = logging.getLogger(__name__)

# The UI's Test button waits for the answer: fail within seconds rather than after minutes of backoff.
TEST_RETRY = RetryPolicy(max_attempts=2, initial_wait=1.0, max_wait=2.0, max_retry_after=2.0)
TEST_TIMEOUT = (5.0, 15.0)


class JiraAssetsHook(BaseHook):
    """Build an :class:`~airflow_assets.api.AssetsClient` from a ``jira_assets`` connection.

    The connection holds the Jira site URL (host), the account email (login) and the API token (password);
    extras ``workspace_id`` (discovered when empty), ``api_base_url`` and ``cloud_id`` are optional,
    ``rate_limit_scale`` multiplies the documented rate limits the client paces to (a site with raised
    limits, or the local sandbox), and ``allow_insecure_http: true`` lets a local test site use plain http
    (refused otherwise: Basic auth would send the token in cleartext).
    Nothing is read or sent until :meth:`get_client` or :meth:`test_connection` is called.

    :param jira_assets_conn_id: the Airflow connection id.
    :param budget_share: fraction of each per-endpoint rate limit this hook's client may use (default the
        whole limit: tasks of one site share it through ``shared_budget``, not by splitting it).
    :param retry: retry policy for the client (default: Atlassian's advice).
    :param limits: per-endpoint rate limits (default: the documented figures).
    :param shared_budget: the site's rate budget shared by every task (the backup store's); None paces
        this process alone.
    """

    conn_name_attr = "jira_assets_conn_id"
    default_conn_name = "jira_assets_default"
    conn_type = "jira_assets"
    hook_name = "Jira Assets"

    def __init__(
        self,
        jira_assets_conn_id: str = default_conn_name,
        *,
        budget_share: float = 1.0,
        retry: RetryPolicy | None = None,
        limits: RateLimits | None = None,
        shared_budget: SharedBudget | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.shared_budget = shared_budget
        self.jira_assets_conn_id = jira_assets_conn_id
        self.budget_share = budget_share
        self.retry = retry
        self.limits = limits

    def get_conn(self) -> AssetsClient:
        """Return the Assets client (the Airflow name for :meth:`get_client`)."""
        return self.get_client()

    def get_client(self) -> AssetsClient:
        """Return the Assets client configured from the connection (built once per hook)."""
        return self._client

    @cached_property
    def _client(self) -> AssetsClient:
        return self._build_client(retry=self.retry)

    def _build_client(
        self, *, retry: RetryPolicy | None, timeout: tuple[float, float] | None = None
    ) -> AssetsClient:
        conn_id = self.jira_assets_conn_id
        conn = self.get_connection(conn_id)
        check_conn_type(conn.conn_type, conn_id=conn_id)
        extra = conn.extra_dejson
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        scale = _rate_limit_scale(extra, conn_id=conn_id)
        api_base_url = _extra_field(extra, "api_base_url")
        site = site_url(conn.host, conn.schema, conn.port, conn_id=conn_id, api_base_url=api_base_url)
        cleartext = cleartext_urls((site, api_base_url))
        if not allows_insecure_http(extra, conn_id=conn_id):
            refuse_cleartext(cleartext, conn_id=conn_id)
        elif cleartext:
            # Every task that builds a client says so in its own log, not just the first one.
            log.warning("%s", cleartext_warning(cleartext, conn_id=conn_id))
        return AssetsClient(
            site_url=site,
            email=conn.login or "",
            api_token=conn.password or "",
            workspace_id=_extra_field(extra, "workspace_id"),
            api_base_url=api_base_url,
            cloud_id=_extra_field(extra, "cloud_id"),
            budget_share=self.budget_share,
            retry=retry,
            limits=_scaled(self.limits or RateLimits(), scale),
            shared_budget=self.shared_budget,
            **options,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials and the Assets workspace; the UI's Test button calls this.

        It answers within seconds: one quick retry and short timeouts, not the patient policy of a backup.
        """
        try:
            with self._build_client(retry=TEST_RETRY, timeout=TEST_TIMEOUT) as client:
                summary = client.check_connection()
        except JiraAssetsError as error:
            return False, str(error)
        return True, summary


def _extra_field(extra: dict[str, Any], name: str) -> str | None:
    """Read a form field from the extras, plain or with the legacy ``extra__jira_assets__`` prefix."""
    value = extra.get(name)
    if value is None:
        value = extra.get(f"extra__{JiraAssetsHook.conn_type}__{name}")
    text = str(value).strip() if value is not None else ""
    return text or None


def _rate_limit_scale(extra: dict[str, Any], *, conn_id: str) -> float:
    """Read the ``rate_limit_scale`` extra: a site with raised limits (or the sandbox) may pace faster."""
    raw = _extra_field(extra, "rate_limit_scale")
    if raw is None:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not 0 < scale <= 1000:
        raise AssetsConfigError(
            f"connection {conn_id!r}: extra rate_limit_scale must be a number in (0, 1000], got {shown(raw)}"
        )
    return scale


def _scaled(limits: RateLimits, scale: float) -> RateLimits:
    """Multiply every per-minute budget by ``scale``."""
    if scale == 1.0:
        return limits
    return dataclasses.replace(
        limits,
        limits={name: max(1, round(limit * scale)) for name, limit in limits.limits.items()},
        default_limit=max(1, round(limits.default_limit * scale)),
        total_limit=None if limits.total_limit is None else max(1, round(limits.total_limit * scale)),
    )

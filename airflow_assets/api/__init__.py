"""Plain-Python client of the Jira Service Management Cloud Assets REST API (no Airflow import)."""

from __future__ import annotations

from airflow_assets.api.client import ASSETS_FIELD_TYPE, DEFAULT_API_BASE_URL, AssetsClient
from airflow_assets.api.concurrency import map_as_completed, map_ordered
from airflow_assets.api.endpoints import Endpoint
from airflow_assets.api.pacing import DEFAULT_LIMITS, Pacer, PacerRegistry, RateLimits
from airflow_assets.api.paging import NextPageTokenPaginator, Paginator, StartAtPaginator
from airflow_assets.api.records import AqlPage
from airflow_assets.api.retry import RetryPolicy, parse_retry_after

__all__ = [
    "ASSETS_FIELD_TYPE",
    "DEFAULT_API_BASE_URL",
    "DEFAULT_LIMITS",
    "AqlPage",
    "AssetsClient",
    "Endpoint",
    "NextPageTokenPaginator",
    "Pacer",
    "PacerRegistry",
    "Paginator",
    "RateLimits",
    "RetryPolicy",
    "StartAtPaginator",
    "map_as_completed",
    "map_ordered",
    "parse_retry_after",
]

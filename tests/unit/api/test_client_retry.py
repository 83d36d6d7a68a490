"""Retries: 429/503 with and without Retry-After, 5xx, dropped connections, unreadable bodies, 4xx at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any

import pytest

from airflow_assets.api import AssetsClient, RetryPolicy, parse_retry_after
from airflow_assets.api.retry import parse_reset_time
from airflow_assets.exceptions import (
    AssetsApiError,
    AssetsAuthError,
    AssetsBadRequestError,
    AssetsNotFoundError,
    AssetsRateLimitError,
    AssetsServerError,
    AssetsTransportError,
)

OK = {"body": {"id": "1", "label": "SYD-1"}}
CREATED = {"status": 201, "body": {"id": "2"}}
CREATE_BODY = {"objectTypeId": "23", "attributes": []}


def test_429_honours_an_integer_retry_after(
    site: Any, make_client: Callable[..., AssetsClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(retry=RetryPolicy(initial_wait=0.001, max_wait=0.01, max_retry_after=5))
    site.script("GET", "object/1", {"status": 429, "headers": {"Retry-After": "1"}}, OK)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="airflow_assets"):
        assert client.get_object("1")["label"] == "SYD-1"
    assert 0.95 <= time.monotonic() - started < 2.0
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "GET object/1" in record.getMessage() and "HTTP 429" in record.getMessage()
    assert "in 1.00 s" in record.getMessage()


def test_absurd_retry_after_is_capped(
    site: Any, make_client: Callable[..., AssetsClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(retry=RetryPolicy(initial_wait=0.001, max_wait=0.01, max_retry_after=0.2))
    site.script("GET", "object/1", {"status": 429, "headers": {"Retry-After": "86400"}}, OK)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="airflow_assets"):
        client.get_object("1")
    assert 0.19 <= time.monotonic() - started < 1.0
    assert "in 0.20 s" in caplog.records[0].getMessage()


def test_429_accepts_an_http_date(
    site: Any, make_client: Callable[..., AssetsClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(retry=RetryPolicy(initial_wait=0.001, max_wait=0.01, max_retry_after=0.3))
    later = formatdate(time.time() + 30, usegmt=True)
    site.script("GET", "object/1", {"status": 429, "headers": {"Retry-After": later}}, OK)
    with caplog.at_level(logging.WARNING, logger="airflow_assets"):
        client.get_object("1")
    assert "in 0.30 s" in caplog.records[0].getMessage()


def test_429_without_retry_after_backs_off(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", {"status": 429}, {"status": 429}, OK)
    assert client.get_object("1")["id"] == "1"
    assert len(site.calls_to("GET", "object/1")) == 3


def test_503_burst_is_survived(site: Any, client: AssetsClient) -> None:
    site.script("POST", "object/aql", *[{"status": 503, "body": {"errorMessages": ["busy"]}}] * 3)
    site.add_objects(3)
    assert len(list(client.iter_objects("objectSchemaId = 1"))) == 3


def test_rate_limit_budget_exhausted_raises_a_typed_error(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", *[{"status": 429, "body": {"errorMessages": ["Rate limit exceeded"]}}] * 9)
    with pytest.raises(AssetsRateLimitError) as caught:
        client.get_object("1")
    error = caught.value
    assert (error.status, error.method, error.endpoint) == (429, "GET", "object/1")
    assert error.error_messages == ["Rate limit exceeded"]
    assert "gave up after 4 attempts" in str(error)
    assert len(site.calls_to("GET", "object/1")) == 4


def test_5xx_on_a_read_is_retried_then_fails_typed(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", {"status": 500}, {"status": 502}, OK)
    assert client.get_object("1")["id"] == "1"
    site.script("GET", "object/2", *[{"status": 500, "body": {"errorMessages": ["boom"]}}] * 4)
    with pytest.raises(AssetsServerError, match="boom"):
        client.get_object("2")


def test_create_is_not_retried_on_500(site: Any, client: AssetsClient) -> None:
    site.script("POST", "object/create", {"status": 500, "body": {"errorMessages": ["oops"]}}, CREATED)
    with pytest.raises(AssetsServerError, match="may have been processed"):
        client.create_object(CREATE_BODY)
    assert len(site.calls_to("POST", "object/create")) == 1


def test_create_is_retried_on_429_and_503(site: Any, client: AssetsClient) -> None:
    site.script("POST", "object/create", {"status": 429}, {"status": 503}, CREATED)
    assert client.create_object(CREATE_BODY) == {"id": "2"}
    assert len(site.calls_to("POST", "object/create")) == 3


def test_dropped_connection_on_a_read_is_retried(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", {"drop": True, "body": OK["body"]}, {"drop": True, "body": OK["body"]}, OK)
    assert client.get_object("1")["label"] == "SYD-1"
    assert len(site.calls_to("GET", "object/1")) == 3


def test_dropped_aql_page_is_reread_and_every_object_seen_once(site: Any, client: AssetsClient) -> None:
    site.add_objects(9)
    site.script("POST", "object/aql", {"drop": True, "body": {"values": []}})
    ids = [obj["id"] for obj in client.iter_objects("objectSchemaId = 1", page_size=4)]
    assert ids == [str(i) for i in range(1, 10)]


def test_dropped_connection_on_a_create_is_not_retried(site: Any, client: AssetsClient) -> None:
    site.script("POST", "object/create", {"drop": True, "body": {"id": "2"}}, CREATED)
    with pytest.raises(AssetsTransportError, match="may have been processed") as caught:
        client.create_object(CREATE_BODY)
    assert (caught.value.method, caught.value.endpoint) == ("POST", "object/create")
    assert len(site.calls_to("POST", "object/create")) == 1


@pytest.mark.parametrize(
    "reply",
    [
        {"raw": b'{"id": "1", "label": "SY'},
        {"raw": b"<html><body>Service unavailable</body></html>", "content_type": "text/html"},
    ],
    ids=["truncated-json", "html"],
)
def test_unreadable_success_body_on_a_read_is_retried(site: Any, client: AssetsClient, reply: dict) -> None:
    site.script("GET", "object/1", reply, OK)
    assert client.get_object("1")["label"] == "SYD-1"


def test_unreadable_success_body_on_a_create_is_not_retried(site: Any, client: AssetsClient) -> None:
    site.script("POST", "object/create", {"status": 201, "raw": b'{"id": "2", "lab'}, CREATED)
    with pytest.raises(AssetsTransportError, match="not valid JSON"):
        client.create_object(CREATE_BODY)
    assert len(site.calls_to("POST", "object/create")) == 1


def test_unreadable_bodies_exhaust_into_a_transport_error(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", *[{"raw": b"{"}] * 4)
    with pytest.raises(AssetsTransportError, match="gave up after 4 attempts"):
        client.get_object("1")


def test_400_fails_at_once_with_the_servers_messages(site: Any, client: AssetsClient) -> None:
    errors = {"rlabs-insight-attribute-1881": "Invalid Group(s)"}
    site.script(
        "POST", "object/create", {"status": 400, "body": {"errorMessages": ["Bad value"], "errors": errors}}
    )
    with pytest.raises(AssetsBadRequestError) as caught:
        client.create_object(CREATE_BODY)
    error = caught.value
    assert (error.status, error.method, error.endpoint) == (400, "POST", "object/create")
    assert error.error_messages == ["Bad value"] and error.errors == errors
    assert "Invalid Group(s)" in str(error) and "rlabs-insight-attribute-1881" in str(error)
    assert "127.0.0.1" not in str(error)
    assert len(site.calls) == 2  # workspace discovery + the one create


def test_400_on_aql_fails_at_once(site: Any, client: AssetsClient) -> None:
    site.script(
        "POST", "object/aql", {"status": 400, "body": {"errorMessages": ["AQL: unknown attribute Foo"]}}
    )
    with pytest.raises(AssetsBadRequestError, match="unknown attribute Foo") as caught:
        list(client.iter_objects("Foo = 1"))
    assert caught.value.endpoint == "object/aql"
    assert len(site.calls_to("POST", "object/aql")) == 1


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, AssetsAuthError, ["may be wrong or expired", "robot@example.com"]),
        (403, AssetsAuthError, ["permission", "robot@example.com"]),
        (404, AssetsNotFoundError, ["No object with id 9"]),
        (409, AssetsApiError, ["conflict"]),
    ],
)
def test_client_errors_fail_at_once(
    site: Any, client: AssetsClient, status: int, kind: type[Exception], words: list[str]
) -> None:
    message = {404: "No object with id 9", 409: "conflict"}.get(status, "nope")
    site.script("GET", "object/9", {"status": status, "body": {"errorMessages": [message], "errors": {}}})
    with pytest.raises(kind) as caught:
        client.get_object("9")
    assert type(caught.value) is kind
    assert all(word in str(caught.value) for word in words)
    assert len(site.calls_to("GET", "object/9")) == 1


def test_plain_text_error_body_is_kept(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/9", {"status": 404, "raw": b"Not Found", "content_type": "text/plain"})
    with pytest.raises(AssetsNotFoundError, match="Not Found"):
        client.get_object("9")


def test_delete_whose_answer_was_lost_counts_as_done(site: Any, client: AssetsClient) -> None:
    site.script("DELETE", "object/5", {"drop": True, "body": {}}, {"status": 404})
    assert client.delete_object("5") is None
    assert len(site.calls_to("DELETE", "object/5")) == 2


def test_delete_of_a_missing_object_is_not_found(site: Any, client: AssetsClient) -> None:
    site.script("DELETE", "object/5", {"status": 404})
    with pytest.raises(AssetsNotFoundError):
        client.delete_object("5")


def unreachable_client(*, max_attempts: int) -> AssetsClient:
    """A client of a site nobody listens on (port 9, discard), retrying almost without waiting."""
    return AssetsClient(
        site_url="http://127.0.0.1:9",
        email="a@b.c",
        api_token="t",
        api_base_url="http://127.0.0.1:9/v1",
        retry=RetryPolicy(max_attempts=max_attempts, initial_wait=0.001, max_wait=0.001),
        timeout=0.5,
    )


def test_unreachable_site_is_a_transport_error_after_retries() -> None:
    client = unreachable_client(max_attempts=2)
    with pytest.raises(AssetsTransportError, match="gave up after 2 attempts") as caught:
        client.get_object_history("1")
    # Nothing chains back to requests' exceptions (they hold the request and its Authorization header).
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert "Connection refused" in str(caught.value)
    client.close()


def test_connection_refused_create_is_retried_because_it_was_never_sent() -> None:
    client = unreachable_client(max_attempts=3)
    with pytest.raises(AssetsTransportError, match="gave up after 3 attempts"):
        client.create_object(CREATE_BODY)
    client.close()


def test_retry_after_parsing() -> None:
    now = 1_000_000.0
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after(formatdate(now + 20, usegmt=True), now=now) == pytest.approx(20, abs=1)
    assert parse_retry_after(formatdate(now - 20, usegmt=True), now=now) == 0.0
    assert parse_reset_time("1970-01-12T13:47:00Z", now=now) == pytest.approx(1_000_020 - now)
    assert parse_reset_time("garbage", now=now) is None


def test_server_wait_prefers_retry_after_and_caps() -> None:
    policy = RetryPolicy(max_retry_after=10)
    assert policy.server_wait({"Retry-After": "3", "X-RateLimit-Reset": "2999-01-01T00:00Z"}) == 3
    assert policy.server_wait({"X-RateLimit-Reset": "2999-01-01T00:00Z"}) == 10
    assert policy.server_wait({"Beta-Retry-After": "4"}) == 4
    assert policy.server_wait({}) is None


def test_a_retry_now_hint_falls_back_to_backoff() -> None:
    # Retry-After: 0 or a reset instant already past would otherwise spend every attempt in milliseconds.
    policy = RetryPolicy()
    assert policy.server_wait({"Retry-After": "0"}) is None
    assert policy.server_wait({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert policy.server_wait({"X-RateLimit-Reset": "2020-01-01T00:00Z"}) is None
    # A future reset instant has minute precision: a margin is added.
    soon = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert 30 <= policy.server_wait({"X-RateLimit-Reset": soon}) <= 32  # type: ignore[operator]


def test_backoff_is_exponential_jittered_and_capped() -> None:
    policy = RetryPolicy(initial_wait=5, max_wait=30)
    for attempt, base in [(1, 5), (2, 10), (3, 20)]:
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert min(waits) >= 0.7 * base and max(waits) <= 1.3 * base
        assert max(waits) - min(waits) > 0.1 * base
    assert all(policy.backoff(8) <= 30 for _ in range(100))

"""The API token never appears in logs, exception text or reprs."""

from __future__ import annotations

import base64
import logging
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_assets.api import AssetsClient, RateLimits, RetryPolicy
from airflow_assets.exceptions import JiraAssetsError


def _secrets(site: Any) -> list[str]:
    basic = base64.b64encode(f"{site.email}:{site.api_token}".encode()).decode()
    return [site.api_token, basic]


def test_token_is_absent_from_logs_errors_and_reprs(
    site: Any, make_client: Callable[..., AssetsClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    client = make_client()
    errors: list[JiraAssetsError] = []
    site.add_objects(5)
    site.script(
        "GET", "object/1", {"status": 429, "headers": {"Retry-After": "0"}}, {"drop": True, "body": {}}
    )
    site.script("POST", "object/create", {"status": 500}, {"drop": True, "body": {}}, {"raw": b"{"})
    site.script(
        "GET",
        "object/2",
        {"status": 400, "body": {"errorMessages": [f"bad token {site.api_token}"], "errors": {}}},
    )
    site.script(
        "GET",
        "object/3",
        {"status": 401, "raw": f"token {site.api_token} rejected".encode(), "content_type": "text/plain"},
    )
    list(client.iter_objects("objectSchemaId = 1", page_size=2))
    client.get_object("1")
    for call in (
        lambda: client.create_object({"objectTypeId": "1"}),
        lambda: client.create_object({"objectTypeId": "1"}),
        lambda: client.get_object("2"),
        lambda: client.get_object("3"),
        lambda: make_client(api_token=site.api_token + "-expired").get_object("1"),
    ):
        with pytest.raises(JiraAssetsError) as caught:
            call()
        errors.append(caught.value)

    texts = [caplog.text, repr(client), repr(client.retry), repr(client.limits)]
    texts += [str(record.args) for record in caplog.records]
    for error in errors:
        texts += [str(error), repr(error), repr(error.args), repr(vars(error))]
    assert any("urllib3" in record.name for record in caplog.records)
    assert len(errors) == 5
    for secret in _secrets(site):
        for text in texts:
            assert secret not in text
    assert "bad token ***" in str(errors[2]) and "token *** rejected" in str(errors[3])


def test_errors_carry_no_request_objects(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", *[{"drop": True, "body": {}}] * 4)
    with pytest.raises(JiraAssetsError) as caught:
        client.get_object("1")
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for link in chain:
        assert not hasattr(link, "request") and not hasattr(link, "response")


def test_config_reprs_hide_nothing_secret() -> None:
    client = AssetsClient(
        site_url="https://example.atlassian.net",
        email="a@example.com",
        api_token="very-secret-token-42",
        retry=RetryPolicy(),
        limits=RateLimits(),
    )
    assert "very-secret-token-42" not in repr(client) and "api_token='***'" in repr(client)
    assert "very-secret-token-42" not in repr(client._redact)
    client.close()


def test_url_encoded_secrets_in_an_error_body_and_a_redirect_are_masked(
    site: Any, make_client: Callable[..., AssetsClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    token, basic = _secrets(site)
    lower_basic = re.sub("%[0-9A-F]{2}", lambda hit: hit.group().lower(), quote(basic, safe=""))
    site.script(
        "GET",
        "object/2",
        {"status": 400, "body": {"errorMessages": [f"bad query auth={quote_plus(basic)}"], "errors": {}}},
    )
    # A redirect whose URL carries the Basic value, to a port nothing listens on: the connection error
    # quotes the URL, in the exception and in each retry warning.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    location = f"http://127.0.0.1:{port}/login?auth=Basic%20{lower_basic}&token={quote(token, safe='')}"
    site.script("GET", "object/3", *[{"status": 302, "headers": {"Location": location}}] * 4)
    errors = []
    for object_id in ("2", "3"):
        with pytest.raises(JiraAssetsError) as caught:
            client.get_object(object_id)
        errors.append(caught.value)

    retries = [record.getMessage() for record in caplog.records if "retry" in record.getMessage()]
    assert retries and all("/login?auth=Basic%20***&token=***" in text for text in retries)
    assert "bad query auth=***" in str(errors[0])
    assert "/login?auth=Basic%20***&token=***" in str(errors[1])
    # The scripted site's token is URL-safe; its Basic value ends in "==", which encoding changes.
    assert quote_plus(basic) != basic
    forms = {quote_plus(basic), quote(basic, safe=""), lower_basic, token}
    for text in [caplog.text, *map(str, errors), *map(repr, errors)]:
        assert not any(form in text for form in forms)

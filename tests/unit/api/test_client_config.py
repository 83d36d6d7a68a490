"""AssetsClient configuration: validation up front, lazy workspace discovery, check_connection."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from airflow_assets.api import AssetsClient, PacerRegistry, RateLimits, RetryPolicy
from airflow_assets.exceptions import AssetsAuthError, AssetsConfigError

GOOD: dict[str, Any] = {
    "site_url": "https://example.atlassian.net",
    "email": "robot@example.com",
    "api_token": "secret-token-value",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("site_url", ""),
        ("site_url", "example.atlassian.net"),
        ("site_url", "ftp://example.atlassian.net"),
        ("site_url", "https://user:pw@example.atlassian.net"),
        ("site_url", "https://example.atlassian.net/?x=1"),
        ("email", ""),
        ("email", "   "),
        ("api_token", ""),
        ("workspace_id", ""),
        ("workspace_id", "a/b"),
        ("api_base_url", "not a url"),
        ("api_base_url", "https://api.atlassian.com/jsm/assets/workspace/{workspace}/v1"),
        ("cloud_id", "x/y"),
        ("budget_share", 0),
        ("budget_share", 1.5),
        ("budget_share", float("nan")),
        ("budget_share", True),
        ("timeout", 0),
        ("timeout", (1.0,)),
        ("max_workers", 0),
        ("retry", {"max_attempts": 3}),
        ("limits", 1000),
    ],
)
def test_invalid_config_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(AssetsConfigError, match=field) as caught:
        AssetsClient(**{**GOOD, field: value})
    assert isinstance(caught.value, ValueError)
    assert GOOD["api_token"] not in str(caught.value)


def test_empty_token_message_does_not_echo_the_value() -> None:
    with pytest.raises(AssetsConfigError, match="api_token") as caught:
        AssetsClient(**{**GOOD, "api_token": " \t"})
    assert "got" not in str(caught.value)


@pytest.mark.parametrize("field", ["api_token", "email"])
@pytest.mark.parametrize(
    "unsendable",
    ["\u200b", "\n", "\r\n", "\x00", "\x7f", "\u2028", "\u20ac"],
    ids=["zero-width-space", "newline", "crlf", "nul", "del", "line-separator", "euro"],
)
def test_text_an_http_header_cannot_carry_is_refused_without_the_value(field: str, unsendable: str) -> None:
    value = f"ATATT3xFfGF0-pasted{unsendable}Tail-9f8e7d"
    with pytest.raises(AssetsConfigError, match=field) as caught:
        AssetsClient(**{**GOOD, field: value})
    error = caught.value
    assert f"U+{ord(unsendable[0]):04X}" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    for text in (str(error), repr(error), repr(error.args)):
        for part in ("ATATT3xFfGF0", "pasted", "Tail-9f8e7d", GOOD["api_token"]):
            assert part not in text


def test_latin1_text_and_surrounding_whitespace_are_accepted() -> None:
    # A line break pasted after the token is stripped like any surrounding whitespace.
    client = AssetsClient(**{**GOOD, "email": "jos\u00e9@example.com", "api_token": " tok\n"})
    assert client.email == "jos\u00e9@example.com"


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: RetryPolicy(max_attempts=0), "retry.max_attempts"),
        (lambda: RetryPolicy(initial_wait=-1), "retry.initial_wait"),
        (lambda: RetryPolicy(jitter=(1.3, 0.7)), "retry.jitter"),
        (lambda: RateLimits(default_limit=0), "limits.default_limit"),
        (lambda: RateLimits(limits={"POST object/aql": -5}), "POST object/aql"),
        (lambda: RateLimits(window_seconds=0), "limits.window_seconds"),
        (lambda: RateLimits(target_fraction=1.2), "limits.target_fraction"),
    ],
)
def test_policy_validation_names_the_field(factory: Callable[[], object], field: str) -> None:
    with pytest.raises(AssetsConfigError, match=field):
        factory()


def test_constructor_sends_nothing() -> None:
    # Port 9 (discard) on localhost is closed: any request would fail loudly.
    client = AssetsClient(site_url="http://127.0.0.1:9", email="a@b.c", api_token="t")
    assert "127.0.0.1:9" in repr(client)
    client.close()


def test_repr_masks_the_token() -> None:
    client = AssetsClient(**GOOD)
    text = repr(client)
    assert "***" in text
    assert GOOD["api_token"] not in text
    client.close()


def test_cloud_id_routes_site_calls_through_the_gateway() -> None:
    client = AssetsClient(**GOOD, cloud_id="0f1e2d3c-aaaa-bbbb-cccc-123456789abc")
    assert client._site_base == "https://api.atlassian.com/ex/jira/0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
    client.close()


def test_workspace_is_discovered_lazily_once(site: Any, make_client: Callable[..., AssetsClient]) -> None:
    client = make_client()
    assert site.calls == []
    client.get_object("1")
    client.get_object("2")
    assert [call.path for call in site.calls] == [
        "rest/servicedeskapi/assets/workspace",
        "object/1",
        "object/2",
    ]
    assert client.workspace_id == "ws-0001"


def test_given_workspace_id_skips_discovery(site: Any, make_client: Callable[..., AssetsClient]) -> None:
    client = make_client(workspace_id="ws-0001")
    client.get_object("1")
    assert [call.path for call in site.calls] == ["object/1"]


def test_site_without_assets_is_a_config_error(site: Any, client: AssetsClient) -> None:
    site.workspaces = []
    with pytest.raises(AssetsConfigError, match="no Assets on that site"):
        client.get_object("1")


def test_check_connection_proves_auth_and_workspace(site: Any, client: AssetsClient) -> None:
    summary = client.check_connection()
    assert "ws-0001" in summary and site.email in summary
    assert [call.path for call in site.calls] == ["rest/servicedeskapi/assets/workspace", "objectschema/list"]


def test_check_connection_with_a_wrong_token_says_so(
    site: Any, make_client: Callable[..., AssetsClient]
) -> None:
    client = make_client(api_token="wrong-token-123")
    with pytest.raises(AssetsAuthError) as caught:
        client.check_connection()
    text = str(caught.value)
    assert "401" in text and "expired" in text and site.email in text
    assert "wrong-token-123" not in text
    assert len(site.calls) == 1


def test_clients_get_their_pacers_from_the_registry(
    site: Any, make_client: Callable[..., AssetsClient]
) -> None:
    registry = PacerRegistry()
    first = make_client(pacers=registry, limits=RateLimits())
    second = make_client(pacers=registry, limits=RateLimits())
    assert first._pacer("GET object/{id}") is second._pacer("GET object/{id}")
    assert first._pacer("GET object/{id}") is not first._pacer("POST object/aql")


def test_policies_survive_deepcopy_and_pickle() -> None:
    policies = [RetryPolicy(max_attempts=2), RateLimits(limits={"POST object/aql": 10}, window_seconds=1)]
    for policy in policies:
        assert copy.deepcopy(policy) == policy
        assert pickle.loads(pickle.dumps(policy)) == policy

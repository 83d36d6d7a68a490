"""``maybe_applied`` on errors: set when a write may have been processed though it failed; never on reads."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from airflow_assets.api import AssetsClient, RetryPolicy
from airflow_assets.exceptions import (
    AssetsApiError,
    AssetsBadRequestError,
    AssetsNotFoundError,
    AssetsRateLimitError,
    AssetsServerError,
    AssetsTransportError,
    JiraAssetsError,
)

CREATE_BODY = {"objectTypeId": "23", "attributes": []}
UPDATE_BODY: dict[str, list[object]] = {"attributes": []}
DROPPED = {"drop": True, "body": {"id": "2"}}
UNIQUE_NAME = {"status": 400, "body": {"errorMessages": [], "errors": {"name": "Name has to be unique"}}}


def caught_error(call: Callable[[], Any]) -> JiraAssetsError:
    """Run a call that must fail; return its typed error."""
    with pytest.raises(JiraAssetsError) as caught:
        call()
    return caught.value


# -- writes that may have been processed ---------------------------------------------------------------


def test_a_create_answered_500_may_have_been_applied(site: Any, client: AssetsClient) -> None:
    site.script("POST", "object/create", {"status": 500, "body": {"errorMessages": ["oops"]}})
    error = caught_error(lambda: client.create_object(CREATE_BODY))
    assert isinstance(error, AssetsServerError)
    assert error.maybe_applied is True
    assert len(site.calls_to("POST", "object/create")) == 1


def test_a_create_whose_connection_dropped_after_sending_may_have_been_applied(
    site: Any, client: AssetsClient
) -> None:
    site.script("POST", "object/create", DROPPED)
    error = caught_error(lambda: client.create_object(CREATE_BODY))
    assert isinstance(error, AssetsTransportError)
    assert error.maybe_applied is True
    assert len(site.calls_to("POST", "object/create")) == 1


def test_a_create_with_an_unreadable_success_answer_may_have_been_applied(
    site: Any, client: AssetsClient
) -> None:
    site.script("POST", "object/create", {"status": 201, "raw": b'{"id": "2", "lab'})
    error = caught_error(lambda: client.create_object(CREATE_BODY))
    assert isinstance(error, AssetsTransportError) and error.maybe_applied is True


def test_a_create_answered_with_the_wrong_shape_may_have_been_applied(
    site: Any, client: AssetsClient
) -> None:
    site.script("POST", "object/create", {"status": 201, "body": ["not", "an", "object"]})
    error = caught_error(lambda: client.create_object(CREATE_BODY))
    assert isinstance(error, AssetsTransportError) and error.maybe_applied is True


def test_an_update_answered_500_on_every_attempt_may_have_been_applied(
    site: Any, client: AssetsClient
) -> None:
    site.script("PUT", "object/7", *[{"status": 500}] * 4)
    error = caught_error(lambda: client.update_object("7", UPDATE_BODY))
    assert isinstance(error, AssetsServerError) and error.maybe_applied is True
    assert "gave up after 4 attempts" in str(error)


def test_an_update_that_timed_out_then_met_a_400_may_have_been_applied(
    site: Any, client: AssetsClient
) -> None:
    # The first attempt renamed the type; its answer was lost; the retry meets the name it set itself.
    site.script("PUT", "objecttype/23", DROPPED, UNIQUE_NAME)
    error = caught_error(lambda: client.update_object_type("23", {"name": "Site"}))
    assert isinstance(error, AssetsBadRequestError)
    assert error.maybe_applied is True
    assert error.errors == {"name": "Name has to be unique"}
    assert "earlier attempt" in str(error)
    assert len(site.calls_to("PUT", "objecttype/23")) == 2


@pytest.mark.parametrize("status", [404, 409])
def test_an_update_that_timed_out_then_met_another_client_error_may_have_been_applied(
    site: Any, client: AssetsClient, status: int
) -> None:
    site.script("PUT", "object/7", DROPPED, {"status": status, "body": {"errorMessages": ["no"]}})
    error = caught_error(lambda: client.update_object("7", UPDATE_BODY))
    assert isinstance(error, AssetsApiError) and error.status == status
    assert error.maybe_applied is True


def test_an_update_that_timed_out_then_stayed_rate_limited_may_have_been_applied(
    site: Any, client: AssetsClient
) -> None:
    site.script("PUT", "object/7", DROPPED, *[{"status": 429}] * 3)
    error = caught_error(lambda: client.update_object("7", UPDATE_BODY))
    assert isinstance(error, AssetsRateLimitError)
    assert error.maybe_applied is True
    assert "earlier attempt" in str(error)


# -- failures that leave nothing applied -------------------------------------------------------------


def test_a_create_refused_with_429_to_the_end_was_not_applied(site: Any, client: AssetsClient) -> None:
    site.script("POST", "object/create", *[{"status": 429}] * 4)
    error = caught_error(lambda: client.create_object(CREATE_BODY))
    assert isinstance(error, AssetsRateLimitError)
    assert error.maybe_applied is False
    assert len(site.calls_to("POST", "object/create")) == 4


def test_a_delete_refused_with_503_to_the_end_was_not_applied(site: Any, client: AssetsClient) -> None:
    site.script("DELETE", "object/7", *[{"status": 503}] * 4)
    error = caught_error(lambda: client.delete_object("7"))
    assert isinstance(error, AssetsRateLimitError) and error.maybe_applied is False


def test_a_create_answered_400_was_not_applied(site: Any, client: AssetsClient) -> None:
    errors = {"rlabs-insight-attribute-1881": "Invalid Group(s)"}
    site.script("POST", "object/create", {"status": 400, "body": {"errorMessages": [], "errors": errors}})
    error = caught_error(lambda: client.create_object(CREATE_BODY))
    assert isinstance(error, AssetsBadRequestError)
    assert error.maybe_applied is False


def test_a_create_that_was_never_sent_was_not_applied() -> None:
    # Nobody listens on port 9 (discard): the connection is refused before anything is sent.
    client = AssetsClient(
        site_url="http://127.0.0.1:9",
        email="a@b.c",
        api_token="t",
        api_base_url="http://127.0.0.1:9/v1",
        retry=RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.001),
        timeout=0.5,
    )
    with client:
        error = caught_error(lambda: client.create_object(CREATE_BODY))
    assert isinstance(error, AssetsTransportError)
    assert error.maybe_applied is False


# -- reads: nothing to apply -------------------------------------------------------------------------


def test_a_read_answered_500_on_every_attempt_is_not_maybe_applied(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", *[{"status": 500, "body": {"errorMessages": ["boom"]}}] * 4)
    error = caught_error(lambda: client.get_object("1"))
    assert isinstance(error, AssetsServerError)
    assert error.maybe_applied is False
    assert len(site.calls_to("GET", "object/1")) == 4


def test_a_read_that_dropped_then_met_404_is_not_maybe_applied(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", DROPPED, {"status": 404})
    error = caught_error(lambda: client.get_object("1"))
    assert isinstance(error, AssetsNotFoundError) and error.maybe_applied is False


def test_an_aql_search_is_a_read_although_it_is_a_post(site: Any, client: AssetsClient) -> None:
    site.script("POST", "object/aql", *[{"status": 500}] * 4)
    error = caught_error(lambda: list(client.iter_objects("objectSchemaId = 1")))
    assert isinstance(error, AssetsServerError) and error.maybe_applied is False
    site.script("POST", "object/aql", *[{"drop": True, "body": {"values": []}}] * 4)
    error = caught_error(lambda: list(client.iter_objects("objectSchemaId = 1")))
    assert isinstance(error, AssetsTransportError) and error.maybe_applied is False


def test_unreadable_read_answers_are_not_maybe_applied(site: Any, client: AssetsClient) -> None:
    site.script("GET", "object/1", *[{"raw": b"{"}] * 4)
    error = caught_error(lambda: client.get_object("1"))
    assert isinstance(error, AssetsTransportError) and error.maybe_applied is False


# -- the flag travels with the error -----------------------------------------------------------------


def test_maybe_applied_survives_pickling_and_copying(
    site: Any, make_client: Callable[..., AssetsClient]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=1, initial_wait=0.001, max_wait=0.001))
    site.script("POST", "object/create", {"status": 502})
    site.script("PUT", "object/7", DROPPED)
    site.script("GET", "object/1", {"status": 500})
    errors = [
        caught_error(lambda: client.create_object(CREATE_BODY)),
        caught_error(lambda: client.update_object("7", UPDATE_BODY)),
        caught_error(lambda: client.get_object("1")),
    ]
    assert [getattr(error, "maybe_applied", None) for error in errors] == [True, True, False]
    for error in errors:
        for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
            assert type(clone) is type(error)
            assert clone.__dict__ == error.__dict__
            assert str(clone) == str(error)


def test_errors_default_to_not_applied() -> None:
    api_error = AssetsApiError(status=500, method="POST", endpoint="object/create")
    transport_error = AssetsTransportError("reset", method="PUT", endpoint="object/1")
    assert api_error.maybe_applied is False and transport_error.maybe_applied is False

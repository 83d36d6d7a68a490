"""Errors keep everything an operator needs, also across processes (pickling) and copies."""

from __future__ import annotations

import copy
import pickle

import pytest

from airflow_assets.exceptions import (
    AssetsApiError,
    AssetsBadRequestError,
    AssetsNotFoundError,
    AssetsServerError,
    AssetsTransportError,
    JiraAssetsError,
)


@pytest.mark.parametrize(
    "error",
    [
        AssetsNotFoundError(status=404, method="GET", endpoint="object/88", error_messages=["No object 88"]),
        AssetsBadRequestError(
            status=400,
            method="POST",
            endpoint="object/create",
            errors={"rlabs-insight-attribute-1881": "Invalid Group(s)"},
            hint="check the group",
        ),
        AssetsTransportError("GET object/1 failed: reset", method="GET", endpoint="object/1"),
        AssetsServerError(status=500, method="POST", endpoint="object/create", hint="x", maybe_applied=True),
        AssetsTransportError(
            "PUT object/1 failed: reset", method="PUT", endpoint="object/1", maybe_applied=True
        ),
    ],
    ids=["not-found", "bad-request", "transport", "server-maybe-applied", "transport-maybe-applied"],
)
def test_errors_survive_pickling_and_copying(error: JiraAssetsError) -> None:
    for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert clone.__dict__ == error.__dict__
        assert getattr(clone, "maybe_applied", None) == getattr(error, "maybe_applied", None)


def test_api_error_message_names_the_call_and_the_servers_words() -> None:
    error = AssetsApiError(
        status=400,
        method="POST",
        endpoint="object/create",
        error_messages=["Name has to be unique"],
        errors={"rlabs-insight-attribute-7": "Invalid Group(s)"},
        hint="fix the value",
    )
    assert str(error) == (
        "POST object/create failed with HTTP 400: Name has to be unique; "
        "rlabs-insight-attribute-7: Invalid Group(s) (fix the value)"
    )

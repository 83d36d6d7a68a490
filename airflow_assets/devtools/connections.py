"""The Airflow connection of a sandbox site, as the demo and the tests define it."""

from __future__ import annotations

import json
from typing import Any

from airflow_assets.sandbox.launch import RunningSandbox


def sandbox_connection(sandbox: RunningSandbox, *, api_token: str | None = None, **extra: Any) -> str:
    """Return the ``AIRFLOW_CONN_<ID>`` JSON of a ``jira_assets`` connection to ``sandbox``.

    :param sandbox: the running sandbox.
    :param api_token: the token to send (default: the sandbox's own).
    :param extra: more connection extras, e.g. ``rate_limit_scale``.

    The sandbox serves plain http on the loopback interface, so the connection allows it explicitly
    (``allow_insecure_http``): the hook refuses http otherwise.
    """
    return json.dumps(
        {
            "conn_type": "jira_assets",
            "host": sandbox.url,
            "login": sandbox.email,
            "password": sandbox.api_token if api_token is None else api_token,
            "extra": {
                "api_base_url": sandbox.url + "/jsm/assets/workspace/{workspaceId}/v1",
                "allow_insecure_http": sandbox.url.startswith("http://"),
                **extra,
            },
        }
    )

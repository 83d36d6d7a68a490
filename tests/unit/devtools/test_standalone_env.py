"""The environment ``airflow-assets standalone`` gives Airflow: its log servers on ports that are free."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from airflow_assets.devtools.standalone_stack import StandaloneLayout, airflow_env

AIRFLOW_DEFAULT_LOG_SERVER_PORTS = (8793, 8794)
LOG_SERVER_SETTINGS = (
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
)


@pytest.fixture
def default_log_ports_taken() -> Iterator[None]:
    """Listen on 8793 and 8794 as another Airflow on a shared machine would (already taken is as good)."""
    with ExitStack() as stack:
        for port in AIRFLOW_DEFAULT_LOG_SERVER_PORTS:
            listener = stack.enter_context(socket.socket())
            try:
                listener.bind(("", port))
                listener.listen()
            except OSError:
                pass  # someone else holds it already: the situation this test is about
        yield


def test_the_log_servers_get_free_ports_when_the_defaults_are_taken(
    tmp_path: Path, default_log_ports_taken: None
) -> None:
    env = airflow_env(StandaloneLayout(tmp_path), host="127.0.0.1", port=8080)

    ports = [int(env[name]) for name in LOG_SERVER_SETTINGS]
    assert len(set(ports)) == 2
    assert not set(ports) & {*AIRFLOW_DEFAULT_LOG_SERVER_PORTS, 8080}
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("", port))  # raises when the port is not free

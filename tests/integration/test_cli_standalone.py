"""``airflow-assets standalone`` comes up healthy, preset, and stops on SIGINT leaving no process behind."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pytest
import requests

from airflow_assets.devtools.airflow_rest import AirflowApi
from airflow_assets.devtools.standalone_stack import processes_mentioning, running_standalone

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def occupied(*ports: int) -> Iterator[None]:
    """Listen on ``ports`` for the block (a port someone else holds already is as good)."""
    with ExitStack() as stack:
        for port in ports:
            listener = stack.enter_context(socket.socket())
            with suppress(OSError):
                listener.bind(("", port))
                listener.listen()
        yield


def test_standalone_answers_its_health_check_and_stops_on_sigint(tmp_path: Path) -> None:
    workdir = tmp_path / "standalone"
    started = time.monotonic()
    # Airflow's default log-server ports taken, as on a shared machine: standalone must not need them.
    with occupied(8793, 8794), running_standalone(workdir, port=free_port()) as standalone:
        ready_after = time.monotonic() - started
        health = requests.get(f"{standalone.url}/api/v2/monitor/health", timeout=10).json()
        assert health["metadatabase"]["status"] == "healthy"
        assert health["scheduler"]["status"] == "healthy"
        assert (standalone.login, standalone.password) == ("admin", "admin")

        api = AirflowApi(standalone.url)
        api.login()
        connection = api.call("GET", "connections/jira_assets_default")
        assert connection["conn_type"] == "jira_assets"
        assert api.call("GET", "connections/jira_assets_backup")["conn_type"] == "mongo"
        assert api.call("GET", "pools/jira_assets_demo")["slots"] >= 1
        paused = {dag["dag_id"]: dag["is_paused"] for dag in api.call("GET", "dags")["dags"]}
        assert paused["jira_assets_backup_demo_loc"] is False
        assert paused["jira_assets_restore"] is False
        assert paused["jira_assets_monitor"] is True
        api.close()

        standalone.process.send_signal(signal.SIGINT)
        try:
            code = standalone.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("airflow-assets standalone did not exit within 60 s of SIGINT")
    print(f"ready after {ready_after:.1f} s")
    assert code == 0, "\n".join(standalone.output[-30:])
    assert "stopped" in standalone.output[-1]
    airflow_log = (workdir / "airflow-standalone.log").read_text(errors="replace")
    assert "Address already in use" not in airflow_log
    # Nothing left: no Airflow component, task process or MongoDB of this work directory.
    leftovers = []
    for _ in range(10):
        leftovers = processes_mentioning(str(workdir))
        if not leftovers:
            break
        time.sleep(0.5)
    assert leftovers == []

"""`airflow-assets sandbox serve` prints where it listens, serves the API, and stops cleanly on signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
import requests

LINE = re.compile(
    r"^sandbox listening on (?P<url>http://[\d.]+:\d+) "
    r"workspace=(?P<ws>\S+) email=(?P<email>\S+) token=(?P<token>\S+)$"
)


def _start(*flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_assets.cli", "sandbox", "serve", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_prints_its_address_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    process = _start("--seed", "demo", "--page-size-cap", "5")
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = LINE.match(line)
        assert match, f"unexpected first line: {line!r}"
        auth = (match["email"], match["token"])

        workspace = requests.get(
            match["url"] + "/rest/servicedeskapi/assets/workspace", auth=auth, timeout=10
        )
        assert workspace.json()["values"] == [{"workspaceId": match["ws"]}]
        page = requests.post(
            f"{match['url']}/jsm/assets/workspace/{match['ws']}/v1/object/aql",
            params={"startAt": 0, "maxResults": 50},
            json={"qlQuery": "objectSchemaId = 1"},
            auth=auth,
            timeout=10,
        ).json()
        assert page["maxResults"] == 5 and len(page["values"]) == 5

        process.send_signal(stop_signal)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_rejects_an_invalid_realism_switch() -> None:
    process = _start("--fault-rate", "1.5")
    _, err = process.communicate(timeout=60)

    assert process.returncode == 2
    assert "fault_rate" in err


def test_served_faults_drop_connections_cleanly() -> None:
    process = _start("--seed", "demo", "--fault-rate", "0.99", "--random-seed", "2")
    try:
        assert process.stdout is not None
        match = LINE.match(process.stdout.readline().strip())
        assert match
        failures: set[str] = set()
        for _ in range(12):
            try:
                requests.get(
                    f"{match['url']}/jsm/assets/workspace/{match['ws']}/v1/object/1/history",
                    auth=(match["email"], match["token"]),
                    timeout=10,
                ).json()
            except (requests.RequestException, ValueError) as error:
                failures.add(type(error).__name__)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # Dropped connections reach the client as such, and the server itself logs no error for them.
    assert {"ConnectionError", "ChunkedEncodingError"} <= failures
    assert "returned without completing" not in err


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--seed", "empty", "--objects", "500"), "objects"),
        (
            (
                "--objects",
                "5",
            ),
            "150",
        ),
        (("--port", "70000"), "port"),
    ],
    ids=["objects-without-demo", "too-few-objects", "port-out-of-range"],
)
def test_serve_explains_bad_arguments_without_a_traceback(flags: tuple[str, ...], says: str) -> None:
    process = _start(*flags)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 2
    assert err.startswith("airflow-assets sandbox serve:"), err
    assert says in err
    assert "Traceback" not in err

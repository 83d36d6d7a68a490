"""``airflow standalone`` preset for the sandbox: its home, environment, REST set-up, start and stop.

:mod:`airflow_assets.tools.standalone` wires it to the sandbox and the embedded MongoDB; the tests start that
command as a process with :func:`running_standalone` and drive Airflow over its REST API with
:class:`~airflow_assets.devtools.airflow_rest.AirflowApi`. Nothing here imports Airflow: Airflow runs in its
own processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from airflow_assets.devtools.airflow_rest import ADMIN

PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
# The line `airflow-assets standalone` prints once Airflow is healthy and preset; tests wait for it.
READY_LINE = re.compile(r"^Airflow UI: (?P<url>http://\S+)\s+login: (?P<login>\S+) / (?P<password>\S+)")


class StandaloneError(RuntimeError):
    """Airflow standalone could not be started, reached or driven; the message says which part and why."""


@dataclass(frozen=True)
class StandaloneLayout:
    """Where a standalone stack keeps its files under one work directory."""

    root: Path

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def dags_folder(self) -> Path:
        return self.root / "dags"

    @property
    def config_file(self) -> Path:
        return self.dags_folder / "jira_assets.yaml"

    @property
    def mongo_storage(self) -> Path:
        return self.root / "mongo"

    @property
    def airflow_log(self) -> Path:
        return self.root / "airflow-standalone.log"

    @property
    def unpaused_marker(self) -> Path:
        """Written once the first start has unpaused the DAGs: later starts keep what the user chose."""
        return self.root / ".dags-unpaused"


def prepare(layout: StandaloneLayout, *, dag_file: str, config: str) -> None:
    """Create the Airflow home, the DAGs folder (DAG file + backup config) and the admin password file."""
    layout.airflow_home.mkdir(parents=True, exist_ok=True)
    layout.dags_folder.mkdir(parents=True, exist_ok=True)
    (layout.dags_folder / "jira_assets_backup.py").write_text(dag_file)
    layout.config_file.write_text(config)
    # Airflow's simple auth manager reads (and otherwise generates) the admin password here.
    (layout.airflow_home / PASSWORDS_FILE).write_text(json.dumps({ADMIN["username"]: ADMIN["password"]}))


def airflow_env(
    layout: StandaloneLayout, *, host: str, port: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the environment of ``airflow standalone``: ours without Airflow settings, plus the preset.

    The scheduler's and the triggerer's log servers get free ports: their defaults (8793, 8794) are often
    taken on a shared machine (another Airflow, a Celery worker), and then the log server dies at start.

    :param layout: the work directory's layout.
    :param host: the interface the api-server listens on.
    :param port: the api-server's port.
    :param extra: more variables (connections for the tasks, ``JIRA_ASSETS_CONFIG``...).
    """
    inherited = {
        key: value
        for key, value in os.environ.items()
        # A developer's secrets backend or Airflow home must not leak in: the preset is the whole story.
        if not key.startswith("AIRFLOW") and key not in ("JIRA_ASSETS_CONFIG", "PYTEST_CURRENT_TEST")
    }
    # airflow standalone starts its components as `airflow ...` from the PATH: this venv's first.
    inherited["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), inherited.get("PATH", "")])
    worker_log_port = free_port(exclude={port})
    return {
        **inherited,
        "AIRFLOW_HOME": str(layout.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(layout.dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Two cores are enough when Airflow does not start 32 worker processes.
        "AIRFLOW__CORE__PARALLELISM": "4",
        # Paused at creation: a DAG unpaused before its connections and pool exist would run at once and
        # fail. The tool unpauses them once both are set (then each backup runs for its latest slot).
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # The connection form's Test button is disabled unless this is set.
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        # Tasks report to the execution API; its default assumes port 8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port(exclude={port, worker_log_port})),
        "JIRA_ASSETS_CONFIG": str(layout.config_file),
        **(extra or {}),
    }


def free_port(*, exclude: Iterable[int] = ()) -> int:
    """Return a TCP port nothing listens on now (the system picks it), never one of ``exclude``."""
    unwanted = set(exclude)
    while True:
        with socket.socket() as probe:
            probe.bind(("", 0))
            chosen = int(probe.getsockname()[1])
        if chosen not in unwanted:
            return chosen


class AirflowStandalone:
    """``airflow standalone`` as one process group, its output in a log file.

    :param env: the environment (see :func:`airflow_env`).
    :param log_path: where its output goes.
    :param cwd: its working directory.
    """

    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start ``airflow standalone`` in its own process group (a terminal's Ctrl-C reaches us first)."""
        airflow = str(Path(sys.executable).parent / "airflow")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [airflow, "standalone"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.cwd,
            )

    def check_alive(self) -> None:
        """Raise when airflow standalone has exited, with the tail of its log."""
        if self.process is not None and self.process.poll() is not None:
            raise StandaloneError(
                f"airflow standalone exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of its output."""
        if not self.log_path.exists():
            return "(no output)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_forever(self) -> None:
        """Block until airflow standalone exits (then raise, with its log) or a signal interrupts."""
        while True:
            self.check_alive()
            time.sleep(1)

    def stop(self, grace: float = 30) -> int | None:
        """Stop it as Ctrl-C would: SIGINT to its group; SIGTERM, then SIGKILL, to what is left later.

        SIGINT lets standalone stop its scheduler, dag-processor, triggerer and api-server; SIGTERM to the
        standalone process alone would orphan them.

        :return: its exit code (None when it was never started).
        """
        if self.process is None:
            return None
        group = self.process.pid
        _signal_group(group, signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        # Components (and task processes) may outlive standalone itself; they share its process group.
        for signum, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            if not _group_alive(group):
                break
            _signal_group(group, signum)
            deadline = time.monotonic() + wait
            while _group_alive(group) and time.monotonic() < deadline:
                time.sleep(0.1)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        return self.process.returncode


@dataclass(frozen=True)
class RunningStandalone:
    """An ``airflow-assets standalone`` process that printed its ready line."""

    url: str
    login: str
    password: str
    process: subprocess.Popen[str]
    output: list[str]


@contextmanager
def running_standalone(
    workdir: Path, *, port: int, timeout: float = 180, env: Mapping[str, str] | None = None
) -> Iterator[RunningStandalone]:
    """Run ``airflow-assets standalone`` until the block exits; yield once it printed its ready line.

    It is stopped with SIGINT, as Ctrl-C would, and killed (its group) if it does not exit within a minute.

    :param workdir: its ``--workdir``.
    :param port: its ``--port``.
    :param timeout: seconds to wait for the ready line.
    :param env: its environment (default: this one).
    """
    command = [str(Path(sys.executable).parent / "airflow-assets"), "standalone"]
    command += ["--workdir", str(workdir), "--port", str(port)]
    process = subprocess.Popen(
        command,
        env=dict(env if env is not None else os.environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        ready = _wait_for_ready_line(process, output, timeout)
        yield RunningStandalone(ready["url"], ready["login"], ready["password"], process, output)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _wait_for_ready_line(process: subprocess.Popen[str], output: list[str], timeout: float) -> dict[str, str]:
    import threading

    found: dict[str, str] = {}

    def read(stream: IO[str]) -> None:
        for line in stream:
            output.append(line.rstrip("\n"))
            match = READY_LINE.match(line)
            if match and not found:
                found.update(match.groupdict())

    assert process.stdout is not None
    threading.Thread(target=read, args=(process.stdout,), name="standalone-output", daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not found and process.poll() is None:
        time.sleep(0.2)
    if not found:
        state = (
            f"exited with {process.returncode}" if process.poll() is not None else f"not ready in {timeout} s"
        )
        raise StandaloneError(f"airflow-assets standalone {state}; its output:\n" + "\n".join(output[-40:]))
    return found


def processes_mentioning(marker: str) -> list[str]:
    """Return ``pid: command`` of every process whose command line or environment mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline or marker.encode() in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            found.append(f"{entry.name}: {command}")
    return found


def _signal_group(group: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

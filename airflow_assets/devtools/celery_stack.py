"""Run Airflow with the CeleryExecutor as plain processes: the deployment's compose file, started natively.

A scratch PostgreSQL database and a Redis database number of its own, a fresh ``AIRFLOW_HOME``, then
``api-server``, ``scheduler``, ``dag-processor`` and Celery workers, each in its own process group with its
log in a file. The end-to-end test (``tests/integration/test_celery_stack.py``) drives it over the REST API.
Needs the ``celery`` extra and the PostgreSQL drivers of the ``dev`` extra; nothing here imports Airflow.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_assets.devtools.airflow_rest import ADMIN, AirflowApi

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379"
# Database numbers the stack may claim; 0-8 are left to whoever else uses the machine's Redis.
REDIS_DB_NUMBERS = tuple(range(9, 15))
# The key that marks a Redis database number as taken by one stack (it expires should the stack die).
REDIS_CLAIM_KEY = "airflow_assets:celery_stack:owner"
REDIS_CLAIM_SECONDS = 3600
_WORKLOAD_LINE = re.compile(r"Executing workload in Celery: .*")
_WORKLOAD_FIELD = re.compile(r"\b(dag_id|task_id|run_id)='([^']*)'")


class CeleryStackError(RuntimeError):
    """The Celery stack could not be set up, started or driven; the message says which part and why."""


def unavailable_reason(postgres_url: str = POSTGRES_URL, redis_url: str = REDIS_URL) -> str | None:
    """Return why the stack cannot run here (a missing package, PostgreSQL or Redis unreachable), or None.

    :param postgres_url: the PostgreSQL server, ``postgresql://user@host:port``.
    :param redis_url: the Redis server, ``redis://host:port``.
    """
    import importlib.util

    for module, package in (
        ("airflow.providers.celery", "apache-airflow-providers-celery (the celery extra)"),
        ("psycopg2", "psycopg2-binary (the dev extra)"),
        ("asyncpg", "asyncpg (the dev extra)"),
        ("redis", "redis (brought by the celery extra)"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed"
    try:
        with _postgres(postgres_url) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return f"PostgreSQL cannot be reached at {postgres_url}: {_first_line(error)}"
    try:
        _redis(redis_url, 0).ping()
    except Exception as error:
        return f"Redis cannot be reached at {redis_url}: {_first_line(error)}"
    return None


@contextmanager
def scratch_database(postgres_url: str, name: str) -> Iterator[str]:
    """Create the PostgreSQL database ``name`` (dropping a leftover of that name first); drop it on exit.

    :param postgres_url: the server, ``postgresql://user@host:port``.
    :param name: the database's name (letters, digits and ``_``).
    :return: the database's URL.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise CeleryStackError(f"not a safe PostgreSQL database name: {name!r}")
    _drop_database(postgres_url, name)
    with _postgres(postgres_url) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{postgres_url.rstrip('/')}/{name}"
    finally:
        _drop_database(postgres_url, name)


@contextmanager
def scratch_redis_db(redis_url: str, numbers: Sequence[int] = REDIS_DB_NUMBERS) -> Iterator[int]:
    """Claim a Redis database number no other stack holds, flushed; flush it again on exit.

    :param redis_url: the server, ``redis://host:port``.
    :param numbers: the database numbers to choose from, tried in random order.
    :return: the claimed number.
    """
    owner = f"{socket.gethostname()}:{os.getpid()}"
    for number in random.sample(list(numbers), len(numbers)):
        client = _redis(redis_url, number)
        if not client.set(REDIS_CLAIM_KEY, owner, nx=True, ex=REDIS_CLAIM_SECONDS):
            continue
        client.flushdb()
        client.set(REDIS_CLAIM_KEY, owner, ex=REDIS_CLAIM_SECONDS)
        try:
            yield number
        finally:
            client.flushdb()
        return
    raise CeleryStackError(f"every Redis database number of {list(numbers)} on {redis_url} is claimed")


@dataclass
class Component:
    """One process of the stack: its name, command, log file and (once started) the process."""

    name: str
    command: list[str]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the component's log."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class CeleryStack(AirflowApi):
    """Airflow with the CeleryExecutor on a PostgreSQL database and a Redis database, as processes.

    Driven over the REST API as the :class:`AirflowApi` it is (call :meth:`wait_until_healthy` first).

    :param home: the ``AIRFLOW_HOME`` (created; logs of the processes go to ``home/stack-logs``).
    :param database_url: the scratch database, ``postgresql://user@host:port/name``.
    :param broker_url: the Celery broker, ``redis://host:port/<number>``.
    :param dags_folder: the DAGs folder every process parses.
    :param env: more environment for every process (connections, ``JIRA_ASSETS_CONFIG``...).
    :param workers: how many Celery workers to start (``w1``, ``w2``...).
    :param concurrency: task slots of each worker.
    """

    def __init__(
        self,
        home: Path,
        *,
        database_url: str,
        broker_url: str,
        dags_folder: Path,
        env: Mapping[str, str],
        workers: int = 2,
        concurrency: int = 2,
    ) -> None:
        self.home = home
        self.port = _free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.log_dir = home / "stack-logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = _child_env(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _with_scheme(database_url, "postgresql+psycopg2"),
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + _with_scheme(database_url, "postgresql"),
                # Without it every task fails in the worker with httpx.ConnectError.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                # Unpaused by the caller, one DAG at a time: a scheduled DAG unpaused at creation gets a run
                # for its latest slot at once (catchup off), beside the runs the caller triggers.
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__PARALLELISM": str(max(4, workers * concurrency)),
                **env,
            }
        )
        airflow = str(Path(sys.executable).parent / "airflow")
        api_server = [airflow, "api-server", "--port", str(self.port), "--workers", "1"]
        self.components = [
            Component("api-server", api_server, self._log("api-server")),
            Component("scheduler", [airflow, "scheduler"], self._log("scheduler")),
            Component("dag-processor", [airflow, "dag-processor"], self._log("dag-processor")),
        ]
        for number in range(1, workers + 1):
            # Several workers on one host: each needs its own name; serving logs would need a port each,
            # and the api-server reads the task logs from the shared AIRFLOW_HOME anyway.
            worker = [airflow, "celery", "worker", "-q", "default", "--concurrency", str(concurrency)]
            worker += ["-H", f"w{number}@%h", "--skip-serve-logs"]
            self.components.append(Component(f"w{number}", worker, self._log(f"w{number}")))

    def _log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    @property
    def workers(self) -> list[Component]:
        """Return the Celery worker components."""
        return [component for component in self.components if component.command[1:3] == ["celery", "worker"]]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command in the stack's environment (e.g. ``airflow db migrate``); raise when it fails."""
        done = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise CeleryStackError(
                f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            )
        return done

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command of the venv in the stack's environment."""
        return self.run(str(Path(sys.executable).parent / "airflow"), *args, timeout=timeout)

    def prepare(self) -> None:
        """Migrate the metadata database and fix the admin password (before the api-server starts)."""
        self.airflow("db", "migrate", timeout=300)
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        passwords.write_text(json.dumps({ADMIN["username"]: ADMIN["password"]}))

    def start(self) -> None:
        """Start every component, each in its own process group."""
        for component in self.components:
            with component.log_path.open("ab") as log:
                component.process = subprocess.Popen(
                    component.command,
                    env={**self.env, **component.extra_env},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=self.home,
                )

    def stop(self, grace: float = 15) -> None:
        """Stop every component: SIGTERM to each process group, then SIGKILL what is left after ``grace``."""
        started = [c for c in self.components if c.process is not None]
        for component in started:
            _signal_group(component, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for component in started:
            assert component.process is not None
            with suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # The group may hold children (task processes, gunicorn/uvicorn workers) that outlive their parent.
        for component in started:
            _signal_group(component, signal.SIGKILL)
            assert component.process is not None
            with suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=5)
        self.close()

    def check_alive(self) -> None:
        """Raise when a component has exited, with the tail of its log."""
        for component in self.components:
            if component.process is not None and component.process.poll() is not None:
                raise CeleryStackError(
                    f"{component.name} exited with {component.process.returncode}:\n{component.log_tail()}"
                )

    def logs(self, lines: int = 30) -> str:
        """Return the tail of every component's log, for a failure message."""
        return "\n".join(f"--- {c.name} ({c.log_path}) ---\n{c.log_tail(lines)}" for c in self.components)

    # -- REST API -------------------------------------------------------------------------------------

    def wait_until_healthy(self, timeout: float = 120) -> dict[str, Any]:
        """Wait until the api-server reports healthy, then log in as the admin for the calls that follow."""
        health = super().wait_until_healthy(timeout)
        self.login()
        return health

    def failure_details(self) -> str:
        return self.logs()

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API (``/api/v2/...``); return the JSON answer, raise on an error status."""
        return self.call(method, path, **kwargs)

    def executed_on(self, worker: Component) -> list[tuple[str, str]]:
        """Return (dag id, task id) of every workload a worker's log says it executed."""
        if not worker.log_path.exists():
            return []
        executed = []
        for match in _WORKLOAD_LINE.finditer(worker.log_path.read_text(errors="replace")):
            fields = dict(_WORKLOAD_FIELD.findall(match.group(0)))
            if "dag_id" in fields and "task_id" in fields:
                executed.append((fields["dag_id"], fields["task_id"]))
        return executed


@contextmanager
def celery_stack(
    workdir: Path,
    *,
    dags_folder: Path,
    env: Mapping[str, str],
    postgres_url: str = POSTGRES_URL,
    redis_url: str = REDIS_URL,
    workers: int = 2,
    concurrency: int = 2,
) -> Iterator[CeleryStack]:
    """Set up a scratch database and Redis database, start the stack, yield it; stop and clean up on exit.

    The processes are stopped, the database dropped and the Redis database flushed even when the block
    (or the start) fails.

    :param workdir: a fresh directory for the ``AIRFLOW_HOME``.
    :param dags_folder: the DAGs folder.
    :param env: more environment of every process.
    :param postgres_url: the PostgreSQL server.
    :param redis_url: the Redis server.
    :param workers: how many Celery workers.
    :param concurrency: task slots of each worker.
    """
    with ExitStack() as cleanup:
        database_url = cleanup.enter_context(scratch_database(postgres_url, f"airflow_e2e_{os.getpid()}"))
        redis_db = cleanup.enter_context(scratch_redis_db(redis_url))
        stack = CeleryStack(
            workdir / "airflow",
            database_url=database_url,
            broker_url=f"{redis_url.rstrip('/')}/{redis_db}",
            dags_folder=dags_folder,
            env=env,
            workers=workers,
            concurrency=concurrency,
        )
        cleanup.callback(stack.stop)
        stack.prepare()
        yield stack


def _child_env(settings: Mapping[str, str]) -> dict[str, str]:
    """Return this process's environment without any Airflow setting of its own, plus ``settings``."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW") and key not in ("JIRA_ASSETS_CONFIG", "PYTEST_CURRENT_TEST")
    }
    bin_dir = str(Path(sys.executable).parent)
    inherited["PATH"] = os.pathsep.join([bin_dir, inherited.get("PATH", "")])
    return {**inherited, **settings}


def _with_scheme(url: str, scheme: str) -> str:
    return scheme + url[url.index("://") :]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _signal_group(component: Component, signum: int) -> None:
    if component.process is None:
        return
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(component.process.pid, signum)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def _postgres(postgres_url: str) -> Iterator[Any]:
    import psycopg2

    parts = urlsplit(postgres_url)
    connection = psycopg2.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
        connect_timeout=5,
    )
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


def _drop_database(postgres_url: str, name: str) -> None:
    with _postgres(postgres_url) as connection, connection.cursor() as cursor:
        # FORCE ends sessions a killed process may have left behind.
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _redis(redis_url: str, number: int) -> Any:
    import redis

    parts = urlsplit(redis_url)
    return redis.Redis(
        host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=number, socket_timeout=5
    )

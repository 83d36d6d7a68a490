"""A small client of Airflow's REST API (``/api/v2``) for the stacks the tests and the demo start.

Both the standalone preset (:mod:`airflow_assets.devtools.standalone_stack`) and the Celery deployment
(:mod:`airflow_assets.devtools.celery_stack`) drive Airflow through it: wait until healthy, log in, set
connections and pools, trigger runs and wait for them. Nothing here imports Airflow: Airflow runs in its
own processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests

ADMIN = {"username": "admin", "password": "admin"}
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
# SQLite allows one writer: while the first tasks start, a write may fail with "database is locked" (a 5xx).
SERVER_ERROR_RETRIES = 8


class AirflowApiError(RuntimeError):
    """Airflow's REST API did not answer as needed; the message says which call and what came back."""


class AirflowApi:
    """A client of Airflow's REST API, logged in (after :meth:`login`) as the stack's admin.

    :param url: the api-server, e.g. ``http://localhost:8080``.
    :param alive: called while waiting; raises when a process behind the API has died.
    """

    def __init__(self, url: str, *, alive: Callable[[], None] | None = None) -> None:
        self.url = url.rstrip("/")
        self._alive = alive
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def check_alive(self) -> None:
        """Raise when a process behind the API has died (as the ``alive`` callback tells)."""
        if self._alive is not None:
            self._alive()

    def failure_details(self) -> str:
        """Return what helps read a failed wait (a stack's logs); nothing here."""
        return ""

    # -- health and login ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any] | None:
        """Return ``/api/v2/monitor/health`` (no login needed), or None while it does not answer."""
        try:
            reply = self._session.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        except requests.RequestException:
            return None
        if reply.status_code != 200:
            return None
        answer = reply.json()
        return answer if isinstance(answer, dict) else None

    def wait_until_healthy(self, timeout: float) -> dict[str, Any]:
        """Wait until the metadatabase, scheduler and dag-processor report healthy; return the answer."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            last = self.health()
            if last is not None and is_healthy(last):
                return last
            time.sleep(0.5)
        raise AirflowApiError(f"{self.url} not healthy after {timeout:.0f} s; last health answer: {last}")

    def login(self, username: str = ADMIN["username"], password: str = ADMIN["password"]) -> None:
        """Get a token (``POST /auth/token``) for the calls that follow."""
        reply = self._session.post(
            f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        if reply.status_code >= 300:
            raise AirflowApiError(f"login as {username} failed: {reply.status_code} {reply.text[:200]}")
        self._session.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    # -- calls --------------------------------------------------------------------------------------

    def call(self, method: str, path: str, *, ok: Sequence[int] = (), **kwargs: Any) -> Any:
        """Call ``/api/v2/<path>``; return the JSON answer (None for a status in ``ok``), raise on errors."""
        url = f"{self.url}/api/v2/{path.lstrip('/')}"
        reply = self._session.request(method, url, timeout=60, **kwargs)
        for _ in range(SERVER_ERROR_RETRIES):
            if reply.status_code < 500:
                break
            time.sleep(2)
            reply = self._session.request(method, url, timeout=60, **kwargs)
        if reply.status_code >= 300 and reply.status_code not in ok:
            raise AirflowApiError(f"{method} {path}: {reply.status_code} {reply.text[:500]}")
        if reply.status_code in ok:
            return None
        return reply.json() if reply.content else None

    def put_connection(self, connection_id: str, fields: Mapping[str, Any]) -> None:
        """Create a connection or replace the one of that id (``fields`` as in ``AIRFLOW_CONN_<ID>`` JSON)."""
        body = {
            "connection_id": connection_id,
            "conn_type": fields["conn_type"],
            **{
                name: fields[name]
                for name in ("host", "login", "password", "schema", "port")
                if name in fields
            },
        }
        if "extra" in fields:
            extra = fields["extra"]
            body["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
        if self.call("POST", "connections", json=body, ok=(409,)) is None:
            self.call("PATCH", f"connections/{connection_id}", json=body)

    def put_pool(self, name: str, slots: int, description: str) -> None:
        """Create a pool, or set the slots and description of the one of that name."""
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        if self.call("POST", "pools", json=body, ok=(409,)) is None:
            self.call("PATCH", f"pools/{name}", json=body)

    # -- DAGs and runs ------------------------------------------------------------------------------

    def wait_for_dags(self, dag_ids: Sequence[str], timeout: float = 120) -> None:
        """Wait until the dag-processor has parsed every DAG of ``dag_ids``."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while time.monotonic() < deadline:
            self.check_alive()
            listed = self.call("GET", "dags", params={"limit": 100})
            missing = set(dag_ids) - {dag["dag_id"] for dag in listed["dags"]}
            if not missing:
                return
            time.sleep(1)
        errors = self.call("GET", "importErrors")
        raise AirflowApiError(
            f"DAGs {sorted(missing)} not parsed after {timeout:.0f} s; import errors: {errors}"
        )

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG."""
        self.call("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Trigger a run of ``dag_id`` now; return its run id."""
        run = self.call(
            "POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})}
        )
        return str(run["dag_run_id"])

    def wait_for_runs(self, runs: Mapping[str, str], timeout: float) -> dict[str, str]:
        """Wait until every run (dag id -> run id) has ended; return each one's state.

        :raise AirflowApiError: when a run has not ended within ``timeout`` seconds (with its tasks' states).
        """
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            self.check_alive()
            for dag_id, run_id in runs.items():
                if states.get(dag_id) not in TERMINAL_RUN_STATES:
                    states[dag_id] = str(self.call("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"])
            if all(state in TERMINAL_RUN_STATES for state in states.values()):
                return states
            time.sleep(1)
        tasks = {dag_id: self.task_states(dag_id, run_id) for dag_id, run_id in runs.items()}
        raise AirflowApiError(
            f"runs not ended after {timeout:.0f} s: {states}; tasks: {tasks}\n"
            f"{self.failure_details()}".rstrip()
        )

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Wait until a run has ended; return its state."""
        return self.wait_for_runs({dag_id: run_id}, timeout)[dag_id]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return the task instances of a run as the REST API gives them."""
        answer = self.call("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return list(answer["task_instances"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """Return task id -> state of a run."""
        return {ti["task_id"]: str(ti["state"]) for ti in self.task_instances(dag_id, run_id)}


def is_healthy(health: Mapping[str, Any]) -> bool:
    """Tell whether a ``monitor/health`` answer says the database, scheduler and dag-processor are healthy."""
    required = ["metadatabase", "scheduler"] + (["dag_processor"] if "dag_processor" in health else [])
    return all((health.get(part) or {}).get("status") == "healthy" for part in required)

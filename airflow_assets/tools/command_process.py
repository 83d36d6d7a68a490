"""What the ``airflow-assets`` process sets up around a command: where logs go, which connections it sees.

- Logs go to stderr, never stdout: ``--json`` output stays parseable whatever Airflow logs while it loads
  (in unit-test mode it announces its test configuration at import).
- Connections are looked up as Airflow's own ``airflow connections get`` does: as a server process, whose
  secrets search path is the configured backend, then ``AIRFLOW_CONN_*``, then the metadata database (the
  connections added in the UI). A plain process is otherwise given only the first two.
- A reader that stops early (``| head``) ends the command quietly, without a BrokenPipeError traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from airflow_assets.tools import EXIT_FAILURE

# Read by the Task SDK when it picks the secrets backends; Airflow's CLI and API server set it to "server".
PROCESS_CONTEXT = "_AIRFLOW_PROCESS_CONTEXT"


def logs_to_stderr() -> None:
    """Load Airflow with stdout pointing at stderr, so its logging is set up to write there."""
    if "airflow.settings" in sys.modules:
        return  # already loaded (a test calling main() in-process): its logging is its own
    stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        # Reading the configuration may log; loading the settings sets logging up on sys.stdout.
        import airflow.sdk
        import airflow.settings  # noqa: F401
        import structlog

        factory = structlog.get_config().get("logger_factory")
        # Airflow's factory builds its loggers on stdout when given no stream: give it stderr.
        if getattr(factory, "io", False) is None:
            factory.io = sys.stderr  # type: ignore[union-attr]
    finally:
        sys.stdout = stdout


@contextmanager
def metadata_db_connections() -> Iterator[None]:
    """Let hooks find connections of the metadata database (the UI's) during the block."""
    previous = os.environ.get(PROCESS_CONTEXT)
    os.environ[PROCESS_CONTEXT] = "server"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(PROCESS_CONTEXT, None)
        else:
            os.environ[PROCESS_CONTEXT] = previous


def quiet_on_broken_pipe(body: Callable[[], int]) -> int:
    """Return ``body()``; when stdout's reader has gone away, return 1 without a traceback."""
    try:
        code = body()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python's advice: point stdout at devnull so the flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE

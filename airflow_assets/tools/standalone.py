"""``airflow-assets standalone``: Airflow's UI with the demo sandbox and an embedded MongoDB, preset.

It starts the sandbox (a local Jira Cloud site with the demo schemas) and the embedded MongoDB, writes a
DAGs folder and backup configuration like the demo's, starts ``airflow standalone`` (SQLite, LocalExecutor)
with the connections ``jira_assets_default`` and ``jira_assets_backup`` and the site's pool created, and
prints the UI's address and login (admin / admin) once ``/api/v2/monitor/health`` says healthy. It runs
until Ctrl-C (SIGINT): Airflow is stopped with SIGINT, then the sandbox and MongoDB.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from airflow_assets.tools import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

COMMAND = "airflow-assets standalone"
HEALTH_TIMEOUT = 180.0
# The sandbox enforces no limit: pace at 20x the documented ones so the backups take seconds (as the demo).
SANDBOX_RATE_LIMIT_SCALE = 20
DAG_PARSE_TIMEOUT = 120.0
# The backup DAGs of the demo configuration (DEMO_CONFIG): unpausing runs each one for its latest slot.
DEMO_BACKUP_DAG_IDS = (
    "jira_assets_backup_demo_people",
    "jira_assets_backup_demo_loc",
    "jira_assets_backup_demo_itam",
)
# The monitor alerts on schemas without a snapshot: unpaused with the backups it would fail its first run.
KEEP_PAUSED = ("jira_assets_monitor",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--workdir``, ``--port`` and ``--host``."""
    parser.add_argument(
        "--workdir",
        default=".standalone",
        help="Airflow home, DAGs folder and MongoDB data (default: %(default)s)",
    )
    parser.add_argument("--port", type=int, default=8080, help="the Airflow UI's port (default: %(default)s)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the interface the UI listens on (default: %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    """Start everything, print where the UI is, wait for Ctrl-C, then stop everything."""
    import socket

    if not 0 < args.port < 65536:
        print(f"{COMMAND}: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return EXIT_USAGE
    with socket.socket() as probe:
        # As the api-server will: a port that only holds connections in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((args.host, args.port))
        except OSError as error:
            print(f"{COMMAND}: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
            return EXIT_USAGE
    # Ctrl-C and a service manager's SIGTERM both unwind the blocks below (Airflow, sandbox, MongoDB). SIGINT
    # is set explicitly: a shell's background job starts with it ignored, and airflow standalone would
    # inherit that and ignore the SIGINT it is stopped with (a Python handler is reset for the child).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        return _serve(Path(args.workdir).resolve(), host=args.host, port=args.port)
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return EXIT_OK


def _serve(root: Path, *, host: str, port: int) -> int:
    from airflow_assets.config.loading import load_config
    from airflow_assets.config.problems import BackupConfigError
    from airflow_assets.devtools import standalone_stack as stack
    from airflow_assets.devtools.airflow_rest import ADMIN, AirflowApi, AirflowApiError
    from airflow_assets.devtools.connections import sandbox_connection
    from airflow_assets.devtools.demo import DEMO_CONFIG, DEMO_DAG_FILE
    from airflow_assets.devtools.embedded_mongo import EmbeddedMongoError, embedded_mongo
    from airflow_assets.pools import pool_specs
    from airflow_assets.sandbox.launch import run_sandbox

    layout = stack.StandaloneLayout(root)
    stack.prepare(layout, dag_file=DEMO_DAG_FILE, config=DEMO_CONFIG)
    try:
        pools = pool_specs(load_config(layout.config_file))
    except BackupConfigError as error:
        print(f"{COMMAND}: invalid backup configuration {layout.config_file}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        with embedded_mongo(layout.mongo_storage) as mongo, run_sandbox(seed="demo") as sandbox:
            print(f"sandbox (a local Jira Cloud site with Assets): {sandbox.url}", flush=True)
            # Edit the sandbox's objects (as `airflow-assets sandbox serve` prints them): a local site, and
            # a token made for this start only.
            print(f"  its REST API: basic auth {sandbox.email} / {sandbox.api_token}", flush=True)
            print(f"MongoDB ({mongo.kind}):{' ' * max(1, 37 - len(mongo.kind))}{mongo.uri}", flush=True)
            connections = {
                "jira_assets_default": json.loads(
                    sandbox_connection(sandbox, rate_limit_scale=SANDBOX_RATE_LIMIT_SCALE)
                ),
                "jira_assets_backup": mongo.airflow_connection("jira_assets_backup"),
            }
            env = stack.airflow_env(layout, host=host, port=port)
            airflow = stack.AirflowStandalone(env, layout.airflow_log, cwd=root)
            print(f"starting airflow standalone (output: {layout.airflow_log})", flush=True)
            airflow.start()
            api = AirflowApi(f"http://localhost:{port}", alive=airflow.check_alive)
            try:
                api.wait_until_healthy(HEALTH_TIMEOUT)
                api.login()
                # Connections first: the pool lets the scheduled backups start, and they need both.
                for connection_id, fields in connections.items():
                    api.put_connection(connection_id, fields)
                for pool in pools:
                    api.put_pool(pool.name, pool.slots, pool.description)
                print(f"connections: {', '.join(connections)}; pools: {', '.join(p.name for p in pools)}")
                _unpause_dags(api, layout)
                print(f"DAGs folder: {layout.dags_folder} (backup config {layout.config_file.name})")
                print(
                    f"Airflow UI: http://localhost:{port}  login: {ADMIN['username']} / {ADMIN['password']}",
                    flush=True,
                )
                print(cli_hint(layout), flush=True)
                print("press Ctrl-C to stop", flush=True)
                airflow.wait_forever()
            except (stack.StandaloneError, AirflowApiError) as error:
                print(f"{COMMAND}: {error}", file=sys.stderr)
                return EXIT_FAILURE
            finally:
                api.close()
                print("stopping airflow standalone...", flush=True)
                airflow.stop()
    except EmbeddedMongoError as error:
        print(f"{COMMAND}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cli_hint(layout: Any) -> str:
    """Return the lines that point ``airflow-assets`` in another shell at this stack's data."""
    return (
        "use airflow-assets on this data from another shell (connections come from Airflow's database):\n"
        f"  export AIRFLOW_HOME={layout.airflow_home} JIRA_ASSETS_CONFIG={layout.config_file}\n"
        "  airflow-assets snapshots list"
    )


def _unpause_dags(api: Any, layout: Any) -> None:
    """On the first start, unpause every DAG but the monitor (it would alert before the first backups end)."""
    from airflow_assets.devtools.demo import RESTORE_DAG_ID

    if layout.unpaused_marker.exists():
        return
    api.wait_for_dags([RESTORE_DAG_ID, *DEMO_BACKUP_DAG_IDS], DAG_PARSE_TIMEOUT)
    listed = api.call("GET", "dags", params={"limit": 100})["dags"]
    unpaused = [dag["dag_id"] for dag in listed if dag["dag_id"] not in KEEP_PAUSED]
    for dag_id in unpaused:
        api.unpause(dag_id)
    layout.unpaused_marker.write_text("\n".join(unpaused) + "\n")
    print(f"unpaused: {', '.join(sorted(unpaused))} (kept paused: {', '.join(KEEP_PAUSED)})", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt

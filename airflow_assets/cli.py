"""The ``airflow-assets`` command: the operator tools, the backup pools, the local sandbox and the demo."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from typing import Any


def _sandbox_serve(args: argparse.Namespace) -> int:
    from airflow_assets.sandbox.launch import build_app, build_site
    from airflow_assets.sandbox.realism import RealismConfig
    from airflow_assets.sandbox.server import bind_socket, serve_forever

    try:
        realism = RealismConfig(
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            rate_limits=args.rate_limits or args.rate_limit_per_minute is not None,
            retry_after=args.retry_after,
            rate_limit_per_minute=args.rate_limit_per_minute,
            page_size_cap=args.page_size_cap,
            fault_rate=args.fault_rate,
            random_seed=args.random_seed,
        )
    except ValueError as error:
        print(f"airflow-assets sandbox serve: {error}", file=sys.stderr)
        return 2
    try:
        site, _ = build_site(seed=args.seed, objects=args.objects)
        sock = bind_socket(args.host, args.port)
    except (ValueError, OverflowError, OSError) as error:
        # Bad --seed/--objects combinations, a port out of range or already taken: say so, no traceback.
        print(f"airflow-assets sandbox serve: {error}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    print(
        f"sandbox listening on http://{host}:{port} workspace={site.workspace_id} "
        f"email={site.email} token={site.api_token}",
        flush=True,
    )
    serve_forever(build_app(site, realism), sock)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from airflow_assets.devtools.demo import run_demo

    return run_demo(workdir=args.workdir)


def _load_pool_specs(args: argparse.Namespace, command: str) -> list[Any] | None:
    from airflow_assets.config.loading import load_config
    from airflow_assets.config.problems import BackupConfigError
    from airflow_assets.pools import pool_specs

    if args.slots is not None and args.slots < 1:
        print(f"airflow-assets pools {command}: --slots must be at least 1", file=sys.stderr)
        return None
    try:
        config = load_config(args.config)
    except BackupConfigError as error:
        source = f" {error.source}" if error.source else ""
        print(f"airflow-assets pools {command}: invalid backup configuration{source}:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    return pool_specs(config, slots=args.slots)


def _pools_create(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_assets.pools import apply_pools

    specs = _load_pool_specs(args, "create")
    if specs is None:
        return 2
    try:
        stored = apply_pools(specs)
    except SQLAlchemyError as error:
        print(f"airflow-assets pools create: {_database_problem(error)}", file=sys.stderr)
        return 2
    for pool in stored:
        print(f"pool {pool.name}: {pool.slots} slots ({pool.description})")
    return 0


def _pools_check(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from airflow_assets.pools import missing_pools

    args.slots = None
    specs = _load_pool_specs(args, "check")
    if specs is None:
        return 2
    try:
        missing = missing_pools(specs)
    except SQLAlchemyError as error:
        print(f"airflow-assets pools check: {_database_problem(error)}", file=sys.stderr)
        return 2
    if missing:
        print(
            "missing pools (the scheduler never runs tasks of a missing pool; "
            "create them with `airflow-assets pools create`):",
            file=sys.stderr,
        )
        for pool in missing:
            print(f"  {pool.name} ({pool.description})", file=sys.stderr)
        return 1
    print(f"all {len(specs)} pools exist: {', '.join(spec.name for spec in specs)}")
    return 0


def _database_problem(error: Exception) -> str:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"cannot use Airflow's metadata database ({reason}); run `airflow db migrate` first"


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``airflow-assets`` command."""
    parser = argparse.ArgumentParser(prog="airflow-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    pools = commands.add_parser("pools", help="the Airflow pools the backups run in, one per site")
    pools_commands = pools.add_subparsers(dest="pools_command", required=True)
    config_help = "the backup configuration (default: $JIRA_ASSETS_CONFIG, else dags/jira_assets.yaml)"
    pools_create = pools_commands.add_parser(
        "create",
        help="create or update the pool jira_assets_<site> of every configured site",
        description="Create or update the pool jira_assets_<site> of every site in the backup configuration, "
        "with 2 x parallel_schemas + 1 slots unless --slots is given.",
    )
    pools_create.add_argument("--config", default=None, help=config_help)
    pools_create.add_argument("--slots", type=int, default=None, help="slots of every pool")
    pools_create.set_defaults(handler=_pools_create, uses_airflow=True)
    pools_check = pools_commands.add_parser(
        "check", help="exit 1 listing the pools the configuration needs that do not exist"
    )
    pools_check.add_argument("--config", default=None, help=config_help)
    pools_check.set_defaults(handler=_pools_check, uses_airflow=True)

    sandbox = commands.add_parser("sandbox", help="the local stand-in for a Jira Cloud site with Assets")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_commands.add_parser(
        "serve",
        help="serve a sandbox site until SIGINT/SIGTERM",
        description="Serve a sandbox site. Prints one line: "
        "'sandbox listening on http://HOST:PORT workspace=<id> email=<email> token=<token>'.",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    serve.add_argument("--seed", choices=["demo", "empty", "directory"], default="demo")
    serve.add_argument("--objects", type=int, default=None, help="scale the demo data to about N objects")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="fixed latency added to every request")
    serve.add_argument("--jitter-ms", type=float, default=0.0, help="random extra latency, 0..X ms")
    serve.add_argument("--rate-limits", action="store_true", help="enforce the documented limits")
    serve.add_argument(
        "--retry-after",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send Retry-After and X-RateLimit-* headers with 429s (Assets often sends none)",
    )
    serve.add_argument(
        "--rate-limit-per-minute", type=int, default=None, help="override every limit (implies --rate-limits)"
    )
    serve.add_argument("--page-size-cap", type=int, default=None, help="answer at most N values per page")
    serve.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="fraction of requests that fail: 503, drops, bad bodies",
    )
    serve.add_argument("--random-seed", type=int, default=None, help="make fault injection repeatable")
    serve.set_defaults(handler=_sandbox_serve)

    _add_tools(commands)

    demo = commands.add_parser("demo", help="sandbox + embedded MongoDB + the Assets client, end to end")
    demo.add_argument("--workdir", default=".demo", help="where the demo keeps its Airflow home and data")
    demo.set_defaults(handler=_demo)
    return parser


# The operator tools: (command path, module, help). Each module has add_arguments(parser) and run(args).
TOOLS = (
    (
        ("schemas", "list"),
        "schemas_list",
        "list a site's object schemas: key, name, id, object types, objects",
    ),
    (
        ("snapshots", "list"),
        "snapshots_list",
        "a table of the snapshots: short id, site, schema, taken at, kind, status",
    ),
    (
        ("snapshots", "show"),
        "snapshots_show",
        "one snapshot: counts per object type, what it includes, steps, fidelity",
    ),
    (("snapshots", "diff"), "snapshots_diff", "what changed between two snapshots of a schema"),
    (("snapshots", "export"), "snapshots_export", "write a snapshot as plain files (backupAssets.py layout)"),
    (("snapshots", "verify"), "snapshots_verify", "prove snapshots are sound (exit 3 when damage is found)"),
    (
        ("snapshots", "repair"),
        "snapshots_repair",
        "mark damaged items for the next backup to read again; say which snapshots stay damaged",
    ),
    (("restores", "list"), "restores_list", "a table of the restore runs: id, mode, schemas, status, verify"),
    (
        ("restores", "show"),
        "restores_show",
        "one restore run: request, steps, verify, warnings; --key-map FILE writes its old -> new keys; "
        "--changes lists what a rollback changes",
    ),
    (
        ("drills", "list"),
        "drills_list",
        "a table of the restore drills: schema, result, RTO, objects/min, ratio",
    ),
    (
        ("config", "check"),
        "config_check",
        "check a backup configuration file: its problems one per line (exit 2), or a summary",
    ),
    (
        ("check",),
        "site_check",
        "a read-only probe of a real site and the contract's assumptions (exit 3: problems)",
    ),
    (
        ("standalone",),
        "standalone",
        "airflow standalone + sandbox + embedded MongoDB, preset: try it in two minutes",
    ),
)
GROUP_HELP = {
    "schemas": "the object schemas of a Jira site",
    "snapshots": "the snapshots in the backup store",
    "restores": "the restore runs recorded in the backup store",
    "config": "the backup configuration file",
    "drills": "the restore drills recorded in the backup store (the RTO measured)",
}
# Commands that run without Airflow: it is not even imported (standalone starts its own Airflow).
WITHOUT_AIRFLOW = {("config", "check"), ("standalone",)}


def _add_tools(commands: Any) -> None:
    """Wire each operator tool's module into the parser; modules are imported only when their command runs."""
    import importlib

    groups: dict[str, Any] = {}
    for path, module_name, help_text in TOOLS:
        parent = commands
        if len(path) == 2:
            if path[0] not in groups:
                group = commands.add_parser(path[0], help=GROUP_HELP[path[0]])
                groups[path[0]] = group.add_subparsers(dest=f"{path[0]}_command", required=True)
            parent = groups[path[0]]
        parser = parent.add_parser(path[-1], help=help_text, description=help_text)
        parser.set_defaults(uses_airflow=path not in WITHOUT_AIRFLOW)
        try:
            module = importlib.import_module(f"airflow_assets.tools.{module_name}")
        except ModuleNotFoundError:
            parser.set_defaults(handler=functools.partial(_not_built, " ".join(path)))
            continue
        module.add_arguments(parser)
        parser.set_defaults(handler=module.run)


def _not_built(name: str, args: argparse.Namespace) -> int:
    print(f"airflow-assets {name}: not available in this version", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``airflow-assets`` command."""
    from airflow_assets.tools.command_process import (
        logs_to_stderr,
        metadata_db_connections,
        quiet_on_broken_pipe,
    )

    args = build_parser().parse_args(argv)
    if not getattr(args, "uses_airflow", False):
        return quiet_on_broken_pipe(lambda: int(args.handler(args)))
    logs_to_stderr()
    with metadata_db_connections():
        return quiet_on_broken_pipe(lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())

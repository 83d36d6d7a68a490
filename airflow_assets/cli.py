"""The ``airflow-assets`` command: run the local sandbox, and the end-to-end demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


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


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``airflow-assets`` command."""
    parser = argparse.ArgumentParser(prog="airflow-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

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
    serve.add_argument("--seed", choices=["demo", "empty"], default="demo")
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

    demo = commands.add_parser("demo", help="sandbox + embedded MongoDB + the Assets client, end to end")
    demo.add_argument("--workdir", default=".demo", help="where the demo keeps its Airflow home and data")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``airflow-assets`` command."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())

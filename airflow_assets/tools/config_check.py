"""``airflow-assets config check [FILE]``: is a backup configuration valid? No Airflow, no network needed.

A valid file prints one line (its sites and schemas, the MongoDB connection and database) and exits 0; an
invalid one prints its problems, one per line, each naming its field, and exits 2.
"""

from __future__ import annotations

import argparse
import sys

from airflow_assets.tools import EXIT_OK, EXIT_USAGE

COMMAND = "airflow-assets config check"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the optional FILE."""
    parser.add_argument(
        "file",
        nargs="?",
        default=None,
        metavar="FILE",
        help="the backup configuration (default: $JIRA_ASSETS_CONFIG, else dags/jira_assets.yaml)",
    )


def run(args: argparse.Namespace) -> int:
    """Check the configuration file; print its problems or a summary."""
    from airflow_assets.config.loading import load_config, read_config_text
    from airflow_assets.config.problems import BackupConfigError

    try:
        config = load_config(args.file)
    except BackupConfigError as error:
        source = f" {error.source}" if error.source else ""
        print(f"{COMMAND}: invalid backup configuration{source}:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    _, source = read_config_text(args.file)
    sites = "; ".join(
        f"{name}: {', '.join(entry.key for entry in site.entries) or _every(site.exclude)}"
        for name, site in config.sites.items()
    )
    schemas = len(config.schema_settings())
    print(
        f"{source}: valid: {len(config.sites)} site{'s' if len(config.sites) != 1 else ''}, "
        f"{schemas} schema{'s' if schemas != 1 else ''} ({sites}); MongoDB connection "
        f"{config.mongo.conn_id!r}, database {config.mongo.database!r}"
    )
    return EXIT_OK


def _every(exclude: list[str] | None) -> str:
    """Say which schemas a site with ``schemas: "*"`` backs up."""
    return "every schema" + (f" but {', '.join(exclude)}" if exclude else "")

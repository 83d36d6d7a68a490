"""``airflow-assets schemas list``: a site's object schemas, to fill in the backup configuration.

Exit codes: 0 listed, 1 the site could not be reached or refused the credentials, 2 the connection is
missing, unreadable or not a ``jira_assets`` one.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from airflow_assets.tools import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

COMMAND = "airflow-assets schemas list"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--conn-id`` and ``--json``."""
    parser.add_argument(
        "--conn-id", default="jira_assets_default", help="the jira_assets connection (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    """List the schemas of the site of ``--conn-id``."""
    from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

    from airflow_assets.api import RetryPolicy
    from airflow_assets.exceptions import AssetsConfigError, JiraAssetsError
    from airflow_assets.hooks import JiraAssetsHook
    from airflow_assets.tools.connections import connection_problem, not_defined

    # Someone is waiting at the terminal: retry briefly, not with a backup's patience.
    retry = RetryPolicy(max_attempts=3, initial_wait=1.0, max_wait=5.0, max_retry_after=10.0)
    rows: list[dict[str, Any]] = []
    try:
        with JiraAssetsHook(args.conn_id, retry=retry).get_client() as client:
            for schema in client.iter_object_schemas(include_counts=True):
                schema_id = str(schema["id"])
                rows.append(
                    {
                        "key": schema.get("objectSchemaKey", ""),
                        "name": schema.get("name", ""),
                        "id": schema_id,
                        "object_types": len(client.get_object_types(schema_id)),
                        "objects": client.count_objects(f"objectSchemaId = {schema_id}"),
                    }
                )
    except AirflowNotFoundException:
        print(f"{COMMAND}: {not_defined(args.conn_id)}", file=sys.stderr)
        return EXIT_USAGE
    except (AssetsConfigError, AirflowException) as error:
        # Wrong type, no host, plain http, JSON or URI that cannot be read: fix the connection first.
        # Airflow masks its secrets in the message.
        print(f"{COMMAND}: {connection_problem(args.conn_id, error)}", file=sys.stderr)
        return EXIT_USAGE
    except JiraAssetsError as error:
        # The site could not be reached or refused the credentials; the message never holds the token.
        print(f"{COMMAND}: {connection_problem(args.conn_id, error)}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    _print_table(rows, args.conn_id)
    return EXIT_OK


def _print_table(rows: list[dict[str, Any]], conn_id: str) -> None:
    header = {"key": "key", "name": "name", "id": "id", "object_types": "object types", "objects": "objects"}
    key_width = max(len(str(row["key"])) for row in [header, *rows])
    name_width = max(len(str(row["name"])) for row in [header, *rows])
    for row in [header, *rows]:
        print(
            f"{row['key']!s:<{key_width}}  {row['name']!s:<{name_width}}  {row['id']!s:>4}  "
            f"{row['object_types']!s:>12}  {row['objects']!s:>8}"
        )
    if not rows:
        print(f"(no object schemas visible to connection {conn_id!r})")

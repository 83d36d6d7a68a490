"""``airflow-assets snapshots verify [ID | --all] [--json]``: prove snapshots sound, as restic's ``check``.

Every version a snapshot names must exist and still hash to its name, the manifest's counts must match
what the store holds, and its root digest must match the items it holds, authenticated with the snapshot
key when one is configured (:mod:`airflow_assets.store.check`). Exit 0: sound; 3: damage found (each
damaged or missing document named, with its collection and the snapshot that needs it); 1: the store
could not be read; 2: bad usage (an unknown id).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from airflow_assets.tools import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from airflow_assets.tools.snapshot_reading import ToolError, resolve_snapshot, run_tool

if TYPE_CHECKING:
    from pymongo.database import Database

    from airflow_assets.store.check import SnapshotCheck
    from airflow_assets.store.snapshots import Snapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the verify arguments."""
    from airflow_assets.tools.backup_store import add_config_argument

    parser.add_argument(
        "snapshot_id",
        metavar="ID",
        nargs="?",
        help="the snapshot to check (default: the newest complete snapshot of every schema)",
    )
    parser.add_argument("--all", action="store_true", help="check every complete snapshot")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Check the chosen snapshots; exit 0 sound, 3 problems found, 1 store unreachable, 2 bad usage."""
    return run_tool("snapshots verify", args, _verify)


def _verify(db: Database, args: argparse.Namespace) -> int:
    from airflow_assets.store.check import SnapshotChecker

    snapshots = _chosen(db, args)
    checker = SnapshotChecker(db, key=configured_key())
    results = list(checker.check_all(snapshots))
    sound = all(result.sound for result in results)
    if args.json:
        print(
            json.dumps(
                {
                    "sound": sound,
                    "snapshots": [result.as_dict() for result in results],
                    "problems": [problem.as_dict() for result in results for problem in result.problems],
                },
                indent=2,
            )
        )
    else:
        _print_table(results)
    return EXIT_OK if sound else EXIT_PROBLEMS


def configured_key() -> bytes | None:
    """Return the snapshot key of the Airflow connection ``jira_assets_snapshot_key`` (None: not defined)."""
    from airflow_assets.hooks.snapshot_key import snapshot_key

    try:
        return snapshot_key()
    except ValueError as error:
        raise ToolError(str(error), 2) from None


def _chosen(db: Database, args: argparse.Namespace) -> list[Snapshot]:
    from airflow_assets.store.reader import SnapshotReader

    reader = SnapshotReader(db)
    if args.snapshot_id is not None:
        if args.all:
            raise ToolError("give a snapshot id or --all, not both", EXIT_USAGE)
        return [resolve_snapshot(db, args.snapshot_id)]
    if args.all:
        chosen = reader.list_complete()
    else:
        chosen = [
            snapshot for ws in reader.workspaces() for snapshot in reader.latest_per_schema(ws).values()
        ]
    if not chosen:
        raise ToolError("the backup store holds no complete snapshot", EXIT_USAGE)
    # Oldest first per schema: later snapshots reuse most versions, which are then hashed already.
    return sorted(chosen, key=lambda s: (s.workspace_id, s.schema_key, s.schema_id, s.seq))


def _print_table(results: list[SnapshotCheck]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=True)
    table = Table(title="snapshots verify")
    for column, justify in (
        ("snapshot", "left"), ("schema", "left"), ("seq", "right"), ("items", "right"),
        ("versions hashed", "right"), ("result", "left"),
    ):  # fmt: skip
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for result in results:
        verdict = "[green]sound[/]" if result.sound else f"[red]{_plural(len(result.problems), 'problem')}[/]"
        if result.notes:
            verdict += f" ({result.status})"
        table.add_row(
            escape(result.snapshot_id), escape(result.schema_key), str(result.seq), str(result.items),
            str(result.versions_hashed), verdict,
        )  # fmt: skip
    console.print(table)
    for result in results:
        for note in result.notes:
            console.print(f"note: {escape(result.snapshot_id)}: {escape(note)}")
        for problem in result.problems:
            console.print(f"[red]problem[/]: {escape(problem.describe())}")
    problems = sum(len(result.problems) for result in results)
    if problems:
        checked = _plural(len(results), "snapshot")
        console.print(f"[red]damaged: {_plural(problems, 'problem')} found in {checked} checked[/]")
    else:
        console.print(f"[green]sound: {_plural(len(results), 'snapshot')} checked, no problem found[/]")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"

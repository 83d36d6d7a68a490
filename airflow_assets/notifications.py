"""Failure notifiers from the config's ``alerts.notify``: e-mail, Slack, or a JSON-lines file.

Airflow's own notifiers do the sending (smtp provider, slack provider); the config names only these kinds,
never an import path. A provider that is not installed is reported when the DAGs are built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier, Context

SUBJECT = "[jira-assets] {{ ti.dag_id }}.{{ ti.task_id }} failed"
MESSAGE = (
    "Task {{ ti.task_id }} of {{ ti.dag_id }} failed (run {{ run_id }}, try {{ ti.try_number }}): "
    "{{ exception }}"
)


class FileNotifier(BaseNotifier):
    """Append one JSON line per failure to a file: for a log shipper, or to see what an alert says.

    :param path: the file (its folder is created).
    """

    template_fields = ("path",)

    def __init__(self, *, path: str) -> None:
        super().__init__()
        self.path = path

    def notify(self, context: Context) -> None:
        """Write the failure as one JSON line."""
        ti = context.get("ti")
        record = {
            "at": datetime.now(UTC).isoformat(),
            "dag_id": getattr(ti, "dag_id", None),
            "task_id": getattr(ti, "task_id", None),
            "run_id": context.get("run_id"),
            "try_number": getattr(ti, "try_number", None),
            "message": str(context.get("exception") or ""),
        }
        file = Path(self.path)
        file.parent.mkdir(parents=True, exist_ok=True)
        with file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def build_notifiers(entries: Sequence[Mapping[str, Any]]) -> list[BaseNotifier]:
    """Return the notifiers of ``alerts.notify`` entries (kinds ``smtp``, ``slack``, ``file``).

    :raises ImportError: a kind's provider is not installed (the message says which to install).
    """
    notifiers: list[BaseNotifier] = []
    for entry in entries:
        kind = entry["kind"]
        if kind == "file":
            notifiers.append(FileNotifier(path=str(entry["path"])))
        elif kind == "smtp":
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            notifiers.append(
                SmtpNotifier(
                    to=list(entry["to"]),
                    from_email=entry.get("from_email"),
                    smtp_conn_id=entry.get("conn_id") or "smtp_default",
                    subject=SUBJECT,
                    html_content=MESSAGE,
                )
            )
        elif kind == "slack":
            try:
                from airflow.providers.slack.notifications.slack import SlackNotifier
            except ImportError as error:
                raise ImportError(
                    "alerts.notify has a slack entry: install apache-airflow-providers-slack"
                ) from error
            notifiers.append(
                SlackNotifier(
                    slack_conn_id=entry.get("conn_id") or "slack_api_default",
                    channel=str(entry["channel"]),
                    text=MESSAGE,
                )
            )
        else:  # the config refuses other kinds
            raise ValueError(f"unknown notifier kind {kind!r}")
    return notifiers

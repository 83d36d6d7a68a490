"""Progress of the long restore steps: ``done/total``, rate and ETA, as the backup steps log it."""

from __future__ import annotations

import logging

from airflow_assets.progress_log import ProgressLog

# Seconds between progress lines (a test sets 0 to see every one).
PROGRESS_SECONDS = 15.0


def progress_log(log: logging.Logger, what: str, total: int) -> ProgressLog:
    """Return a progress log of ``total`` items that logs at most every :data:`PROGRESS_SECONDS`."""
    return ProgressLog(log, what, total, interval=PROGRESS_SECONDS)

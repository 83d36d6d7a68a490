"""Back up, restore and migrate Jira Service Management Cloud Assets object schemas with Airflow."""

from __future__ import annotations

__version__ = "0.1.0"

"""Where backups are stored and how long they are kept: the ``mongo`` and ``retention`` sections."""

from __future__ import annotations

from pydantic import BaseModel, Field

from airflow_assets.config.fields import MODEL_CONFIG, ConnId, MongoDatabaseName


class MongoSettings(BaseModel):
    """Where backups are stored: an Airflow ``mongo`` connection and the database in it."""

    model_config = MODEL_CONFIG

    conn_id: ConnId = "jira_assets_backup"
    database: MongoDatabaseName = "jira_assets"


class RetentionPolicy(BaseModel):
    """How many snapshots to keep: the newest N, and the newest per day, week and month (restic's forget)."""

    model_config = MODEL_CONFIG

    keep_last: int = Field(default=0, ge=0)
    keep_daily: int = Field(default=0, ge=0)
    keep_weekly: int = Field(default=0, ge=0)
    keep_monthly: int = Field(default=0, ge=0)

    def is_empty(self) -> bool:
        """Tell whether the policy keeps nothing (refused: it would forget every snapshot)."""
        return not (self.keep_last or self.keep_daily or self.keep_weekly or self.keep_monthly)

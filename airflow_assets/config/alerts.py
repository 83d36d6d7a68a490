"""The ``alerts`` section: where failure alerts go, and what the monitor DAG checks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic import model_validator as _model_validator
from pydantic_core import PydanticCustomError

from airflow_assets.config.fields import MODEL_CONFIG, ConnId, CronExpression

NOTIFIER_FIELDS = {"smtp": ("to",), "slack": ("channel",), "file": ("path",)}


class NotifierSettings(BaseModel):
    """Where failure alerts go: e-mail (smtp provider), Slack (slack provider) or a JSON-lines file.

    ``smtp``: ``to`` (addresses), optional ``from_email``, ``conn_id`` (default ``smtp_default``).
    ``slack``: ``channel``, optional ``conn_id`` (default ``slack_api_default``).
    ``file``: ``path``: one JSON line per alert (for a log shipper, or to test alerts).
    """

    model_config = MODEL_CONFIG

    kind: Literal["smtp", "slack", "file"]
    to: list[str] | None = None
    from_email: str | None = None
    conn_id: ConnId | None = None
    channel: str | None = None
    path: str | None = None

    @_model_validator(mode="after")
    def _needs_its_fields(self) -> NotifierSettings:
        missing = [name for name in NOTIFIER_FIELDS[self.kind] if not getattr(self, name)]
        if missing:
            raise PydanticCustomError(
                "notifier_fields", "{kind} needs {fields}", {"kind": self.kind, "fields": ", ".join(missing)}
            )
        return self


class MonitorSettings(BaseModel):
    """What the monitor DAG checks, and how often.

    :param max_age_hours: alert when a schema's newest complete snapshot is older; None: two schedule periods
        of the schema.
    :param max_object_drop: alert when a snapshot holds this share fewer objects than the one before it.
    """

    model_config = MODEL_CONFIG

    schedule: CronExpression = "15 * * * *"
    max_age_hours: float | None = Field(default=None, gt=0)
    max_object_drop: float = Field(default=0.2, gt=0, le=1)


class AlertSettings(BaseModel):
    """Failure notifiers attached to every DAG of this package, and the monitor's thresholds."""

    model_config = MODEL_CONFIG

    notify: list[NotifierSettings] = Field(default_factory=list)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)

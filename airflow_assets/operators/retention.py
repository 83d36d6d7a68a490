"""Operator of the retention DAG: forget snapshots by the policy, then reclaim the space they held.

A thin layer over :func:`airflow_assets.store.prune.forget` and :func:`~airflow_assets.store.prune.prune`:
the policy is validated when the operator is built (a DAG with an empty or invalid policy fails to import
with the field named), the MongoDB connection is resolved when the task runs, and the task returns counts
only to XCom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from airflow.sdk import BaseOperator, Context
from pydantic import ValidationError
from pymongo.database import Database

from airflow_assets.config.problems import problems_of
from airflow_assets.config.storage import RetentionPolicy
from airflow_assets.hooks.backup_store import backup_database
from airflow_assets.hooks.snapshot_key import snapshot_key
from airflow_assets.store.check import SnapshotChecker
from airflow_assets.store.prune import forget, prune
from airflow_assets.store.retention import RetentionPolicyError, check_policy

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def parse_policy(policy: Mapping[str, Any] | RetentionPolicy) -> RetentionPolicy:
    """Return ``policy`` as a validated :class:`RetentionPolicy` that keeps something.

    :raises RetentionPolicyError: a field is wrong (named as ``policy.<field>``), or the policy keeps nothing.
    """
    if isinstance(policy, RetentionPolicy):
        parsed = policy
    else:
        try:
            parsed = RetentionPolicy.model_validate(dict(policy))
        except ValidationError as error:
            raise RetentionPolicyError("; ".join(problems_of(error, ["policy"]))) from None
    check_policy(parsed)
    return parsed


def parse_dry_run(value: bool | str) -> bool:
    """Return the dry-run flag from a bool or a rendered template (``"True"``, ``"false"``...).

    :raises RetentionPolicyError: the value is neither.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RetentionPolicyError(f"dry_run must be true or false, got {value!r}")


class RetentionOperator(BaseOperator):
    """Forget the snapshots the retention policy does not keep, then prune the data no snapshot needs.

    Both steps run with the same ``dry_run``: a dry run reports what would be forgotten and deleted and
    writes nothing. A schema whose backup is running is skipped by the prune step and reported; the next
    run of this task prunes it.

    :param mongo_conn_id: the ``mongo`` connection of the backup store.
    :param mongo_database: the database backups are kept in.
    :param policy: the :class:`~airflow_assets.config.storage.RetentionPolicy` fields (``keep_last``,
        ``keep_daily``, ``keep_weekly``, ``keep_monthly``); an empty policy is refused.
    :param dry_run: report only; a bool or a rendered template such as ``"{{ params.dry_run }}"``.
    :param lease_wait: seconds prune waits for a running backup of a schema before skipping it.
    """

    template_fields: Sequence[str] = ("mongo_conn_id", "mongo_database", "dry_run")
    ui_color = "#fff4e5"
    # An argument here, not BaseOperator's legacy dry_run() method (which nothing in Airflow 3 calls).
    dry_run: bool | str  # type: ignore[assignment]

    def __init__(
        self,
        *,
        mongo_conn_id: str = "jira_assets_backup",
        mongo_database: str = "jira_assets",
        policy: Mapping[str, Any],
        dry_run: bool | str = False,
        lease_wait: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mongo_conn_id = mongo_conn_id
        self.mongo_database = mongo_database
        self.policy = dict(policy)
        self.dry_run = dry_run
        self.lease_wait = lease_wait
        # Refuse a bad policy when the DAG is parsed, not at the first run.
        parse_policy(self.policy)

    def database(self) -> AbstractContextManager[Database]:
        """Open the backup database for the length of the block."""
        return backup_database(self.mongo_conn_id, self.mongo_database)

    def execute(self, context: Context) -> dict[str, Any]:
        policy = parse_policy(self.policy)
        dry_run = parse_dry_run(self.dry_run)
        with self.database() as db:
            # One check for both: a version is hashed once, whichever of them reads it first.
            checker = SnapshotChecker(db, key=snapshot_key())
            forgotten = forget(db, policy, dry_run=dry_run, checker=checker)
            for line in forgotten.lines():
                self.log.info("forget: %s", line)
            # A dry run of forget removed nothing: prune counts as if it had.
            pruned = prune(
                db,
                dry_run=dry_run,
                lease_wait=self.lease_wait,
                assume_forgotten=forgotten.removed_ids,
                checker=checker,
            )
            for line in pruned.lines():
                self.log.info("prune: %s", line)
        for schema in pruned.skipped:
            self.log.warning("prune: %s", schema.line())
        return {"dry_run": dry_run, "forget": forgotten.summary(), "prune": pruned.summary()}

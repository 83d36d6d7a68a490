"""The restore DAG's operator: one thin task per step of :class:`airflow_assets.restore.RestoreSession`.

Each task parses the run's params once into a :class:`~airflow_assets.restore.RestoreRequest`, builds a
session over MongoDB (the session finds the target's connection; the task builds its client), and runs its
step. The steps share nothing in memory: the plan, the ledger of intents and id maps live in MongoDB, so any
task can be retried on any worker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseHook, BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_assets.api import AssetsClient
from airflow_assets.backup.adhoc import backup_now, present_run
from airflow_assets.backup.schema_config import BackupTarget, backup_target_key
from airflow_assets.exceptions import AssetsBadRequestError, AssetsConfigError
from airflow_assets.hooks import JiraAssetsHook
from airflow_assets.hooks.backup_store import backup_database
from airflow_assets.hooks.snapshot_key import snapshot_key
from airflow_assets.operators.lineage import (
    NotesLineage,
    TaskLineage,
    assets_schema,
    mongo_connection_namespace,
    restore_lineage,
    store_collections,
)
from airflow_assets.restore import RestoreSession, SessionSettings, parse_request
from airflow_assets.restore.ledger import Ledger
from airflow_assets.restore.log_lines import (
    comments_line,
    objects_line,
    report_lines,
    restrictions_line,
    rollback_line,
    rollback_plan_lines,
    rollback_totals,
    structure_line,
)
from airflow_assets.restore.plan import RestorePlan
from airflow_assets.restore.request import ROLLBACK, RestoreParamError, RestoreRequest
from airflow_assets.restore.session import PlanNotStoredError
from airflow_assets.store import SnapshotStore
from airflow_assets.store.layout import SNAPSHOT_COLLECTIONS
from airflow_assets.store.rate_budget import MongoRateBudget
from airflow_assets.store.versions import DamagedContentError

log = logging.getLogger(__name__)

STEPS = (
    "backup_before",
    "plan",
    "create_structure",
    "create_objects",
    "restore_comments",
    "apply_restrictions",
    "report",
    "verify",
)


# The steps that write into the target schemas (lineage: the schemas are their outputs).
TARGET_WRITING_STEPS = frozenset(
    {"create_structure", "create_objects", "restore_comments", "apply_restrictions"}
)

# What a retry cannot mend: the task fails at once.
_NOT_RETRIED = (AssetsConfigError, AssetsBadRequestError, DamagedContentError, PlanNotStoredError)


class RestoreStepOperator(NotesLineage, BaseOperator):
    """Run one step of a restore.

    :param step: one of ``backup_before``, ``plan``, ``create_structure``, ``create_objects``,
        ``restore_comments``, ``apply_restrictions``, ``report``, ``verify``.
    :param mongo_conn_id: the ``mongo`` connection of the backup store.
    :param mongo_database: the database backups are kept in.
    :param site_connections: config site name -> its ``jira_assets`` connection (the default target).
    :param backup_targets: ``<site>/<schema key>`` -> how the config backs that schema up
        (:func:`airflow_assets.dags.plan.restore_backup_target`: the target's fields, its backup DAG id,
        connection and budget share); ``backup_before`` backs up the live schemas a rollback writes into.
    """

    template_fields: Sequence[str] = ("mongo_conn_id", "mongo_database")
    ui_color = "#fde8e8"

    def __init__(
        self,
        *,
        step: str,
        mongo_conn_id: str = "jira_assets_backup",
        mongo_database: str = "jira_assets",
        site_connections: Mapping[str, str] | None = None,
        backup_targets: Mapping[str, Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if step not in STEPS:
            raise ValueError(f"unknown restore step {step!r}: one of {', '.join(STEPS)}")
        self.step = step
        self.mongo_conn_id = mongo_conn_id
        self.mongo_database = mongo_database
        self.site_connections = dict(site_connections or {})
        self.backup_targets = {name: dict(entry) for name, entry in (backup_targets or {}).items()}

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the step; return a small JSON summary (XCom)."""
        try:
            request = parse_request(context["params"])
        except RestoreParamError as error:
            log.error("%s failed: %s", self.step, error)
            raise AirflowFailException(str(error)) from None
        if request.dry_run and self.step not in ("backup_before", "plan"):
            raise AirflowSkipException(
                "dry run: the plan task's log shows what would be done; nothing is written"
            )
        dag_run = context["dag_run"]
        restore_id = f"{dag_run.dag_id}:{dag_run.run_id}"
        with backup_database(self.mongo_conn_id, self.mongo_database) as db:
            try:
                settings = SessionSettings(
                    restore_id=restore_id,
                    sites=tuple(self.site_connections),
                    site_connections=self.site_connections,
                    snapshot_key=snapshot_key(),
                )
                session = RestoreSession(
                    request,
                    db,
                    None,
                    settings,
                    connect=lambda conn_id: _target_client(request, conn_id, MongoRateBudget(db)),
                )
                summary = self._run(session, dag_run)
            except _NOT_RETRIED as error:
                # Bad parameters, data checks, a write the site refused (400, with its message), damaged
                # stored content or no readable plan: retrying cannot help. One plain line first, then
                # the failure.
                log.error("%s failed: %s", self.step, error)
                raise AirflowFailException(str(error)) from None
        self.note_lineage(dag_run.dag_id, dag_run.run_id)
        return summary

    def run_lineage(self, dag_id: str, run_id: str) -> TaskLineage | None:
        """Return what this step of a restore run read and wrote, from what the run stored.

        The backup store's collections are the input and the target schemas the output of the steps that
        write into them; ``verify`` reads the target too. ``backup_before`` is a backup: the live schemas
        in, the store out. None when the run stored no plan (nor backup).
        """
        with backup_database(self.mongo_conn_id, self.mongo_database) as db:
            document = Ledger(db, f"{dag_id}:{run_id}").document()
            # The snapshots a rollback took of the live schemas before its first write (old key -> id).
            taken_ids = (document.get("backup_before") or {}).values() if self.step == "backup_before" else ()
            taken = [snapshot for i in taken_ids if (snapshot := SnapshotStore(db).get(str(i))) is not None]
        namespace = mongo_connection_namespace(BaseHook.get_connection(self.mongo_conn_id))
        store = store_collections(namespace, self.mongo_database, SNAPSHOT_COLLECTIONS)
        if self.step == "backup_before":
            schemas = tuple(
                assets_schema(snapshot.site_url, snapshot.workspace_id, snapshot.schema_key)
                for snapshot in taken
                if snapshot.site_url
            )
            return TaskLineage(inputs=schemas, outputs=store) if schemas else None
        if not document.get("plan"):
            return None
        plan = RestorePlan.from_dict(document["plan"])
        targets = [
            assets_schema(plan.target.site_url, plan.target.workspace_id, schema.new_key)
            for schema in plan.schemas
        ]
        writes = self.step in TARGET_WRITING_STEPS and not plan.dry_run
        return restore_lineage(store, targets, writes=writes, reads_target=self.step == "verify")

    def _run(self, session: RestoreSession, dag_run: Any) -> dict[str, Any]:
        if self.step == "plan":
            plan = session.plan()
            log.info("%s", plan.describe())
            rollback = session.rollback_plans
            restore_id = session.settings.restore_id
            for line in rollback_plan_lines(rollback, dry_run=plan.dry_run, restore_id=restore_id):
                log.info("%s", line)
            return {
                "objects": plan.objects,
                "warnings": sum(plan.warning_counts.values()),
                "dry_run": plan.dry_run,
                **({"rollback": rollback_totals(rollback)} if rollback else {}),
            }
        request = session.request
        if self.step == "backup_before":
            return self._backup_before(session, dag_run)
        if self.step == "create_structure":
            structure = session.build_structure()
            for warning in structure.warnings:
                log.warning("%s", warning)
            log.info("%s", structure_line(structure))
            return structure.as_dict()
        if self.step == "create_objects":
            objects = session.restore_objects()
            for warning in objects.warnings[:200]:
                log.warning("%s", warning)
            log.info("%s", objects_line(objects))
            result = objects.as_dict()
            if request.mode == ROLLBACK:
                writes = session.roll_back()
                for warning in writes.warnings[:200]:
                    log.warning("%s", warning)
                log.info("%s", rollback_line(writes))
                result["rollback"] = writes.as_dict()
            relinked = session.relink()
            if relinked is not None:
                for problem in [*relinked.unreadable, *relinked.failed][:200]:
                    log.warning("issue not re-linked: %s", problem)
                log.info(
                    "relink: %s issues re-linked (%s fields), %s already linked, %s not re-linked",
                    relinked.issues_relinked, relinked.fields_relinked, relinked.already_linked,
                    len(relinked.unreadable) + len(relinked.failed),
                )  # fmt: skip
                result["relink"] = relinked.as_dict() | {"unreadable": len(relinked.unreadable),
                                                         "failed": len(relinked.failed)}  # fmt: skip
            return result
        if self.step == "restore_comments":
            comments = session.restore_comments()
            flags = {"comments": request.include_comments, "history": request.history_as_comments}
            log.info("%s", comments_line(comments, **flags))
            return comments.as_dict()
        if self.step == "apply_restrictions":
            applied, refused = session.apply_restrictions()
            for warning in refused:
                log.warning("%s", warning)
            log.info("%s", restrictions_line(applied, refused, mode=request.mode))
            return {"applied": applied, "refused": len(refused)}
        if self.step == "report":
            started = getattr(dag_run, "start_date", None)
            report = session.report(started_at=started.astimezone(UTC) if started else datetime.now(UTC))
            for line in report_lines(report):
                log.info("%s", line)
            return {k: v for k, v in report.items() if k in ("objects_restored", "warnings", "duration_s")}
        report_v = session.verify()
        for difference in report_v.differences[:200]:
            log.error("difference: %s", difference)
        if not report_v.ok:
            raise AirflowFailException(
                f"verify found {len(report_v.differences)} differences between the target and the snapshot "
                f"(listed above and stored with restore {session.settings.restore_id})"
            )
        log.info("verify: the target matches the snapshot (%s objects compared)", report_v.objects_checked)
        return report_v.as_dict()

    def _backup_before(self, session: RestoreSession, dag_run: Any) -> dict[str, Any]:
        """Back up, before a rollback's first write, each live schema it writes into; keep the ids.

        The snapshot of schema ``<key>`` is recorded as run ``rollback__<restore run id>`` of the schema's
        backup DAG (a manual run of the present: it counts like any snapshot for retention and the monitor)
        and notes ``taken_for: rollback <restore id>``. A retry finds the snapshots an earlier try took or
        resumes them. Rolling the rollback back is one restore run with ``snapshot`` = the id kept in the
        ledger (``backup_before``: old key -> snapshot id).

        Any other mode writes nothing it would need to roll back: the step then does nothing (it is not
        skipped: a skipped task would skip every task after it).
        """
        request = session.request
        mode = getattr(request, "mode", "")
        if mode != "rollback":
            reason = f"mode {mode} changes no existing object: no backup is taken before it writes"
            log.info("backup_before: %s", reason)
            return {"skipped": reason}
        restore_id = session.settings.restore_id
        # Before the plan: the run's target, else the site that backs the schema up (the snapshots' site).
        conn_id = session.settings.target_conn_id or request.target_conn_id
        taken: dict[str, str] = dict(session.ledger.document().get("backup_before") or {})
        summaries: dict[str, Any] = {}
        for mapping in request.mappings:
            entry = self._backup_target_of(mapping.new_key, conn_id, request.source_site)
            hook = JiraAssetsHook(
                str(entry["conn_id"]),
                budget_share=float(entry.get("budget_share", 1.0)),
                shared_budget=MongoRateBudget(session.db),
            )
            done = backup_now(
                hook.get_client(),
                session.db,
                BackupTarget.from_dict(entry),
                present_run(str(entry["dag_id"]), f"rollback__{dag_run.run_id}"),
                key=snapshot_key(),
                taken_for=f"rollback {restore_id}",
            )
            taken[mapping.old_key] = done.snapshot_id
            session.ledger.save({"backup_before": taken})
            summaries[mapping.old_key] = done.as_dict()
            log.info(
                "backup_before: schema %s backed up as snapshot %s (%s objects, %.1f s%s); to undo this "
                "rollback, restore with snapshot %s",
                mapping.new_key, done.snapshot_id, done.counts.get("objects"), done.seconds,
                ", taken by an earlier try" if done.already_complete else "", done.snapshot_id,
            )  # fmt: skip
        return {"backup_before": taken, "schemas": summaries}

    def _backup_target_of(
        self, schema_key: str, conn_id: str | None, source_site: str | None
    ) -> dict[str, Any]:
        """Return how the config backs up schema ``schema_key`` of the site reached through ``conn_id``.

        No ``conn_id`` (a rollback of the site the snapshots came from): any site that backs it up.

        :raises AssetsConfigError: no configured site with that connection backs the schema up (or two do
            and the run names neither).
        """
        sites = [site for site, site_conn in self.site_connections.items() if conn_id in (None, site_conn)]
        found = {
            site: self.backup_targets[key]
            for site in sites
            if (key := backup_target_key(site, schema_key)) in self.backup_targets
        }
        if not found:
            # A site with schemas: "*" backs up every schema it has but the excluded.
            found = {
                site: {**self.backup_targets[key], "schema_key": schema_key}
                for site in sites
                if (key := backup_target_key(site, "*")) in self.backup_targets
                and schema_key not in self.backup_targets[key].get("exclude", ())
            }
        if source_site in found:
            return found[str(source_site)]
        if len(found) == 1:
            return next(iter(found.values()))
        through = f"through connection {conn_id}" if conn_id else "on the site its snapshots come from"
        if not found:
            raise AssetsConfigError(
                f"a rollback of schema {schema_key} {through} backs the schema up first, but no site of the "
                f"backup config ({', '.join(sorted(self.site_connections)) or 'none'}) backs it up "
                f"{'through that connection' if conn_id else ''}: add the schema to the site's schemas in "
                "the backup config, then trigger the rollback again"
            )
        raise AssetsConfigError(
            f"schema {schema_key} is backed up by sites {', '.join(sorted(found))}"
            f"{' all through connection ' + conn_id if conn_id else ''}: name one of them with source_site"
        )


def _target_client(request: RestoreRequest, conn_id: str, budget: MongoRateBudget) -> AssetsClient:
    """Return the client of the target site; a bad connection the run named is a bad parameter."""
    try:
        return JiraAssetsHook(conn_id, shared_budget=budget).get_client()
    except AssetsConfigError as error:
        if request.target_conn_id is None:
            raise
        raise RestoreParamError("target_conn_id", str(error)) from None

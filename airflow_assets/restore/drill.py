"""A restore drill: one schema's latest complete snapshot restored into a scratch schema, verified, timed,
and deleted again.

The RTO recorded is the wall time of the whole restore (plan, structure, objects, comments, restrictions,
verify), with the objects per minute and the bound the rate limits set for the calls it made, step after
step: the object writes (creates at the ``object/create`` limit, links at the ``PUT object`` limit, side by
side), then the comment writes (``comment/create``), then verify's reads (each at its own class's limit:
AQL pages, objects by id, comments, configuration; its phases run one after the other). ``ratio`` = bound /
wall time says how close to the limits it ran.

Every try restores afresh into the same scratch key (derived from the run and the schema): a try first
deletes what an earlier, killed try left there, and always deletes its own scratch schema at the end, also
when the restore failed. A snapshot bigger than ``max_objects`` is drilled in part: whole object types in
restore order, each with the types it needs, while the total stays within ``max_objects``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.api.endpoints import COMMENT_CREATE, OBJECT_CREATE, OBJECT_UPDATE
from airflow_assets.exceptions import AssetsBadRequestError, JiraAssetsError
from airflow_assets.messages import cut
from airflow_assets.restore.objects import SETTLE_SECONDS
from airflow_assets.restore.request import RestoreParamError, parse_request
from airflow_assets.restore.schema_source import SchemaSource, load_schema_source
from airflow_assets.restore.scope import scope_types
from airflow_assets.restore.session import RestoreSession, SessionSettings
from airflow_assets.restore.source import resolve_sources
from airflow_assets.store.drills import FAILED, SUCCEEDED, start_drill, update_drill

log = logging.getLogger(__name__)
SCRATCH_PREFIX = "DRL"
SCRATCH_NAME_PREFIX = "Restore drill"


class DrillFailedError(JiraAssetsError):
    """A drill's restore or verify failed (the record in ``drills`` holds the errors)."""


@dataclass(frozen=True)
class DrillTarget:
    """What one drill restores and where.

    :param dag_id: the drill DAG's id.
    :param run_id: the drill run's id.
    :param site: the config's site the snapshots come from.
    :param schema_key: the drilled schema.
    :param target_conn_id: the ``jira_assets`` connection of the drill target.
    :param max_objects: the most objects a drill restores (more: a partial drill).
    :param sites: the site names of the backup config.
    """

    dag_id: str
    run_id: str
    site: str
    schema_key: str
    target_conn_id: str
    max_objects: int
    sites: Sequence[str]

    @property
    def record_id(self) -> str:
        """Return the id of this drill's record in ``drills``."""
        return f"{self.dag_id}:{self.run_id}:{self.site}/{self.schema_key}"


@dataclass
class DrillResult:
    """What a drill measured (stored in its record)."""

    status: str = FAILED
    snapshot_id: str | None = None
    scratch_key: str = ""
    objects: int = 0
    objects_total: int = 0
    partial: bool = False
    types: list[str] = field(default_factory=list)
    seconds: float = 0.0
    objects_per_min: float = 0.0
    bound_seconds: float = 0.0
    bound_parts: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    ratio: float | None = None
    verify_ok: bool | None = None
    differences: int = 0
    scratch_deleted: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-compatible values."""
        return asdict(self)


def scratch_key(run_id: str, site: str, schema_key: str) -> str:
    """Return the scratch key of one schema's drill in one run: ``DRL`` and 7 hex digits (10 characters,
    the most an Assets key may have), the same for every try of the run."""
    digest = hashlib.sha256(f"{run_id}\0{site}\0{schema_key}".encode()).hexdigest()[:7].upper()
    return f"{SCRATCH_PREFIX}{digest}"


def scratch_name(schema_key: str, key: str) -> str:
    """Return the name of a drill's scratch schema (schema names are unique on a site)."""
    return f"{SCRATCH_NAME_PREFIX} {schema_key} {key}"


def delete_scratch(client: AssetsClient, key: str) -> bool:
    """Delete the scratch schema ``key`` from the target; return whether one was there.

    Only a schema whose name says it is a drill's is deleted. Where the site refuses to delete a schema that
    still holds objects, its objects go first.

    :raises DrillFailedError: a schema with that key is not a drill's scratch schema.
    """
    schema = client.find_object_schema(key)
    if schema is None:
        return False
    if not str(schema.get("name", "")).startswith(SCRATCH_NAME_PREFIX):
        raise DrillFailedError(
            f"schema {key} on {client.site_url} is named {schema.get('name')!r}, not a drill's scratch "
            "schema: it is left alone"
        )
    schema_id = str(schema["id"])
    try:
        client.delete_object_schema(schema_id)
    except AssetsBadRequestError:
        # Some sites refuse to delete a schema that holds objects: empty it, then delete it.
        for page in client.iter_aql_pages(
            f"objectSchemaId = {schema_id}", page_size=1000, include_attributes=False
        ):
            for value in page.values:
                client.delete_object(str(value["id"]))
        client.delete_object_schema(schema_id)
    return True


def partial_types(
    schema: SchemaSource, counts: Counter[str], max_objects: int, request_params: dict[str, Any]
) -> tuple[list[str], int]:
    """Return the object types a drill capped at ``max_objects`` asks for, and how many objects they bring.

    Types are taken in restore order (parents first); each with what it needs (parents, referenced types)
    while the total stays within ``max_objects``. Empty when no type fits.
    """
    chosen: list[str] = []
    total = 0
    for type_id in schema.types_parent_first():
        name = schema.type_name(type_id)
        if name in chosen:
            continue
        request = parse_request({**request_params, "object_types": [*chosen, name]})
        scope = scope_types([schema], request)
        needed = sum(counts.get(t, 0) for t in scope.included.get(schema.old_key, set()))
        if needed <= max_objects:
            chosen.append(name)
            total = needed
    return chosen, total


def rate_bound_seconds(
    client: AssetsClient,
    create_calls: int,
    update_calls: int,
    comment_calls: int = 0,
    verify_reads: Mapping[str, int] | None = None,
) -> dict[str, float]:
    """Return the least seconds the target's limits allow for each step's calls (``objects``, ``comments``,
    ``verify``); the steps run one after the other, so the bound is their sum.

    :param verify_reads: verify's reads by rate class; its phases (configuration, objects, the objects they
        refer to, comments) run one after the other, so each class's time adds up.
    """
    limits = client.limits

    def per_second(rate_class: str) -> float:
        return limits.limit_for(rate_class) / limits.window_seconds

    return {
        "objects": max(
            create_calls / per_second(OBJECT_CREATE.rate_class),
            update_calls / per_second(OBJECT_UPDATE.rate_class),
        ),
        "comments": comment_calls / per_second(COMMENT_CREATE.rate_class),
        "verify": sum(calls / per_second(rate_class) for rate_class, calls in (verify_reads or {}).items()),
    }


def run_drill(
    db: Database,
    target: DrillTarget,
    connect: Callable[[str], AssetsClient],
    *,
    snapshot_key: bytes | None = None,
    settle_seconds: float | None = None,
    on_created: Callable[[str], None] | None = None,
) -> DrillResult:
    """Run one schema's drill and record it in ``drills``; delete the scratch schema whatever happens.

    :param connect: returns the client of a connection id.
    :param on_created: called with the old id of each object created (the window a crash test aims at).
    :raises DrillFailedError: the restore or its verify failed (recorded first).
    """
    result = DrillResult(scratch_key=scratch_key(target.run_id, target.site, target.schema_key))
    record = target.record_id
    fields = {
        "site": target.site,
        "schema_key": target.schema_key,
        "dag_id": target.dag_id,
        "run_id": target.run_id,
        "target": target.target_conn_id,
        "scratch_key": result.scratch_key,
        "max_objects": target.max_objects,
    }
    tries = start_drill(db, record, fields, now=datetime.now(UTC))
    client: AssetsClient | None = None
    try:
        client = connect(target.target_conn_id)
        if delete_scratch(client, result.scratch_key):
            log.info("drill: deleted scratch schema %s an earlier try left", result.scratch_key)
        _restore(db, target, client, result, tries, snapshot_key, settle_seconds, on_created)
    except Exception as error:  # recorded, then raised again: the task fails and alerts
        result.errors.append(cut(f"{type(error).__name__}: {error}", 2000))
        raise
    finally:
        if client is not None:
            try:
                delete_scratch(client, result.scratch_key)
                result.scratch_deleted = client.find_object_schema(result.scratch_key) is None
            except Exception as error:  # the record says so; the teardown task tries again
                result.errors.append(
                    cut(f"scratch schema not deleted: {type(error).__name__}: {error}", 2000)
                )
        if result.errors:
            result.status = FAILED
        update_drill(db, record, {**result.as_dict(), "finished_at": datetime.now(UTC)})
    if result.status != SUCCEEDED:
        raise DrillFailedError("; ".join(result.errors) or "the drill failed")
    return result


def _restore(
    db: Database,
    target: DrillTarget,
    client: AssetsClient,
    result: DrillResult,
    tries: int,
    snapshot_key: bytes | None,
    settle_seconds: float | None,
    on_created: Callable[[str], None] | None,
) -> None:
    params: dict[str, Any] = {
        "mode": "new_schema",
        "dry_run": False,
        "source_site": target.site,
        "target_conn_id": target.target_conn_id,
        "schema_mappings": [
            {
                "old_key": target.schema_key,
                "new_key": result.scratch_key,
                "new_name": scratch_name(target.schema_key, result.scratch_key),
            }
        ],
    }
    # Pin the latest complete snapshot, so the cap is decided on the snapshot that is restored.
    sources = resolve_sources(db, parse_request(params), target.sites)
    source = sources[0]
    result.snapshot_id = source.snapshot.snapshot_id
    params["snapshot"] = result.snapshot_id
    counts: Counter[str] = Counter(str(obj.get("objectTypeId")) for obj in source.objects())
    result.objects_total = sum(counts.values())
    if result.objects_total > target.max_objects:
        schema = load_schema_source(source)
        names, _ = partial_types(schema, counts, target.max_objects, params)
        if not names:
            raise RestoreParamError(
                "max_objects",
                f"no object type of {target.schema_key} fits, with the types it needs, in max_objects "
                f"{target.max_objects} ({result.objects_total} objects in snapshot {result.snapshot_id}): "
                "raise drills.max_objects",
            )
        params["object_types"] = names
        result.partial, result.types = True, names
        log.info(
            "drill: %s holds %s objects, more than max_objects %s: restoring the types %s",
            target.schema_key, result.objects_total, target.max_objects, ", ".join(names),
        )  # fmt: skip
    settings = SessionSettings(
        restore_id=f"{target.record_id}#{tries}",
        sites=tuple(target.sites),
        target_conn_id=target.target_conn_id,
        snapshot_key=snapshot_key,
        settle_seconds=SETTLE_SECONDS if settle_seconds is None else settle_seconds,
    )
    session = RestoreSession(parse_request(params), db, client, settings)
    session.on_created = on_created
    started = time.perf_counter()

    def timed(step: str, run: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            return run()
        finally:
            result.step_seconds[step] = round(time.perf_counter() - began, 2)

    timed("plan", session.plan)
    timed("structure", session.build_structure)
    objects = timed("objects", session.restore_objects)
    comments = timed("comments", session.restore_comments)
    timed("restrictions", session.apply_restrictions)
    report = timed("verify", session.verify)
    result.seconds = round(time.perf_counter() - started, 2)
    session.report()
    result.objects = objects.created + objects.already_done + objects.reconciled
    result.objects_per_min = round(result.objects / result.seconds * 60, 1) if result.seconds else 0.0
    parts = rate_bound_seconds(
        client, objects.create_calls, objects.update_calls, comments.comment_calls, report.reads_by_class
    )
    result.bound_parts = {step: round(seconds, 2) for step, seconds in parts.items()}
    result.bound_seconds = round(sum(parts.values()), 2)
    result.ratio = round(result.bound_seconds / result.seconds, 3) if result.seconds else None
    result.verify_ok, result.differences = report.ok, len(report.differences)
    if not report.ok:
        shown_differences = "; ".join(report.differences[:5])
        raise DrillFailedError(
            f"verify found {len(report.differences)} differences between scratch schema "
            f"{result.scratch_key} and snapshot {result.snapshot_id}: {cut(shown_differences, 1000)}"
        )
    result.status = SUCCEEDED
    log.info(
        "drill: %s restored into %s and verified: %s objects in %.1f s (%s objects/min); the rate limits "
        "allow the object writes in %.1f s (ratio %s)%s",
        target.schema_key, result.scratch_key, result.objects, result.seconds, result.objects_per_min,
        result.bound_seconds, result.ratio,
        f"; partial: {result.objects} of {result.objects_total} objects" if result.partial else "",
    )  # fmt: skip

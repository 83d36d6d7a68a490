"""Plan every DAG of the configuration (backup, retention, restore, monitor): plain dataclasses describing
each DAG, with no Airflow import, network or database call.

The DAG factory (:mod:`airflow_assets.dags.factory`) instantiates what :func:`plan_dags` returns.
A broken part of the configuration never vanishes and never takes the valid parts down: it becomes a
:class:`BrokenDagSpec` (a placeholder DAG that shows the error) with the id the DAG would have had, while
its valid neighbours still get their specs.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_assets.backup.drill_watch import DrillWatch
from airflow_assets.backup.monitor import SchemaWatch
from airflow_assets.backup.schema_config import BackupTarget, backup_target_key
from airflow_assets.backup.site_monitor import SiteWatch
from airflow_assets.config.loading import config_path, read_config_text, read_yaml
from airflow_assets.config.parts import ConfigParts, SitePart, validate_parts
from airflow_assets.config.problems import BackupConfigError
from airflow_assets.config.sites import IncludeSettings, SchemaEntry, SchemaSettings
from airflow_assets.config.storage import MongoSettings, RetentionPolicy

DAG_ID_PREFIX = "jira_assets_backup"
CONFIG_ERROR_DAG_ID = f"{DAG_ID_PREFIX}_config_error"
RETENTION_DAG_ID = "jira_assets_retention"
RETENTION_SCHEDULE = "30 4 * * *"
RETENTION_TIMEZONE = "UTC"
RESTORE_DAG_ID = "jira_assets_restore"
MONITOR_DAG_ID = "jira_assets_monitor"
DRILL_DAG_ID = "jira_assets_drill"
ASSET_SCHEME = "jira-assets"
BASE_TAGS = ("jira-assets",)
_UNSAFE_ID_CHARS = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class BackupDagSpec:
    """One backup DAG: one object schema of one site, on its own schedule.

    :param dag_id: ``jira_assets_backup_<site>_<key>``, lowercase.
    :param site: the site's name in the configuration.
    :param schema_key: the Assets object schema key.
    :param jira_conn_id: the ``jira_assets`` connection of the site.
    :param mongo_conn_id: the ``mongo`` connection backups go to.
    :param mongo_database: the database in it.
    :param schedule: a cron expression (or an Airflow preset such as ``@daily``).
    :param timezone: the IANA time zone the schedule is read in.
    :param include: what besides objects the backup fetches.
    :param full_sweep_every: every Nth run fetches history and comments of all objects, not only changed ones.
    :param pool: the Airflow pool of the site, ``jira_assets_<site>``; its tasks share the site's API budget.
    :param budget_share: the fraction of each per-endpoint rate limit one task may use (1: every task of the
        site draws from one budget shared through the backup store; ``parallel_schemas`` caps concurrency).
    :param tags: DAG tags.
    :param doc_md: the DAG's documentation: what, where, when, how to restore, and the config entry.
    :param source: the configuration file the spec came from.
    :param asset_uri: the Airflow Asset a completed snapshot updates (``jira-assets://<site>/<key>``).
    :param notify: the failure notifiers of the config's ``alerts.notify``.
    :param sweep: ``rolling`` (1/N of the objects' activity re-read each run) or ``full`` (all every Nth run).
    """

    dag_id: str
    site: str
    schema_key: str
    jira_conn_id: str
    mongo_conn_id: str
    mongo_database: str
    schedule: str
    timezone: str
    include: IncludeSettings
    full_sweep_every: int
    pool: str
    budget_share: float
    tags: tuple[str, ...]
    doc_md: str
    source: str = ""
    asset_uri: str = ""
    notify: tuple[Mapping[str, Any], ...] = ()
    sweep: str = "rolling"


@dataclass(frozen=True)
class BrokenDagSpec:
    """A placeholder for a DAG that a broken config entry would have made; its run fails with the error.

    :param dag_id: the id the DAG would have had (or a ``..._config_error`` id for a broken site or file).
    :param error: every problem, one per line, each starting with its field path.
    :param source: the configuration file.
    :param tags: DAG tags.
    """

    dag_id: str
    error: str
    source: str
    tags: tuple[str, ...]
    notify: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class RetentionDagSpec:
    """The retention DAG: forgets snapshots the policy does not keep, for every site.

    :param dag_id: ``jira_assets_retention``.
    :param mongo_conn_id: the ``mongo`` connection backups are stored in.
    :param mongo_database: the database in it.
    :param policy: what to keep (never empty).
    :param schedule: a cron expression, daily at 04:30 by default.
    :param timezone: the time zone of the schedule.
    :param sites: the names of the configured sites.
    :param tags: DAG tags.
    :param doc_md: the DAG's documentation.
    :param source: the configuration file.
    """

    dag_id: str
    mongo_conn_id: str
    mongo_database: str
    policy: RetentionPolicy
    schedule: str
    timezone: str
    sites: tuple[str, ...]
    tags: tuple[str, ...]
    doc_md: str
    source: str = ""
    notify: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class RestoreDagSpec:
    """The restore DAG: manual runs that rebuild schemas or deleted objects from snapshots.

    :param dag_id: ``jira_assets_restore``.
    :param mongo_conn_id: the ``mongo`` connection backups are stored in.
    :param mongo_database: the database in it.
    :param site_connections: site name -> its ``jira_assets`` connection (the default target of a restore).
    :param schema_keys: every configured schema key (the trigger form's example).
    :param pool: the pool of the site when the config has one site (a restore then waits for a slot beside
        that site's backups); None with several sites, whose target is known only when a run starts.
    :param tags: DAG tags.
    :param doc_md: the DAG's documentation.
    :param source: the configuration file.
    :param backup_targets: ``<site>/<schema key>`` -> how the config backs that schema up, JSON-compatible
        (:func:`restore_backup_target`): a rollback backs the live schema up the same way before it writes.
    """

    dag_id: str
    mongo_conn_id: str
    mongo_database: str
    site_connections: Mapping[str, str]
    schema_keys: tuple[str, ...]
    pool: str | None
    tags: tuple[str, ...]
    doc_md: str
    source: str = ""
    notify: tuple[Mapping[str, Any], ...] = ()
    backup_targets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class MonitorDagSpec:
    """The monitor DAG: alerts when a schema's newest complete snapshot is too old, or its object count fell.

    :param dag_id: ``jira_assets_monitor``.
    :param mongo_conn_id: the ``mongo`` connection backups are stored in.
    :param mongo_database: the database in it.
    :param schedule: a cron expression (default hourly at :15).
    :param schemas: every configured schema with its backup schedule.
    :param max_age_hours: the age that alerts; None: two schedule periods of each schema.
    :param max_object_drop: the share of objects a snapshot may lose against the one before it.
    :param tags: DAG tags.
    :param doc_md: the DAG's documentation.
    :param source: the configuration file.
    :param notify: the failure notifiers (an alert is the monitor task failing).
    :param sites: every site with ``schemas: "*"``: its listed schemas are checked, those gone reported.
    :param drills: every drilled schema with the drill schedule (alert: no successful drill in two periods).
    """

    dag_id: str
    mongo_conn_id: str
    mongo_database: str
    schedule: str
    schemas: tuple[SchemaWatch, ...]
    max_age_hours: float | None
    max_object_drop: float
    tags: tuple[str, ...]
    doc_md: str
    source: str = ""
    notify: tuple[Mapping[str, Any], ...] = ()
    sites: tuple[SiteWatch, ...] = ()
    drills: tuple[DrillWatch, ...] = ()


@dataclass(frozen=True)
class SiteBackupDagSpec:
    """The backup DAG of a site with ``schemas: "*"``: lists its schemas at run time, backs up each.

    :param dag_id: ``jira_assets_backup_<site>``, lowercase.
    :param site: the site's name in the configuration.
    :param jira_conn_id: the ``jira_assets`` connection of the site.
    :param mongo_conn_id: the ``mongo`` connection backups go to.
    :param mongo_database: the database in it.
    :param schedule: the site's cron expression.
    :param timezone: the IANA time zone the schedule is read in.
    :param include: what besides objects each backup fetches.
    :param full_sweep_every: every Nth run of a schema fetches history and comments of all its objects.
    :param sweep: ``rolling`` (1/N of the objects' activity re-read each run) or ``full`` (all every Nth run).
    :param pool: the Airflow pool of the site.
    :param budget_share: the fraction of each per-endpoint rate limit one task may use.
    :param parallel_schemas: how many schemas of the site back up at once (the mapped task's cap).
    :param exclude: keys the site leaves out.
    :param named_elsewhere: keys another site of the same connection lists by name (their own DAGs).
    :param tags: DAG tags.
    :param doc_md: the DAG's documentation.
    :param source: the configuration file.
    :param notify: the failure notifiers of the config's ``alerts.notify``.
    """

    dag_id: str
    site: str
    jira_conn_id: str
    mongo_conn_id: str
    mongo_database: str
    schedule: str
    timezone: str
    include: IncludeSettings
    full_sweep_every: int
    sweep: str
    pool: str
    budget_share: float
    parallel_schemas: int
    exclude: tuple[str, ...]
    named_elsewhere: tuple[str, ...]
    tags: tuple[str, ...]
    doc_md: str
    source: str = ""
    notify: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class DrillDagSpec:
    """The drill DAG: restores each drilled schema's latest snapshot into a scratch schema on the drill
    target, verifies it, records the RTO in ``drills`` and deletes the scratch schema.

    :param dag_id: ``jira_assets_drill``.
    :param target_conn_id: the ``jira_assets`` connection drills restore into.
    :param schemas: ``(site, key)`` of every drilled schema.
    :param schedule: a cron expression (default Sundays 05:00).
    :param timezone: the time zone of the schedule.
    :param max_objects: the most objects one drill restores.
    :param sites: the site names of the backup config.
    """

    dag_id: str
    mongo_conn_id: str
    mongo_database: str
    target_conn_id: str
    schemas: tuple[tuple[str, str], ...]
    schedule: str
    timezone: str
    max_objects: int
    sites: tuple[str, ...]
    tags: tuple[str, ...]
    doc_md: str
    source: str = ""
    notify: tuple[Mapping[str, Any], ...] = ()


DagSpec = (
    BackupDagSpec
    | BrokenDagSpec
    | RetentionDagSpec
    | RestoreDagSpec
    | MonitorDagSpec
    | SiteBackupDagSpec
    | DrillDagSpec
)


def backup_dag_id(site: str, schema_key: str) -> str:
    """Return the DAG id of a schema's backup: ``jira_assets_backup_<site>_<key>``, lowercase."""
    return f"{DAG_ID_PREFIX}_{site}_{schema_key}".lower()


def site_backup_dag_id(site: str) -> str:
    """Return the DAG id of a site with ``schemas: "*"``: ``jira_assets_backup_<site>``, lowercase."""
    return f"{DAG_ID_PREFIX}_{site}".lower()


def site_error_dag_id(site: str) -> str:
    """Return the DAG id that reports a broken site: ``jira_assets_backup_<site>_config_error``."""
    return f"{DAG_ID_PREFIX}_{_id_part(site)}_config_error"


def restore_backup_target(settings: SchemaSettings) -> dict[str, Any]:
    """Return how a schema is backed up, as a restore run needs it to back the schema up itself.

    The :class:`~airflow_assets.backup.schema_config.BackupTarget` fields (``site``, ``schema_key``,
    ``include``, ``full_sweep_every``, ``schedule``, ``timezone``) and beside them ``dag_id`` (the schema's
    backup DAG: the snapshot is recorded under it, as one of its runs), ``conn_id`` (the site's
    ``jira_assets`` connection) and ``budget_share`` (the share of the site's rate limits one task uses).
    """
    target = BackupTarget(
        site=settings.site,
        schema_key=settings.key,
        include=settings.include.model_dump(),
        full_sweep_every=settings.full_sweep_every,
        schedule=settings.schedule,
        timezone=settings.timezone,
        sweep=settings.sweep,
    )
    return {
        **target.as_dict(),
        "dag_id": backup_dag_id(settings.site, settings.key),
        "conn_id": settings.conn_id,
        "budget_share": 1.0,
    }


def pool_name(site: str) -> str:
    """Return the Airflow pool of a site: ``jira_assets_<site>``."""
    return f"jira_assets_{site}"


def plan_dags(text: str, *, source: str) -> list[DagSpec]:
    """Plan every DAG a configuration asks for; broken parts become :class:`BrokenDagSpec` placeholders.

    :param text: the YAML configuration.
    :param source: the file it came from, for messages and documentation.
    """
    try:
        data = read_yaml(text, source=source)
    except BackupConfigError as error:
        return [_broken(CONFIG_ERROR_DAG_ID, error.problems, source)]
    parts = validate_parts(data)
    if parts.problems or parts.mongo is None:
        return [_broken(CONFIG_ERROR_DAG_ID, parts.problems, source)]
    specs: list[DagSpec] = []
    # Valid DAGs keep their ids; a placeholder whose id is taken falls back to a numbered one.
    taken: set[str] = {CONFIG_ERROR_DAG_ID, RETENTION_DAG_ID}
    for site in parts.sites:
        if not site.problems and site.defaults is not None:
            taken.update(
                backup_dag_id(site.name, schema.entry.key)
                for schema in site.schemas
                if schema.entry is not None
            )
            if site.all_schemas:
                taken.add(site_backup_dag_id(site.name))
    for site in parts.sites:
        if site.all_schemas and not site.problems and site.defaults is not None:
            specs.append(_site_backup_spec(site, parts, source))
            continue
        specs += _plan_site(site, parts.mongo, source, taken)
    specs.append(_plan_retention(parts, source))
    specs.append(_plan_restore(parts, source))
    specs.append(_plan_monitor(parts, source))
    drill = _plan_drill(parts, source)
    if drill is not None:
        specs.append(drill)
    notify = (
        tuple(entry.model_dump(exclude_none=True) for entry in parts.alerts.notify) if parts.alerts else ()
    )
    return [dataclasses.replace(spec, notify=notify) for spec in specs]


def asset_uri(site: str, schema_key: str) -> str:
    """Return the Airflow Asset a schema's completed snapshots update: ``jira-assets://<site>/<key>``."""
    return f"{ASSET_SCHEME}://{site}/{schema_key}"


def _plan_monitor(parts: ConfigParts, source: str) -> MonitorDagSpec | BrokenDagSpec:
    if parts.alerts is None:
        return _broken(MONITOR_DAG_ID, parts.alerts_problems, source, kind="monitor")
    assert parts.mongo is not None  # the caller returned a single placeholder otherwise
    watched = []
    for site in parts.sites:
        if site.defaults is None:
            continue
        for schema in site.schemas:
            if schema.entry is not None:
                settings = site.defaults.resolve(site.name, schema.entry)
                watched.append(SchemaWatch(site.name, settings.key, settings.schedule, settings.timezone))
    every = tuple(
        SiteWatch(
            site.name,
            site_backup_dag_id(site.name),
            site.defaults.schedule,
            site.defaults.timezone,
            site.exclude,
        )
        for site in parts.sites
        if site.all_schemas and not site.problems and site.defaults is not None
    )
    monitor = parts.alerts.monitor
    age = (
        f"{monitor.max_age_hours:g} hours" if monitor.max_age_hours else "two schedule periods of the schema"
    )
    return MonitorDagSpec(
        dag_id=MONITOR_DAG_ID,
        mongo_conn_id=parts.mongo.conn_id,
        mongo_database=parts.mongo.database,
        schedule=monitor.schedule,
        schemas=tuple(watched),
        sites=every,
        max_age_hours=monitor.max_age_hours,
        max_object_drop=monitor.max_object_drop,
        drills=tuple(
            DrillWatch(d.site, d.schema_key, parts.drills.schedule, parts.drills.timezone)
            for d in parts.drilled
        )
        if parts.drills is not None
        else (),
        tags=(*BASE_TAGS, "monitor"),
        doc_md=f"""\
# Watch the Jira Assets backups

Fails, and so alerts through the notifiers of `alerts.notify`, when a schema's newest complete snapshot is
older than {age}, or when a snapshot holds more than {monitor.max_object_drop:.0%} fewer objects than the one
before it (a mass deletion: restore the missing objects with `jira_assets_restore`, mode `recreate_missing`).
Schemas: {", ".join(f"`{w.site}/{w.schema_key}`" for w in watched) or "none"}.
Sites of every schema: {", ".join(f"`{w.site}`" for w in every) or "none"} (the schemas of each site's newest
listing are checked by the site's schedule; a schema gone from the site is reported as gone, not stale).
Generated from `{source}`.
""",
        source=source,
    )


def _plan_drill(parts: ConfigParts, source: str) -> DrillDagSpec | BrokenDagSpec | None:
    """Plan the drill DAG when the config has a ``drills`` section (a broken one: a placeholder)."""
    if parts.drills_problems:
        return _broken(DRILL_DAG_ID, parts.drills_problems, source, kind="drill")
    if parts.drills is None:
        return None
    assert parts.mongo is not None  # the caller returned a single placeholder otherwise
    drills = parts.drills
    schemas = tuple((d.site, d.schema_key) for d in parts.drilled)
    named = ", ".join(f"`{site}/{key}`" for site, key in schemas)
    return DrillDagSpec(
        dag_id=DRILL_DAG_ID,
        mongo_conn_id=parts.mongo.conn_id,
        mongo_database=parts.mongo.database,
        target_conn_id=drills.target_conn_id,
        schemas=schemas,
        schedule=drills.schedule,
        timezone=drills.timezone,
        max_objects=drills.max_objects,
        sites=tuple(site.name for site in parts.sites),
        tags=(*BASE_TAGS, "drill"),
        doc_md=f"""\
# Restore drills: the RTO, measured

For each of {named}: restores the latest complete snapshot into a scratch schema (`DRL` + 7 hex digits) on
connection `{drills.target_conn_id}`, verifies it against the snapshot, records the wall time, objects/min and
the bound the rate limits set in `drills` (`airflow-assets drills list`), and deletes the scratch schema,
also when the restore failed. A snapshot of more than {drills.max_objects} objects is drilled in part (whole
object types up to that many objects; recorded as partial). A failed drill fails its task and alerts.

**When:** `{drills.schedule}` ({drills.timezone}). Generated from `{source}`.
""",
        source=source,
    )


def _plan_restore(parts: ConfigParts, source: str) -> RestoreDagSpec:
    assert parts.mongo is not None  # the caller returned a single placeholder otherwise
    connections = {site.name: site.defaults.conn_id for site in parts.sites if site.defaults is not None}
    keys = tuple(
        dict.fromkeys(
            schema.entry.key for site in parts.sites for schema in site.schemas if schema.entry is not None
        )
    )
    targets: dict[str, Mapping[str, Any]] = {}
    for site in parts.sites:
        if site.problems or site.defaults is None:
            continue  # a broken site has no backup DAG either
        for schema in site.schemas:
            if schema.entry is not None:
                settings = site.defaults.resolve(site.name, schema.entry)
                targets[backup_target_key(site.name, settings.key)] = restore_backup_target(settings)
        if site.all_schemas and site.defaults is not None:
            # Any schema of a "*" site but the excluded: a rollback backs it up as the site's DAG would.
            every = dataclasses.replace(site.defaults.resolve(site.name, SchemaEntry(key="ALL")), key="*")
            targets[backup_target_key(site.name, "*")] = {
                **restore_backup_target(every),
                "dag_id": site_backup_dag_id(site.name),
                "exclude": list(site.exclude),
            }
    sites = ", ".join(f"`{name}` (connection `{conn}`)" for name, conn in connections.items()) or "none"
    return RestoreDagSpec(
        dag_id=RESTORE_DAG_ID,
        mongo_conn_id=parts.mongo.conn_id,
        mongo_database=parts.mongo.database,
        site_connections=connections,
        schema_keys=keys,
        pool=pool_name(next(iter(connections))) if len(connections) == 1 else None,
        tags=(*BASE_TAGS, "restore"),
        backup_targets=targets,
        doc_md=f"""\
# Restore Jira Assets object schemas from snapshots

Trigger this DAG with the form. It is a **dry run** unless `dry_run` is unticked: the `plan` task's log then
shows what would be created, in which order, and every warning, and nothing is written.

- `new_schema` rebuilds each mapped schema under a new key (refused if the key exists), with its object types,
  attributes, objects, references (across schemas and in cycles) and comments.
- `recreate_missing` brings objects that were deleted since the snapshot back into the live schema, with the
  references other objects had to them; nothing else changes.

Tasks: `plan` (checks every parameter against the data before anything is written) -> `backup_before`
(a `rollback` first backs up the live schemas it writes into; other modes pass) -> `create_structure` ->
`create_objects` -> `restore_comments` -> `apply_restrictions` -> `report` (the old -> new key map CSV) ->
`verify` (re-reads the target; fails on any unexplained difference). Every task is safe to retry and
resumes where the last try stopped.

Snapshots are read from MongoDB connection `{parts.mongo.conn_id}`, database `{parts.mongo.database}`.
Sites: {sites}. Generated from `{source}`.
""",
        source=source,
    )


def plan_from_file(path: str | os.PathLike[str] | None = None, *, missing_ok: bool = False) -> list[DagSpec]:
    """Plan every DAG of the configuration file; an unreadable file becomes one :class:`BrokenDagSpec`.

    :param path: the file; default ``$JIRA_ASSETS_CONFIG``, else ``dags/jira_assets.yaml``.
    :param missing_ok: return an empty plan, not a placeholder, when the file does not exist.
    """
    file = Path(path) if path is not None else config_path()
    if missing_ok and not file.exists():
        return []
    try:
        text, source = read_config_text(file)
    except BackupConfigError as error:
        return [_broken(CONFIG_ERROR_DAG_ID, error.problems, str(file))]
    return plan_dags(text, source=source)


def _plan_site(site: SitePart, mongo: MongoSettings, source: str, taken: set[str]) -> list[DagSpec]:
    if site.problems or site.defaults is None:
        # The site's own settings are unknown, so none of its schemas can be planned: report them together.
        problems = [*site.problems]
        for schema in site.schemas:
            problems += schema.problems
        dag_id = _unique(site_error_dag_id(site.name), taken)
        return [_broken(dag_id, problems, source, site=site.name)]
    specs: list[DagSpec] = []
    for schema in site.schemas:
        if schema.entry is None:
            by_index = f"{DAG_ID_PREFIX}_{_id_part(site.name)}_schema_{schema.index}"
            # The id the entry would have had, when its key can be part of one (and no valid DAG holds it).
            readable = schema.key is not None and re.fullmatch(r"[A-Za-z0-9]+", schema.key) is not None
            by_key = backup_dag_id(site.name, schema.key) if readable and schema.key else by_index
            dag_id = by_key if by_key not in taken else _unique(by_index, taken)
            taken.add(dag_id)
            specs.append(_broken(dag_id, schema.problems, source, site=site.name))
            continue
        settings = site.defaults.resolve(site.name, schema.entry)
        specs.append(_backup_spec(settings, mongo, _entry_yaml(site, schema.entry), source))
    return specs


def _backup_spec(
    settings: SchemaSettings, mongo: MongoSettings, entry_yaml: str, source: str
) -> BackupDagSpec:
    site, key = settings.site, settings.key
    return BackupDagSpec(
        dag_id=backup_dag_id(site, key),
        site=site,
        schema_key=key,
        jira_conn_id=settings.conn_id,
        mongo_conn_id=mongo.conn_id,
        mongo_database=mongo.database,
        schedule=settings.schedule,
        timezone=settings.timezone,
        include=settings.include,
        full_sweep_every=settings.full_sweep_every,
        pool=pool_name(site),
        budget_share=1.0,
        tags=(*BASE_TAGS, "backup", f"site:{site}", f"schema:{key}"),
        doc_md=_backup_doc(settings, mongo, entry_yaml, source),
        source=source,
        asset_uri=asset_uri(site, key),
        sweep=settings.sweep,
    )


def _sweep_doc(settings: SchemaSettings) -> str:
    every = settings.full_sweep_every
    if settings.sweep == "rolling":
        return (
            f"Each run fetches history and comments of the objects changed since the last snapshot and of "
            f"1/{every} of the others, in a fixed rotation: every object is swept once in {every} runs."
        )
    return (
        f"One run in {every} fetches history and comments of all objects, the others only of objects "
        "changed since the last snapshot."
    )


def _backup_doc(settings: SchemaSettings, mongo: MongoSettings, entry_yaml: str, source: str) -> str:
    chosen = settings.include.model_dump()
    extras = [name.replace("_", " ") for name, wanted in chosen.items() if wanted]
    left_out = [name.replace("_", " ") for name, wanted in chosen.items() if not wanted]
    key = settings.key
    return f"""\
# Back up Jira Assets schema `{key}` of site `{settings.site}`

**What:** the object schema `{key}` (its object types, attributes, objects and references) read through the
Airflow connection `{settings.conn_id}`; also: {", ".join(extras) or "nothing else"}
(left out: {", ".join(left_out) or "nothing"}). {_sweep_doc(settings)}

**Where:** MongoDB connection `{mongo.conn_id}`, database `{mongo.database}`.

**When:** `{settings.schedule}` ({settings.timezone}).

**Pool:** `{pool_name(settings.site)}` (create it with `airflow-assets pools create`; the scheduler never runs
tasks of a missing pool). {settings.parallel_schemas} schema(s) of this site may back up at the same time,
drawing from one rate budget per endpoint shared through the backup store.

## Restore

Trigger the `{RESTORE_DAG_ID}` DAG. Deleted objects back into the live schema `{key}` (with the references
other objects had to them):

```json
{{"mode": "recreate_missing", "schema_mappings": [{{"old_key": "{key}"}}], "snapshot": "latest"}}
```

The whole schema into a new one (a key that does not exist yet: `{key}` itself is refused while it exists):

```json
{{"schema_mappings": [{{"old_key": "{key}", "new_key": "{key}2"}}], "snapshot": "latest"}}
```

Each run is a dry run until you add `"dry_run": false`: read its plan first.

## Backfill

`airflow backfill create --dag-id <this DAG> --from-date ... --to-date ...` gives each past day a snapshot of
the schema as it was then, rewound from the nearest later snapshot by object history (`reconstruct_past`; a
fidelity report says what could not be rewound exactly). A run of the present skips that step.

## Configuration

Generated from `{source}` by this entry:

```yaml
{entry_yaml.rstrip()}
```
"""


def _entry_yaml(site: SitePart, entry: SchemaEntry) -> str:
    written: dict[str, Any] = {**site.raw, "schemas": [entry.model_dump(mode="json", exclude_unset=True)]}
    return yaml.safe_dump({"sites": {site.name: written}}, sort_keys=False, default_flow_style=False)


def _plan_retention(parts: ConfigParts, source: str) -> RetentionDagSpec | BrokenDagSpec:
    if parts.retention is None:
        return _broken(RETENTION_DAG_ID, parts.retention_problems, source, kind="retention")
    if parts.retention.is_empty():
        return _broken(
            RETENTION_DAG_ID,
            [
                "retention: the policy keeps nothing, which would forget every snapshot; set at least one of "
                "keep_last, keep_daily, keep_weekly, keep_monthly above 0"
            ],
            source,
            kind="retention",
        )
    assert parts.mongo is not None  # the caller returned a single placeholder otherwise
    sites = tuple(site.name for site in parts.sites)
    policy = parts.retention
    return RetentionDagSpec(
        dag_id=RETENTION_DAG_ID,
        mongo_conn_id=parts.mongo.conn_id,
        mongo_database=parts.mongo.database,
        policy=policy,
        schedule=RETENTION_SCHEDULE,
        timezone=RETENTION_TIMEZONE,
        sites=sites,
        tags=(*BASE_TAGS, "retention"),
        doc_md=f"""\
# Forget old Jira Assets snapshots

Keeps the last {policy.keep_last} snapshots and the newest one of each of the last {policy.keep_daily} days,
{policy.keep_weekly} weeks and {policy.keep_monthly} months, per schema, in MongoDB connection
`{parts.mongo.conn_id}`, database `{parts.mongo.database}` (sites: {", ".join(sites)}).

**When:** `{RETENTION_SCHEDULE}` ({RETENTION_TIMEZONE}). Generated from `{source}`.
""",
        source=source,
    )


def _broken(
    dag_id: str, problems: Any, source: str, *, site: str | None = None, kind: str = "backup"
) -> BrokenDagSpec:
    lines = list(problems) or ["invalid configuration"]
    tags = (*BASE_TAGS, kind, "config-error") + ((f"site:{site}",) if site is not None else ())
    return BrokenDagSpec(dag_id=dag_id, error="\n".join(lines), source=source, tags=tags)


def _id_part(name: str) -> str:
    return _UNSAFE_ID_CHARS.sub("_", name.lower()).strip("_") or "unnamed"


def _unique(dag_id: str, taken: set[str]) -> str:
    candidate, number = dag_id, 2
    while candidate in taken:
        candidate, number = f"{dag_id}_{number}", number + 1
    taken.add(candidate)
    return candidate


def _site_backup_spec(site: SitePart, parts: ConfigParts, source: str) -> SiteBackupDagSpec:
    """Plan the DAG of a site with ``schemas: "*"``."""
    assert site.defaults is not None and parts.mongo is not None  # the caller checked
    defaults = site.defaults
    named = tuple(
        sorted(
            {
                schema.entry.key
                for other in parts.sites
                if other.defaults is not None and other.defaults.conn_id == defaults.conn_id
                for schema in other.schemas
                if schema.entry is not None
            }
        )
    )
    dag_id = site_backup_dag_id(site.name)
    written = {**site.raw, "schemas": "*", **({"exclude": list(site.exclude)} if site.exclude else {})}
    entry_yaml = yaml.safe_dump({"sites": {site.name: written}}, sort_keys=False, default_flow_style=False)
    chosen = defaults.include.model_dump()
    extras = [name.replace("_", " ") for name, wanted in chosen.items() if wanted]
    return SiteBackupDagSpec(
        dag_id=dag_id,
        site=site.name,
        jira_conn_id=defaults.conn_id,
        mongo_conn_id=parts.mongo.conn_id,
        mongo_database=parts.mongo.database,
        schedule=defaults.schedule,
        timezone=defaults.timezone,
        include=defaults.include,
        full_sweep_every=defaults.full_sweep_every,
        sweep=defaults.sweep,
        pool=pool_name(site.name),
        budget_share=1.0,
        parallel_schemas=defaults.parallel_schemas,
        exclude=site.exclude,
        named_elsewhere=named,
        tags=(*BASE_TAGS, "backup", f"site:{site.name}", "schema:*"),
        source=source,
        doc_md=f"""\
# Back up every Jira Assets schema of site `{site.name}`

**What:** every object schema the site has when a run starts, read through the Airflow connection
`{defaults.conn_id}`; left out: {", ".join(f"`{key}`" for key in site.exclude) or "nothing"} (`exclude`)
and {", ".join(f"`{key}`" for key in named) or "nothing"} (listed by name in a site of the same
connection: their own DAGs back them up). Also: {", ".join(extras) or "nothing else"}.
A schema created on the site is backed up by the next run; one deleted keeps its snapshots.

**How:** `list_schemas` lists the site's schemas and records the listing in the store; `back_up_schema` is
mapped over them (one task per schema, its key as the map index), each a whole backup of its schema, resumed
on a retry; `mark_failed_if_incomplete` marks failed what a run left unfinished.

**Where:** MongoDB connection `{parts.mongo.conn_id}`, database `{parts.mongo.database}`.

**When:** `{defaults.schedule}` ({defaults.timezone}). {defaults.parallel_schemas} schema(s) at a time, in
pool `{pool_name(site.name)}`.

## Restore

Trigger `{RESTORE_DAG_ID}` with the schema's key, as for any schema (`airflow-assets snapshots list` shows
the snapshots of each).

## Configuration

Generated from `{source}` by this entry:

```yaml
{entry_yaml.rstrip()}
```
""",
    )

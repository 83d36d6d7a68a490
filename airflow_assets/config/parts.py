"""Validate a configuration part by part, so the valid sites and schemas of a file survive a broken one.

The DAG factory plans from the parts (a broken entry becomes a placeholder DAG); :func:`parse_config
<airflow_assets.config.loading.parse_config>` refuses the file when any part has a problem and otherwise
builds the whole :class:`~airflow_assets.config.backup_config.BackupConfig` from the parts, without
validating it a second time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from airflow_assets.config.alerts import AlertSettings
from airflow_assets.config.all_schemas import (
    ALL_SCHEMAS,
    SiteSchemas,
    all_schemas_problems,
    exclude_without_all_message,
)
from airflow_assets.config.backup_config import BackupConfig, settings_at
from airflow_assets.config.clashes import backed_up_twice_message, duplicate_message, site_clash_message
from airflow_assets.config.drills import DrilledSchema, DrillSettings, resolve_drilled
from airflow_assets.config.field_paths import ROOT_PATH, format_path
from airflow_assets.config.fields import SITE_NAME_PATTERN, check_site_name
from airflow_assets.config.problems import did_you_mean, problems_of
from airflow_assets.config.sites import SCHEMAS_HINT, SchemaEntry, SiteDefaults, SiteExclude, SiteSettings
from airflow_assets.config.storage import MongoSettings, RetentionPolicy


def _validate(
    model: type[BaseModel],
    data: Any,
    prefix: Sequence[str | int],
    written_in: type[BaseModel] | None = None,
) -> tuple[Any, list[str]]:
    try:
        return model.model_validate(data), []
    except ValidationError as error:
        return None, problems_of(error, prefix, written_in=written_in)


@dataclass(frozen=True)
class SchemaPart:
    """One schema entry of a site, validated on its own.

    :param index: position in the site's ``schemas`` list.
    :param key: the entry's key as written when it is a string (even an invalid one), else None.
    :param entry: the validated entry, or None when it has problems.
    :param problems: what is wrong with it (field paths from the top of the configuration).
    """

    index: int
    key: str | None
    entry: SchemaEntry | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class SitePart:
    """One site, validated on its own: its settings, and each schema entry separately.

    :param name: the site's name as written.
    :param defaults: the site's own settings (everything but ``schemas``), or None when they have problems.
    :param problems: problems of the site itself (name, settings, the ``schemas`` list as a whole).
    :param schemas: each schema entry; empty when ``schemas`` is not a list.
    :param raw: the site's settings as written, without ``schemas`` and ``exclude`` (for documentation).
    :param all_schemas: the site says ``schemas: "*"`` (every schema it has; ``schemas`` is then empty).
    :param exclude: the keys a ``"*"`` site leaves out.
    """

    name: str
    defaults: SiteDefaults | None
    problems: tuple[str, ...]
    schemas: tuple[SchemaPart, ...]
    raw: Mapping[str, Any] = field(default_factory=dict)
    all_schemas: bool = False
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConfigParts:
    """A configuration validated part by part, so valid parts survive a broken neighbour.

    :param problems: problems of the document as a whole (not a mapping, unknown top-level keys, ``mongo``,
        ``sites`` not a non-empty mapping); when any, nothing else can be trusted.
    :param mongo: the storage settings, or None when they have problems.
    :param retention: the retention policy, or None when it has problems.
    :param retention_problems: what is wrong with ``retention``.
    :param sites: each site in config order.
    :param alerts: the alert settings, or None when they have problems.
    :param alerts_problems: what is wrong with ``alerts``.
    """

    problems: tuple[str, ...]
    mongo: MongoSettings | None
    retention: RetentionPolicy | None
    retention_problems: tuple[str, ...]
    sites: tuple[SitePart, ...]
    alerts: AlertSettings | None = None
    alerts_problems: tuple[str, ...] = ()
    drills: DrillSettings | None = None
    drills_problems: tuple[str, ...] = ()
    drilled: tuple[DrilledSchema, ...] = ()

    def all_problems(self) -> list[str]:
        """Return every problem of the configuration, top level first."""
        problems = [*self.problems]
        for site in self.sites:
            problems += site.problems
            for schema in site.schemas:
                problems += schema.problems
        return [
            *problems, *self.retention_problems, *self.alerts_problems, *self.drills_problems
        ]  # fmt: skip

    def config(self) -> BackupConfig:
        """Return the whole configuration, built from the parts as they were validated (not a second time).

        :raises ValueError: when any part has a problem (see :meth:`all_problems`).
        """
        if self.all_problems() or self.mongo is None or self.retention is None or self.alerts is None:
            raise ValueError("the configuration has problems: only a valid one can be built from its parts")
        sites = {}
        for site in self.sites:
            assert site.defaults is not None  # a site without settings has problems
            entries = [schema.entry for schema in site.schemas if schema.entry is not None]
            every: dict[str, Any] = (
                {"schemas": ALL_SCHEMAS, "exclude": list(site.exclude)} if site.all_schemas else {}
            )
            sites[site.name] = SiteSettings.model_construct(
                site.defaults.model_fields_set | {"schemas"} | set(every),
                **{**dict(site.defaults), "schemas": entries, **every},
            )
        return BackupConfig.model_construct(
            mongo=self.mongo, sites=sites, retention=self.retention, alerts=self.alerts, drills=self.drills
        )


def validate_parts(data: Any) -> ConfigParts:
    """Validate parsed YAML part by part: top level, ``mongo``, ``retention``, each site, each schema entry.

    :param data: the configuration as plain data (what :func:`read_yaml` returns).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        problem = f"{ROOT_PATH}: the configuration must be a mapping with mongo, sites and retention"
        return ConfigParts((problem,), None, None, (), ())
    problems: list[str] = []
    for name in data:
        if name not in BackupConfig.model_fields:
            sections = settings_at([str(name)])
            hint = did_you_mean(str(name), sections) or f" (allowed: {', '.join(sections)})"
            problems.append(f"{format_path([str(name)])}: unknown setting{hint}")
    mongo, mongo_problems = _validate(MongoSettings, data.get("mongo") or {}, ["mongo"])
    problems += mongo_problems
    retention, retention_problems = _validate(RetentionPolicy, data.get("retention") or {}, ["retention"])
    alerts, alerts_problems = _validate(AlertSettings, data.get("alerts") or {}, ["alerts"])
    raw_sites = data.get("sites")
    sites: list[SitePart] = []
    if not isinstance(raw_sites, Mapping) or not raw_sites:
        problems.append(
            "sites: required: a mapping of site names to their settings, with at least one site "
            "(e.g. sites: {prod: {conn_id: jira_assets_default, schemas: [ITAM]}})"
        )
    else:
        seen_lower: dict[str, str] = {}
        for name, raw_site in raw_sites.items():
            site = _validate_site(str(name), raw_site)
            if not isinstance(name, str):
                problem = (
                    f"{format_path(['sites', str(name)])}: a site name must be text, and YAML read this one "
                    f'as a {_yaml_type(name)}: put it in quotes (e.g. "prod": or "yes":)'
                )
                site = dataclasses.replace(site, defaults=None, problems=(problem, *site.problems))
            clash = seen_lower.get(str(name).lower())
            if clash is not None:
                problem = f"{format_path(['sites', str(name)])}: {site_clash_message(str(name), [clash])}"
                site = dataclasses.replace(site, problems=(problem, *site.problems))
            seen_lower.setdefault(str(name).lower(), str(name))
            sites.append(site)
        sites = _refuse_schemas_backed_up_twice(sites)
        sites = _refuse_every_schema_clashes(sites)
    drills, drills_problems, drilled = _validate_drills(data.get("drills"), sites)
    return ConfigParts(
        tuple(problems),
        mongo,
        retention,
        tuple(retention_problems),
        tuple(sites),
        alerts,
        tuple(alerts_problems),
        drills,
        tuple(drills_problems),
        tuple(drilled),
    )


def _validate_drills(
    raw: Any, sites: Sequence[SitePart]
) -> tuple[DrillSettings | None, list[str], list[DrilledSchema]]:
    """Validate ``drills`` (absent: no drills), then its schemas and target against the valid sites."""
    if raw is None:
        return None, [], []
    drills, problems = _validate(DrillSettings, raw, ["drills"])
    if drills is None:
        return None, problems, []
    valid = [site for site in sites if not site.problems and site.defaults is not None]
    keys = {site.name: [s.entry.key for s in site.schemas if s.entry is not None] for site in valid}
    connections = {site.name: site.defaults.conn_id for site in sites if site.defaults is not None}
    every = {site.name: site.exclude for site in valid if site.all_schemas}
    drilled, problems = resolve_drilled(drills, keys, connections, every)
    return (None if problems else drills), problems, drilled


def _yaml_type(value: Any) -> str:
    """Name what YAML made of an unquoted key: ``yes``/``on`` become booleans, ``1`` a number, ``~`` null."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__


def _refuse_schemas_backed_up_twice(sites: list[SitePart]) -> list[SitePart]:
    """Refuse a schema that a second site with the same connection (the same Jira site) lists again.

    The first entry keeps its DAG; the later one gets the problem, naming the first.
    """
    first: dict[tuple[str, str], tuple[str, int]] = {}
    checked = []
    for site in sites:
        if site.defaults is None:
            checked.append(site)
            continue
        schemas = []
        for part in site.schemas:
            if part.entry is not None:
                earlier = first.setdefault((site.defaults.conn_id, part.entry.key), (site.name, part.index))
                if earlier[0] != site.name:
                    where = format_path(["sites", site.name, "schemas", part.index, "key"])
                    message = backed_up_twice_message(part.entry.key, site.defaults.conn_id, *earlier)
                    part = SchemaPart(part.index, part.key, None, (*part.problems, f"{where}: {message}"))
            schemas.append(part)
        checked.append(dataclasses.replace(site, schemas=tuple(schemas)))
    return checked


def _refuse_every_schema_clashes(sites: list[SitePart]) -> list[SitePart]:
    """Refuse a ``schemas: "*"`` site that would back up a connection twice or take another DAG's id."""
    described = [
        SiteSchemas(
            site.name,
            site.defaults.conn_id,
            site.all_schemas,
            tuple(part.entry.key for part in site.schemas if part.entry is not None),
        )
        for site in sites
        if site.defaults is not None
    ]
    problems = all_schemas_problems(described)
    return [
        dataclasses.replace(
            site,
            problems=(
                *site.problems,
                f"{format_path(['sites', site.name, 'schemas'])}: {problems[site.name]}",
            ),
        )
        if site.name in problems
        else site
        for site in sites
    ]


def _validate_every_schema(
    raw_site: Mapping[str, Any], prefix: list[str | int]
) -> tuple[bool, tuple[str, ...], list[str]]:
    """Validate ``schemas: "*"`` and ``exclude``: whether the site backs up every schema, and what not."""
    every = raw_site.get("schemas") == ALL_SCHEMAS
    if "exclude" not in raw_site:
        return every, (), []
    if not every:
        return every, (), [f"{format_path([*prefix, 'exclude'])}: {exclude_without_all_message()}"]
    parsed, problems = _validate(SiteExclude, {"exclude": raw_site["exclude"]}, prefix)
    return every, tuple(parsed.exclude) if parsed is not None else (), problems


def _validate_site(name: str, raw_site: Any) -> SitePart:
    prefix: list[str | int] = ["sites", name]
    problems: list[str] = []
    if not SITE_NAME_PATTERN.match(name):
        try:
            check_site_name(name)
        except ValueError as error:
            problems.append(f"{format_path(prefix)}: {error}")
    if not isinstance(raw_site, Mapping):
        problems.append(
            f"{format_path(prefix)}: a site is a mapping of its settings, e.g. "
            "{conn_id: jira_assets_default, schemas: [ITAM]}"
        )
        return SitePart(name, None, tuple(problems), ())
    own = {key: value for key, value in raw_site.items() if key not in ("schemas", "exclude")}
    defaults, site_problems = _validate(SiteDefaults, own, prefix, written_in=SiteSettings)
    problems += site_problems
    every, exclude, every_problems = _validate_every_schema(raw_site, prefix)
    problems += every_problems
    raw_schemas = raw_site.get("schemas")
    schemas: list[SchemaPart] = []
    if every:
        pass
    elif not isinstance(raw_schemas, list) or not raw_schemas:
        problems.append(f"{format_path([*prefix, 'schemas'])}: required: {SCHEMAS_HINT}")
    else:
        seen: dict[str, int] = {}
        for index, raw_entry in enumerate(raw_schemas):
            entry_prefix = [*prefix, "schemas", index]
            entry, entry_problems = _validate(SchemaEntry, raw_entry, entry_prefix)
            written = raw_entry.get("key") if isinstance(raw_entry, Mapping) else raw_entry
            key = written if isinstance(written, str) else None
            if entry is not None and entry.key in seen:
                entry_problems.append(
                    f"{format_path([*entry_prefix, 'key'])}: {duplicate_message(entry.key)} "
                    f"(first at schemas[{seen[entry.key]}])"
                )
                entry = None
            elif entry is not None:
                seen[entry.key] = index
            schemas.append(SchemaPart(index, key, entry, tuple(entry_problems)))
    return SitePart(name, defaults, tuple(problems), tuple(schemas), own, every, exclude)

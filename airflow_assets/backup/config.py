"""The backup configuration: which object schemas of which sites to back up, when, and how long to keep them.

A data-platform team lists the schemas to protect in one YAML file (``JIRA_ASSETS_CONFIG``, default
``dags/jira_assets.yaml``). Everything here is plain Python and pydantic: no Airflow import, so the DAG
factory, the CLI and the tests read the same typed settings.

Every problem is reported with the exact field it concerns, e.g. ``sites.prod.schemas[2].key: ...``.
Validation also works part by part (:func:`validate_parts`), so the DAG factory can keep the valid sites and
schemas of a file when one entry is broken.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic import model_validator as _model_validator
from pydantic_core import PydanticCustomError

from airflow_assets.exceptions import AssetsConfigError
from airflow_assets.messages import cut, shown
from airflow_assets.store.database_name import check_database_name

CONFIG_ENV_VAR = "JIRA_ASSETS_CONFIG"
DEFAULT_CONFIG_PATH = Path("dags/jira_assets.yaml")

SITE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
SCHEMA_KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
CONN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
# A site's schemas backed up at once share its rate limits (each gets 1 / parallel_schemas of every budget)
# and its pool has 2 slots per schema. At 64, each task's share of a 1000/min budget is about 15 calls a
# minute, already slower than one schema alone; more only adds waiting tasks and pool slots. A larger
# value is a typo (1e12), not a plan.
MAX_PARALLEL_SCHEMAS = 64
# A schedule must fire within this many years: 29 February fires every 4 years, 30 February never.
CRON_HORIZON_YEARS = 5
# Airflow's own cron presets (airflow.utils.dates.cron_presets); "@once" is no backup schedule.
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
ROOT_PATH = "(top level)"


def config_path() -> Path:
    """Return the configuration file's path: ``$JIRA_ASSETS_CONFIG``, else ``dags/jira_assets.yaml``."""
    value = os.environ.get(CONFIG_ENV_VAR, "").strip()
    return Path(value) if value else DEFAULT_CONFIG_PATH


class BackupConfigError(AssetsConfigError):
    """The backup configuration is invalid: every problem, one per line, each starting with its field path.

    :param problems: one message per problem, e.g. ``sites.prod.schemas[2].key: ...``.
    :param source: the file (or other source) the configuration came from.
    """

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # The constructor takes the problem list, not the message: rebuild from it (process pools, XCom).
        return (type(self), (self.problems, self.source))


# -- field checks ---------------------------------------------------------------------------------------


def _check_site_name(name: str) -> str:
    if not SITE_NAME_PATTERN.match(name):
        raise ValueError(
            f"site name {shown(name)} may hold only letters, digits and underscores (it becomes part of "
            "DAG ids and pool names)"
        )
    return name


def _refuse_yaml_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        # YAML 1.1 reads unquoted NO, ON, YES, OFF (valid Assets keys) as booleans.
        raise ValueError(f'YAML read this key as the boolean {value}: quote it, e.g. "NO"')
    return value


def _check_schema_key(key: str) -> str:
    if not SCHEMA_KEY_PATTERN.match(key):
        hint = f" (did you mean {shown(key.upper())}?)" if SCHEMA_KEY_PATTERN.match(key.upper()) else ""
        raise ValueError(
            f"{shown(key)} is not an Assets schema key: 2-10 uppercase letters and digits, starting with a "
            f"letter{hint}"
        )
    return key


def _check_cron(expression: str) -> str:
    if expression in CRON_PRESETS:
        return expression
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"{shown(expression)} is not a cron expression: it needs 5 fields (minute hour day month "
            f"weekday), e.g. '0 2 * * *', or one of {', '.join(CRON_PRESETS)}"
        )
    try:
        from croniter import croniter
    except ImportError:  # pragma: no cover - Airflow ships croniter
        valid = all(re.fullmatch(r"[0-9A-Za-z*/,?LW#-]+", part) for part in fields)
    else:
        valid = bool(croniter.is_valid(expression))
        if valid and not _fires(croniter, expression):
            # A backup that never runs looks configured and protects nothing.
            raise ValueError(
                f"{shown(expression)} never fires (no date matches it within {CRON_HORIZON_YEARS} years, "
                "e.g. 30 February): check its day and month fields"
            )
    if not valid:
        raise ValueError(
            f"{shown(expression)} is not a valid cron expression (minute hour day month weekday)"
        )
    return expression


def _fires(croniter: Any, expression: str) -> bool:
    """Tell whether a valid cron expression has a fire time within :data:`CRON_HORIZON_YEARS`."""
    now = datetime.now(UTC)
    try:
        # Bounded: croniter raises CroniterBadDateError after that many years without a match, not loops.
        following = croniter(expression, now, max_years_between_matches=CRON_HORIZON_YEARS).get_next(datetime)
    except Exception:  # CroniterBadDateError, or any other croniter failure on an impossible date
        return False
    return isinstance(following, datetime) and following.year - now.year <= CRON_HORIZON_YEARS


def _check_parallel_schemas(count: int) -> int:
    if count > MAX_PARALLEL_SCHEMAS:
        raise ValueError(
            f"{count} is more than {MAX_PARALLEL_SCHEMAS}, the most schemas of one site that may back up at "
            "the same time (they share the site's rate limits: more only wait for each other)"
        )
    return count


def _check_timezone(name: str) -> str:
    try:
        import pendulum

        pendulum.timezone(name)
    except ImportError:  # pragma: no cover - pendulum is a dependency
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"{shown(name)} is not an IANA time zone, e.g. 'UTC' or 'Europe/Berlin'"
            ) from error
    except Exception as error:
        raise ValueError(f"{shown(name)} is not an IANA time zone, e.g. 'UTC' or 'Europe/Berlin'") from error
    return name


def _check_conn_id(conn_id: str) -> str:
    if not CONN_ID_PATTERN.match(conn_id):
        raise ValueError(
            f"{shown(conn_id)} is not a connection id: use letters, digits, '_', '.' and '-' only, not empty"
        )
    return conn_id


def _check_mongo_database(name: str) -> str:
    return check_database_name(name)


SiteName = Annotated[str, AfterValidator(_check_site_name)]
SchemaKey = Annotated[str, BeforeValidator(_refuse_yaml_boolean), AfterValidator(_check_schema_key)]
CronExpression = Annotated[str, AfterValidator(_check_cron)]
TimezoneName = Annotated[str, AfterValidator(_check_timezone)]
ParallelSchemas = Annotated[int, AfterValidator(_check_parallel_schemas)]
ConnId = Annotated[str, AfterValidator(_check_conn_id)]
MongoDatabaseName = Annotated[str, AfterValidator(_check_mongo_database)]

# Strict: "yes" is not a boolean and "7" not a number; YAML already gives real booleans and integers.
_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True)


# -- models ---------------------------------------------------------------------------------------------


class MongoSettings(BaseModel):
    """Where backups are stored: an Airflow ``mongo`` connection and the database in it."""

    model_config = _MODEL_CONFIG

    conn_id: ConnId = "jira_assets_backup"
    database: MongoDatabaseName = "jira_assets"


class IncludeSettings(BaseModel):
    """What a backup fetches besides objects, object types, attributes and references."""

    model_config = _MODEL_CONFIG

    history: bool = True
    comments: bool = True
    connected_tickets: bool = False

    def merged(self, override: IncludeOverride | None) -> IncludeSettings:
        """Return these settings with every field the override sets replaced."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class IncludeOverride(BaseModel):
    """A schema's changes to its site's :class:`IncludeSettings`; unset fields keep the site's value."""

    model_config = _MODEL_CONFIG

    history: bool | None = None
    comments: bool | None = None
    connected_tickets: bool | None = None


class SchemaEntry(BaseModel):
    """One object schema to back up, with optional overrides of its site's settings.

    In YAML a bare string means ``{key: <string>}``.
    """

    model_config = _MODEL_CONFIG

    key: SchemaKey
    schedule: CronExpression | None = None
    timezone: TimezoneName | None = None
    include: IncludeOverride | None = None
    full_sweep_every: int | None = Field(default=None, ge=1)

    @_model_validator(mode="before")
    @classmethod
    def _coerce_bare_key(cls, data: Any) -> Any:
        if isinstance(data, str | bool):
            return {"key": data}
        if not isinstance(data, Mapping | SchemaEntry):
            raise PydanticCustomError(
                "schema_entry_type",
                "a schema entry is a key (ITAM) or a mapping such as {key: ITAM, schedule: '0 3 * * *'}",
            )
        return data


@dataclass(frozen=True)
class SchemaSettings:
    """The settings one schema's backup runs with: its entry's overrides applied to its site's settings."""

    site: str
    key: str
    conn_id: str
    schedule: str
    timezone: str
    include: IncludeSettings
    full_sweep_every: int
    parallel_schemas: int


class SiteDefaults(BaseModel):
    """A site's settings without its schema list: the part every schema of the site inherits."""

    model_config = _MODEL_CONFIG

    conn_id: ConnId = "jira_assets_default"
    schedule: CronExpression = "0 2 * * *"
    timezone: TimezoneName = "UTC"
    include: IncludeSettings = Field(default_factory=IncludeSettings)
    full_sweep_every: int = Field(default=7, ge=1)
    parallel_schemas: ParallelSchemas = Field(default=1, ge=1)

    def resolve(self, site_name: str, entry: SchemaEntry) -> SchemaSettings:
        """Return the settings of one schema entry of this site (the entry's fields win)."""
        return SchemaSettings(
            site=site_name,
            key=entry.key,
            conn_id=self.conn_id,
            schedule=entry.schedule or self.schedule,
            timezone=entry.timezone or self.timezone,
            include=self.include.merged(entry.include),
            full_sweep_every=entry.full_sweep_every or self.full_sweep_every,
            parallel_schemas=self.parallel_schemas,
        )


class SiteSettings(SiteDefaults):
    """One Jira site (an Assets workspace): its connection, defaults and the schemas to back up."""

    schemas: list[SchemaEntry] = Field(min_length=1)

    @_model_validator(mode="after")
    def _refuse_duplicate_keys(self) -> SiteSettings:
        for index in _duplicate_indexes(entry.key for entry in self.schemas):
            raise PydanticCustomError(
                "duplicate_schema_key",
                "{message}",
                {"index": index, "message": _duplicate_message(self.schemas[index].key)},
            )
        return self

    def schema_settings(self, site_name: str) -> list[SchemaSettings]:
        """Return the resolved settings of every schema of this site, in config order.

        :param site_name: the site's name in the configuration.
        """
        return [self.resolve(site_name, entry) for entry in self.schemas]


class RetentionPolicy(BaseModel):
    """How many snapshots to keep: the newest N, and the newest per day, week and month (restic's forget)."""

    model_config = _MODEL_CONFIG

    keep_last: int = Field(default=0, ge=0)
    keep_daily: int = Field(default=0, ge=0)
    keep_weekly: int = Field(default=0, ge=0)
    keep_monthly: int = Field(default=0, ge=0)

    def is_empty(self) -> bool:
        """Tell whether the policy keeps nothing (refused: it would forget every snapshot)."""
        return not (self.keep_last or self.keep_daily or self.keep_weekly or self.keep_monthly)


NOTIFIER_FIELDS = {"smtp": ("to",), "slack": ("channel",), "file": ("path",)}


class NotifierSettings(BaseModel):
    """Where failure alerts go: e-mail (smtp provider), Slack (slack provider) or a JSON-lines file.

    ``smtp``: ``to`` (addresses), optional ``from_email``, ``conn_id`` (default ``smtp_default``).
    ``slack``: ``channel``, optional ``conn_id`` (default ``slack_api_default``).
    ``file``: ``path``: one JSON line per alert (for a log shipper, or to test alerts).
    """

    model_config = _MODEL_CONFIG

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

    model_config = _MODEL_CONFIG

    schedule: CronExpression = "15 * * * *"
    max_age_hours: float | None = Field(default=None, gt=0)
    max_object_drop: float = Field(default=0.2, gt=0, le=1)


class AlertSettings(BaseModel):
    """Failure notifiers attached to every DAG of this package, and the monitor's thresholds."""

    model_config = _MODEL_CONFIG

    notify: list[NotifierSettings] = Field(default_factory=list)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)


class BackupConfig(BaseModel):
    """The whole backup configuration: storage, the sites with their schemas, retention and alerts."""

    model_config = _MODEL_CONFIG

    mongo: MongoSettings = Field(default_factory=MongoSettings)
    sites: dict[SiteName, SiteSettings] = Field(min_length=1)
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @_model_validator(mode="after")
    def _refuse_sites_equal_but_for_case(self) -> BackupConfig:
        names = list(self.sites)
        for index in _duplicate_indexes(name.lower() for name in names):
            raise PydanticCustomError(
                "duplicate_site_name",
                "{message}",
                {"site": names[index], "message": _site_clash_message(names[index], names)},
            )
        return self

    @_model_validator(mode="after")
    def _refuse_a_schema_backed_up_twice(self) -> BackupConfig:
        first: dict[tuple[str, str], tuple[str, int]] = {}
        for name, site in self.sites.items():
            for index, entry in enumerate(site.schemas):
                earlier = first.setdefault((site.conn_id, entry.key), (name, index))
                if earlier != (name, index):
                    raise PydanticCustomError(
                        "schema_backed_up_twice",
                        "{message}",
                        {
                            "site": name,
                            "index": index,
                            "message": _backed_up_twice_message(entry.key, site.conn_id, *earlier),
                        },
                    )
        return self

    def schema_settings(self) -> list[SchemaSettings]:
        """Return the resolved settings of every schema of every site, in config order."""
        return [settings for name, site in self.sites.items() for settings in site.schema_settings(name)]


def _duplicate_indexes(values: Iterable[Hashable]) -> list[int]:
    seen: set[Hashable] = set()
    duplicates = []
    for index, value in enumerate(values):
        if value in seen:
            duplicates.append(index)
        seen.add(value)
    return duplicates


def _duplicate_message(key: str) -> str:
    return f"schema {key!r} is listed more than once in this site"


def _backed_up_twice_message(key: str, conn_id: str, site: str, index: int) -> str:
    where = format_path(["sites", site, "schemas", index])
    return (
        f"schema {key!r} of connection {shown(conn_id)} is already backed up by {where}: both sites use "
        "that connection, so two DAGs would back up the same schema; list it in one site only"
    )


def _site_clash_message(name: str, names: Sequence[str]) -> str:
    other = next(other for other in names if other.lower() == name.lower())
    return f"site name {shown(name)} differs from {shown(other)} only in case (DAG ids are lowercase)"


# -- reading and part-by-part validation ----------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated in one mapping (PyYAML keeps the last silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the key {shown(key)} a second time (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        if isinstance(key, Hashable):
            seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def read_yaml(text: str, *, source: str = "<config>") -> Any:
    """Parse YAML into plain data; a syntax error becomes a :class:`BackupConfigError` naming file and line.

    :param text: the YAML document.
    :param source: where the text came from, for messages.
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
        what = " ".join(part for part in (error.context, error.problem) if part)
        raise BackupConfigError([f"{where}: invalid YAML: {what}"], source) from None
    except yaml.YAMLError as error:
        raise BackupConfigError([f"{source}: invalid YAML: {error}"], source) from None


def format_path(loc: Iterable[str | int]) -> str:
    """Render a location as ``sites.prod.schemas[2].key`` (indexes in brackets, odd names quoted)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif SITE_NAME_PATTERN.match(part):
            text += f".{cut(part)}" if text else cut(part)
        else:
            text += f"[{shown(part)}]"
    return text or ROOT_PATH


_MODELS = (
    MongoSettings,
    IncludeSettings,
    IncludeOverride,
    SchemaEntry,
    SiteDefaults,
    SiteSettings,
    RetentionPolicy,
    BackupConfig,
)
_MODEL_NAMES = frozenset(model.__name__ for model in _MODELS)
_KNOWN_FIELDS = sorted({name for model in _MODELS for name in model.model_fields})


def _clean_loc(loc: Iterable[str | int]) -> list[str | int]:
    # Union members and validator functions show up in pydantic's locations: not fields of the YAML.
    return [part for part in loc if isinstance(part, int) or ("[" not in part and part not in _MODEL_NAMES)]


def problems_of(error: ValidationError, prefix: Sequence[str | int] = ()) -> list[str]:
    """Turn a pydantic error into problem lines, each starting with the field path.

    :param error: the validation error.
    :param prefix: the location of the validated part inside the whole configuration.
    """
    problems = []
    for detail in error.errors(include_url=False):
        loc = [*prefix, *_clean_loc(detail["loc"])]
        context = detail.get("ctx") or {}
        kind = detail["type"]
        message = detail["msg"]
        if kind == "duplicate_schema_key":
            loc += ["schemas", context["index"], "key"]
        elif kind == "schema_backed_up_twice":
            loc += ["sites", context["site"], "schemas", context["index"], "key"]
        elif kind == "duplicate_site_name":
            loc += [context["site"]]
        elif kind == "extra_forbidden":
            name = str(loc[-1]) if loc else ""
            close = difflib.get_close_matches(name, _KNOWN_FIELDS, n=1)
            message = "unknown setting" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif kind == "missing":
            message = "required, but missing"
        message = message.removeprefix("Value error, ")
        problems.append(f"{format_path(loc)}: {message}")
    return problems


def _validate(model: type[BaseModel], data: Any, prefix: Sequence[str | int]) -> tuple[Any, list[str]]:
    try:
        return model.model_validate(data), []
    except ValidationError as error:
        return None, problems_of(error, prefix)


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
    :param raw: the site's settings as written, without ``schemas`` (for documentation).
    """

    name: str
    defaults: SiteDefaults | None
    problems: tuple[str, ...]
    schemas: tuple[SchemaPart, ...]
    raw: Mapping[str, Any] = field(default_factory=dict)


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

    def all_problems(self) -> list[str]:
        """Return every problem of the configuration, top level first."""
        problems = [*self.problems]
        for site in self.sites:
            problems += site.problems
            for schema in site.schemas:
                problems += schema.problems
        return problems + list(self.retention_problems) + list(self.alerts_problems)


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
            close = difflib.get_close_matches(str(name), list(BackupConfig.model_fields), n=1)
            hint = (
                f" (did you mean {close[0]!r}?)" if close else " (allowed: mongo, sites, retention, alerts)"
            )
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
            clash = seen_lower.get(str(name).lower())
            if clash is not None:
                problem = f"{format_path(['sites', str(name)])}: {_site_clash_message(str(name), [clash])}"
                site = SitePart(site.name, site.defaults, (problem, *site.problems), site.schemas, site.raw)
            seen_lower.setdefault(str(name).lower(), str(name))
            sites.append(site)
        sites = _refuse_schemas_backed_up_twice(sites)
    return ConfigParts(
        tuple(problems),
        mongo,
        retention,
        tuple(retention_problems),
        tuple(sites),
        alerts,
        tuple(alerts_problems),
    )


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
                    message = _backed_up_twice_message(part.entry.key, site.defaults.conn_id, *earlier)
                    part = SchemaPart(part.index, part.key, None, (*part.problems, f"{where}: {message}"))
            schemas.append(part)
        checked.append(dataclasses.replace(site, schemas=tuple(schemas)))
    return checked


def _validate_site(name: str, raw_site: Any) -> SitePart:
    prefix: list[str | int] = ["sites", name]
    problems: list[str] = []
    if not SITE_NAME_PATTERN.match(name):
        try:
            _check_site_name(name)
        except ValueError as error:
            problems.append(f"{format_path(prefix)}: {error}")
    if not isinstance(raw_site, Mapping):
        problems.append(
            f"{format_path(prefix)}: a site is a mapping of its settings, e.g. "
            "{conn_id: jira_assets_default, schemas: [ITAM]}"
        )
        return SitePart(name, None, tuple(problems), ())
    own = {key: value for key, value in raw_site.items() if key != "schemas"}
    defaults, site_problems = _validate(SiteDefaults, own, prefix)
    problems += site_problems
    raw_schemas = raw_site.get("schemas")
    schemas: list[SchemaPart] = []
    if not isinstance(raw_schemas, list) or not raw_schemas:
        problems.append(
            f"{format_path([*prefix, 'schemas'])}: required: a list of at least one schema key, "
            "e.g. [ITAM, PEOPLE]"
        )
    else:
        seen: dict[str, int] = {}
        for index, raw_entry in enumerate(raw_schemas):
            entry_prefix = [*prefix, "schemas", index]
            entry, entry_problems = _validate(SchemaEntry, raw_entry, entry_prefix)
            written = raw_entry.get("key") if isinstance(raw_entry, Mapping) else raw_entry
            key = written if isinstance(written, str) else None
            if entry is not None and entry.key in seen:
                entry_problems.append(
                    f"{format_path([*entry_prefix, 'key'])}: {_duplicate_message(entry.key)} "
                    f"(first at schemas[{seen[entry.key]}])"
                )
                entry = None
            elif entry is not None:
                seen[entry.key] = index
            schemas.append(SchemaPart(index, key, entry, tuple(entry_problems)))
    return SitePart(name, defaults, tuple(problems), tuple(schemas), own)


def parse_config(text: str, *, source: str = "<config>") -> BackupConfig:
    """Parse and validate a YAML configuration.

    :param text: the YAML document.
    :param source: where it came from (a file path), for messages.
    :raises BackupConfigError: listing every problem with its field path.
    """
    data = read_yaml(text, source=source)
    problems = validate_parts(data).all_problems()
    if problems:
        raise BackupConfigError(problems, source)
    try:
        return BackupConfig.model_validate(data or {})
    except ValidationError as error:  # pragma: no cover - validate_parts checks the same rules
        raise BackupConfigError(problems_of(error), source) from None


def read_config_text(path: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """Read the configuration file; return its text and its path as a string.

    :param path: the file; default :func:`config_path`.
    :raises BackupConfigError: when the file cannot be read (missing, a directory, no permission, not UTF-8).
    """
    file = Path(path) if path is not None else config_path()
    source = str(file)
    try:
        return file.read_text(encoding="utf-8"), source
    except FileNotFoundError:
        raise BackupConfigError(
            [
                f"{source}: configuration file not found (working directory {Path.cwd()}); create it from "
                f"dags/jira_assets.example.yaml or point {CONFIG_ENV_VAR} at it"
            ],
            source,
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise BackupConfigError([f"{source}: cannot read the configuration file: {error}"], source) from None


def load_config(path: str | os.PathLike[str] | None = None) -> BackupConfig:
    """Read and validate the configuration file.

    :param path: the file; default ``$JIRA_ASSETS_CONFIG``, else ``dags/jira_assets.yaml``.
    :raises BackupConfigError: when the file cannot be read or is invalid, listing every problem.
    """
    text, source = read_config_text(path)
    return parse_config(text, source=source)

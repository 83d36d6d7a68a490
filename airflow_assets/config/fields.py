"""The checks of single values in the configuration: names, keys, schedules, time zones, connection ids.

Each check raises ``ValueError`` with a message that names the value (cut when long); pydantic puts the
field path in front of it. The ``Annotated`` types at the end attach the checks to the models' fields, and
:data:`MODEL_CONFIG` is the strictness every model shares.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict

from airflow_assets.messages import shown
from airflow_assets.store.database_name import check_database_name

SITE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
SCHEMA_KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
CONN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
# A site's schemas backed up at once draw from one shared rate budget per endpoint (the backup store's) and
# its pool has 2 slots per schema (and one to list ahead): parallel_schemas caps how many run, it does not
# split the budget. At 64, a 1000/min budget gives each schema about 15 calls a minute; more only adds
# waiting tasks and pool slots.
# A larger value is a typo (1e12), not a plan.
MAX_PARALLEL_SCHEMAS = 64
# A schedule must fire within this many years: 29 February fires every 4 years, 30 February never.
CRON_HORIZON_YEARS = 5
# Airflow's own cron presets (airflow.utils.dates.cron_presets); "@once" is no backup schedule.
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def check_site_name(name: str) -> str:
    """Return a site name that may be part of DAG ids and pool names; raise ``ValueError`` otherwise."""
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
        if key == "*":
            hint = ' (for every schema of the site write schemas: "*", not in a list)'
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


SiteName = Annotated[str, AfterValidator(check_site_name)]
SchemaKey = Annotated[str, BeforeValidator(_refuse_yaml_boolean), AfterValidator(_check_schema_key)]
CronExpression = Annotated[str, AfterValidator(_check_cron)]
TimezoneName = Annotated[str, AfterValidator(_check_timezone)]
ParallelSchemas = Annotated[int, AfterValidator(_check_parallel_schemas)]
ConnId = Annotated[str, AfterValidator(_check_conn_id)]
MongoDatabaseName = Annotated[str, AfterValidator(_check_mongo_database)]

# Strict: "yes" is not a boolean and "7" not a number; YAML already gives real booleans and integers.
MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True)

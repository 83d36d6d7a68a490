"""The ``drills`` section: which schemas the weekly restore drill restores, into which site, how often.

A drill restores a schema's latest complete snapshot into a scratch schema on ``target_conn_id``, verifies
it, records the RTO and deletes the scratch schema. ``schemas`` names configured schemas: ``KEY`` when one
site backs that key up, ``site/KEY`` when several do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field
from pydantic import field_validator as _field_validator

from airflow_assets.config.field_paths import format_path
from airflow_assets.config.fields import MODEL_CONFIG, ConnId, CronExpression, TimezoneName
from airflow_assets.messages import shown

# Sundays at 05:00: after the nightly backups (02:00 by default) and retention (04:30).
DEFAULT_DRILL_SCHEDULE = "0 5 * * 0"
# At the documented 2000 creates a minute, 10,000 objects take about five minutes of object writes.
DEFAULT_MAX_OBJECTS = 10_000


class DrillSettings(BaseModel):
    """The restore drills: the target site, the drilled schemas, the schedule and the size cap.

    :param target_conn_id: the ``jira_assets`` connection drills restore into (a staging site or sandbox).
    :param schemas: the drilled schemas: ``KEY`` or ``site/KEY`` of configured schemas.
    :param schedule: when drills run (cron; default Sundays 05:00).
    :param timezone: the time zone of the schedule.
    :param max_objects: a snapshot with more objects is drilled in part: whole object types in restore
        order (with the types they need) up to this many objects; the drill is recorded as partial.
    :param allow_backed_up_site: allow a target that is the connection of a backed-up site (scratch
        schemas then appear for a while on that production site).
    """

    model_config = MODEL_CONFIG

    target_conn_id: ConnId
    schemas: list[str] = Field(min_length=1)
    schedule: CronExpression = DEFAULT_DRILL_SCHEDULE
    timezone: TimezoneName = "UTC"
    max_objects: int = Field(default=DEFAULT_MAX_OBJECTS, ge=1)
    allow_backed_up_site: bool = False

    @_field_validator("schemas")
    @classmethod
    def _refuse_repeats(cls, schemas: list[str]) -> list[str]:
        seen = set()
        for entry in schemas:
            if entry in seen:
                raise ValueError(f"{shown(entry)} is listed more than once")
            seen.add(entry)
        return schemas


@dataclass(frozen=True)
class DrilledSchema:
    """One schema a drill restores: the config's site and the schema key."""

    site: str
    schema_key: str

    @property
    def name(self) -> str:
        """Return ``site/KEY``."""
        return f"{self.site}/{self.schema_key}"


def resolve_drilled(
    drills: DrillSettings,
    site_schemas: Mapping[str, Sequence[str]],
    site_connections: Mapping[str, str],
    every_schema_sites: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[DrilledSchema], list[str]]:
    """Return the drilled schemas, and every problem of the section against the configured sites.

    :param site_schemas: site name -> the schema keys it backs up (valid sites and entries only).
    :param site_connections: site name -> its ``jira_assets`` connection.
    :param every_schema_sites: site name -> the keys it excludes, of each site with ``schemas: "*"``: its
        schemas are known only at run time, so ``site/KEY`` takes any key it does not exclude, and a bare
        ``KEY`` no named site backs up is that site's when it is the only such site.
    """
    every = dict(every_schema_sites or {})
    problems: list[str] = []
    found: list[DrilledSchema] = []
    for index, entry in enumerate(drills.schemas):
        where = format_path(["drills", "schemas", index])
        site, _, key = entry.rpartition("/")
        if site:
            if site in every:
                if key in every[site]:
                    problems.append(f"{where}: site {site} excludes {shown(key)}: it has no backup to drill")
                else:
                    found.append(DrilledSchema(site, key))
            elif site not in site_schemas:
                problems.append(
                    f"{where}: {shown(entry)} names site {shown(site)}, which the config does not have "
                    f"(sites: {', '.join([*site_schemas, *every]) or 'none'})"
                )
            elif key not in site_schemas[site]:
                problems.append(
                    f"{where}: site {site} backs up no schema {shown(key)} "
                    f"(its schemas: {', '.join(site_schemas[site])})"
                )
            else:
                found.append(DrilledSchema(site, key))
            continue
        sites = [name for name, keys in site_schemas.items() if key in keys]
        if not sites and len(every) == 1 and key not in next(iter(every.values())):
            sites = list(every)
        if not sites:
            known = sorted({k for keys in site_schemas.values() for k in keys})
            problems.append(
                f"{where}: no site backs up a schema {shown(key)}: a drill restores a backed-up schema "
                f"(configured: {', '.join(known) or 'none'})"
            )
        elif len(sites) > 1:
            problems.append(
                f"{where}: sites {', '.join(sites)} all back up {key}: name one, e.g. {sites[0]}/{key}"
            )
        else:
            found.append(DrilledSchema(sites[0], key))
    if len({(d.site, d.schema_key) for d in found}) < len(found):
        problems.append(
            f"{format_path(['drills', 'schemas'])}: a schema is listed twice (as KEY and site/KEY)"
        )
    backed_up = [name for name, conn_id in site_connections.items() if conn_id == drills.target_conn_id]
    if backed_up and not drills.allow_backed_up_site:
        problems.append(
            f"{format_path(['drills', 'target_conn_id'])}: {drills.target_conn_id} is the connection of the "
            f"backed-up site {', '.join(backed_up)}: drills create and delete scratch schemas on their "
            "target, so point it at a staging site (or set allow_backed_up_site: true)"
        )
    return found, problems

"""The rules of ``schemas: "*"`` (every schema of a site) across sites, said in one place.

A site with ``schemas: "*"`` gets one DAG, ``jira_assets_backup_<site>``, that lists the site's schemas when
it runs. Schemas that another site of the same connection lists by name keep their own DAGs and are left out
of the listing. Two such sites of one connection would back up every schema twice; a site DAG id equal to a
schema DAG's id would hide one of them. Both the whole-config model and the part-by-part validation refuse
these in the words kept here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_assets.config.field_paths import format_path
from airflow_assets.messages import shown

ALL_SCHEMAS = "*"
# The DAG ids of the placeholder of a broken file: a site of that name would take it.
RESERVED_SITE_NAMES = ("config_error",)


@dataclass(frozen=True)
class SiteSchemas:
    """What the cross-site rules need of one site: its name, connection and schemas.

    :param name: the site's name in the configuration.
    :param conn_id: its ``jira_assets`` connection.
    :param all_schemas: it says ``schemas: "*"``.
    :param keys: the schema keys it lists by name (empty with ``"*"``).
    """

    name: str
    conn_id: str
    all_schemas: bool
    keys: tuple[str, ...] = ()


def all_schemas_problems(sites: Sequence[SiteSchemas]) -> dict[str, str]:
    """Return the problem of each ``"*"`` site that breaks a rule across sites, by site name.

    The first ``"*"`` site of a connection keeps its DAG; a later one gets the problem.
    """
    problems: dict[str, str] = {}
    first_by_conn: dict[str, str] = {}
    named_ids = {
        f"{site.name}_{key}".lower(): (site.name, index)
        for site in sites
        for index, key in enumerate(site.keys)
    }
    for site in sites:
        if not site.all_schemas:
            continue
        earlier = first_by_conn.setdefault(site.conn_id, site.name)
        clash = named_ids.get(site.name.lower())
        if site.name.lower() in RESERVED_SITE_NAMES:
            problems[site.name] = (
                f"a site named {shown(site.name)} cannot back up every schema: its DAG id would be the one "
                "of the broken-configuration placeholder; rename the site"
            )
        elif earlier != site.name:
            problems[site.name] = (
                f"{format_path(['sites', earlier, 'schemas'])} already backs up every schema of connection "
                f'{shown(site.conn_id)}: a second "*" site would back up each schema twice; keep one'
            )
        elif clash is not None:
            where = format_path(["sites", clash[0], "schemas", clash[1]])
            problems[site.name] = (
                f"the DAG of every schema of this site, jira_assets_backup_{site.name.lower()}, would have "
                f"the id of the DAG of {where}; rename one of the sites"
            )
    return problems


def exclude_without_all_message() -> str:
    """Say that ``exclude`` applies only to a site with ``schemas: "*"``."""
    return (
        'exclude applies only to schemas: "*" (every schema of the site); list the schemas to back up '
        'instead, or write schemas: "*"'
    )

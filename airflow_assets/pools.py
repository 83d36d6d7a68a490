"""The Airflow pools the backups run in: one per site, so a site's tasks share its Assets API budget.

The scheduler never runs a task whose pool does not exist (it waits forever), so pools are created at deploy
time: ``airflow-assets pools create``. :func:`pool_specs` is plain Python; :func:`apply_pools` and
:func:`missing_pools` use Airflow's metadata database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from airflow_assets.config.backup_config import BackupConfig
from airflow_assets.dags.plan import pool_name

# History and comments of one schema run side by side: two API tasks per schema that may back up at once.
TASKS_PER_SCHEMA = 2
# One more slot, so the next schema's listing (export_config, export_objects) runs while a schema's history
# and comments hold the others: the history and comment classes of the budget never wait for a listing. A
# freed slot goes first to a step that ends a run, then to a listed schema's per-object step, then to a
# listing (dags.factory.FINISH_FIRST); a third per-object step in it makes no call faster or slower, as the
# budget is shared.
LISTING_AHEAD_SLOTS = 1


@dataclass(frozen=True)
class PoolSpec:
    """An Airflow pool to create: its name, slots and description."""

    name: str
    slots: int
    description: str


def pool_specs(config: BackupConfig, *, slots: int | None = None) -> list[PoolSpec]:
    """Return the pool of every configured site, in config order.

    :param config: the backup configuration.
    :param slots: slots for every pool; default ``2 x parallel_schemas + 1`` of each site.
    """
    return [
        PoolSpec(
            name=pool_name(site_name),
            slots=slots
            if slots is not None
            else TASKS_PER_SCHEMA * site.parallel_schemas + LISTING_AHEAD_SLOTS,
            description=f"Jira Assets API tasks of site {site_name}",
        )
        for site_name, site in config.sites.items()
    ]


def apply_pools(specs: Iterable[PoolSpec]) -> list[PoolSpec]:
    """Create each pool in Airflow's metadata database, or update its slots and description.

    :param specs: the pools.
    :return: the pools as stored.
    """
    from airflow.models.pool import Pool

    stored = []
    for spec in specs:
        pool = Pool.create_or_update_pool(spec.name, spec.slots, spec.description, include_deferred=False)
        description = pool.description or ""
        stored.append(PoolSpec(name=pool.pool or spec.name, slots=pool.slots, description=description))
    return stored


def missing_pools(specs: Iterable[PoolSpec]) -> list[PoolSpec]:
    """Return the pools that do not exist in Airflow's metadata database.

    :param specs: the pools the configuration needs.
    """
    from airflow.models.pool import Pool

    return [spec for spec in specs if Pool.get_pool(spec.name) is None]

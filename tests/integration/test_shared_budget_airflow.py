"""A backup DAG's tasks lease every call from the site's budget in the backup store (dag.test())."""

from __future__ import annotations

from collections import defaultdict

import pytest
from pymongo.database import Database

from airflow_assets.sandbox.launch import RunningSandbox
from tests.integration.backup_support import accepted
from tests.integration.conftest import BackupDags

pytestmark = pytest.mark.slow


def test_every_call_of_a_backup_run_was_leased_from_the_sites_budget(
    backup_dags: BackupDags, sandbox: RunningSandbox, mongo_db: Database
) -> None:
    dag = backup_dags("LOC")["jira_assets_backup_test_loc"]

    dag_run = dag.test()

    assert str(dag_run.state) == "success"
    leased: dict[str, int] = defaultdict(int)
    sites = set()
    for slot in mongo_db["rate_budget"].find():
        leased[slot["rate_class"]] += slot["used"]
        sites.add(slot["site"])
    # One budget, keyed by the site the connection points at.
    assert sites == {sandbox.url.lower().rstrip("/")}
    # Every call the sandbox served was leased first (a lease may go unspent, never the other way round).
    for rate_class, sandbox_class in [
        ("POST object/aql", "POST object/aql"),
        ("GET object/{id}/history", "GET object/{id}/history"),
        ("GET comment/object/{id}", "GET comment/object/{id}"),
    ]:
        served = accepted(sandbox, sandbox_class)
        assert served > 0
        assert leased[rate_class] >= served, (rate_class, leased[rate_class], served)
    # And over all calls, the site's discovery included.
    assert leased["*"] >= sum(sandbox.realism.stats.accepted.values())

"""The backup operators fail at once, without retries, on what a retry cannot mend."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException
from pymongo.database import Database

from airflow_assets.devtools.connections import sandbox_connection
from airflow_assets.devtools.embedded_mongo import EmbeddedMongo
from airflow_assets.operators.backup import ExportConfigOperator
from airflow_assets.sandbox.launch import RunningSandbox


def test_a_cleartext_connection_fails_the_task_without_retries_and_writes_nothing(
    demo_sandbox: RunningSandbox,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sandbox's own connection, minus the explicit permission to send the token over plain http.
    monkeypatch.setenv(
        "AIRFLOW_CONN_JIRA_ASSETS_DEFAULT",
        sandbox_connection(demo_sandbox, allow_insecure_http=False),
    )
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_BACKUP", mongo_server.airflow_conn_uri(mongo_db.name))
    operator = ExportConfigOperator(
        task_id="export_config",
        site="test",
        schema_key="LOC",
        include={"history": True},
        full_sweep_every=7,
        schedule="0 2 * * *",
        timezone="UTC",
        mongo_database=mongo_db.name,
    )

    with pytest.raises(AirflowFailException, match="http"):
        operator.execute({})  # type: ignore[arg-type]

    assert mongo_db.list_collection_names() == []

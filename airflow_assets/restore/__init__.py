"""Restore and migrate object schemas from snapshots: plain Python over the client and the store.

A run walks one way: the DAG's params -> :func:`parse_request` -> :class:`RestoreSession` (snapshots,
target, ledger) -> its steps. The plan step builds a :class:`~airflow_assets.restore.plan.RestorePlan` from
what it read (:func:`~airflow_assets.restore.plan.build_plan`, no I/O) and stores it; structure, objects,
comments, restrictions, verify and report run from the stored plan.
"""

from airflow_assets.restore.request import RestoreParamError, RestoreRequest, SchemaMapping, parse_request
from airflow_assets.restore.session import RestoreSession, RestoreVerifyError, SessionSettings

__all__ = [
    "RestoreParamError",
    "RestoreRequest",
    "RestoreSession",
    "RestoreVerifyError",
    "SchemaMapping",
    "SessionSettings",
    "parse_request",
]

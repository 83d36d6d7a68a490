"""The auth side of the UI tests: Airflow's SimpleAuthManager, narrowed per DAG for some users.

SimpleAuthManager (the standalone default) grants by role alone: a viewer reads every DAG. A deployment with
FAB or Keycloak grants per DAG; this subclass does the same for the users named in ``DAGS_OF``, so a test can
show that a user who may read only one schema's DAG sees only that schema. Every other decision is
SimpleAuthManager's own.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

AUTH_MANAGER = f"{__name__}.PerDagAuthManager"


class PerDagAuthManager(SimpleAuthManager):
    """SimpleAuthManager whose users in :attr:`DAGS_OF` reach only the DAGs listed for them."""

    DAGS_OF: ClassVar[dict[str, set[str]]] = {}

    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        allowed = self.DAGS_OF.get(user.username)
        if allowed is not None and (details is None or details.id not in allowed):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )


def token(username: str, role: str | None) -> str:
    """Return a JWT of the running auth manager for a user with ``role`` (None: no role at all)."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role))

"""Who may see what: every view asks Airflow's auth manager about the DAGs that guard the data.

Plugin endpoints are not protected by Airflow on their own. The caller is the user of Airflow's JWT (the
``Authorization: Bearer`` header, else the UI's ``_token`` cookie, which the page's iframe sends), resolved
by Airflow's own ``get_user``: no token is a 401, a bad one a 403. Then:

- a schema's snapshots need read (GET) access to the schema's backup DAG;
- a prefilled restore needs trigger access (POST on the runs) to the restore DAG, and read access to the
  restore DAG shows a restore run's plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, status

from airflow_assets.ui.catalog import Catalog


@dataclass
class Access:
    """What one caller may do, asked of the auth manager once per DAG and request."""

    user: Any
    catalog: Catalog
    _answers: dict[tuple[str, str], bool] = field(default_factory=dict)

    def _ask(self, method: str, dag_id: str, *, runs: bool) -> bool:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

        key = (f"{method}{'/runs' if runs else ''}", dag_id)
        if key not in self._answers:
            self._answers[key] = bool(
                get_auth_manager().is_authorized_dag(
                    method=method,  # type: ignore[arg-type]
                    access_entity=DagAccessEntity.RUN if runs else None,
                    details=DagDetails(id=dag_id),
                    user=self.user,
                )
            )
        return self._answers[key]

    def may_read(self, site: str | None, schema_key: str) -> bool:
        """Tell whether the caller may see a schema's snapshots (read access to its backup DAG)."""
        return self._ask("GET", self.catalog.dag_for(site, schema_key), runs=False)

    def may_read_dag(self, dag_id: str) -> bool:
        """Tell whether the caller may read a DAG."""
        return self._ask("GET", dag_id, runs=False)

    def may_restore(self) -> bool:
        """Tell whether the caller may trigger the restore DAG (and so be offered a prefilled restore)."""
        return self._ask("POST", self.catalog.restore_dag_id, runs=True)


def caller(user: Annotated[Any, Depends(get_user)]) -> Any:
    """Return the authenticated Airflow user (401 without a token, 403 with a bad one)."""
    return user


def refuse(message: str = "you may not read this") -> HTTPException:
    """Return the 403 of a caller without access."""
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=message)

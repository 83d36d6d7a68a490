"""Register the "Jira Assets" page with Airflow: the app under ``/jira-assets`` and its place in the UI.

Found through the provider's ``airflow.plugins`` entry point: installing the provider is all it takes. The
nav entry opens the overview; the DAG and run entries ("Jira Assets" tabs) open the schema a backup DAG
backs up and the snapshot a run took (``{DAG_ID}`` and ``{RUN_ID}`` are filled in by Airflow's UI).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_assets.ui.app import URL_PREFIX, create_app

_PREFIX = URL_PREFIX.strip("/")


class JiraAssetsPlugin(AirflowPlugin):
    """The Jira Assets page of the Airflow UI."""

    name = "jira_assets"
    fastapi_apps = [  # noqa: RUF012  (AirflowPlugin declares these as plain class lists)
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Jira Assets"}
    ]
    external_views = [  # noqa: RUF012
        {"name": "Jira Assets", "href": f"{_PREFIX}/", "destination": "nav", "url_route": "jira-assets"},
        {"name": "Jira Assets", "href": f"{_PREFIX}/dag/{{DAG_ID}}", "destination": "dag",
         "url_route": "jira-assets-dag"},
        {"name": "Jira Assets", "href": f"{_PREFIX}/run/{{DAG_ID}}/{{RUN_ID}}", "destination": "dag_run",
         "url_route": "jira-assets-run"},
    ]  # fmt: skip

"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_assets import __version__
from airflow_assets.api.client import DEFAULT_API_BASE_URL


def get_provider_info() -> dict[str, Any]:
    """Return the provider description: hook, connection type and its form fields."""
    return {
        "package-name": "airflow-provider-jira-assets",
        "name": "Jira Service Management Assets",
        "description": (
            "Back up, restore and migrate Jira Service Management Cloud Assets (formerly Insight) "
            "object schemas, with MongoDB as backup storage. Not related to Airflow's own Assets feature."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Jira Service Management Assets",
                "external-doc-url": "https://developer.atlassian.com/cloud/assets/rest/",
                "tags": ["software"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Jira Service Management Assets",
                "python-modules": ["airflow_assets.hooks.jira_assets"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_assets.hooks.jira_assets.JiraAssetsHook",
                "hook-name": "Jira Assets",
                "connection-type": "jira_assets",
                "ui-field-behaviour": {
                    # The port stays visible: Airflow 3.3's Test button (connection list) sends the stored
                    # port as Number(port), 0 for none, and the API server refuses the test when that
                    # differs from the stored port ("The host or port to test differs ..."). A stored 443
                    # makes the test work; the hook treats 443 (https) as no port.
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {
                        "host": "Jira site URL",
                        "login": "Account email",
                        "password": "API token",
                        "port": "Port (443)",
                    },
                    "placeholders": {
                        "host": "https://your-site.atlassian.net",
                        "login": "automation@example.com",
                        "password": "API token from id.atlassian.com",
                        "port": "443",
                    },
                },
                "conn-fields": {
                    "workspace_id": {
                        "label": "Assets workspace id",
                        "description": "Leave empty to discover it from the site.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_base_url": {
                        "label": "Assets API base URL",
                        "description": f"Default {DEFAULT_API_BASE_URL}; a local sandbox sets its own URL.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "cloud_id": {
                        "label": "Cloud id",
                        "description": (
                            "Only for scoped API tokens: site routes are then reached through "
                            "https://api.atlassian.com/ex/jira/{cloudId}."
                        ),
                        "schema": {"type": ["string", "null"]},
                    },
                    "rate_limit_scale": {
                        "label": "Rate limit scale",
                        "description": (
                            "Multiplies the documented rate limits the client paces to (default 1): for a "
                            "site whose limits Atlassian raised, or the local sandbox."
                        ),
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1000},
                    },
                    "allow_insecure_http": {
                        "label": "Allow plain http (cleartext token)",
                        "description": (
                            "Only for a local test site such as the sandbox: http:// sends the email and "
                            "API token unencrypted. Refused unless ticked; every task logs a warning."
                        ),
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            }
        ],
    }

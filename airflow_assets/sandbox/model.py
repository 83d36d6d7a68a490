"""The in-memory state of a sandbox Jira Cloud site with Assets: validation, history and REST rendering.

Every public method takes the site's single lock, so the HTTP threads see a consistent site; ``revision``
increases on every write so that callers can cache query results per revision.

``Site`` is composed of parts over the shared state in ``site_state``: the directory (``site_directory``),
schemas and object types (``site_structure``), attributes (``site_attributes``), objects
(``site_objects``), AQL (``site_search``) and Jira issues with their Assets field (``site_issues``).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from airflow_assets.sandbox.records import IconRecord, ReferenceTypeRecord, SandboxError, StatusTypeRecord
from airflow_assets.sandbox.site_attributes import SiteAttributes
from airflow_assets.sandbox.site_directory import SiteDirectory
from airflow_assets.sandbox.site_issues import SiteIssues
from airflow_assets.sandbox.site_objects import SiteObjects, attribute_error
from airflow_assets.sandbox.site_search import SiteSearch
from airflow_assets.sandbox.site_state import check_paging, locked
from airflow_assets.sandbox.site_structure import SiteStructure

__all__ = [
    "SandboxError",
    "Site",
    "account_id_for",
    "attribute_error",
    "check_paging",
    "display_name_for",
    "locked",
]

DEFAULT_STATUS_TYPES = (
    ("Action Needed", 2), ("Active", 1), ("Closed", 0), ("In Service", 1),
    ("Running", 1), ("Stopped", 0), ("Support Requested", 2),
)  # fmt: skip
DEFAULT_REFERENCE_TYPES = (
    ("Depends on", "f79232"), ("Installed", "49a6ed"), ("Link", "8eb021"), ("Reference", "49a6ed"),
    ("Location", "654982"), ("Ownership", "d04437"), ("Sponsor", "3b7fc4"),
)  # fmt: skip
DEFAULT_ICONS = (
    ("1", "Application"), ("2", "Building"), ("3", "City"), ("4", "Computer"), ("5", "Database"),
    ("6", "Globe"), ("7", "Hardware"), ("8", "Laptop"), ("9", "Network"), ("10", "Printer"),
    ("11", "Server"), ("12", "Team"), ("13", "User"), ("a6f3c2d1-5b4e-4c7a-9e8d-2f1b0c3d4e5f", "Cloud"),
)  # fmt: skip


def account_id_for(email: str) -> str:
    """Derive a stable Atlassian-style account id (24 hex digits) from an email address."""
    return hashlib.sha1(email.lower().encode()).hexdigest()[:24]


def display_name_for(email: str) -> str:
    """Derive a display name from an email address: ``jane.doe@x`` -> ``Jane Doe``."""
    return " ".join(part.capitalize() for part in re.split(r"[._-]+", email.split("@")[0]) if part) or email


class Site(SiteDirectory, SiteStructure, SiteAttributes, SiteObjects, SiteSearch, SiteIssues):
    """A Jira Cloud site with Assets, held in memory.

    :param workspace_id: the Assets workspace id (also the prefix of every ``globalId``).
    :param email: email of the site's own user; with ``api_token`` the only accepted credentials.
    :param api_token: the API token of that user.
    :param clock: returns the current time (aware UTC); defaults to the wall clock.
    """

    def __init__(
        self, *, workspace_id: str, email: str, api_token: str, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.workspace_id = workspace_id
        self.email = email
        self.api_token = api_token
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.revision = 0
        self.account_id = account_id_for(email)
        # The stores below are read by render.py and the tests; write them only through methods.
        self.users = {}
        self.groups = {}
        self.schemas = {}
        self.object_types = {}
        self.attributes = {}
        self.objects = {}
        self.history = {}
        self.comments = {}
        self.issues = {}
        self._issue_ids = {}
        self.tickets = {}
        self.uneditable_projects = set()
        self.status_types = {}
        self.reference_types = {}
        self.icons = {icon_id: IconRecord(icon_id, name) for icon_id, name in DEFAULT_ICONS}
        self._sequences = {}
        self._type_counts = {}
        self._referrers = {}
        self._unique_values = {}
        self._effective = {}
        self._by_name = {}
        self._positions = {}
        self._attribute_names = None
        self._local_renderer = None
        self._aql_cache = OrderedDict()
        self.add_user(self.account_id, display_name_for(email), email)
        for name, category in DEFAULT_STATUS_TYPES:
            status_id = self._next_id("status")
            self.status_types[status_id] = StatusTypeRecord(status_id, name, "", category, None)
        for name, color in DEFAULT_REFERENCE_TYPES:
            reference_id = self._next_id("reference_type")
            self.reference_types[reference_id] = ReferenceTypeRecord(
                reference_id, name, "", color, None, removable=False
            )

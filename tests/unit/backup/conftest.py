"""The scripted Jira/Assets site of the client's tests, for the backup's readers of Jira."""

from __future__ import annotations

from tests.unit.api.conftest import client, make_client, served_site, site

__all__ = ["client", "make_client", "served_site", "site"]

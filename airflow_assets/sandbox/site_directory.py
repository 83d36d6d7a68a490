"""The Jira directory of a sandbox site: its users, groups and Assets workspace."""

from __future__ import annotations

import uuid
from typing import Any

from airflow_assets.sandbox.records import (
    UserRecord,
)
from airflow_assets.sandbox.site_state import DEFAULT_BASE_URL, SiteState, check_paging, locked

__all__ = ["SiteDirectory"]


class SiteDirectory(SiteState):
    """The users, groups and workspace of a Site."""

    @locked
    def add_user(self, account_id: str, display_name: str, email: str | None = None) -> None:
        """Add a Jira user whose account id User attributes may hold."""
        self.users[account_id] = UserRecord(account_id, display_name, email)
        self._written()

    @locked
    def add_group(self, name: str) -> None:
        """Add a Jira group whose name Group attributes may hold."""
        self.groups.setdefault(name, str(uuid.uuid5(uuid.NAMESPACE_OID, name)))
        self._written()

    @locked
    def myself(self, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer Jira's ``GET /rest/api/3/myself`` for the site's own user."""
        return {
            **self._jira_user(self.users[self.account_id], base_url),
            "timeZone": "Etc/UTC",
            "locale": "en_US",
        }

    @staticmethod
    def _jira_user(user: UserRecord, base_url: str | None) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "self": f"{base_url or DEFAULT_BASE_URL}/rest/api/3/user?accountId={user.account_id}",
            "accountId": user.account_id,
            "accountType": "atlassian",
            "displayName": user.display_name,
            "active": True,
        }
        if user.email:
            rendered["emailAddress"] = user.email
        return rendered

    @locked
    def find_users(
        self,
        *,
        query: str | None = None,
        account_id: str | None = None,
        start_at: int = 0,
        max_results: int = 50,
        base_url: str | None = None,
    ) -> list[dict[str, Any]]:
        """Answer Jira's user search: prefix match on display name words or email, or one account id."""
        check_paging(start_at, max_results)
        users = list(self.users.values())
        if account_id is not None:
            users = [user for user in users if user.account_id == account_id]
        if query:
            needle = query.lower()
            users = [
                user
                for user in users
                if any(word.startswith(needle) for word in user.display_name.lower().split())
                or user.display_name.lower().startswith(needle)
                or (user.email or "").lower().startswith(needle)
            ]
        return [
            self._jira_user(user, base_url) for user in users[start_at : start_at + min(max_results, 1000)]
        ]

    @locked
    def find_groups(
        self,
        *,
        names: list[str] | None = None,
        group_ids: list[str] | None = None,
        start_at: int = 0,
        max_results: int = 50,
    ) -> dict[str, Any]:
        """Answer Jira's ``GET /rest/api/3/group/bulk``."""
        check_paging(start_at, max_results)
        groups = sorted(self.groups.items())
        if names or group_ids:
            groups = [(n, g) for n, g in groups if n in (names or []) or g in (group_ids or [])]
        page = groups[start_at : start_at + max_results]
        return {
            "maxResults": max_results,
            "startAt": start_at,
            "total": len(groups),
            "isLast": start_at + len(page) >= len(groups),
            "values": [{"name": name, "groupId": group_id} for name, group_id in page],
        }

    def workspaces(self) -> dict[str, Any]:
        """Answer ``GET /rest/servicedeskapi/assets/workspace``."""
        return {
            "size": 1,
            "start": 0,
            "limit": 50,
            "isLastPage": True,
            "values": [{"workspaceId": self.workspace_id}],
        }

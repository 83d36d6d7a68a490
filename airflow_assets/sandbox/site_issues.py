"""The Jira issues of a sandbox site, their Assets field, and the connected tickets derived from it.

An issue's Assets field is the one source of truth: ``tickets`` (object id -> issue keys) only indexes it,
so ``objectconnectedtickets`` and ``extendedInfo.openIssuesExists`` always agree with the issues.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from airflow_assets.sandbox.issue_fields import (
    ASSETS_FIELD_ID,
    ASSETS_FIELD_IDS,
    PROJECT_NAMES,
    FieldSelection,
    IssueRenderer,
    derived_id,
    jira_fields,
)
from airflow_assets.sandbox.issue_search import compile_jql
from airflow_assets.sandbox.jql import JqlError, parse_jql
from airflow_assets.sandbox.records import IssueRecord, SandboxError, bad_request, id_number
from airflow_assets.sandbox.site_state import DEFAULT_BASE_URL, SiteState, locked

__all__ = ["SEARCH_DEFAULT_PAGE", "SEARCH_MAX_PAGE", "SiteIssues"]

SEARCH_DEFAULT_PAGE = 50
SEARCH_MAX_PAGE = 5000
SUMMARY_MAX_LENGTH = 255
_DEFAULT_PRIORITIES = {"highest", "high", "medium", "low", "lowest"}
_ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
_CANNOT_SET = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."


def _issue_time(text: Any, fallback: datetime) -> datetime:
    if isinstance(text, datetime):
        return text
    if isinstance(text, str) and text:
        return datetime.fromisoformat(text.replace("+0000", "+00:00"))
    return fallback


def _named(value: Any, default: str) -> str:
    if isinstance(value, dict):
        value = value.get("name")
    return value if isinstance(value, str) and value else default


class SiteIssues(SiteState):
    """The Jira issues of a Site: the issue store, ``/rest/api/3/field``, ``issue/{key}``, ``search/jql``."""

    # --- the store and connected tickets ---------------------------------------------------------

    @locked
    def add_connected_ticket(
        self,
        object_id: str,
        ticket: dict[str, Any],
        *,
        field_id: str = ASSETS_FIELD_ID,
        at: datetime | None = None,
    ) -> None:
        """Connect a Jira issue to an object: create the issue if needed, add the object to an Assets field.

        :param ticket: the issue as ``objectconnectedtickets`` shows it (``key``, ``id``, ``title``,
            ``status``, ``type``, ``priority``, ``created``, ``updated``, ``reporter`` (an account id, the
            site's own account when left out)); only ``key`` is required. An existing issue keeps its fields.
        :param field_id: the Assets field of the issue that gets the object (one of ``ASSETS_FIELD_IDS``).
        """
        if field_id not in ASSETS_FIELD_IDS:
            raise ValueError(f"not an Assets field of the sandbox: {field_id!r} (one of {ASSETS_FIELD_IDS})")
        record = self._object(object_id)
        key = str(ticket["key"]).strip().upper()
        prefix, _, number = key.rpartition("-")
        if not prefix or id_number(number) is None:
            raise ValueError(f"not an issue key: {ticket['key']!r}")
        issue = self.issues.get(key)
        if issue is None:
            now = self._now(at)
            status = ticket.get("status")
            status = status if isinstance(status, dict) else {}
            issue_id = str(ticket.get("id") or self._next_issue_id())
            if issue_id in self._issue_ids:
                raise ValueError(f"issue id {issue_id} is already used by {self._issue_ids[issue_id]}")
            created = _issue_time(ticket.get("created"), now)
            issue = IssueRecord(
                issue_id, key, str(ticket.get("title") or ticket.get("summary") or key),
                _named(status, "Open"), str(status.get("colorName") or "blue-gray"),
                _named(ticket.get("type"), "Service Request"), _named(ticket.get("priority"), "Medium"),
                created, _issue_time(ticket.get("updated"), created),
                str(ticket.get("reporter") or self.account_id),
            )  # fmt: skip
            self.issues[key] = issue
            self._issue_ids[issue_id] = key
        held = issue.assets_by_field.get(field_id, [])
        if record.object_id not in held:
            self._set_assets(issue, field_id, [*held, record.object_id])
        self._written()

    @locked
    def withhold_edit_permission(self, project_key: str) -> None:
        """Let the account browse but not edit the issues of a project (as without Edit Issues permission).

        Jira then answers an edit of such an issue with 400, each field named as one that "cannot be set".
        """
        self.uneditable_projects.add(project_key.strip().upper())

    def _next_issue_id(self) -> str:
        return str(max((int(issue_id) for issue_id in self._issue_ids), default=10000) + 1)

    @locked
    def connected_tickets(self, object_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer ``GET objectconnectedtickets/{objectId}/tickets``: issues whose Assets field holds it."""
        record = self._object(object_id)
        keys = self.tickets.get(record.object_id, [])
        renderer = IssueRenderer(self.workspace_id, base_url or DEFAULT_BASE_URL)
        return {
            "tickets": [renderer.ticket(self.issues[key]) for key in keys],
            "allTicketsQuery": f"issue in ({', '.join(keys)})" if keys else "",
        }

    def _set_assets(self, issue: IssueRecord, field_id: str, object_ids: list[int]) -> None:
        """Replace one Assets field of an issue; keep the object -> issues index in step (caller holds lock).

        An object stays connected while any Assets field of the issue still holds it.
        """
        before = set(issue.assets)
        if object_ids:
            issue.assets_by_field[field_id] = list(object_ids)
        else:
            issue.assets_by_field.pop(field_id, None)
        after = issue.assets
        for object_id in before - set(after):
            keys = self.tickets.get(object_id, [])
            if issue.key in keys:
                keys.remove(issue.key)
            if not keys:
                self.tickets.pop(object_id, None)
        for object_id in after:
            keys = self.tickets.setdefault(object_id, [])
            if issue.key not in keys:
                keys.append(issue.key)

    def _disconnect_object(self, object_id: int) -> None:
        """Remove a deleted object from every issue's Assets field (caller holds the lock)."""
        for key in self.tickets.pop(object_id, []):
            issue = self.issues[key]
            for field_id, held in list(issue.assets_by_field.items()):
                remaining = [other for other in held if other != object_id]
                if remaining:
                    issue.assets_by_field[field_id] = remaining
                else:
                    issue.assets_by_field.pop(field_id)

    def _issue(self, id_or_key: str) -> IssueRecord:
        issue = self.jql_issue(id_or_key)
        if issue is None:
            raise SandboxError(404, [_ISSUE_NOT_FOUND], {})
        return issue

    # --- Jira REST -------------------------------------------------------------------------------

    @locked
    def jira_fields(self) -> list[dict[str, Any]]:
        """Answer ``GET /rest/api/3/field``."""
        return jira_fields()

    @locked
    def get_issue(
        self, id_or_key: str, *, fields: list[str] | None = None, base_url: str | None = None
    ) -> dict[str, Any]:
        """Answer ``GET /rest/api/3/issue/{issueIdOrKey}``; ``fields`` restricts the fields (default all)."""
        issue = self._issue(id_or_key)
        renderer = IssueRenderer(self.workspace_id, base_url or DEFAULT_BASE_URL)
        return renderer.issue(issue, FieldSelection.parse(fields, "*all"), always_full=True)

    @locked
    def update_issue(self, id_or_key: str, body: Any, *, at: datetime | None = None) -> None:
        """Answer ``PUT /rest/api/3/issue/{issueIdOrKey}``: set the summary and/or replace Assets fields.

        Every field is checked before anything changes: one bad value leaves the issue as it was.
        """
        issue = self._issue(id_or_key)
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        changes = self._requested_fields(body)
        if issue.project_key in self.uneditable_projects:
            # What Jira answers without Edit Issues permission: the fields are refused as not editable.
            raise SandboxError(400, [], {field_id: _CANNOT_SET.format(field_id) for field_id in changes})
        errors: dict[str, str] = {}
        summary: str | None = None
        assets: dict[str, list[int]] = {}
        for field_id, value in changes.items():
            if field_id == "summary":
                if not isinstance(value, str) or not value.strip():
                    errors[field_id] = "You must specify a summary of the issue."
                elif len(value) > SUMMARY_MAX_LENGTH:
                    errors[field_id] = f"Summary must be less than {SUMMARY_MAX_LENGTH} characters."
                else:
                    summary = value
            elif field_id in ASSETS_FIELD_IDS:
                try:
                    assets[field_id] = self._assets_value(value)
                except ValueError as error:
                    errors[field_id] = str(error)
            else:
                errors[field_id] = _CANNOT_SET.format(field_id)
        if errors:
            raise SandboxError(400, [], errors)
        if summary is None and not assets:
            return
        if summary is not None:
            issue.summary = summary
        for field_id, object_ids in assets.items():
            self._set_assets(issue, field_id, object_ids)
        issue.updated = self._now(at)
        self._written()

    @staticmethod
    def _requested_fields(body: dict[str, Any]) -> dict[str, Any]:
        """Merge ``fields`` and the ``set`` operations of ``update`` into one field -> value map."""
        fields = body.get("fields", {})
        update = body.get("update", {})
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise bad_request("'fields' and 'update' must be JSON objects.")
        changes = dict(fields)
        for field_id, operations in update.items():
            if field_id in changes:
                raise bad_request(f"Field '{field_id}' cannot appear in both 'fields' and 'update'.")
            if (
                not isinstance(operations, list)
                or len(operations) != 1
                or not isinstance(operations[0], dict)
            ):
                raise SandboxError(400, [], {field_id: "The sandbox supports one 'set' operation per field."})
            if list(operations[0]) != ["set"]:
                raise SandboxError(400, [], {field_id: "The sandbox supports only the 'set' operation."})
            changes[field_id] = operations[0]["set"]
        return changes

    def _assets_value(self, value: Any) -> list[int]:
        """Check an Assets field value (a list of ``{workspaceId, id, objectId}``); return its object ids."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("The Assets field value must be an array of objects.")
        object_ids: list[int] = []
        for entry in value:
            if not isinstance(entry, dict):
                raise ValueError("Each Assets field value must be an object {workspaceId, id, objectId}.")
            workspace_id = entry.get("workspaceId", self.workspace_id)
            global_id = entry.get("id")
            object_text = entry.get("objectId")
            if object_text is None and isinstance(global_id, str):
                object_text = global_id.rpartition(":")[2]
            if object_text is None:
                raise ValueError("Each Assets field value needs an 'objectId'.")
            if workspace_id != self.workspace_id:
                raise ValueError(f"The workspace '{workspace_id}' is not the Assets workspace of this site.")
            number = id_number(str(object_text))
            if number is None or number not in self.objects:
                raise ValueError(f"The object with id '{object_text}' does not exist.")
            if global_id is not None and global_id != f"{self.workspace_id}:{number}":
                raise ValueError(f"The id '{global_id}' does not match objectId '{object_text}'.")
            if number not in object_ids:
                object_ids.append(number)
        return object_ids

    @locked
    def search_issues(
        self,
        jql: str | None,
        *,
        max_results: int = SEARCH_DEFAULT_PAGE,
        next_page_token: str | None = None,
        fields: list[str] | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """Answer ``GET``/``POST /rest/api/3/search/jql``: one page of issues, continued by ``nextPageToken``.

        Only issue ids come back unless ``fields`` asks for more, as in Jira.
        """
        if max_results < 1:
            raise bad_request("maxResults must be 1 or more.")
        max_results = min(max_results, SEARCH_MAX_PAGE)
        query_text = jql or ""
        offset = self._page_offset(next_page_token, query_text)
        try:
            matches, order = compile_jql(parse_jql(query_text), self)
        except JqlError as error:
            raise SandboxError(400, list(error.messages), {}) from None
        found = [issue for issue in self.issues.values() if matches(issue)]
        order(found)
        page = found[offset : offset + max_results]
        renderer = IssueRenderer(self.workspace_id, base_url or DEFAULT_BASE_URL)
        selection = FieldSelection.parse(fields, "id")
        answer: dict[str, Any] = {"issues": [renderer.issue(issue, selection) for issue in page]}
        end = offset + len(page)
        if end < len(found):
            answer["nextPageToken"] = _page_token(end, query_text)
        answer["isLast"] = end >= len(found)
        return answer

    @staticmethod
    def _page_offset(token: str | None, query_text: str) -> int:
        if not token:
            return 0
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            offset, query = decoded["offset"], decoded["query"]
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise bad_request("The nextPageToken is invalid or has expired.") from None
        if not isinstance(offset, int) or offset < 0 or query != _query_digest(query_text):
            raise bad_request("The nextPageToken is invalid or has expired.")
        return offset

    # --- what JQL reads (issue_search.IssueCatalog) ----------------------------------------------

    def jql_issue(self, text: str) -> IssueRecord | None:
        """Return the issue with this key (any case) or numeric id."""
        text = text.strip()
        key = self._issue_ids.get(text) if id_number(text) is not None else text.upper()
        return self.issues.get(key) if key else None

    def jql_project(self, text: str) -> str | None:
        """Return the key of the project with this key, id or name, if any issue belongs to it."""
        wanted = text.strip().lower()
        for project_key in dict.fromkeys(issue.project_key for issue in self.issues.values()):
            names = (
                project_key,
                derived_id("project", project_key),
                PROJECT_NAMES.get(project_key, project_key),
            )
            if wanted in (name.lower() for name in names):
                return project_key
        return None

    def jql_names(self, field: str) -> set[str]:
        """Return the known values (lower case) of ``status``, ``issuetype`` or ``priority``."""
        if field == "status":
            return {issue.status.lower() for issue in self.issues.values()}
        if field == "issuetype":
            return {issue.issue_type.lower() for issue in self.issues.values()}
        return _DEFAULT_PRIORITIES | {issue.priority.lower() for issue in self.issues.values()}

    def jql_assets(self, aql: str) -> set[int]:
        """Return the ids of the objects an ``aqlFunction`` query matches."""
        try:
            return set(self._site.search(aql))
        except SandboxError as error:
            reason = "; ".join([*error.error_messages, *error.errors.values()])
            raise JqlError(f"aqlFunction: the AQL query '{aql}' is invalid: {reason}") from None


def _query_digest(query_text: str) -> str:
    return hashlib.sha256(query_text.encode()).hexdigest()[:16]


def _page_token(offset: int, query_text: str) -> str:
    """Encode where the next page starts, bound to the query it belongs to."""
    payload = json.dumps({"offset": offset, "query": _query_digest(query_text)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

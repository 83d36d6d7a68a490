"""The fields of the sandbox's Jira issues: the field catalogue, ``fields=`` selections and issue JSON.

Jira-side ids (statuses, issue types, priorities, projects) are not stored: they are derived from the names,
with Jira's usual ids for the common ones, so the same name always renders with the same id.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_assets.sandbox.records import IssueRecord, iso_ms

__all__ = [
    "ASSETS_CUSTOM_ID",
    "ASSETS_FIELDS",
    "ASSETS_FIELD_ID",
    "ASSETS_FIELD_IDS",
    "ASSETS_FIELD_NAME",
    "ASSETS_FIELD_TYPE",
    "FieldSelection",
    "IssueRenderer",
    "jira_fields",
    "jira_time",
    "status_category",
]

ASSETS_FIELD_TYPE = "com.atlassian.jira.plugins.cmdb:cmdb-object-cftype"
# A site may have several Assets fields (each configured for its own objects): custom id -> name.
ASSETS_FIELDS = {10100: "Affected assets", 10101: "Related assets"}
# The first is the one connected tickets are added to unless another is named.
ASSETS_CUSTOM_ID = 10100
ASSETS_FIELD_ID = f"customfield_{ASSETS_CUSTOM_ID}"
ASSETS_FIELD_NAME = ASSETS_FIELDS[ASSETS_CUSTOM_ID]
ASSETS_FIELD_IDS = tuple(f"customfield_{custom_id}" for custom_id in ASSETS_FIELDS)

# id, name, schema type, orderable, clause names
_SYSTEM_FIELDS = (
    ("summary", "Summary", "string", True, ("summary",)),
    ("status", "Status", "status", False, ("status",)),
    ("issuetype", "Issue Type", "issuetype", True, ("issuetype", "type")),
    ("priority", "Priority", "priority", True, ("priority",)),
    ("project", "Project", "project", False, ("project",)),
    ("created", "Created", "datetime", False, ("created", "createdDate")),
    ("updated", "Updated", "datetime", False, ("updated", "updatedDate")),
)
# Every field an issue renders, in Jira's usual order.
ISSUE_FIELD_IDS = (*(field_id for field_id, *_ in _SYSTEM_FIELDS), *ASSETS_FIELD_IDS)

# status colour -> (status category id, key, name)
_CATEGORIES = {"blue-gray": (2, "new", "To Do"), "yellow": (4, "indeterminate", "In Progress"),
               "green": (3, "done", "Done")}  # fmt: skip
_KNOWN_IDS = {
    "status": {"open": "1", "in progress": "3", "reopened": "4", "resolved": "5", "closed": "6"},
    "priority": {"highest": "1", "high": "2", "medium": "3", "low": "4", "lowest": "5"},
    "issuetype": {"incident": "10001", "service request": "10002", "change": "10003", "problem": "10004"},
    "project": {"itsm": "10000"},
}
PROJECT_NAMES = {"ITSM": "IT Service Management"}
_AVATAR_SIZES = (("48x48", "large"), ("24x24", "small"), ("16x16", "xsmall"), ("32x32", "medium"))


def derived_id(kind: str, name: str) -> str:
    """Return the id Jira-side records of ``kind`` render with for ``name`` (stable across runs)."""
    known = _KNOWN_IDS[kind].get(name.lower())
    return known or str(10100 + zlib.crc32(f"{kind}:{name.lower()}".encode()) % 89900)


def status_category(colour: str) -> tuple[int, str, str]:
    """Return the status category (id, key, name) of a status colour; unknown colours count as To Do."""
    return _CATEGORIES.get(colour, _CATEGORIES["blue-gray"])


def jira_time(moment: datetime) -> str:
    """Render a moment as Jira's issue fields do: ``2025-01-06T08:00:00.000+0000``."""
    return iso_ms(moment.astimezone(UTC))[:-1] + "+0000"


def jira_fields() -> list[dict[str, Any]]:
    """Answer ``GET /rest/api/3/field``: the system fields the sandbox knows and its Assets field."""
    fields: list[dict[str, Any]] = [
        {
            "id": field_id, "key": field_id, "name": name, "custom": False, "orderable": orderable,
            "navigable": True, "searchable": True, "clauseNames": list(clauses),
            "schema": {"type": schema_type, "system": field_id},
        }
        for field_id, name, schema_type, orderable, clauses in _SYSTEM_FIELDS
    ]  # fmt: skip
    # Jira lists the issue key as a field without a schema: clients must not assume every field has one.
    fields.append(
        {"id": "issuekey", "key": "issuekey", "name": "Key", "custom": False, "orderable": False,
         "navigable": True, "searchable": False, "clauseNames": ["id", "issue", "issuekey", "key"]}
    )  # fmt: skip
    for custom_id, name in ASSETS_FIELDS.items():
        field_id = f"customfield_{custom_id}"
        fields.append(
            {
                "id": field_id, "key": field_id, "name": name, "untranslatedName": name, "custom": True,
                "orderable": True, "navigable": True, "searchable": True,
                "clauseNames": [f"cf[{custom_id}]", name],
                "schema": {"type": "array", "items": "cmdb-object-field", "custom": ASSETS_FIELD_TYPE,
                           "customId": custom_id},
            }
        )  # fmt: skip
    return fields


@dataclass(frozen=True)
class FieldSelection:
    """What a ``fields`` parameter asks for: field ids to render, and whether the key was asked for."""

    field_ids: tuple[str, ...]
    key: bool

    @classmethod
    def parse(cls, items: Iterable[str] | None, default: str) -> FieldSelection:
        """Read ``fields`` items (each a comma list): ``*all``, ``*navigable``, ids, ``-id`` to exclude.

        Unknown field ids are ignored, as Jira does.
        """
        names = [part.strip() for item in (items or [default]) for part in item.split(",") if part.strip()]
        wanted: set[str] = set()
        excluded: set[str] = set()
        key = False
        for name in names or [default]:
            if name in ("*all", "*navigable"):
                wanted.update(ISSUE_FIELD_IDS)
                key = True
            elif name.startswith("-"):
                excluded.add(name[1:])
            elif name in ("key", "issuekey"):
                key = True
            else:
                wanted.add(name)
        chosen = tuple(field_id for field_id in ISSUE_FIELD_IDS if field_id in wanted - excluded)
        return cls(chosen, key or bool(chosen))


class IssueRenderer:
    """Render issues and connected tickets for one request.

    :param workspace_id: the Assets workspace the Assets field points into.
    :param base_url: the origin ``self`` links start with.
    """

    def __init__(self, workspace_id: str, base_url: str) -> None:
        self.workspace_id = workspace_id
        self.base_url = base_url

    def issue(
        self, issue: IssueRecord, selection: FieldSelection, *, always_full: bool = False
    ) -> dict[str, Any]:
        """Render an issue; just its id when nothing more is selected unless ``always_full``."""
        rendered: dict[str, Any] = {"id": issue.id}
        if not (selection.key or always_full):
            return rendered
        rendered = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id,
            "self": f"{self.base_url}/rest/api/3/issue/{issue.id}",
            "key": issue.key,
        }
        if selection.field_ids or always_full:
            rendered["fields"] = {field_id: self.field(issue, field_id) for field_id in selection.field_ids}
        return rendered

    def field(self, issue: IssueRecord, field_id: str) -> Any:
        """Render one field of an issue as ``GET /rest/api/3/issue`` shows it."""
        base = self.base_url
        if field_id == "summary":
            return issue.summary
        if field_id == "status":
            category_id, category_key, category_name = status_category(issue.status_colour)
            status_id = derived_id("status", issue.status)
            return {
                "self": f"{base}/rest/api/3/status/{status_id}", "description": "",
                "iconUrl": f"{base}/images/icons/statuses/generic.png", "name": issue.status, "id": status_id,
                "statusCategory": {
                    "self": f"{base}/rest/api/3/statuscategory/{category_id}", "id": category_id,
                    "key": category_key, "colorName": issue.status_colour or "blue-gray",
                    "name": category_name,
                },
            }  # fmt: skip
        if field_id == "issuetype":
            type_id = derived_id("issuetype", issue.issue_type)
            return {
                "self": f"{base}/rest/api/3/issuetype/{type_id}", "id": type_id, "description": "",
                "iconUrl": f"{base}/rest/api/2/universal_avatar/view/type/issuetype/avatar/10300?size=medium",
                "name": issue.issue_type, "subtask": False, "hierarchyLevel": 0,
            }  # fmt: skip
        if field_id == "priority":
            priority_id = derived_id("priority", issue.priority)
            return {
                "self": f"{base}/rest/api/3/priority/{priority_id}", "id": priority_id,
                "name": issue.priority,
                "iconUrl": f"{base}/images/icons/priorities/{issue.priority.lower()}.svg",
            }  # fmt: skip
        if field_id == "project":
            return self.project(issue.project_key)
        if field_id == "created":
            return jira_time(issue.created)
        if field_id == "updated":
            return jira_time(issue.updated)
        if field_id in ASSETS_FIELD_IDS:
            # Jira shows an empty custom field as null, never as [].
            held = issue.assets_by_field.get(field_id, [])
            return [self.assets_value(object_id) for object_id in held] or None
        raise KeyError(field_id)

    def assets_value(self, object_id: int) -> dict[str, str]:
        """Render one entry of the Assets field."""
        return {
            "workspaceId": self.workspace_id,
            "id": f"{self.workspace_id}:{object_id}",
            "objectId": str(object_id),
        }

    def project(self, project_key: str) -> dict[str, Any]:
        """Render a project reference."""
        project_id = derived_id("project", project_key)
        avatar = f"{self.base_url}/rest/api/3/universal_avatar/view/type/project/avatar/10400"
        return {
            "self": f"{self.base_url}/rest/api/3/project/{project_id}", "id": project_id, "key": project_key,
            "name": PROJECT_NAMES.get(project_key, project_key), "projectTypeKey": "service_desk",
            "simplified": False,
            "avatarUrls": {size: f"{avatar}?size={name}" for size, name in _AVATAR_SIZES},
        }  # fmt: skip

    def ticket(self, issue: IssueRecord) -> dict[str, Any]:
        """Render an issue as ``objectconnectedtickets`` lists it."""
        base = self.base_url
        return {
            "workspaceId": self.workspace_id,
            "globalId": f"{self.workspace_id}:{issue.id}",
            "key": issue.key,
            "id": issue.id,
            "title": issue.summary,
            "reporter": issue.reporter,
            "status": {"name": issue.status, "description": "", "colorName": issue.status_colour},
            "type": {
                "name": issue.issue_type,
                "description": "",
                "iconUrl": f"{base}/rest/api/2/universal_avatar/view/type/issuetype/avatar/10300?size=medium",
            },
            "priority": {
                "name": issue.priority,
                "iconUrl": f"{base}/images/icons/priorities/{issue.priority.lower()}.svg",
            },
            "created": iso_ms(issue.created),
            "updated": iso_ms(issue.updated),
        }

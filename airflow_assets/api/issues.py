"""Jira issues as the Assets tools read them: found by key or id in batches, and Assets field values.

An Assets custom field holds a list of ``{"workspaceId", "id", "objectId"}`` (``id`` is the global id
``"<workspaceId>:<objectId>"``), which is also the form Jira Cloud documents for writing it. Readers accept an
entry naming the object by ``objectId`` or by the global ``id`` alone.

:func:`find_issues` reads many issues per ``POST search/jql`` (``issue in (...)``, which takes keys and ids
alike). Jira answers 400 for the whole query when one key or id does not exist or may not be seen, naming
each; those are set aside and the rest searched again, and a 400 naming none is narrowed by halving.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_assets.exceptions import AssetsBadRequestError

if TYPE_CHECKING:
    from airflow_assets.api.client import AssetsClient

log = logging.getLogger(__name__)

SEARCH_BATCH = 100  # issues per JQL search (one page of ``maxResults`` = the batch)
JsonDict = dict[str, Any]


def jql_string(text: str) -> str:
    """Quote a value for JQL (double quotes, backslash escapes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def entry_object_id(entry: Mapping[str, Any]) -> str | None:
    """Return the object id of one Assets field entry (``objectId``, else the end of ``id`` "WS:131")."""
    object_id = entry.get("objectId")
    if object_id is None and isinstance(entry.get("id"), str):
        object_id = entry["id"].rpartition(":")[2]
    text = str(object_id).strip() if object_id is not None else ""
    return text or None


def assets_entry(workspace_id: str, object_id: str) -> dict[str, str]:
    """Return the Assets field entry of object ``object_id`` of workspace ``workspace_id``."""
    return {"workspaceId": workspace_id, "id": f"{workspace_id}:{object_id}", "objectId": str(object_id)}


def field_entries(value: Any, workspace_id: str) -> list[dict[str, str]]:
    """Return an Assets field value as a list of full entries, in order (``null`` reads as empty).

    An entry without ``workspaceId`` takes it from its global ``id``, else ``workspace_id``; entries naming
    no object are dropped (Jira would refuse to write them back).
    """
    entries: list[dict[str, str]] = []
    for entry in value if isinstance(value, list) else []:
        if not isinstance(entry, Mapping):
            continue
        object_id = entry_object_id(entry)
        if object_id is None:
            continue
        workspace = entry.get("workspaceId")
        if not workspace and isinstance(entry.get("id"), str) and ":" in entry["id"]:
            workspace = entry["id"].rpartition(":")[0]
        entries.append(assets_entry(str(workspace or workspace_id), object_id))
    return entries


@dataclass
class FoundIssues:
    """What :func:`find_issues` read.

    :param issues: each ref that was found -> the issue as the search returned it (``id``, ``key``,
        ``fields``).
    :param missing: each ref Jira did not return -> why (its own message when it gave one).
    :param searches: search requests made.
    """

    issues: dict[str, JsonDict] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    searches: int = 0


def find_issues(
    client: AssetsClient, refs: Iterable[str], *, fields: Iterable[str], batch_size: int | None = None
) -> FoundIssues:
    """Read the issues named by ``refs`` (keys or ids), ``batch_size`` per search, never one call per issue.

    An issue found under another key (moved to another project) is matched by its id, which stays.

    :param client: the site's client.
    :param refs: issue keys or ids, as the caller will look them up in the answer.
    :param fields: the field ids each issue should carry.
    :param batch_size: refs per search (default ``SEARCH_BATCH``).
    """
    wanted = list(dict.fromkeys(str(ref).strip() for ref in refs if str(ref).strip()))
    field_ids = list(fields)
    size = batch_size or SEARCH_BATCH
    found = FoundIssues()
    for start in range(0, len(wanted), size):
        _search(client, wanted[start : start + size], field_ids, found)
    return found


def _search(client: AssetsClient, refs: list[str], field_ids: list[str], found: FoundIssues) -> None:
    # An id goes bare (JQL reads a quoted one as a key); a key is quoted.
    jql = f"issue in ({', '.join(ref if ref.isdigit() else jql_string(ref) for ref in refs)})"
    by_name: dict[str, JsonDict] = {}
    try:
        for page in client.iter_issue_pages(jql, fields=field_ids, page_size=len(refs)):
            found.searches += 1
            for issue in page:
                for name in ("key", "id"):
                    if issue.get(name) is not None:
                        by_name[str(issue[name]).strip().upper()] = issue
    except AssetsBadRequestError as error:
        found.searches += 1
        named = {ref: message for ref in refs if (message := _message_naming(error, ref)) is not None}
        if named:
            found.missing.update(named)
            rest = [ref for ref in refs if ref not in named]
            if rest:
                _search(client, rest, field_ids, found)
            return
        if len(refs) == 1:
            found.missing[refs[0]] = str(error)
            return
        middle = len(refs) // 2
        _search(client, refs[:middle], field_ids, found)
        _search(client, refs[middle:], field_ids, found)
        return
    for ref in refs:
        if ref.upper() in by_name:
            found.issues[ref] = by_name[ref.upper()]
        else:
            found.missing[ref] = "the search did not return it (deleted, or hidden from this account)"


def _message_naming(error: AssetsBadRequestError, ref: str) -> str | None:
    """Return Jira's message naming ``ref`` (``An issue with key 'X' does not exist for field 'issue'.``)."""
    quoted = f"'{ref}'".upper()
    return next((str(m) for m in error.error_messages if quoted in str(m).upper()), None)

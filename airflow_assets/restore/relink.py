"""Put recreated objects back into the Jira issues whose Assets fields held them before they were deleted.

An object created again by a restore gets a new id; Jira removed the old one from every issue's Assets field
when it was deleted. The backup recorded, with each connected ticket of an object, the Assets fields of the
issue that held it (``assets_fields``). :func:`relink_issues` reads the issues' current values of those
fields (many issues per search), puts the new object where the old one was (or at the end when it is gone),
keeps every other value in its order, and writes each issue once with all its changed fields. A field that
already holds the new object is left alone, so running it again writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.api.issues import SEARCH_BATCH, field_entries, find_issues
from airflow_assets.api.issues import assets_entry as entry_for
from airflow_assets.exceptions import AssetsApiError
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
# Jira refuses an edit it will never accept (no permission, field not on the edit screen, issue gone):
# reported per issue, the other issues are still re-linked. A 401 (credentials) stops the run.
_REFUSALS = (400, 403, 404)


@dataclass
class RelinkSummary:
    """What :func:`relink_issues` did (or, in a dry run, would do).

    :param dry_run: nothing was written.
    :param issues_relinked: issues written (or to be written), one edit each.
    :param fields_relinked: Assets fields of those issues that got a recreated object.
    :param already_linked: fields that already held every recreated object they should (nothing to write).
    :param unreadable: ``"KEY: reason"`` of issues the search did not return, or whose backup recorded no
        Assets field.
    :param failed: ``"KEY: reason"`` of issues Jira refused to edit.
    """

    dry_run: bool = False
    issues_relinked: int = 0
    fields_relinked: int = 0
    already_linked: int = 0
    unreadable: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON types (an XCom value)."""
        return asdict(self)


@dataclass
class _IssueLinks:
    """What one issue should hold: per Assets field, the (old object id, new object id) pairs, in order."""

    name: str  # the key the backup knew the issue by (for reports)
    fields: dict[str, dict[str, str]] = field(default_factory=dict)


def tickets_of(reader: SnapshotReader, snapshot: Snapshot, object_ids: Iterable[str]) -> Iterator[JsonDict]:
    """Yield the connected tickets a snapshot recorded for the given objects, grouped by object.

    A ticket is stored under ``<object id>:<issue id>`` (the backup's tickets step), so each object's tickets
    are one range of the span index: the snapshot's other tickets are not read.

    :param reader: the store's reader.
    :param snapshot: the snapshot the objects are restored from.
    :param object_ids: the (old) ids of the objects.
    """
    wanted = {str(object_id).strip() for object_id in object_ids if str(object_id).strip()}
    lane = reader.lane(snapshot)
    for item_id, ticket in lane.visible_with_prefix("ticket", snapshot.seq, (f"{o}:" for o in wanted)):
        # The prefix ends at the separator, so "12:" never finds object 123's tickets; the content agrees.
        if str(ticket.get("objectId")) == item_id.partition(":")[0]:
            yield ticket


def relink_issues(
    client: AssetsClient,
    tickets: Iterable[Mapping[str, Any]],
    recreated: Mapping[str, str],
    *,
    dry_run: bool,
    batch_size: int | None = None,
) -> RelinkSummary:
    """Put each recreated object into the Assets fields of the issues that held the object it stands for.

    :param client: the site's client (issue edits are paced in their own rate class,
        ``PUT site:rest/api/3/issue/{id}``; searches in ``POST site:rest/api/3/search/jql``).
    :param tickets: connected tickets from a backup (``key``, ``id``, ``objectId``, ``assets_fields``);
        tickets of objects not in ``recreated`` are ignored.
    :param recreated: old object id -> id of the object created in its place.
    :param dry_run: read and count, write nothing.
    :param batch_size: issues per search (default ``SEARCH_BATCH``, 100).
    :return: the counts, and the issues that could not be read or edited (with the reason).
    """
    summary = RelinkSummary(dry_run=dry_run)
    wanted = _links_wanted(tickets, recreated, summary)
    if not wanted:
        return summary
    field_ids = sorted({field_id for links in wanted.values() for field_id in links.fields})
    found = find_issues(client, wanted, fields=field_ids, batch_size=batch_size or SEARCH_BATCH)
    workspace_id = client.workspace_id
    for ref, links in wanted.items():
        issue = found.issues.get(ref)
        if issue is None:
            summary.unreadable.append(f"{links.name}: {found.missing.get(ref, 'not found')}")
            continue
        key = str(issue.get("key") or links.name)
        current = issue.get("fields")
        current = current if isinstance(current, Mapping) else {}
        changes: dict[str, list[dict[str, str]]] = {}
        for field_id, pairs in links.fields.items():
            value = relinked_value(current.get(field_id), pairs, workspace_id)
            if value is None:
                summary.already_linked += 1
            else:
                changes[field_id] = value
        if not changes:
            continue
        if not dry_run and not _write(client, key, changes, summary):
            continue
        summary.issues_relinked += 1
        summary.fields_relinked += len(changes)
        log.info("re-link: %s %s of %s", "would set" if dry_run else "set", ", ".join(sorted(changes)), key)
    log.info(
        "re-link%s: %d issue(s), %d field(s) re-linked, %d already linked; %d unreadable, %d refused",
        " (dry run)" if dry_run else "",
        summary.issues_relinked,
        summary.fields_relinked,
        summary.already_linked,
        len(summary.unreadable),
        len(summary.failed),
    )
    return summary


def relinked_value(value: Any, pairs: Mapping[str, str], workspace_id: str) -> list[dict[str, str]] | None:
    """Return an Assets field's new value with each recreated object in place, or None when it needs none.

    Each old object still in the field is replaced where it stands by its new one; a new object whose old
    one is gone (Jira removes a deleted object from every field) is added at the end. The other values stay,
    in their order. A field that already holds every new object is left as it is.

    :param value: the field's current value (a list of entries, or ``null``).
    :param pairs: old object id -> new object id, for this field.
    :param workspace_id: the Assets workspace of the new objects (and of entries that do not name theirs).
    """
    entries = field_entries(value, workspace_id)
    held = [entry["objectId"] for entry in entries]
    missing = {old: new for old, new in pairs.items() if new not in held}
    if not missing:
        return None
    result: list[dict[str, str]] = []
    for entry in entries:
        new = missing.pop(entry["objectId"], None)
        result.append(entry_for(workspace_id, new) if new is not None else entry)
    result.extend(entry_for(workspace_id, new) for new in dict.fromkeys(missing.values()))
    return result


def _links_wanted(
    tickets: Iterable[Mapping[str, Any]], recreated: Mapping[str, str], summary: RelinkSummary
) -> dict[str, _IssueLinks]:
    """Group the tickets of recreated objects by issue (its id, which survives a move to another project)."""
    wanted: dict[str, _IssueLinks] = {}
    for ticket in tickets:
        old = str(ticket.get("objectId") or "").strip()
        new = recreated.get(old)
        if new is None:
            continue
        name = str(ticket.get("key") or ticket.get("id") or "").strip().upper()
        ref = str(ticket.get("id") or ticket.get("key") or "").strip().upper()
        if not ref:
            continue
        fields = ticket.get("assets_fields")
        if not fields:
            # None: the backup could not list Jira's fields; []: it could not read the issue.
            summary.unreadable.append(
                f"{name}: the backup did not record which Assets field held object {old}; "
                f"put object {new} into the issue by hand"
            )
            continue
        links = wanted.setdefault(ref, _IssueLinks(name))
        for field_id in fields:
            links.fields.setdefault(str(field_id), {})[old] = str(new)
    return wanted


def _write(client: AssetsClient, key: str, changes: Mapping[str, Any], summary: RelinkSummary) -> bool:
    """Edit one issue; a refusal is reported in ``summary`` (False), a transport failure raised."""
    try:
        client.update_issue(key, changes)
    except AssetsApiError as error:
        if error.status not in _REFUSALS:
            raise
        summary.failed.append(f"{key}: {error}")
        log.warning("re-link: Jira refused to edit %s: %s", key, error)
        return False
    return True

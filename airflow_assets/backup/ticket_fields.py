"""Which Assets fields of each connected Jira issue hold the object: the issues read by JQL, in batches.

The tickets step stores, with each connected ticket of an object, the ids of the issue's Assets custom fields
that hold that object (``assets_fields``), so that a restore that creates the object again (under a new id)
can put it back into the same fields. The site's Assets fields are read once per step
(``GET /rest/api/3/field``), the issues in batches (:func:`airflow_assets.api.issues.find_issues`: ``issue
in (...)`` asking for those fields only), never one call per issue. An issue the search does not return
(deleted, or hidden from the account) holds the object in no field the backup can see: it gets ``[]`` and
is counted.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.api.issues import SEARCH_BATCH, entry_object_id, find_issues
from airflow_assets.exceptions import AssetsAuthError

log = logging.getLogger(__name__)

CACHED_ISSUES = 1000  # issues whose Assets fields are remembered across windows of objects

# What a looked-up issue holds: Assets field id -> the object ids in it. None: the search did not return it.
Holdings = dict[str, frozenset[str]] | None


def ticket_ref(ticket: Mapping[str, Any]) -> str | None:
    """Return what a connected ticket is searched by: its key (upper case), else its id."""
    for name in ("key", "id"):
        value = ticket.get(name)
        if value is not None and str(value).strip():
            return str(value).strip().upper()
    return None


class AssetsFieldReader:
    """Look up, for connected tickets, which Assets fields of their issues hold an object.

    Built by :meth:`open`, which reads the site's Assets field ids once. :meth:`look_up` searches the issues
    not yet known, ``batch_size`` keys per search; :meth:`fields_holding` then answers from memory. The
    last ``cache_size`` issues are remembered, so an issue connected to objects of several windows is read
    once.

    :param client: the site's client.
    :param field_ids: the ids of the site's Assets fields; None when they could not be read (then nothing
        is looked up and :meth:`fields_holding` answers None: unknown).
    :param batch_size: issue keys per search (default ``SEARCH_BATCH``).
    :param cache_size: issues remembered (default ``CACHED_ISSUES``).
    """

    def __init__(
        self,
        client: AssetsClient,
        field_ids: list[str] | None,
        *,
        batch_size: int | None = None,
        cache_size: int | None = None,
    ) -> None:
        self.client = client
        self.field_ids = field_ids
        # Read when built, so a test (or a tuned deployment) may set the module's figures.
        self.batch_size = batch_size or SEARCH_BATCH
        self.cache_size = cache_size or CACHED_ISSUES
        self.searches = 0
        self.unreadable = 0
        self._known: OrderedDict[str, Holdings] = OrderedDict()
        # The issue id of each ref waiting to be searched: an issue moved to another project answers with
        # a new key, but keeps its id.
        self._ids: dict[str, str] = {}

    @classmethod
    def open(cls, client: AssetsClient, **options: Any) -> AssetsFieldReader:
        """Read the site's Assets field ids (one call) and return a reader for them.

        An account that may not list Jira's fields gets a reader that records nothing (logged): the
        tickets are still backed up, without ``assets_fields``.
        """
        try:
            field_ids: list[str] | None = client.get_assets_field_ids()
        except AssetsAuthError as error:
            log.warning(
                "connected tickets: the Jira field list could not be read (%s); the Assets fields that hold "
                "each object are not recorded in this run",
                error,
            )
            field_ids = None
        return cls(client, field_ids, **options)

    @property
    def active(self) -> bool:
        """Tell whether the issues are looked up at all (the field list was read and names Assets fields)."""
        return bool(self.field_ids)

    def unknown(self, tickets: Iterable[Mapping[str, Any]]) -> set[str]:
        """Return the refs of the tickets whose issues still have to be searched."""
        if not self.active:
            return set()
        missing = set()
        for ticket in tickets:
            ref = ticket_ref(ticket) if isinstance(ticket, Mapping) else None
            if ref is None:
                continue
            if ref in self._known:
                self._known.move_to_end(ref)  # in use again: the last to be forgotten
                continue
            missing.add(ref)
            if ticket.get("id") is not None:
                self._ids[ref] = str(ticket["id"]).strip().upper()
        return missing

    def look_up(self, refs: Iterable[str]) -> None:
        """Search the issues of ``refs`` not yet known, ``batch_size`` at a time."""
        if not self.active:
            return
        wanted = sorted({ref for ref in refs if ref not in self._known})
        for start in range(0, len(wanted), self.batch_size):
            self._search(wanted[start : start + self.batch_size])

    def fields_holding(self, ticket: Mapping[str, Any], object_id: str) -> list[str] | None:
        """Return the sorted ids of the Assets fields of the ticket's issue that hold ``object_id``.

        ``[]`` when the issue could not be read; None when the field list could not be read (unknown).
        Only a looked-up ticket may be asked about.
        """
        if self.field_ids is None:
            return None
        if not self.field_ids:
            return []
        ref = ticket_ref(ticket)
        if ref is None:
            return []
        if ref not in self._known:
            # Forgotten since its window began (a window of many issues known from earlier): read again.
            self.look_up([ref])
        holdings = self._known[ref]
        if holdings is None:
            return []
        return sorted(field_id for field_id, held in holdings.items() if object_id in held)

    def knows(self, tickets: Iterable[Mapping[str, Any]]) -> bool:
        """Tell whether every ticket's issue was looked up (or needs no look-up)."""
        return not self.unknown(tickets)

    # -- searching ------------------------------------------------------------------------------------

    def _search(self, refs: list[str]) -> None:
        """Search one batch; an issue Jira does not return (deleted, not visible) holds nothing we can see.

        An issue is searched by its id when the ticket has one: an issue moved to another project answers
        under a new key, but keeps its id.
        """
        by_query = {self._ids.get(ref, ref): ref for ref in refs}
        found = find_issues(
            self.client, list(by_query), fields=self.field_ids or [], batch_size=len(by_query)
        )
        self.searches += found.searches
        results: dict[str, Holdings] = {}
        for query, ref in by_query.items():
            issue = found.issues.get(query)
            if issue is None:
                log.info("connected tickets: issue %s cannot be read: %s", ref, found.missing.get(query, "?"))
                results[ref] = None
            else:
                results[ref] = self._holdings(issue)
        self._remember(results)

    def _holdings(self, issue: Mapping[str, Any]) -> dict[str, frozenset[str]]:
        fields = issue.get("fields")
        fields = fields if isinstance(fields, Mapping) else {}
        holdings: dict[str, frozenset[str]] = {}
        for field_id in self.field_ids or []:
            value = fields.get(field_id)
            entries = value if isinstance(value, list) else []
            held = {entry_object_id(entry) for entry in entries if isinstance(entry, Mapping)}
            held.discard(None)
            if held:
                holdings[field_id] = frozenset(str(object_id) for object_id in held)
        return holdings

    def _remember(self, results: Mapping[str, Holdings]) -> None:
        for ref, holdings in results.items():
            self._ids.pop(ref, None)
            if holdings is None:
                self.unreadable += 1
            self._known[ref] = holdings
            self._known.move_to_end(ref)
        # Never forget what the current window still needs: only the oldest beyond the bound go.
        while len(self._known) > max(self.cache_size, len(results)):
            self._known.popitem(last=False)

"""Bring comments back as comments that name their author and time; history as one comment per object.

The API sets the author and time of a comment to the caller and now, so both go into the text's first
line, with a marker (``<old key> #<comment id>``) that lets a retry find a comment an interrupted try
created. An object's history becomes one compact, readable comment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.exceptions import AssetsApiError, AssetsTransportError
from airflow_assets.model import normalize as norm
from airflow_assets.restore.ledger import Created, Ledger
from airflow_assets.restore.progress import progress_log
from airflow_assets.restore.source import SourceSnapshot
from airflow_assets.restore.structure import maybe_applied

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]

COMMENT = "comment"
HISTORY_COMMENT = "history_comment"
# Keep a history comment readable and well under any size limit of the comment field.
HISTORY_COMMENT_LIMIT = 30_000
HISTORY_TYPES = {
    0: "created the object", 1: "added", 2: "changed", 3: "removed", 4: "added reference",
    5: "changed reference", 6: "removed reference", 7: "added attachment", 8: "removed attachment",
    9: "added user", 10: "changed user", 11: "removed user", 15: "added group", 16: "changed group",
    17: "removed group", 25: "added avatar", 26: "changed avatar", 27: "removed avatar",
}  # fmt: skip


@dataclass
class CommentsSummary:
    """What the comments step did."""

    comments_created: int = 0
    history_comments_created: int = 0
    already_done: int = 0
    comment_calls: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-compatible values."""
        return dict(self.__dict__)


def _when(value: Any) -> str:
    text = str(value or "?")
    return text[:16].replace("T", " ") + " UTC" if len(text) >= 16 else text


def _who(actor: Mapping[str, Any] | None) -> str:
    if not actor:
        return "an unknown user"
    return str(actor.get("displayName") or actor.get("accountId") or "an unknown user")


def comment_marker(old_key: str, comment_id: str) -> str:
    """Return the marker a restored comment carries."""
    return f"{old_key} #{comment_id}"


def comment_text(comment: Mapping[str, Any], old_key: str) -> str:
    """Return the text a comment is restored with: who wrote it when, then the comment itself."""
    header = (
        f"[Restored comment · originally by {_who(comment.get('actor'))} on {_when(comment.get('created'))}"
        f" · {comment_marker(old_key, str(comment['id']))}]"
    )
    return f"{header}\n\n{comment.get('comment') or ''}"


def history_marker(old_key: str) -> str:
    """Return the marker of an object's history comment."""
    return f"[Restored history of {old_key}"


def history_text(entries: Iterable[Mapping[str, Any]], old_key: str) -> str:
    """Return an object's history as one compact, readable comment (oldest first)."""
    ordered = sorted(entries, key=lambda e: (str(e.get("created") or ""), _number(e.get("id"))))
    lines = []
    for entry in ordered:
        kind = _number(entry.get("type"))
        action = HISTORY_TYPES.get(kind, f"change of type {kind}")
        line = f"{_when(entry.get('created'))} · {_who(entry.get('actor'))} · {action}"
        attribute = entry.get("affectedAttribute")
        if attribute:
            line += f" {attribute}"
        old, new = entry.get("oldValue"), entry.get("newValue")
        if old not in (None, "") or new not in (None, ""):
            before = old if old not in (None, "") else "(none)"
            after = new if new not in (None, "") else "(none)"
            line += f": {before} → {after}"
        lines.append(line)
    header = f"{history_marker(old_key)} · {len(lines)} entries, oldest first]"
    text = "\n".join([header, *lines])
    if len(text) > HISTORY_COMMENT_LIMIT:
        kept = []
        size = len(header) + 60
        for line in lines:
            if size + len(line) + 1 > HISTORY_COMMENT_LIMIT:
                break
            kept.append(line)
            size += len(line) + 1
        text = "\n".join([header, *kept, f"... and {len(lines) - len(kept)} more entries (see the backup)"])
    return text


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _by_object(entries: Iterator[JsonDict]) -> Iterator[tuple[str, list[JsonDict]]]:
    for object_id, group in groupby(entries, key=lambda e: str(e.get("objectId"))):
        yield object_id, list(group)


def restore_comments(
    client: AssetsClient,
    ledger: Ledger,
    snapshot: SourceSnapshot,
    created: Mapping[str, Created],
    *,
    comments: bool,
    history: bool,
    summary: CommentsSummary,
) -> None:
    """Restore the comments (and history) of the objects of one schema that this restore created.

    :param created: old object id -> the object it became (only these get comments).
    """
    done_comments = ledger.created(COMMENT) if comments else {}
    done_history = ledger.created(HISTORY_COMMENT) if history else {}
    work: list[tuple[str, str, str, str]] = []  # (kind, old id, new object id, text)
    if comments and snapshot.includes("comments"):
        for object_id, entries in _by_object(snapshot.entries("comment")):
            target = created.get(object_id)
            if target is None:
                continue
            for comment in sorted(entries, key=lambda c: (str(c.get("created") or ""), _number(c.get("id")))):
                if str(comment["id"]) in done_comments:
                    summary.already_done += 1
                    continue
                work.append(
                    (
                        COMMENT,
                        str(comment["id"]),
                        target.new_id,
                        comment_text(comment, _old_object_key(snapshot, object_id)),
                    )
                )
    if history and snapshot.includes("history"):
        for object_id, entries in _by_object(snapshot.entries("history")):
            target = created.get(object_id)
            if target is None:
                continue
            if object_id in done_history:
                summary.already_done += 1
                continue
            work.append(
                (
                    HISTORY_COMMENT,
                    object_id,
                    target.new_id,
                    history_text(entries, _old_object_key(snapshot, object_id)),
                )
            )
    by_object: dict[str, list[tuple[str, str, str, str]]] = {}
    for item in work:
        by_object.setdefault(item[2], []).append(item)

    # Intents an interrupted try left open: the comment may exist already.
    settled = {
        (intent.kind, intent.old_id)
        for kind in (COMMENT, HISTORY_COMMENT)
        for intent in ledger.open_intents(kind)
    }

    def write(items: list[tuple[str, str, str, str]]) -> int:
        count = 0
        existing: list[str] | None = None
        for kind, old_id, new_object_id, text in items:
            if (kind, old_id) in settled:
                if existing is None:
                    existing = [
                        str(c.get("comment") or "") for c in client.get_object_comments(new_object_id)
                    ]
                first_line = text.split("\n", 1)[0]
                if any(c.split("\n", 1)[0] == first_line for c in existing):
                    ledger.complete(kind, old_id, Created("reconciled"))
                    continue
            ledger.open(kind, old_id)
            answer = _create_once(client, new_object_id, text)
            ledger.complete(kind, old_id, Created(norm.as_id(answer.get("id"), what="a new comment's id")))
            count += 1
        return count

    progress = progress_log(log, f"comments of {snapshot.mapping.old_key}", len(work))
    for items, count in client.map_concurrent(write, list(by_object.values()), ordered=False):
        summary.comment_calls += count
        progress.add(len(items))
        for kind, *_ in items:
            if kind == COMMENT:
                summary.comments_created += 1
            else:
                summary.history_comments_created += 1


def _create_once(client: AssetsClient, object_id: str, text: str) -> JsonDict:
    """Create a comment; when an answer is lost, look for it before sending it again."""
    for attempt in range(3):
        try:
            return client.create_comment(object_id, text)
        except (AssetsApiError, AssetsTransportError) as error:
            if not maybe_applied(error) or attempt == 2:
                raise
            if _exists(client, object_id, text):
                return {"id": "reconciled"}
    raise AssertionError("unreachable")


def _exists(client: AssetsClient, object_id: str, text: str) -> bool:
    """Tell whether a comment with the header of ``text`` is on the object."""
    header = text.split("\n", 1)[0]
    return any(
        str(c.get("comment") or "").split("\n", 1)[0] == header for c in client.get_object_comments(object_id)
    )


def _old_object_key(snapshot: SourceSnapshot, object_id: str) -> str:
    return f"{snapshot.mapping.old_key}-{object_id}"

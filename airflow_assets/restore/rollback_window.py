"""Narrow a rollback to the changes some accounts made in a time window: which attributes go back.

A rollback in place compares the live schema with a snapshot (:mod:`~airflow_assets.restore.rollback_diff`)
and would put back every attribute that differs. Given accounts and/or a window (``changed_by``,
``changed_from``, ``changed_to``), only the attributes those accounts changed in the window go back, to the
snapshot's value (exact ids, never display text read back). The object's stored history decides, entry by
entry, for each differing attribute:

- it goes back when some entry of it lies in the window and was made by one of the accounts (a *matching*
  entry); with no accounts given, any actor matches; with no bounds given, any moment is in the window;
- it is *left* as it is (counted) when no entry of it matches: it was changed outside the window or by
  others;
- it is a *conflict* when an entry that does not match follows the last matching one (someone else, or the
  same account outside the window, changed it later: putting the snapshot's value back would undo that), or
  precedes the first matching one after the snapshot's moment (the value just before the window is not the
  snapshot's, so the snapshot holds no exact value to put back). A conflict is listed and left as it is,
  unless ``on_conflict`` is ``snapshot``: then it goes back too, still listed, marked as overridden.

Entries at or before the snapshot's moment (``state_at``) are already in the snapshot and are not looked at.
Both bounds of the window are inclusive: an entry at exactly ``changed_from`` or ``changed_to`` is in it.
Moments are compared as instants, whatever offset they were written with.

History names an attribute by its name at the time: an entry matches an attribute by any of the names given
for it (the snapshot's and the live one). A name it had only in between is not known and its entries are
not matched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from airflow_assets.exceptions import AssetsConfigError, JiraAssetsError
from airflow_assets.ids import id_order
from airflow_assets.model.display import parse_moment
from airflow_assets.restore.rollback_diff import Rewrite
from airflow_assets.store.reader import SnapshotReader
from airflow_assets.store.snapshots import Snapshot

JsonDict = dict[str, Any]

KEEP = "keep"
SNAPSHOT = "snapshot"
ON_CONFLICT = (KEEP, SNAPSHOT)

# History type codes that are not a change of an attribute's values (the contract's list): created,
# attachments added or deleted, avatar changes. Any other code naming an attribute counts, unknown ones too.
CREATED = 0
NOT_VALUE_CODES = frozenset({CREATED, 7, 8, 25, 26, 27})

CHANGED_LATER = "changed later"
CHANGED_BEFORE = "changed between the snapshot and the window"
FIRST_CONFLICTS = 50  # conflicts kept in full in the summary
ENTRY_BATCH = 500  # objects whose history one query reads


class RollbackWindowError(JiraAssetsError):
    """The history needed to narrow a rollback to a window cannot be read (the snapshot holds none...)."""


class ChangeWindowError(AssetsConfigError):
    """The accounts or moments that narrow a rollback are invalid (a naive moment, an empty window...)."""


@dataclass(frozen=True)
class ChangeWindow:
    """Whose changes, made when, a rollback puts back.

    :param accounts: account ids or display names (a display name matches case-insensitively); empty:
        changes by anyone.
    :param start: the window's first moment, inclusive (an aware datetime); None: open.
    :param end: the window's last moment, inclusive (an aware datetime); None: open.
    :raises ChangeWindowError: a moment has no time zone, or ``start`` is after ``end``.
    """

    accounts: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ChangeWindowError(
                    f"changed_{'from' if name == 'start' else 'to'} {moment.isoformat()} has no time zone: "
                    "give an offset (e.g. 2026-12-01T08:00:00+00:00)"
                )
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ChangeWindowError(
                f"changed_from {self.start.isoformat()} is after changed_to {self.end.isoformat()}: "
                "the window would hold no change"
            )
        blank = sorted(account for account in self.accounts if not account.strip())
        if blank:
            raise ChangeWindowError("changed_by holds an empty account: give account ids or display names")

    @property
    def active(self) -> bool:
        """Tell whether the window narrows anything (accounts or a bound given)."""
        return bool(self.accounts) or self.start is not None or self.end is not None

    def matches_actor(self, actor: Mapping[str, Any] | None) -> bool:
        """Tell whether an entry's actor is one of the accounts (any actor when no accounts are given).

        :param actor: a normalised actor (``accountId``, ``displayName``, ...); None: unknown.
        """
        if not self.accounts:
            return True
        if not actor:
            return False
        account_id = actor.get("accountId") or actor.get("key")
        if account_id is not None and str(account_id) in self.accounts:
            return True
        names = {account.strip().casefold() for account in self.accounts}
        return any(
            str(actor[field_name]).strip().casefold() in names
            for field_name in ("displayName", "name")
            if actor.get(field_name)
        )

    def covers(self, moment: datetime) -> bool:
        """Tell whether a moment lies in the window (both bounds inclusive; a naive moment counts as UTC)."""
        if moment.utcoffset() is None:
            moment = moment.replace(tzinfo=UTC)
        if self.start is not None and moment < self.start:
            return False
        return self.end is None or moment <= self.end

    def matches(self, moment: datetime, actor: Mapping[str, Any] | None) -> bool:
        """Tell whether a change at ``moment`` by ``actor`` is one the rollback puts back."""
        return self.covers(moment) and self.matches_actor(actor)

    def describe(self) -> str:
        """Return the window in one line for a plan log."""
        who = ", ".join(sorted(self.accounts)) if self.accounts else "anyone"
        start = self.start.isoformat() if self.start else "the snapshot"
        end = self.end.isoformat() if self.end else "now"
        return f"changes by {who} from {start} to {end}"


@dataclass(frozen=True)
class Conflict:
    """An attribute changed in the window that something else changed too: the snapshot's value would undo it.

    :param object_id: the object.
    :param object_key: its key, if known ("" otherwise).
    :param attribute_id: the attribute.
    :param attribute_name: its name (the first name given for it).
    :param reason: why it is a conflict, with who and when.
    :param changed_by: who made the change that conflicts (display name, else account id).
    :param changed_at: when.
    :param overridden: True when it goes back anyway (``on_conflict: snapshot``).
    """

    object_id: str
    object_key: str
    attribute_id: str
    attribute_name: str
    reason: str
    changed_by: str
    changed_at: datetime
    overridden: bool = False

    def line(self) -> str:
        """Return one line for a plan log."""
        action = "put back anyway" if self.overridden else "left as it is"
        return f"{self.object_key or self.object_id} {self.attribute_name}: {self.reason} ({action})"

    def as_dict(self) -> JsonDict:
        """Return a JSON-compatible form."""
        return {
            "object_id": self.object_id,
            "object_key": self.object_key,
            "attribute_id": self.attribute_id,
            "attribute": self.attribute_name,
            "reason": self.reason,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at.isoformat(),
            "overridden": self.overridden,
        }


@dataclass(frozen=True)
class WindowPlan:
    """Which differing attributes a windowed rollback puts back.

    :param rewrites: the rewrites narrowed to the attributes that go back (objects with none left dropped).
    :param conflicts: every conflict, in object and attribute id order.
    :param left: attributes that differ but were not changed in the window by the accounts (left as they are).
    :param on_conflict: ``keep`` (conflicts left as they are) or ``snapshot`` (put back anyway).
    :param window: the window applied.
    :param attributes_differing: attributes the diff found differing, before narrowing.
    :param unreadable_entries: history entries of those attributes whose moment could not be read (skipped).
    :param history_until: the moment of the snapshot whose history was read: a change made after it is not
        seen (neither as a change to put back nor as a conflict); None when not known.
    """

    rewrites: tuple[Rewrite, ...]
    conflicts: tuple[Conflict, ...]
    left: int
    on_conflict: str
    window: ChangeWindow
    attributes_differing: int = 0
    unreadable_entries: int = 0
    history_until: datetime | None = None

    @property
    def attributes_back(self) -> int:
        """Return how many attributes go back (overridden conflicts included)."""
        return sum(len(rewrite.attribute_ids) for rewrite in self.rewrites)

    def counts(self) -> dict[str, int]:
        """Return the counts a plan log shows."""
        overridden = sum(1 for conflict in self.conflicts if conflict.overridden)
        return {
            "attributes_differing": self.attributes_differing,
            "attributes_back": self.attributes_back,
            "objects_back": len(self.rewrites),
            "conflicts": len(self.conflicts),
            "conflicts_overridden": overridden,
            "conflicts_left": len(self.conflicts) - overridden,
            "left": self.left,
            "unreadable_entries": self.unreadable_entries,
        }

    def as_dict(self, first: int = FIRST_CONFLICTS) -> JsonDict:
        """Return a JSON-compatible summary: the window, the counts and the first ``first`` conflicts."""
        return {
            "window": {
                "accounts": sorted(self.window.accounts),
                "from": self.window.start.isoformat() if self.window.start else None,
                "to": self.window.end.isoformat() if self.window.end else None,
            },
            "on_conflict": self.on_conflict,
            "history_until": self.history_until.isoformat() if self.history_until else None,
            "counts": self.counts(),
            "first_conflicts": [conflict.as_dict() for conflict in self.conflicts[:first]],
        }


@dataclass(frozen=True)
class _Change:
    """One readable history entry of an attribute."""

    moment: datetime
    order: tuple[int, str]
    actor: Mapping[str, Any] | None
    matching: bool


@dataclass
class _Tally:
    rewrites: list[Rewrite] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    left: int = 0
    differing: int = 0
    unreadable: int = 0


def classify(
    rewrites: Iterable[Rewrite],
    entries_of: Callable[[str], Sequence[Mapping[str, Any]]],
    names_of: Callable[[str], Iterable[str]],
    window: ChangeWindow,
    *,
    snapshot_state_at: datetime,
    on_conflict: str = KEEP,
    key_of: Callable[[str], str | None] | None = None,
) -> WindowPlan:
    """Return which attributes of ``rewrites`` go back under ``window`` (see the module docstring).

    An inactive window (no accounts, no bounds) narrows nothing: every rewrite goes back as it is.

    :param rewrites: the diff's rewrites (changed objects, the ids of their differing attributes).
    :param entries_of: object id -> its history entries, normalised, in any order (:func:`load_entries`).
    :param names_of: attribute id -> its names (the snapshot's and the live one): history names attributes.
    :param window: the accounts and moments whose changes go back.
    :param snapshot_state_at: the snapshot's moment; earlier entries are in the snapshot already.
    :param on_conflict: ``keep`` (a conflict is left as it is) or ``snapshot`` (it goes back too).
    :param key_of: object id -> its key, for the conflicts (None: keys unknown).
    :raises ChangeWindowError: ``on_conflict`` is neither ``keep`` nor ``snapshot``, or the snapshot's
        moment has no time zone.
    """
    if on_conflict not in ON_CONFLICT:
        raise ChangeWindowError(f"on_conflict {on_conflict!r} is not one of: {', '.join(ON_CONFLICT)}")
    if snapshot_state_at.utcoffset() is None:
        raise ChangeWindowError("the snapshot's moment has no time zone: give an aware datetime")
    tally = _Tally()
    for rewrite in rewrites:
        tally.differing += len(rewrite.attribute_ids)
        if not window.active:
            tally.rewrites.append(rewrite)
            continue
        _classify_object(
            rewrite,
            entries_of(rewrite.object_id),
            names_of,
            window,
            snapshot_state_at,
            on_conflict,
            key_of,
            tally,
        )
    return WindowPlan(
        rewrites=tuple(tally.rewrites),
        conflicts=tuple(tally.conflicts),
        left=tally.left,
        on_conflict=on_conflict,
        window=window,
        attributes_differing=tally.differing,
        unreadable_entries=tally.unreadable,
    )


def classify_stored(
    reader: SnapshotReader,
    history_snapshot: Snapshot,
    rewrites: Sequence[Rewrite],
    names_of: Callable[[str], Iterable[str]],
    window: ChangeWindow,
    *,
    snapshot_state_at: datetime,
    on_conflict: str = KEEP,
    key_of: Callable[[str], str | None] | None = None,
    batch: int = ENTRY_BATCH,
) -> WindowPlan:
    """Classify ``rewrites`` with the history a snapshot holds, reading it ``batch`` objects at a time.

    The same as :func:`classify` with :func:`load_entries`, but memory holds one batch of history.

    :param history_snapshot: the snapshot whose history is read: one taken after the window (the newest),
        not the snapshot the rollback puts back (its history stops at its own moment). Changes made after
        it are not seen: the plan's ``history_until`` says up to when history was read.
    :param batch: objects whose history one query reads.
    :raises RollbackWindowError: the history snapshot was taken without history.
    """
    options: dict[str, Any] = {
        "snapshot_state_at": snapshot_state_at,
        "on_conflict": on_conflict,
        "key_of": key_of,
    }
    history_until = history_snapshot.state_at
    if not window.active:
        return replace(classify(rewrites, lambda _: (), names_of, window, **options), history_until=None)
    plans = []
    for start in range(0, len(rewrites), batch):
        chunk = rewrites[start : start + batch]
        held = dict(load_entries(reader, history_snapshot, [r.object_id for r in chunk], batch=batch))
        # load_entries yields every id it is given (with no entries when it has none).
        plans.append(classify(chunk, held.__getitem__, names_of, window, **options))
    return WindowPlan(
        rewrites=tuple(r for plan in plans for r in plan.rewrites),
        conflicts=tuple(c for plan in plans for c in plan.conflicts),
        left=sum(plan.left for plan in plans),
        on_conflict=on_conflict,
        window=window,
        attributes_differing=sum(plan.attributes_differing for plan in plans),
        unreadable_entries=sum(plan.unreadable_entries for plan in plans),
        history_until=history_until,
    )


def _classify_object(
    rewrite: Rewrite,
    entries: Sequence[Mapping[str, Any]],
    names_of: Callable[[str], Iterable[str]],
    window: ChangeWindow,
    state_at: datetime,
    on_conflict: str,
    key_of: Callable[[str], str | None] | None,
    tally: _Tally,
) -> None:
    by_name: dict[str, list[_Change]] = {}
    for entry in entries:
        name = entry.get("affectedAttribute")
        if not name or _code(entry) in NOT_VALUE_CODES:
            continue
        moment = parse_moment(entry.get("created"))
        if moment is None:
            tally.unreadable += 1
            continue
        if moment <= state_at:
            continue
        actor = entry.get("actor")
        actor = actor if isinstance(actor, Mapping) else None
        change = _Change(moment, id_order(entry.get("id")), actor, window.matches(moment, actor))
        by_name.setdefault(_name_key(str(name)), []).append(change)
    back: list[str] = []
    for attribute_id in rewrite.attribute_ids:
        names = [str(name) for name in names_of(attribute_id) if name]
        changes = sorted(
            (change for key in {_name_key(name) for name in names} for change in by_name.get(key, [])),
            key=lambda change: (change.moment, change.order),
        )
        matching = [index for index, change in enumerate(changes) if change.matching]
        if not matching:
            tally.left += 1
            continue
        reasons: list[str] = []
        culprit: _Change | None = None
        later = [change for change in changes[matching[-1] + 1 :] if not change.matching]
        if later:
            culprit = later[-1]  # its value is the live one
            reasons.append(f"{CHANGED_LATER} by {_who(culprit.actor)} at {culprit.moment.isoformat()}")
        earlier = [change for change in changes[: matching[0]] if not change.matching]
        if earlier:
            first = earlier[0]
            culprit = culprit or first
            reasons.append(f"{CHANGED_BEFORE} by {_who(first.actor)} at {first.moment.isoformat()}")
        if culprit is None:
            back.append(attribute_id)
            continue
        overridden = on_conflict == SNAPSHOT
        if overridden:
            back.append(attribute_id)
        key = (key_of(rewrite.object_id) if key_of else None) or ""
        tally.conflicts.append(
            Conflict(
                rewrite.object_id,
                key,
                attribute_id,
                names[0] if names else attribute_id,
                "; ".join(reasons),
                _who(culprit.actor),
                culprit.moment,
                overridden,
            )
        )
    if back:
        tally.rewrites.append(Rewrite(rewrite.object_id, rewrite.type_id, tuple(back)))


def _code(entry: Mapping[str, Any]) -> int | None:
    try:
        return int(entry.get("type"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _name_key(name: str) -> str:
    # Attribute names of a type are unique regardless of case; history may spell them as they were.
    return name.strip().casefold()


def _who(actor: Mapping[str, Any] | None) -> str:
    if not actor:
        return "an unknown user"
    return str(actor.get("displayName") or actor.get("name") or actor.get("accountId") or "an unknown user")


# -- objects created since the snapshot ---------------------------------------------------------------


def creation(entries: Iterable[Mapping[str, Any]]) -> tuple[datetime | None, Mapping[str, Any] | None]:
    """Return when and by whom an object was created, from its history's ``created`` entry (or None, None)."""
    for entry in entries:
        if _code(entry) == CREATED:
            actor = entry.get("actor")
            return parse_moment(entry.get("created")), actor if isinstance(actor, Mapping) else None
    return None, None


def created_in_window(
    objects: Iterable[tuple[str, datetime | None, Mapping[str, Any] | None]], window: ChangeWindow
) -> list[str]:
    """Return the ids of the objects created since the snapshot that the window's changes created.

    An inactive window takes them all. Otherwise an object counts when its creation moment is in the
    window (both bounds inclusive) and its creator is one of the accounts; an object whose moment is
    unknown counts only when the window has no bounds, whose creator is unknown only when no accounts are
    given (a delete must never guess).

    :param objects: (object id, when it was created, the creating actor of its ``created`` entry).
    """
    chosen = []
    for object_id, moment, actor in objects:
        if not window.active:
            chosen.append(object_id)
            continue
        bounded = window.start is not None or window.end is not None
        if moment is None and bounded:
            continue
        if moment is not None and not window.covers(moment):
            continue
        if window.matches_actor(actor):
            chosen.append(object_id)
    return chosen


# -- reading the history ------------------------------------------------------------------------------


def load_entries(
    reader: SnapshotReader, snapshot: Snapshot, object_ids: Iterable[str], *, batch: int = ENTRY_BATCH
) -> Iterator[tuple[str, list[JsonDict]]]:
    """Yield (object id, its history entries oldest first) for every object id given, in the order given.

    One query per ``batch`` objects, on the spans' ``parent_id`` (the ``parent`` index): memory holds one
    batch. An object the snapshot holds no history of is yielded with no entries.

    :param snapshot: a snapshot taken after the changes to judge (its history holds them).
    :raises RollbackWindowError: the snapshot was taken without history.
    """
    if not snapshot.include.get("history"):
        raise RollbackWindowError(
            f"snapshot {snapshot.snapshot_id} holds no history (its backup left history out): narrowing a "
            "rollback by changed_by/changed_from/changed_to needs a snapshot with history taken after them"
        )
    pending: list[str] = []
    for object_id in object_ids:
        pending.append(str(object_id))
        if len(pending) >= batch:
            yield from _batch_entries(reader, snapshot, pending)
            pending = []
    if pending:
        yield from _batch_entries(reader, snapshot, pending)


def _batch_entries(
    reader: SnapshotReader, snapshot: Snapshot, object_ids: Sequence[str]
) -> Iterator[tuple[str, list[JsonDict]]]:
    held: dict[str, list[JsonDict]] = {object_id: [] for object_id in object_ids}
    query = {"parent_id": {"$in": sorted(held)}}
    for entry in reader.read(snapshot, "history", query):
        entries = held.get(str(entry.get("objectId")))
        if entries is not None:
            entries.append(entry)
    for object_id in object_ids:
        entries = held[object_id]
        entries.sort(key=_entry_order)
        yield object_id, entries


def _entry_order(entry: Mapping[str, Any]) -> tuple[datetime, tuple[int, str]]:
    moment = parse_moment(entry.get("created")) or datetime.min.replace(tzinfo=UTC)
    return moment, id_order(entry.get("id"))

"""Put a live schema's configuration back to its snapshot, in place: names, settings, attribute order.

The structure step (``recreate_missing`` on the snapshot's own site) brings back the object types and
attributes deleted since; this step puts back what was *changed*: a renamed type or attribute gets its
name back, changed settings their snapshot value, a type's own attributes their snapshot order, and a
status type of the schema its name and category.

Every write compares the live configuration first and sends only what differs, so a retry after a kill
writes nothing twice and a second run writes nothing. What the site refuses (a unique setting while
objects share a value, a name another attribute took since...) is reported, not raised: the other
settings are still put back, each on its own when the site refused them together; a refused one reads
``<schema key>: attribute <Type>.<Name>: <setting> could not be put back: <site message>``. What a site
cannot change at all (an attribute's type, its value type, the type a reference points to) is reported
the same way. Renames wait for the name they take back to be freed; two attributes that swapped names
get them back through a temporary name.

What differs is a pure function of two views (:func:`attribute_view`, :func:`attribute_changes`), so a
plan can show it without writing (``dry_run``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.exceptions import AssetsBadRequestError, AssetsNotFoundError
from airflow_assets.model import normalize as norm
from airflow_assets.model.attributes import (
    ATTR_DEFAULT,
    ATTR_GROUP,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    attribute_kind,
    default_type_id,
    is_system,
    reference_type_id,
    referenced_type,
)
from airflow_assets.model.schema_config import sibling_order
from airflow_assets.restore.attribute_order import planned_moves
from airflow_assets.restore.attribute_settings import SETTINGS, attribute_settings, mapped_statuses
from airflow_assets.restore.ledger import Ledger
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.structure import ATTRIBUTE, OBJECT_TYPE, REFERENCE, SCHEMA, STATUS

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]

# What a site does not change on an existing attribute: reported, never written.
FIXED = ("type", "defaultType", "referencedObjectType")
# What an update body writes back, in the order a report lists it.
REVERTIBLE = ("name", "label", *SETTINGS, "typeValueMulti", "referenceType")
TYPE_FIELDS = ("name", "description", "iconId")
STATUS_FIELDS = ("name", "category", "description")
# What the site refuses is reported; anything else (a server fault, an expired token) stops the step.
REFUSALS = (AssetsBadRequestError, AssetsNotFoundError)


@dataclass(frozen=True)
class SettingChange:
    """One setting whose live value differs from the snapshot's."""

    setting: str
    live: Any
    snapshot: Any

    def describe(self) -> str:
        """Return ``setting live -> snapshot`` as a report line shows it."""
        return f"{self.setting} {self.live!r} -> {self.snapshot!r}"


@dataclass(frozen=True)
class ConfigRevert:
    """What putting a schema's configuration back did (or, in a dry run, would do).

    :param changes: one line per setting put back (or to put back): ``where: setting old -> new``.
    :param refused: one line per setting the site refused or cannot change, with the reason.
    """

    changes: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    types_renamed: int = 0
    attributes_renamed: int = 0
    settings_restored: int = 0
    attributes_moved: int = 0
    status_types_restored: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-compatible values (for XCom and the restore document)."""
        return {
            "changes": list(self.changes),
            "refused": list(self.refused),
            "types_renamed": self.types_renamed,
            "attributes_renamed": self.attributes_renamed,
            "settings_restored": self.settings_restored,
            "attributes_moved": self.attributes_moved,
            "status_types_restored": self.status_types_restored,
            "dry_run": self.dry_run,
        }


# -- the pure part: what differs ----------------------------------------------------------------------


def attribute_view(
    attribute: Mapping[str, Any],
    *,
    status_id: Callable[[str], str | None] = lambda status: status,
    type_id: Callable[[str], str] = lambda type_: type_,
    reference_id: Callable[[str], str] = lambda reference: reference,
) -> JsonDict:
    """Return the comparable configuration of an attribute definition (snapshot or live).

    :param attribute: the definition, as a snapshot stores it or the site lists it (normalised).
    :param status_id: the live id of a snapshot status type (identity for a live attribute).
    :param type_id: the live id of a snapshot object type (identity for a live attribute).
    :param reference_id: the live id of a snapshot reference type (identity for a live attribute).
    """
    kind = attribute_kind(attribute)
    view: JsonDict = {
        "name": str(attribute.get("name") or ""),
        "label": bool(attribute.get("label")),
        **attribute_settings(attribute),
        "type": kind,
    }
    if kind == ATTR_DEFAULT:
        view["defaultType"] = default_type_id(attribute)
    elif kind == ATTR_REFERENCE:
        target = referenced_type(attribute)
        view["referencedObjectType"] = type_id(target) if target is not None else None
        reference = reference_type_id(attribute)
        view["referenceType"] = reference_id(reference) if reference is not None else None
    elif kind == ATTR_STATUS:
        view["typeValueMulti"] = mapped_statuses(attribute, status_id)
    return view


def attribute_changes(
    snapshot: Mapping[str, Any], live: Mapping[str, Any]
) -> tuple[list[SettingChange], list[SettingChange]]:
    """Return what differs between two views: what an update puts back, and what no update can.

    :param snapshot: the snapshot's view (:func:`attribute_view`, ids mapped to the live ones).
    :param live: the live attribute's view.
    The label is only put back onto an attribute (the site moves it off the other one); an attribute
    that became the label since loses it when the snapshot's label attribute gets it back.
    """
    revertible = []
    for name in REVERTIBLE:
        if name not in snapshot or snapshot.get(name) == live.get(name):
            continue
        if name == "label" and not snapshot[name]:
            continue
        if name in ("typeValueMulti", "referenceType") and (name not in live or snapshot[name] is None):
            continue  # a setting of the snapshot's kind of attribute: this one is another kind now
        revertible.append(SettingChange(name, live.get(name), snapshot[name]))
    fixed = [
        SettingChange(name, live.get(name), snapshot.get(name))
        for name in FIXED
        if (name in snapshot or name in live) and snapshot.get(name) != live.get(name)
    ]
    return revertible, fixed


def update_body(live: Mapping[str, Any], view: Mapping[str, Any]) -> JsonDict:
    """Return the body that gives the live attribute ``view``'s revertible settings and keeps its type.

    :param live: the live attribute (normalised), whose type, value type and reference stay.
    :param view: the configuration to write (the live view with the changes applied).
    Built like a create body (:func:`~airflow_assets.restore.attribute_settings.attribute_settings`):
    a full body, so that the site never falls back to a default for a field left out.
    """
    kind = attribute_kind(live)
    body: JsonDict = {"name": view["name"], "type": kind, **{name: view[name] for name in SETTINGS}}
    if view.get("label"):
        body["label"] = True
    if kind == ATTR_DEFAULT:
        body["defaultTypeId"] = default_type_id(live) or 0
    elif kind == ATTR_REFERENCE:
        body["typeValue"] = referenced_type(live)
        body["additionalValue"] = view.get("referenceType") or reference_type_id(live)
    elif kind == ATTR_STATUS:
        body["typeValueMulti"] = list(view["typeValueMulti"])
    elif kind in (ATTR_USER, ATTR_GROUP):
        body["typeValueMulti"] = [str(value) for value in live.get("typeValueMulti") or []]
    return body


def type_view(object_type: Mapping[str, Any]) -> JsonDict:
    """Return the comparable configuration of an object type (name, description, icon id)."""
    raw_icon = object_type.get("icon")
    icon: Mapping[str, Any] = raw_icon if isinstance(raw_icon, Mapping) else {}
    icon_id = icon.get("id", object_type.get("iconId"))
    return {
        "name": str(object_type.get("name") or ""),
        "description": object_type.get("description") or "",
        "iconId": str(icon_id) if icon_id is not None else None,
    }


def status_view(status: Mapping[str, Any]) -> JsonDict:
    """Return the comparable configuration of a status type (name, category, description)."""
    return {
        "name": str(status.get("name") or ""),
        "category": int(status.get("category") or 0),
        "description": status.get("description") or "",
    }


def field_changes(
    snapshot: Mapping[str, Any], live: Mapping[str, Any], fields: Sequence[str]
) -> list[SettingChange]:
    """Return the ``fields`` whose live value differs from the snapshot's (a None snapshot value is kept)."""
    return [
        SettingChange(name, live.get(name), snapshot[name])
        for name in fields
        if snapshot.get(name) is not None and snapshot[name] != live.get(name)
    ]


def rename_order(names: Sequence[tuple[str, str]]) -> tuple[list[int], list[int]]:
    """Return the order in which to put attributes back so that a name is freed before it is taken again.

    :param names: per attribute, its live name and its snapshot name.
    :return: the order, and the attributes of it that wait on a cycle (two that swapped names, or one
        waiting for those), last in the order: one of the cycle must take a temporary name first.
    An attribute whose snapshot name another one holds now, and gives up, waits for it ("Cost" renamed
    "Price" while a new "Cost" was named "Amount" since...). Names compare as the site does, ignoring
    case.
    """
    pending = list(range(len(names)))
    order: list[int] = []
    while pending:
        given_up = {
            names[i][0].casefold() for i in pending if names[i][0].casefold() != names[i][1].casefold()
        }
        ready = [
            i
            for i in pending
            if names[i][0].casefold() == names[i][1].casefold() or names[i][1].casefold() not in given_up
        ]
        if not ready:
            return order + pending, pending
        order += ready
        pending = [i for i in pending if i not in ready]
    return order, []


def cycle_member(names: Sequence[tuple[str, str]], stuck: Sequence[int]) -> int | None:
    """Return one of ``stuck`` whose live name another of them waits for (a temporary name frees it)."""
    wanted = {names[i][1].casefold() for i in stuck}
    return next((i for i in stuck if names[i][0].casefold() in wanted), None)


def order_line(names: Mapping[str, str], current: Sequence[str], wanted: Sequence[str]) -> str:
    """Return ``'A, B, C' -> 'A, C, B'``: a type's own attributes now and once moved.

    :param names: attribute id -> name.
    :param current: the live ids in their live order.
    :param wanted: the live ids in the snapshot's order (those the site does not have are left out).
    """
    known = [attribute_id for attribute_id in wanted if attribute_id in current]
    after = known + [attribute_id for attribute_id in current if attribute_id not in known]
    before_text = ", ".join(names.get(a, a) for a in current)
    after_text = ", ".join(names.get(a, a) for a in after)
    return f"attribute order {before_text!r} -> {after_text!r}"


# -- the step ---------------------------------------------------------------------------------------


def revert_config(
    client: AssetsClient,
    ledger: Ledger,
    schema: SchemaSource,
    type_ids: Collection[str],
    *,
    dry_run: bool,
) -> ConfigRevert:
    """Put the configuration of a live schema's object types back to its snapshot; return what changed.

    Run after the structure step, on the site the snapshot was taken on: an object type or attribute
    is the live one the ledger maps it to, else the one with the snapshot's id.

    :param client: the client of the snapshot's site.
    :param ledger: the restore's ledger (what the structure step recreated, with its new ids).
    :param schema: the snapshot's configuration of the schema.
    :param type_ids: the snapshot ids of the object types to put back.
    :param dry_run: write nothing; report what would change.
    """
    return _Reverter(client, ledger, schema, dry_run=dry_run).run(type_ids)


@dataclass
class _Tally:
    changes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, counter: str, number: int = 1) -> None:
        self.counts[counter] = self.counts.get(counter, 0) + number


class _Reverter:
    """One run of :func:`revert_config`."""

    def __init__(self, client: AssetsClient, ledger: Ledger, schema: SchemaSource, *, dry_run: bool) -> None:
        self.client = client
        self.schema = schema
        self.dry_run = dry_run
        self.key = schema.new_key
        self.tally = _Tally()
        self.types = {old: created.new_id for old, created in ledger.created(OBJECT_TYPE).items()}
        self.attributes = {old: created.new_id for old, created in ledger.created(ATTRIBUTE).items()}
        self.statuses = {old: created.new_id for old, created in ledger.created(STATUS).items()}
        self.references = {old: created.new_id for old, created in ledger.created(REFERENCE).items()}
        old_schema_id = schema.source.snapshot.schema_id
        schema_created = ledger.get(SCHEMA, old_schema_id)
        self.schema_id = schema_created.new_id if schema_created is not None else old_schema_id

    def run(self, type_ids: Collection[str]) -> ConfigRevert:
        """Put back the schema's status types, then each object type and its attributes, parents first."""
        self._status_types()
        live_types = {str(t["id"]): dict(t) for t in self.client.get_object_types(self.schema_id)}
        for old_type_id in self.schema.types_parent_first(type_ids):
            live_type_id = self.types.get(old_type_id, old_type_id)
            live_type = live_types.get(live_type_id)
            type_name = self.schema.type_name(old_type_id)
            if live_type is None:
                self._missing(f"{self.key}: object type {type_name}", live_type_id)
                continue
            self._object_type(old_type_id, live_type_id, live_type)
            self._attributes(old_type_id, live_type_id, type_name)
        counts = self.tally.counts
        log.info("%s: configuration %s: %d changes, %d refused", self.key,
                 "to put back (dry run)" if self.dry_run else "put back", len(self.tally.changes),
                 len(self.tally.refused))  # fmt: skip
        return ConfigRevert(
            changes=tuple(self.tally.changes),
            refused=tuple(self.tally.refused),
            types_renamed=counts.get("types_renamed", 0),
            attributes_renamed=counts.get("attributes_renamed", 0),
            settings_restored=counts.get("settings_restored", 0),
            attributes_moved=counts.get("attributes_moved", 0),
            status_types_restored=counts.get("status_types_restored", 0),
            dry_run=self.dry_run,
        )

    # -- writing what differs -----------------------------------------------------------------------

    def _put_back(
        self,
        where: str,
        changes: Sequence[SettingChange],
        send: Callable[[Sequence[SettingChange]], object],
    ) -> list[SettingChange]:
        """Send ``changes`` together, else (refused) one at a time; return those the site took.

        :param send: writes the live configuration with the given changes applied.
        """
        if not changes:
            return []
        if self.dry_run:
            self._changed(where, changes)
            return list(changes)
        try:
            send(changes)
        except REFUSALS as error:
            if len(changes) == 1:
                self._refused(where, changes[0], error)
                return []
            log.info("%s: the site refused the settings together (%s): putting them back one by one",
                     where, error)  # fmt: skip
        else:
            self._changed(where, changes)
            return list(changes)
        taken: list[SettingChange] = []
        for change in changes:
            try:
                send([*taken, change])
            except REFUSALS as error:
                self._refused(where, change, error)
            else:
                taken.append(change)
                self._changed(where, [change])
        return taken

    def _missing(self, where: str, live_id: str) -> None:
        """Report something the site does not have: the structure step creates it (again)."""
        if self.dry_run:
            self.tally.changes.append(
                f"{where}: deleted since (id {live_id}): the structure step creates it again"
            )
        else:
            self.tally.refused.append(
                f"{where}: not on the site (id {live_id}): its configuration could not be put back: run "
                "the structure step first, which creates it again"
            )

    def _changed(self, where: str, changes: Sequence[SettingChange]) -> None:
        self.tally.changes.extend(f"{where}: {change.describe()}" for change in changes)

    def _refused(self, where: str, change: SettingChange, error: Exception) -> None:
        self.tally.refused.append(f"{where}: {change.setting} could not be put back: {site_message(error)}")

    # -- status types -------------------------------------------------------------------------------

    def _status_types(self) -> None:
        old_schema_id = self.schema.source.snapshot.schema_id
        own = [s for s in self.schema.status_types if str(s.get("objectSchemaId") or "") == old_schema_id]
        if not own:
            return
        live = {str(s["id"]): dict(s) for s in self.client.get_status_types(object_schema_id=self.schema_id)}
        for status in own:
            live_id = self.statuses.get(str(status["id"]), str(status["id"]))
            where = f"{self.key}: status type {status.get('name')}"
            found = live.get(live_id)
            if found is None:
                self._missing(where, live_id)
                continue
            wanted = status_view(status)
            changes = field_changes(wanted, status_view(found), STATUS_FIELDS)

            def send(
                chosen: Sequence[SettingChange], found: JsonDict = found, live_id: str = live_id
            ) -> None:
                body = {**status_view(found), **{c.setting: c.snapshot for c in chosen}}
                self.client.update_status_type(live_id, {**body, "objectSchemaId": self.schema_id})

            if self._put_back(where, changes, send):
                self.tally.add("status_types_restored")

    # -- object types -------------------------------------------------------------------------------

    def _object_type(self, old_type_id: str, live_type_id: str, live_type: JsonDict) -> None:
        snapshot_type = self.schema.object_types[old_type_id]
        where = f"{self.key}: object type {snapshot_type.get('name')}"
        changes = field_changes(type_view(snapshot_type), type_view(live_type), TYPE_FIELDS)

        def send(chosen: Sequence[SettingChange]) -> None:
            body = {**type_view(live_type), **{c.setting: c.snapshot for c in chosen}}
            self.client.update_object_type(live_type_id, body)

        for change in self._put_back(where, changes, send):
            self.tally.add("types_renamed" if change.setting == "name" else "settings_restored")

    # -- attributes ---------------------------------------------------------------------------------

    def _attributes(self, old_type_id: str, live_type_id: str, type_name: str) -> None:
        own = []
        for raw in self.client.get_object_type_attributes(live_type_id):
            attribute = norm.normalize_attribute(raw)
            if str(attribute.get("objectTypeId", live_type_id)) == live_type_id:
                own.append(attribute)
        by_id = {str(a["id"]): a for a in own}
        wanted_order = []
        pairs: list[tuple[JsonDict, JsonDict]] = []
        for snapshot_attribute in self.schema.attributes_of.get(old_type_id, []):
            old_id = str(snapshot_attribute["id"])
            live_id = self.attributes.get(old_id, old_id)
            live = by_id.get(live_id)
            if live is None:
                self._missing(f"{self.key}: attribute {type_name}.{snapshot_attribute.get('name')}", live_id)
                continue
            wanted_order.append(live_id)
            if not (is_system(snapshot_attribute) or is_system(live)):  # the site owns Key, Created...
                pairs.append((snapshot_attribute, live))
        names = [(str(live.get("name") or ""), str(snapshot.get("name") or "")) for snapshot, live in pairs]
        order, stuck = rename_order(names)
        for _ in pairs:
            index = cycle_member(names, stuck)
            if index is None:
                break
            temporary = self._free_name(live_type_id, pairs[index][1])
            if temporary is None:
                break  # the site refused: the renames of the cycle are tried, and refused, as they are
            names[index] = (temporary, names[index][1])
            order, stuck = rename_order(names)
        for index in order:
            snapshot_attribute, live = pairs[index]
            where = f"{self.key}: attribute {type_name}.{snapshot_attribute.get('name')}"
            self._attribute(where, live_type_id, snapshot_attribute, live)
        self._order(type_name, live_type_id, own, wanted_order)

    def _free_name(self, live_type_id: str, live: JsonDict) -> str | None:
        """Give an attribute a temporary name so that another can take its name back; return the name.

        Its report line still shows the name it had. A kill right after leaves the temporary name, which
        the next run puts back like any other. A dry run only tells the name; None when the site refused.
        """
        temporary = f"{live.get('name')} (renaming {live['id']})"
        if self.dry_run:
            return temporary
        view = {**attribute_view(live), "name": temporary}
        try:
            self.client.update_attribute(live_type_id, str(live["id"]), update_body(live, view))
        except REFUSALS as error:
            log.info("attribute %s could not take a temporary name: %s", live["id"], site_message(error))
            return None
        return temporary

    def _attribute(self, where: str, live_type_id: str, snapshot_attribute: JsonDict, live: JsonDict) -> None:
        wanted = attribute_view(
            snapshot_attribute,
            status_id=lambda status: self.statuses.get(status, status),
            type_id=lambda type_id: self.types.get(type_id, type_id),
            reference_id=lambda reference: self.references.get(reference, reference),
        )
        current = attribute_view(live)
        if not wanted["label"]:
            # The label moved here since: it goes back with the snapshot's label attribute, and no
            # update of this one may claim it again.
            current["label"] = False
        revertible, fixed = attribute_changes(wanted, current)
        for change in fixed:
            self.tally.refused.append(
                f"{where}: {change.setting} could not be put back: an attribute's type does not change "
                f"once created ({change.describe()}); the other settings are put back"
            )

        def send(chosen: Sequence[SettingChange]) -> None:
            view = {**current, **{c.setting: c.snapshot for c in chosen}}
            self.client.update_attribute(live_type_id, str(live["id"]), update_body(live, view))

        for change in self._put_back(where, revertible, send):
            self.tally.add("attributes_renamed" if change.setting == "name" else "settings_restored")

    def _order(self, type_name: str, live_type_id: str, own: list[JsonDict], wanted: list[str]) -> None:
        """Give the type's own attributes the snapshot's order (a recreated one back at its place)."""
        moves = planned_moves(wanted, own)
        if not moves:
            return
        names = {str(a["id"]): str(a.get("name")) for a in own}
        current = [str(a["id"]) for a in sorted(own, key=sibling_order)]
        self.tally.changes.append(
            f"{self.key}: object type {type_name}: {order_line(names, current, wanted)}"
        )
        self.tally.add("attributes_moved", len(moves))
        if self.dry_run:
            return
        for attribute_id, position in moves:
            self.client.position_attribute(live_type_id, attribute_id, position)


def site_message(error: Exception) -> str:
    """Return what the site said when it refused a write (its messages, else the error)."""
    messages = list(getattr(error, "error_messages", []) or [])
    errors = getattr(error, "errors", {}) or {}
    messages += [f"{key}: {value}" for key, value in errors.items()]
    return "; ".join(str(message) for message in messages) or str(error)

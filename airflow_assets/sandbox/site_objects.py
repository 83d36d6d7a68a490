"""The objects of a sandbox Assets site: their values, history, references and comments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_assets.sandbox.history import change_entry
from airflow_assets.sandbox.records import (
    ATTR_DEFAULT,
    ATTR_GROUP,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    COMMENT_ROLES,
    HISTORY_AVATAR,
    HISTORY_CREATED,
    AttributeRecord,
    CommentRecord,
    HistoryRecord,
    ObjectRecord,
    ObjectTypeRecord,
    ReferenceTypeRecord,
    SandboxError,
    bad_request,
)
from airflow_assets.sandbox.render import plain_display
from airflow_assets.sandbox.site_state import SiteState, locked
from airflow_assets.sandbox.validation import (
    as_text,
    body_dict,
    check_regex,
    optional_bool,
    optional_id,
    optional_int,
    optional_text,
    parse_default_value,
    required_id,
    required_text,
)

__all__ = ["SiteObjects"]


def attribute_error(attribute_id: str, message: str) -> dict[str, str]:
    """Return the per-attribute error entry Assets uses."""
    return {f"rlabs-insight-attribute-{attribute_id}": message}


def _avatar_state(body: dict[str, Any], has_avatar: bool, avatar_uuid: str | None) -> tuple[bool, str | None]:
    """Return ``(hasAvatar, avatarUUID)`` after an ObjectIn body, starting from the stored state.

    A field the body leaves out keeps its stored value; ``avatarUUID`` alone also sets ``hasAvatar`` (to
    whether it is empty); ``hasAvatar: false`` forgets the UUID. Create starts from no avatar.
    """
    if "avatarUUID" in body:
        avatar_uuid = optional_text(body, "avatarUUID") or None
        has_avatar = avatar_uuid is not None
    if "hasAvatar" in body:
        has_avatar = optional_bool(body, "hasAvatar", has_avatar)
    return has_avatar, avatar_uuid if has_avatar else None


class SiteObjects(SiteState):
    """The objects of a Site with their values, history and comments (connected tickets: ``site_issues``)."""

    @locked
    def create_object(
        self, body: dict[str, Any], *, actor: str | None = None, at: datetime | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Create an object from an ObjectIn body; validate every value; record a Created history entry."""
        body = body_dict(body)
        type_id = required_id(body, "objectTypeId")
        object_type = self.object_types.get(type_id)
        if object_type is None:
            raise bad_request(objectTypeId=f"The object type with id {type_id} was not found")
        if object_type.abstract:
            raise bad_request(
                objectTypeId=f"Objects cannot be created in the abstract object type {object_type.name}"
            )
        if "attributes" not in body:
            raise bad_request(attributes="attributes is required")
        written = self._parse_attributes(object_type, body["attributes"], None)
        effective = self.effective_attributes(object_type.id)
        final = {attribute.id: written.get(attribute.id, ()) for attribute in effective if attribute.editable}
        self._check_values(effective, final, None)
        has_avatar, avatar_uuid = _avatar_state(body, False, None)
        now = self._now(at)
        object_id = self._next_number("object")
        system_attribute_id = self._next_number("object_attribute")
        self._sequences["object_attribute"] += 2
        values: dict[str, tuple[Any, ...]] = {}
        for attribute_id, new in final.items():
            if new:
                values[attribute_id] = (self._next_number("object_attribute"), *new)
        schema = self.schemas[object_type.schema_id]
        record = ObjectRecord(
            object_id, f"{schema.key}-{object_id}", "", object_type.id, schema.id, now, now,
            system_attribute_id, values, has_avatar, avatar_uuid,
        )  # fmt: skip
        record.label = self._label_text(record)
        self.objects[object_id] = record
        self._type_counts[object_type.id] = self._type_counts.get(object_type.id, 0) + 1
        for attribute in effective:
            stored = values.get(attribute.id)
            if stored:
                self._index_values(record, attribute, stored[1:])
        self.history[object_id] = [
            HistoryRecord(self._next_number("history"), object_id, HISTORY_CREATED, now, self._actor(actor))
        ]
        self._written()
        return self._renderer(base_url).object(record)

    def _parse_attributes(
        self, object_type: ObjectTypeRecord, entries: object, record: ObjectRecord | None
    ) -> dict[str, tuple[Any, ...]]:
        """Parse the ``attributes`` of an ObjectIn body into typed values per attribute id.

        Values for the read-only system attributes (Key, Created, Updated) are left out: Cloud ignores
        them.
        """
        if not isinstance(entries, list):
            raise bad_request(attributes="attributes must be a list")
        allowed = {attribute.id: attribute for attribute in self.effective_attributes(object_type.id)}
        errors: dict[str, str] = {}
        parsed: dict[str, list[Any]] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                raise bad_request(attributes="Every attribute must be an object")
            attribute_id = optional_id(entry, "objectTypeAttributeId")
            if attribute_id is None:
                raise bad_request(attributes="objectTypeAttributeId is required on every attribute")
            attribute = allowed.get(attribute_id)
            if attribute is None:
                errors |= attribute_error(
                    attribute_id,
                    f"The attribute {attribute_id} does not belong to object type {object_type.name}",
                )
                continue
            if not attribute.editable:
                # Key, Created and Updated belong to the server: Cloud ignores values sent for them and
                # applies the rest (older restore scripts send them with every object).
                continue
            raw_values = entry.get("objectAttributeValues", [])
            if not isinstance(raw_values, list):
                errors |= attribute_error(attribute_id, "objectAttributeValues must be a list")
                continue
            values = parsed.setdefault(attribute_id, [])
            for item in raw_values:
                if not isinstance(item, dict) or "value" not in item:
                    # Dropping it would erase the stored value on an update: refuse what cannot be read.
                    errors |= attribute_error(
                        attribute_id, 'Every item of objectAttributeValues must be an object {"value": ...}'
                    )
                    break
                raw = item["value"]
                if raw is None or raw == "":
                    continue
                try:
                    value = self._parse_value(attribute, object_type, raw, record)
                except ValueError as error:
                    errors |= attribute_error(attribute_id, str(error))
                    break
                if value not in values:
                    values.append(value)
        if errors:
            raise SandboxError(400, [], errors)
        return {attribute_id: tuple(values) for attribute_id, values in parsed.items()}

    def _parse_value(
        self,
        attribute: AttributeRecord,
        object_type: ObjectTypeRecord,
        raw: object,
        record: ObjectRecord | None,
    ) -> Any:
        """Parse one written value; raise ValueError with the message the server reports."""
        text = as_text(raw)
        if text is None:
            raise ValueError("The value must be a string")
        if attribute.kind == ATTR_DEFAULT:
            value = parse_default_value(attribute, raw)
            check_regex(attribute, text)
            return value
        if attribute.kind == ATTR_REFERENCE:
            target = self._object_by_key_or_id(text.strip())
            if target is None:
                raise ValueError(f"The referenced object {text} was not found")
            allowed = {attribute.reference_object_type_id}
            if attribute.include_child_object_types and attribute.reference_object_type_id:
                allowed |= self.descendants_of(attribute.reference_object_type_id)
            if target.object_type_id not in allowed:
                target_type = self.object_types[attribute.reference_object_type_id or ""]
                raise ValueError(f"The object {target.key} is not of object type {target_type.name}")
            return target.object_id
        if attribute.kind == ATTR_USER:
            if text not in self.users:
                raise ValueError(f"The user {text} was not found")
            return text
        if attribute.kind == ATTR_GROUP:
            if text not in self.groups:
                raise ValueError("Invalid Group(s)")
            return text
        if attribute.kind == ATTR_STATUS:
            status = self.status_types.get(text.strip())
            if (
                status is None
                or status.schema_id not in (None, object_type.schema_id)
                or (attribute.type_value_multi and status.id not in attribute.type_value_multi)
            ):
                raise ValueError(f"The status {text} is not allowed for {attribute.name}")
            return status.id
        raise ValueError(f"Unsupported attribute type {attribute.kind}")

    def _check_values(
        self,
        effective: list[AttributeRecord],
        values: dict[str, tuple[Any, ...]],
        record: ObjectRecord | None,
    ) -> None:
        """Check cardinality and uniqueness of the values an object is about to hold."""
        errors: dict[str, str] = {}
        by_id = {attribute.id: attribute for attribute in effective}
        for attribute_id, new in values.items():
            attribute = by_id[attribute_id]
            count = len(new)
            if count < attribute.minimum_cardinality:
                if attribute.minimum_cardinality == 1:
                    message = f"{attribute.name} is required"
                else:
                    message = f"{attribute.name} needs at least {attribute.minimum_cardinality} values"
                errors |= attribute_error(attribute_id, message)
            elif attribute.maximum_cardinality != -1 and count > attribute.maximum_cardinality:
                errors |= attribute_error(
                    attribute_id,
                    f"{attribute.name} can hold at most {attribute.maximum_cardinality} value(s)",
                )
            elif attribute.unique:
                index = self._unique_values.get(attribute_id, {})
                for value in new:
                    owner = index.get(value)
                    if owner is not None and (record is None or owner != record.object_id):
                        errors |= attribute_error(
                            attribute_id,
                            f"The value {plain_display(value)} of {attribute.name} must be unique "
                            f"(already used by {self.objects[owner].key})",
                        )
                        break
        if errors:
            raise SandboxError(400, [], errors)

    def _index_values(
        self, record: ObjectRecord, attribute: AttributeRecord, values: tuple[Any, ...]
    ) -> None:
        if attribute.kind == ATTR_REFERENCE:
            for target in values:
                referrers = self._referrers.setdefault(target, {})
                referrers[record.object_id] = referrers.get(record.object_id, 0) + 1
        if attribute.unique:
            index = self._unique_values.setdefault(attribute.id, {})
            for value in values:
                index[value] = record.object_id

    def _unindex_values(
        self, record: ObjectRecord, attribute: AttributeRecord, values: tuple[Any, ...]
    ) -> None:
        if attribute.kind == ATTR_REFERENCE:
            self._unindex_references(record.object_id, values)
        if attribute.unique:
            index = self._unique_values.get(attribute.id, {})
            for value in values:
                if index.get(value) == record.object_id:
                    del index[value]

    def _unindex_references(self, source_id: int, targets: tuple[Any, ...]) -> None:
        for target in targets:
            referrers = self._referrers.get(target)
            if referrers is None or source_id not in referrers:
                continue
            referrers[source_id] -= 1
            if referrers[source_id] <= 0:
                del referrers[source_id]
            if not referrers:
                del self._referrers[target]

    @locked
    def get_object(self, object_id: str, *, base_url: str | None = None) -> dict[str, Any]:
        """Answer ``GET object/{id}``."""
        return self._renderer(base_url).object(self._object(object_id))

    @locked
    def object_attributes(self, object_id: str, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Answer ``GET object/{id}/attributes``."""
        return self._renderer(base_url).object_attributes(self._object(object_id), with_definition=True)

    @locked
    def update_object(
        self, object_id: str, body: dict[str, Any], *, actor: str | None = None, at: datetime | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Update an object; attributes left out of the body keep their values; record history per change."""
        record = self._object(object_id)
        body = body_dict(body)
        type_id = optional_id(body, "objectTypeId")
        if type_id is not None and type_id != record.object_type_id:
            raise bad_request(objectTypeId="The object type of an object cannot be changed")
        object_type = self.object_types[record.object_type_id]
        written = self._parse_attributes(object_type, body.get("attributes", []), record)
        effective = self.effective_attributes(object_type.id)
        self._check_values(effective, written, record)
        has_avatar, avatar_uuid = _avatar_state(body, record.has_avatar, record.avatar_uuid)
        now = self._now(at)
        who = self._actor(actor)
        entries = self.history.setdefault(record.object_id, [])
        changed = False
        # History lists the changes of one write in attribute order, whatever order the body used.
        for attribute in effective:
            if attribute.id not in written:
                continue
            attribute_id, new = attribute.id, written[attribute.id]
            stored = record.values.get(attribute_id)
            old = stored[1:] if stored else ()
            change = change_entry(self._site, attribute, old, new)
            if change is None:
                continue
            changed = True
            self._unindex_values(record, attribute, old)
            if new:
                record.values[attribute_id] = (
                    stored[0] if stored else self._next_number("object_attribute"),
                    *new,
                )
                self._index_values(record, attribute, new)
            else:
                del record.values[attribute_id]
            kind, old_text, new_text = change
            entries.append(
                HistoryRecord(self._next_number("history"), record.object_id, kind, now, who, attribute.name,
                              old_text, new_text)
            )  # fmt: skip
        if (has_avatar, avatar_uuid) != (record.has_avatar, record.avatar_uuid):
            added, replaced, removed = HISTORY_AVATAR
            kind = added if not record.has_avatar else removed if not has_avatar else replaced
            entries.append(
                HistoryRecord(self._next_number("history"), record.object_id, kind, now, who, "Avatar")
            )
            record.has_avatar, record.avatar_uuid = has_avatar, avatar_uuid
            changed = True
        if changed:
            record.label = self._label_text(record)
            record.updated = now
            self._written()
        return self._renderer(base_url).object(record)

    @locked
    def delete_object(self, object_id: str, *, actor: str | None = None, at: datetime | None = None) -> None:
        """Delete an object with its history and comments; objects referring to it lose those references."""
        self._delete_object(self._object(object_id), self._actor(actor), self._now(at))
        self._written()

    def _delete_object(self, record: ObjectRecord, actor: str, now: datetime) -> None:
        for attribute in self.effective_attributes(record.object_type_id):
            stored = record.values.get(attribute.id)
            if stored:
                self._unindex_values(record, attribute, stored[1:])
        for source_id in list(self._referrers.pop(record.object_id, {})):
            source = self.objects.get(source_id)
            if source is None:
                continue
            for attribute in self.effective_attributes(source.object_type_id):
                stored = source.values.get(attribute.id)
                if attribute.kind != ATTR_REFERENCE or not stored or record.object_id not in stored[1:]:
                    continue
                # The label must still resolve while the history text is rendered.
                old = stored[1:]
                new = tuple(target for target in old if target != record.object_id)
                change = change_entry(self._site, attribute, old, new)
                if new:
                    source.values[attribute.id] = (stored[0], *new)
                else:
                    del source.values[attribute.id]
                if change is not None:
                    kind, old_text, new_text = change
                    self.history.setdefault(source_id, []).append(
                        HistoryRecord(self._next_number("history"), source_id, kind, now, actor,
                                      attribute.name, old_text, new_text)
                    )  # fmt: skip
                source.updated = now
        del self.objects[record.object_id]
        self._type_counts[record.object_type_id] -= 1
        self.history.pop(record.object_id, None)
        self.comments.pop(record.object_id, None)
        self._disconnect_object(record.object_id)

    @locked
    def object_history(
        self, object_id: str, *, asc: bool = False, base_url: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer ``GET object/{id}/history``: newest first unless ``asc``."""
        record = self._object(object_id)
        renderer = self._renderer(base_url)
        entries = self.history.get(record.object_id, [])
        ordered = entries if asc else list(reversed(entries))
        return [renderer.history(entry) for entry in ordered]

    @locked
    def object_reference_info(self, object_id: str, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Answer ``GET object/{id}/referenceinfo``: the objects referring to this one, per object type."""
        record = self._object(object_id)
        renderer = self._renderer(base_url)
        per_type: dict[str, tuple[int, dict[str, ReferenceTypeRecord]]] = {}
        # Whether any referring object of the type has a connected Jira issue.
        open_issues: dict[str, bool] = {}
        for source_id in sorted(self._referrers.get(record.object_id, {})):
            source = self.objects[source_id]
            open_issues[source.object_type_id] = open_issues.get(source.object_type_id, False) or bool(
                self.tickets.get(source_id)
            )
            count, reference_types = per_type.get(source.object_type_id, (0, {}))
            for attribute in self.effective_attributes(source.object_type_id):
                stored = source.values.get(attribute.id)
                if attribute.kind == ATTR_REFERENCE and stored and record.object_id in stored[1:]:
                    reference_type = self.reference_types.get(attribute.reference_type_id or "")
                    if reference_type is not None:
                        reference_types[reference_type.id] = reference_type
            per_type[source.object_type_id] = (count + 1, reference_types)
        return [
            {
                "objectType": renderer.object_type(self.object_types[type_id]),
                "numberOfReferencedObjects": count,
                "referenceTypes": [renderer.reference_type(r) for r in reference_types.values()],
                "openIssuesExists": open_issues[type_id],
            }
            for type_id, (count, reference_types) in per_type.items()
        ]

    # --- comments ---------------------------------------------------------------------------

    @locked
    def add_comment(
        self, body: dict[str, Any], *, actor: str | None = None, at: datetime | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Add a comment ``{comment, objectId, role}`` to an object."""
        body = body_dict(body)
        # The text is stored as written; only a blank one is refused.
        text = required_text(body, "comment", "Comment", strip=False)
        object_id = required_id(body, "objectId")
        record = self._object(object_id)
        role = optional_int(body, "role", 0)
        if role not in COMMENT_ROLES:
            raise bad_request(role="role must be 0 (Users), 1 (Managers), 2 (Admins) or 3 (Developers)")
        now = self._now(at)
        comment = CommentRecord(
            self._next_number("comment"), record.object_id, text, role, self._actor(actor), now, now
        )
        self.comments.setdefault(record.object_id, []).append(comment)
        self._written()
        return self._renderer(base_url).comment(comment)

    @locked
    def object_comments(self, object_id: str, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Answer ``GET comment/object/{objectId}``, oldest first."""
        record = self._object(object_id)
        renderer = self._renderer(base_url)
        return [renderer.comment(comment) for comment in self.comments.get(record.object_id, [])]

"""Render stored records as the JSON shapes of the Assets REST API (called with the site's lock held)."""

from __future__ import annotations

import base64
import json
import random
import secrets
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from airflow_assets.sandbox.records import (
    ATTR_DEFAULT,
    ATTR_GROUP,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    DEFAULT_TYPE_NAMES,
    AttributeRecord,
    CommentRecord,
    HistoryRecord,
    IconRecord,
    ObjectRecord,
    ObjectTypeRecord,
    ReferenceTypeRecord,
    SchemaRecord,
    StatusTypeRecord,
    epoch_ms,
    iso_ms,
)

if TYPE_CHECKING:
    from airflow_assets.sandbox.model import Site

AVATAR_SIZES = (16, 48, 72, 144, 288)
_JWT_HEADER = (
    base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).decode().rstrip("=")
)


def value_text(value: Any) -> str:
    """Render a stored plain value as the ``value`` string Assets sends."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def plain_display(value: Any) -> str:
    """Render a stored plain value as its ``displayValue`` (dates the way Jira shows them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        hour = value.hour % 12 or 12
        return f"{value:%d/%b/%y} {hour}:{value:%M} {'AM' if value.hour < 12 else 'PM'}"
    if isinstance(value, date):
        return value.strftime("%d/%b/%y")
    return str(value)


def display_value(site: Site, attribute: AttributeRecord, value: Any) -> str:
    """Render one stored value of ``attribute`` as display text (also used by history)."""
    if attribute.kind == ATTR_REFERENCE:
        target = site.objects.get(value)
        return target.label if target else ""
    if attribute.kind == ATTR_USER:
        user = site.users.get(value)
        return user.display_name if user else str(value)
    if attribute.kind == ATTR_STATUS:
        status = site.status_types.get(value)
        return status.name if status else str(value)
    return plain_display(value)


class Renderer:
    """Render records for one request: media URLs are built from the request's base URL with fresh tokens.

    :param site: the site (its lock must be held while rendering).
    :param base_url: scheme, host and port the client used, e.g. ``http://127.0.0.1:8080``.
    :param cache_objects: reuse object summaries within this renderer (one request: objects do not change).
    """

    def __init__(self, site: Site, base_url: str, *, cache_objects: bool = True) -> None:
        self.site = site
        self.workspace_id = site.workspace_id
        self.site_base = base_url.rstrip("/")
        self.api_base = f"{self.site_base}/jsm/assets/workspace/{site.workspace_id}/v1"
        self._object_types: dict[str, dict[str, Any]] = {}
        self._attributes: dict[str, dict[str, Any]] = {}
        self._summaries: dict[int, dict[str, Any]] = {}
        self._cache_objects = cache_objects
        # Seeded from the OS per request: tokens differ on every read, and a page of 1,000 objects with
        # five avatar URLs each stays cheap to render.
        self._random = random.Random(secrets.randbits(128))

    def jwt(self) -> str:
        """Return a fresh JWT-looking token: Atlassian signs media URLs with short-lived tokens."""
        return f"{_JWT_HEADER}.{self._random.getrandbits(384):096x}.{self._random.getrandbits(256):064x}"

    def _global_id(self, record_id: object) -> str:
        return f"{self.workspace_id}:{record_id}"

    def icon(self, icon: IconRecord) -> dict[str, Any]:
        """Render a global icon."""
        url = f"{self.api_base}/icon/{icon.id}/icon.png"
        return {
            "id": icon.id,
            "name": icon.name,
            "url16": f"{url}?size=16&jwt={self.jwt()}",
            "url48": f"{url}?size=48&jwt={self.jwt()}",
        }

    def schema(self, schema: SchemaRecord, *, counts: bool = True) -> dict[str, Any]:
        """Render an ObjectSchema."""
        rendered: dict[str, Any] = {
            "workspaceId": self.workspace_id,
            "globalId": self._global_id(schema.id),
            "id": schema.id,
            "name": schema.name,
            "objectSchemaKey": schema.key,
            "status": "Ok",
            "description": schema.description,
            "created": iso_ms(schema.created),
            "updated": iso_ms(schema.updated),
            "canManage": True,
            "idAsInt": int(schema.id),
        }
        if counts:
            rendered["objectCount"] = self.site.schema_object_count(schema.id)
            rendered["objectTypeCount"] = sum(
                1 for object_type in self.site.object_types.values() if object_type.schema_id == schema.id
            )
        return rendered

    def schema_properties(self, schema: SchemaRecord) -> dict[str, Any]:
        """Render the properties (configuration) of a schema."""
        return {
            "workspaceId": self.workspace_id,
            "globalId": self._global_id(schema.id),
            "id": schema.id,
            "objectSchemaId": schema.id,
            **schema.properties,
        }

    def object_type(self, object_type: ObjectTypeRecord, *, counts: bool = False) -> dict[str, Any]:
        """Render an ObjectType (cached without counts: every object embeds its type)."""
        cached = None if counts else self._object_types.get(object_type.id)
        if cached is not None:
            return cached
        parent = self.site.object_types.get(object_type.parent_id) if object_type.parent_id else None
        rendered: dict[str, Any] = {
            "workspaceId": self.workspace_id,
            "globalId": self._global_id(object_type.id),
            "id": object_type.id,
            "name": object_type.name,
            "type": 0,
            "description": object_type.description,
            "icon": self.icon(self.site.icons[object_type.icon_id]),
            "position": object_type.position,
            "created": iso_ms(object_type.created),
            "updated": iso_ms(object_type.updated),
            "objectCount": self.site.type_object_count(object_type.id) if counts else 0,
            "objectSchemaId": object_type.schema_id,
            "inherited": object_type.inherited,
            "abstractObjectType": object_type.abstract,
            "parentObjectTypeInherited": bool(parent and parent.inherited),
        }
        if parent is not None:
            rendered["parentObjectTypeId"] = parent.id
        if not counts:
            self._object_types[object_type.id] = rendered
        return rendered

    def reference_type(self, reference_type: ReferenceTypeRecord) -> dict[str, Any]:
        """Render a reference type."""
        rendered: dict[str, Any] = {
            "workspaceId": self.workspace_id,
            "globalId": self._global_id(reference_type.id),
            "id": reference_type.id,
            "name": reference_type.name,
            "description": reference_type.description,
            "color": reference_type.color,
            "url16": f"{self.api_base}/config/referencetype/{reference_type.id}/icon.png?jwt={self.jwt()}",
            "removable": reference_type.removable,
        }
        if reference_type.schema_id is not None:
            rendered["objectSchemaId"] = reference_type.schema_id
        return rendered

    def status_type(self, status: StatusTypeRecord) -> dict[str, Any]:
        """Render a status type."""
        rendered: dict[str, Any] = {
            "workspaceId": self.workspace_id,
            "globalId": self._global_id(status.id),
            "id": status.id,
            "name": status.name,
            "description": status.description,
            "category": status.category,
        }
        if status.schema_id is not None:
            rendered["objectSchemaId"] = status.schema_id
        return rendered

    def attribute(self, attribute: AttributeRecord) -> dict[str, Any]:
        """Render an ObjectTypeAttribute definition (cached for the request)."""
        cached = self._attributes.get(attribute.id)
        if cached is None:
            cached = self._attributes[attribute.id] = self._attribute(attribute)
        return cached

    def _attribute(self, attribute: AttributeRecord) -> dict[str, Any]:
        site = self.site
        rendered: dict[str, Any] = {
            "workspaceId": self.workspace_id,
            "globalId": self._global_id(attribute.id),
            "id": attribute.id,
            "objectType": self.object_type(site.object_types[attribute.object_type_id]),
            "name": attribute.name,
            "label": attribute.label,
            "type": attribute.kind,
            "description": attribute.description,
        }
        if attribute.kind == ATTR_DEFAULT:
            rendered["defaultType"] = {
                "id": attribute.default_type,
                "name": DEFAULT_TYPE_NAMES[attribute.default_type],
            }
        if attribute.kind == ATTR_REFERENCE and attribute.reference_object_type_id is not None:
            reference_type = site.reference_types.get(attribute.reference_type_id or "")
            if reference_type is not None:
                rendered["referenceType"] = self.reference_type(reference_type)
            rendered["referenceObjectTypeId"] = attribute.reference_object_type_id
            rendered["referenceObjectType"] = self.object_type(
                site.object_types[attribute.reference_object_type_id]
            )
            rendered["additionalValue"] = attribute.reference_type_id
        rendered.update(
            {
                "editable": attribute.editable,
                "system": attribute.system_role is not None,
                "sortable": True,
                "summable": attribute.summable,
                "indexed": True,
                "minimumCardinality": attribute.minimum_cardinality,
                "maximumCardinality": attribute.maximum_cardinality,
                "suffix": attribute.suffix,
                "removable": attribute.system_role is None and not attribute.label,
                "hidden": attribute.hidden,
                "includeChildObjectTypes": attribute.include_child_object_types,
                "uniqueAttribute": attribute.unique,
                "regexValidation": attribute.regex_validation,
                "qlQuery": attribute.ql_query,
                "options": attribute.options,
                "typeValueMulti": list(attribute.type_value_multi),
                "position": site.attribute_position(attribute),
            }
        )
        return rendered

    def avatar(self, record: ObjectRecord) -> dict[str, Any]:
        """Render an object's avatar: URLs carry a fresh token on every read."""
        object_id = str(record.object_id)
        base = f"{self.api_base}/object/{object_id}/avatar.png"
        avatar: dict[str, Any] = {
            "workspaceId": self.workspace_id,
            "globalId": self._global_id(object_id),
        }
        if record.has_avatar and record.avatar_uuid:
            # Only an uploaded avatar has an id and a media UUID; the default one is the type's icon.
            avatar |= {"id": object_id, "avatarUUID": record.avatar_uuid}
        avatar |= {f"url{size}": f"{base}?size={size}&jwt={self.jwt()}" for size in AVATAR_SIZES}
        avatar["objectId"] = object_id
        return avatar

    def object_summary(self, record: ObjectRecord) -> dict[str, Any]:
        """Render an object without attributes (as in ``referencedObject``; cached for the request)."""
        if not self._cache_objects:
            return self._object_summary(record)
        cached = self._summaries.get(record.object_id)
        if cached is None:
            cached = self._summaries[record.object_id] = self._object_summary(record)
        return cached

    def _object_summary(self, record: ObjectRecord) -> dict[str, Any]:
        object_id = str(record.object_id)
        return {
            "workspaceId": self.workspace_id,
            "globalId": self._global_id(object_id),
            "id": object_id,
            "label": record.label,
            "objectKey": record.key,
            "avatar": self.avatar(record),
            "objectType": self.object_type(self.site.object_types[record.object_type_id]),
            "created": iso_ms(record.created),
            "updated": iso_ms(record.updated),
            "hasAvatar": record.has_avatar,
            "timestamp": epoch_ms(record.updated),
            "_links": {"self": f"{self.api_base}/object/{object_id}"},
            "name": record.label,
        }

    def object(self, record: ObjectRecord, *, attributes: str = "full") -> dict[str, Any]:
        """Render an Object.

        :param attributes: ``"full"`` (each attribute embeds its definition, as ``GET object/{id}``),
            ``"ids"`` (only ``objectTypeAttributeId``, as AQL pages) or ``"none"``.
        """
        rendered = dict(self.object_summary(record))
        rendered["attributes"] = (
            []
            if attributes == "none"
            else self.object_attributes(record, with_definition=attributes == "full")
        )
        rendered["extendedInfo"] = {
            "openIssuesExists": bool(self.site.tickets.get(record.object_id)),
            "attachmentsExists": False,
        }
        # Keep Atlassian's key order: extendedInfo, _links and name come last.
        rendered["_links"] = rendered.pop("_links")
        rendered["name"] = rendered.pop("name")
        return rendered

    def object_attributes(self, record: ObjectRecord, *, with_definition: bool) -> list[dict[str, Any]]:
        """Render the attributes of an object that hold values, in position order."""
        rendered = []
        object_id = str(record.object_id)
        for attribute in self.site.effective_attributes(record.object_type_id):
            stored = self._stored_values(record, attribute)
            if stored is None:
                continue
            attribute_id, values = stored
            entry: dict[str, Any] = {
                "workspaceId": self.workspace_id,
                "globalId": self._global_id(attribute_id),
                "id": str(attribute_id),
            }
            if with_definition:
                entry["objectTypeAttribute"] = self.attribute(attribute)
            entry["objectTypeAttributeId"] = attribute.id
            entry["objectAttributeValues"] = [self.value(attribute, value) for value in values]
            entry["objectId"] = object_id
            rendered.append(entry)
        return rendered

    @staticmethod
    def _stored_values(
        record: ObjectRecord, attribute: AttributeRecord
    ) -> tuple[int, tuple[Any, ...]] | None:
        role = attribute.system_role
        if role == "key":
            return record.system_attribute_id, (record.key,)
        if role == "created":
            return record.system_attribute_id + 1, (record.created,)
        if role == "updated":
            return record.system_attribute_id + 2, (record.updated,)
        stored = record.values.get(attribute.id)
        if not stored or len(stored) < 2:
            return None
        return stored[0], stored[1:]

    def value(self, attribute: AttributeRecord, value: Any) -> dict[str, Any]:
        """Render one value of an object attribute."""
        site = self.site
        if attribute.kind == ATTR_REFERENCE:
            target = site.objects.get(value)
            if target is None:
                return {"displayValue": "", "searchValue": "", "referencedType": True}
            return {
                "referencedObject": self.object_summary(target),
                "displayValue": target.label,
                "searchValue": target.key,
                "referencedType": True,
            }
        if attribute.kind == ATTR_USER:
            return {
                "user": self.user(value),
                "displayValue": display_value(site, attribute, value),
                "searchValue": value,
                "referencedType": False,
            }
        if attribute.kind == ATTR_GROUP:
            return {
                "group": {
                    "name": value,
                    "groupId": site.group_id(value),
                    "avatarUrl": f"{self.site_base}/images/icons/avatars/group.png",
                },
                "displayValue": value,
                "searchValue": value,
                "referencedType": False,
            }
        if attribute.kind == ATTR_STATUS:
            status = site.status_types.get(value)
            status_json = self.status_type(status) if status else {"id": value, "name": value, "category": 0}
            return {
                "status": status_json,
                "displayValue": status_json["name"],
                "searchValue": value,
                "referencedType": False,
            }
        text = value_text(value)
        return {
            "value": text,
            "displayValue": plain_display(value),
            "searchValue": text,
            "referencedType": False,
        }

    def user(self, account_id: str) -> dict[str, Any]:
        """Render a Jira user as Assets embeds it."""
        user = self.site.users.get(account_id)
        name = user.display_name if user else account_id
        rendered: dict[str, Any] = {
            "avatarUrl": f"{self.api_base}/user/{account_id}/avatar.png?jwt={self.jwt()}",
            "displayName": name,
            "name": name,
            "key": account_id,
            "accountId": account_id,
            "isDeleted": user is None,
        }
        if user is not None and user.email:
            rendered["emailAddress"] = user.email
        return rendered

    def actor(self, account_id: str) -> dict[str, Any]:
        """Render the actor of a history entry or comment."""
        user = self.site.users.get(account_id)
        rendered: dict[str, Any] = {
            "avatarUrl": f"{self.api_base}/user/{account_id}/avatar.png?jwt={self.jwt()}",
            "displayName": user.display_name if user else account_id,
            "name": user.display_name if user else account_id,
            "key": account_id,
        }
        if user is not None and user.email:
            rendered["emailAddress"] = user.email
        return rendered

    def history(self, entry: HistoryRecord) -> dict[str, Any]:
        """Render a history entry."""
        rendered: dict[str, Any] = {
            "id": str(entry.id),
            "actor": self.actor(entry.actor),
            "type": entry.type,
            "created": iso_ms(entry.created),
            "objectId": str(entry.object_id),
        }
        if entry.affected_attribute is not None:
            rendered["affectedAttribute"] = entry.affected_attribute
        if entry.old_value is not None:
            rendered["oldValue"] = entry.old_value
        if entry.new_value is not None:
            rendered["newValue"] = entry.new_value
        return rendered

    def comment(self, comment: CommentRecord) -> dict[str, Any]:
        """Render a comment."""
        return {
            "id": str(comment.id),
            "created": iso_ms(comment.created),
            "updated": iso_ms(comment.updated),
            "actor": self.actor(comment.actor),
            "role": comment.role,
            "comment": comment.comment,
            "commentOutput": comment.comment,
            "objectId": str(comment.object_id),
            "canEdit": True,
            "canDelete": True,
        }

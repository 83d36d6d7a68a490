"""Re-read the target and compare it with the snapshot: every unexplained difference is listed.

Ids, keys, created and updated are not compared (the server sets them); references are compared through
the id map, users by the account id they were matched to, statuses by the mapped status. A value the plan
said could not be set (a user missing on the target...) is an explained difference and is not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.api.endpoints import AQL, OBJECT_COMMENTS, OBJECT_TYPE_ATTRIBUTES
from airflow_assets.api.endpoints import OBJECT as OBJECT_READ
from airflow_assets.exceptions import AssetsNotFoundError
from airflow_assets.model import normalize as norm
from airflow_assets.model.attributes import (
    ATTR_STATUS,
    attribute_kind,
    is_system,
    reference_type_id,
    referenced_type,
)
from airflow_assets.restore.comments import COMMENT, comment_marker
from airflow_assets.restore.ledger import Created, Ledger
from airflow_assets.restore.request import NEW_SCHEMA, RestoreRequest
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.scope import ObjectSet, TypeScope
from airflow_assets.restore.structure import ATTRIBUTE, OBJECT_TYPE, SCHEMA, StructureMaps
from airflow_assets.restore.values import ValueMaps, object_body
from airflow_assets.restore.verify_config import verify_config_types

JsonDict = dict[str, Any]
MAX_LISTED = 200


@dataclass
class VerifyReport:
    """What verify compared and found."""

    objects_checked: int = 0
    object_types_checked: int = 0
    attributes_checked: int = 0
    comments_checked: int = 0
    read_calls: int = 0
    # The reads by rate class (``POST object/aql``, ``GET object/{id}``...): what the rate limits bound.
    reads_by_class: dict[str, int] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)

    def count_reads(self, rate_class: str, calls: int = 1) -> None:
        """Count ``calls`` reads of one rate class."""
        self.read_calls += calls
        self.reads_by_class[rate_class] = self.reads_by_class.get(rate_class, 0) + calls

    @property
    def ok(self) -> bool:
        """Tell whether the target matches the snapshot."""
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-compatible values (the first differences listed)."""
        return {
            "ok": self.ok,
            "objects_checked": self.objects_checked,
            "object_types_checked": self.object_types_checked,
            "attributes_checked": self.attributes_checked,
            "comments_checked": self.comments_checked,
            "read_calls": self.read_calls,
            "reads_by_class": dict(self.reads_by_class),
            "differences": len(self.differences),
            "first_differences": self.differences[:MAX_LISTED],
        }


def written_form(value: Mapping[str, Any]) -> str | None:
    """Return a value the API answered in the form a write sends it (reference key, account id...)."""
    referenced = value.get("referencedObject")
    if isinstance(referenced, Mapping):
        return str(referenced.get("objectKey") or referenced.get("id"))
    status = value.get("status")
    if isinstance(status, Mapping):
        return str(status.get("id"))
    user = value.get("user")
    if isinstance(user, Mapping):
        return str(user.get("key") or user.get("accountId"))
    group = value.get("group")
    if isinstance(group, Mapping):
        return str(group.get("name"))
    raw = value.get("value")
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


# The configuration reads of verify (types, statuses, reference types): each of its own class, few; counted as
# one class at the default limit.
CONFIGURATION_READS = "configuration"


class Verifier:
    """Compare the restored part of the target with the snapshots."""

    def __init__(
        self,
        client: AssetsClient,
        ledger: Ledger,
        request: RestoreRequest,
        schemas: Sequence[SchemaSource],
        scope: TypeScope,
        selection: ObjectSet,
        maps: StructureMaps,
        value_maps: Callable[[Callable[[str], str | None]], ValueMaps],
        reference: Callable[[str], str | None],
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.request = request
        self.schemas = schemas
        self.scope = scope
        self.selection = selection
        self.maps = maps
        self.value_maps = value_maps(reference)
        self.report = VerifyReport()

    def differ(self, text: str) -> None:
        """Record one difference."""
        self.report.differences.append(text)

    def run(self, *, comments: bool) -> VerifyReport:
        """Compare structure, objects and (when restored) comments."""
        created = self.ledger.created("object")
        for index, schema in enumerate(self.schemas):
            self._structure(schema)
            expected = {old: created.get(old) for old, i in self.selection.schema_of.items() if i == index}
            self._objects(schema, expected)
            if comments and schema.source.includes("comments"):
                self._comments(schema, {old: c for old, c in expected.items() if c is not None})
        self._references_put_back()
        return self.report

    def _references_put_back(self) -> None:
        """Check the live objects that ``recreate_missing`` gave their references back to."""
        patched = [c for c in self.ledger.created("inbound").values() if c.expects]
        for created, answer in self.client.map_concurrent(
            lambda c: self._get(c.new_id), patched, ordered=False
        ):
            self.report.count_reads(OBJECT_READ.rate_class)
            if answer is None:
                self.differ(f"{created.new_key}: the object whose references were put back is gone")
                continue
            self.report.objects_checked += 1
            held = {
                f"{attribute.get('objectTypeAttributeId')}={written_form(value)}"
                for attribute in answer.get("attributes") or []
                for value in attribute.get("objectAttributeValues") or []
            }
            for expectation in created.expects:
                if expectation not in held:
                    attribute_id, _, key = expectation.partition("=")
                    self.differ(
                        f"{created.new_key}: the reference to {key} (attribute {attribute_id}) is missing"
                    )

    # -- structure ------------------------------------------------------------------------------------

    def _structure(self, schema: SchemaSource) -> None:
        restored = self.ledger.get(SCHEMA, schema.source.snapshot.schema_id)
        if restored is None:
            self.differ(f"{schema.new_key}: the schema was not restored")
            return
        types = {str(t.get("id")): dict(t) for t in self.client.get_object_types(restored.new_id)}
        self.report.count_reads(CONFIGURATION_READS)
        self.report.count_reads(
            CONFIGURATION_READS,
            verify_config_types(
                self.client,
                schema,
                restored.new_id,
                self.maps.statuses,
                self.maps.reference_types,
                self.differ,
            ),
        )
        for type_id in schema.types_parent_first(self.scope.included.get(schema.old_key, set())):
            self.report.object_types_checked += 1
            old = schema.object_types[type_id]
            mapped = self.maps.object_types.get(type_id)
            new = types.get(mapped or "")
            where = f"{schema.new_key}/{old.get('name')}"
            if new is None:
                self.differ(f"{where}: object type missing on the target")
                continue
            for name in ("name", "inherited", "abstractObjectType"):
                if (
                    norm.as_bool(old.get(name)) != norm.as_bool(new.get(name))
                    if name != "name"
                    else old.get(name) != new.get(name)
                ):
                    self.differ(f"{where}: {name} is {new.get(name)!r}, the snapshot has {old.get(name)!r}")
            parent = old.get("parentObjectTypeId")
            expected_parent = self.maps.object_types.get(parent) if parent else None
            if str(new.get("parentObjectTypeId") or "") != str(expected_parent or ""):
                self.differ(f"{where}: parent differs from the snapshot's")
            self._attributes(schema, type_id, mapped or "", where)

    def _attributes(self, schema: SchemaSource, type_id: str, new_type: str, where: str) -> None:
        target = {}
        for raw in self.client.get_object_type_attributes(new_type):
            attribute = norm.normalize_attribute(raw)
            target[attribute["id"]] = attribute
        self.report.count_reads(OBJECT_TYPE_ATTRIBUTES.rate_class)
        for old in schema.attributes_of.get(type_id, []):
            self.report.attributes_checked += 1
            new = target.get(self.maps.attributes.get(old["id"], ""))
            name = f"{where}.{old.get('name')}"
            if new is None:
                self.differ(f"{name}: attribute missing on the target")
                continue
            if self.request.mode == NEW_SCHEMA and _setting(old, "position") != _setting(new, "position"):
                self.differ(
                    f"{name}: position is {new.get('position')}, the snapshot has {old.get('position')}"
                )
            if is_system(old):
                continue
            checks = ["name", "type", "maximumCardinality", "label", "options", "suffix", "hidden"]
            if self.request.mode == NEW_SCHEMA:
                checks += ["minimumCardinality", "uniqueAttribute", "regexValidation"]
            for setting in checks:
                if _setting(old, setting) != _setting(new, setting):
                    self.differ(
                        f"{name}: {setting} is {new.get(setting)!r}, the snapshot has {old.get(setting)!r}"
                    )
            if attribute_kind(old) == 0 and _default_type(old) != _default_type(new):
                self.differ(
                    f"{name}: default type {_default_type(new)}, the snapshot has {_default_type(old)}"
                )
            reference = referenced_type(old)
            if reference is not None:
                expected = self.maps.object_types.get(reference, reference)
                if referenced_type(new) != expected:
                    self.differ(f"{name}: references object type {referenced_type(new)}, expected {expected}")
                old_kind = reference_type_id(old)
                expected_kind = self.maps.reference_types.get(old_kind or "", old_kind)
                if reference_type_id(new) != expected_kind:
                    self.differ(f"{name}: reference type {reference_type_id(new)}, expected {expected_kind}")
            if attribute_kind(old) == ATTR_STATUS:
                allowed = {self.maps.statuses.get(str(s), str(s)) for s in old.get("typeValueMulti") or []}
                if {str(s) for s in new.get("typeValueMulti") or []} != allowed:
                    self.differ(
                        f"{name}: allows statuses {new.get('typeValueMulti')}, expected {sorted(allowed)}"
                    )

    # -- objects --------------------------------------------------------------------------------------

    def _objects(self, schema: SchemaSource, expected: Mapping[str, Created | None]) -> None:
        """Compare each restored object as its page arrives: nothing of the target is held beyond a page."""
        restored = self.ledger.get(SCHEMA, schema.source.snapshot.schema_id)
        old_of: dict[str, str] = {}
        for old_id, created in expected.items():
            if created is None:
                self.differ(f"{self.selection.objects[old_id].get('objectKey')}: was not restored")
            else:
                old_of[created.new_id] = old_id
        seen: set[str] = set()
        if self.request.mode == NEW_SCHEMA and restored is not None:
            for page in self.client.iter_aql_pages(f"objectSchemaId = {restored.new_id}", page_size=500):
                self.report.count_reads(AQL.rate_class)
                for raw in page.values:
                    new_id = str(raw.get("id"))
                    if new_id not in old_of:
                        self.differ(f"{schema.new_key}: object {raw.get('objectKey')} is not in the snapshot")
                        continue
                    seen.add(new_id)
                    self._check(old_of[new_id], expected, dict(raw))
        else:
            for new_id, answer in self.client.map_concurrent(self._get, list(old_of), ordered=False):
                self.report.count_reads(OBJECT_READ.rate_class)
                if answer is not None:
                    seen.add(new_id)
                    self._check(old_of[new_id], expected, answer)
        for new_id in sorted(set(old_of) - seen, key=lambda i: int(i) if i.isdigit() else 0):
            created = expected[old_of[new_id]]
            assert created is not None
            key = self.selection.objects[old_of[new_id]].get("objectKey")
            self.differ(f"{key} -> {created.new_key}: missing on the target")

    def _check(self, old_id: str, expected: Mapping[str, Created | None], actual: JsonDict) -> None:
        created = expected[old_id]
        assert created is not None
        obj = self.selection.objects[old_id]
        self.report.objects_checked += 1
        self._compare(obj, actual, f"{obj.get('objectKey')} -> {created.new_key}", set(created.left_out))

    def _get(self, new_id: str) -> JsonDict | None:
        try:
            return dict(self.client.get_object(new_id))
        except AssetsNotFoundError:  # reported as a difference by the caller
            return None

    def _compare(self, obj: JsonDict, actual: JsonDict, where: str, left_out: set[str]) -> None:
        type_id = self.maps.object_types.get(str(obj.get("objectTypeId")), "")
        actual_type = (
            actual.get("objectType", {}).get("id")
            if isinstance(actual.get("objectType"), dict)
            else actual.get("objectTypeId")
        )
        if str(actual_type) != type_id:
            self.differ(f"{where}: object type {actual_type}, expected {type_id}")
        if str(actual.get("label") or "") != str(obj.get("label") or ""):
            self.differ(f"{where}: label {actual.get('label')!r}, the snapshot has {obj.get('label')!r}")
        body = object_body(obj, type_id, self.value_maps)
        expected = {
            str(a["objectTypeAttributeId"]): sorted(str(v["value"]) for v in a["objectAttributeValues"])
            for a in body.body["attributes"]
        }
        held: dict[str, list[str]] = {}
        system = {
            self.maps.attributes.get(i) for i, d in self.value_maps.attribute_defs.items() if is_system(d)
        }
        for attribute in actual.get("attributes") or []:
            attribute_id = str(attribute.get("objectTypeAttributeId"))
            if attribute_id in system:
                continue
            values = sorted(
                v
                for v in (written_form(value) for value in attribute.get("objectAttributeValues") or [])
                if v is not None
            )
            if values:
                held[attribute_id] = values
        names = {
            new: self.value_maps.attribute_defs.get(old, {}).get("name", new)
            for old, new in self.maps.attributes.items()
        }
        for attribute_id in sorted(set(expected) | set(held)):
            if attribute_id in left_out:
                continue  # the target refused these values at the create: reported then
            if expected.get(attribute_id, []) != held.get(attribute_id, []):
                self.differ(
                    f"{where}: {names.get(attribute_id, attribute_id)} holds {held.get(attribute_id, [])}, "
                    f"expected {expected.get(attribute_id, [])}"
                )

    # -- comments -------------------------------------------------------------------------------------

    def _comments(self, schema: SchemaSource, created: Mapping[str, Created]) -> None:
        wanted: dict[str, set[str]] = {}
        for entry in schema.source.entries("comment"):
            object_id = str(entry.get("objectId"))
            if object_id in created:
                wanted.setdefault(object_id, set()).add(
                    comment_marker(f"{schema.old_key}-{object_id}", str(entry["id"]))
                )
        restored = self.ledger.created(COMMENT)

        def read(object_id: str) -> tuple[str, list[str]]:
            return object_id, [
                str(c.get("comment") or "")
                for c in self.client.get_object_comments(created[object_id].new_id)
            ]

        for object_id, (_, texts) in self.client.map_concurrent(read, list(wanted), ordered=False):
            self.report.count_reads(OBJECT_COMMENTS.rate_class)
            for marker in wanted[object_id]:
                self.report.comments_checked += 1
                if not any(marker in text.split("\n", 1)[0] for text in texts):
                    comment_id = marker.rpartition("#")[2]
                    state = "recorded as restored" if comment_id in restored else "not restored"
                    self.differ(f"{schema.old_key}-{object_id}: comment {comment_id} is missing ({state})")


def _setting(attribute: Mapping[str, Any], name: str) -> Any:
    value = attribute.get(name)
    if name in ("label", "uniqueAttribute", "hidden"):
        return norm.as_bool(value)
    if name in ("type", "minimumCardinality", "maximumCardinality", "position"):
        try:
            return int(value if value is not None else 0)
        except (TypeError, ValueError):
            return value
    return value or ""


def _default_type(attribute: Mapping[str, Any]) -> Any:
    default = attribute.get("defaultType")
    return default.get("id") if isinstance(default, Mapping) else None


def _unused(items: Iterable[Any]) -> None:  # pragma: no cover - keeps imports honest for mypy
    del items


__all__ = ["ATTRIBUTE", "OBJECT_TYPE", "Verifier", "VerifyReport", "written_form"]

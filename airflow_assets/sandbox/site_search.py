"""AQL over a sandbox Assets site: search, the AQL pages and the catalog the AQL evaluator reads."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import time
from typing import Any

from airflow_assets.sandbox.aql import AqlError, AqlReference, AqlSubject, compile_aql
from airflow_assets.sandbox.records import (
    ATTR_DEFAULT,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    DEFAULT_TIME,
    AttributeRecord,
    ObjectRecord,
    SandboxError,
    bad_request,
    id_number,
)
from airflow_assets.sandbox.render import Renderer, display_value
from airflow_assets.sandbox.site_state import SiteState, check_paging, locked

__all__ = ["SiteSearch"]

AQL_CACHE_SIZE = 8
_CLOCK_FUNCTION = re.compile(r"\b(now|startOf\w*|endOf\w*)\s*\(", re.IGNORECASE)
# Atlassian deprecated `total` on AQL pages; it stops counting here (clients must use totalcount).
AQL_TOTAL_CAP = 1000


class SiteSearch(SiteState):
    """AQL search and paging over a Site; also its ``AqlCatalog``."""

    @locked
    def search(self, ql_query: str) -> tuple[int, ...]:
        """Return the ids of the objects matching an AQL query, in its order (cached per revision)."""
        # A query relative to the clock (now(), startOfDay()...) is only reused within the same minute.
        minute = self._now(None).strftime("%Y%m%d%H%M") if _CLOCK_FUNCTION.search(ql_query) else ""
        cache_key = (ql_query, self.revision, minute)
        cached = self._aql_cache.get(cache_key)
        if cached is not None:
            self._aql_cache.move_to_end(cache_key)
            return cached
        try:
            compiled = compile_aql(ql_query, self, now=self._now(None))
            schema_ids = compiled.schema_ids
            matched = [
                record
                for record in self.objects.values()
                if (schema_ids is None or record.schema_id in schema_ids) and compiled.matches(record)
            ]
            matched.sort(key=compiled.sort_key, reverse=compiled.descending)
        except AqlError as error:
            raise SandboxError(400, [error.message], {}) from None
        ids = tuple(record.object_id for record in matched)
        self._aql_cache[cache_key] = ids
        while len(self._aql_cache) > AQL_CACHE_SIZE:
            self._aql_cache.popitem(last=False)
        return ids

    @locked
    def aql_page(
        self,
        ql_query: str,
        *,
        start_at: int = 0,
        max_results: int = 25,
        include_attributes: bool = True,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """Answer ``POST object/aql``: one page of matching objects plus their attribute definitions."""
        check_paging(start_at, max_results)
        ids = self.search(ql_query)
        page = [self.objects[object_id] for object_id in ids[start_at : start_at + max_results]]
        renderer = self._renderer(base_url)
        last = start_at + len(page) >= len(ids)
        return {
            "startAt": start_at,
            "maxResults": max_results,
            "total": min(len(ids), AQL_TOTAL_CAP),
            "isLast": last,
            "last": last,
            "values": [renderer.object(r, attributes="ids" if include_attributes else "none") for r in page],
            "objectTypeAttributes": self._page_attributes(renderer, page),
        }

    def _page_attributes(self, renderer: Renderer, page: list[ObjectRecord]) -> list[dict[str, Any]]:
        seen: dict[str, AttributeRecord] = {}
        for type_id in dict.fromkeys(record.object_type_id for record in page):
            for attribute in self.effective_attributes(type_id):
                seen.setdefault(attribute.id, attribute)
        return [renderer.attribute(attribute) for attribute in seen.values()]

    @locked
    def aql_total_count(self, ql_query: str) -> dict[str, Any]:
        """Answer ``POST object/aql/totalcount``."""
        return {"totalCount": len(self.search(ql_query))}

    @locked
    def legacy_aql_page(
        self,
        ql_query: str,
        *,
        object_schema_id: str | None = None,
        page: int = 1,
        result_per_page: int = 25,
        include_attributes: bool = True,
        base_url: str | None = None,
        iql: bool = False,
    ) -> dict[str, Any]:
        """Answer the deprecated ``GET aql/objects`` and ``iql/objects`` (1-based; pageSize = page count).

        ``object_schema_id`` narrows the matches to one schema; the query text itself is left as written.
        ``iql`` answers as ``iql/objects`` does (``iql`` and ``iqlSearchResult``); otherwise as
        ``aql/objects`` (``qlQuery`` and ``qlQuerySearchResult``).
        """
        if page < 1:
            raise bad_request(page="page must be 1 or more")
        if result_per_page < 1:
            raise bad_request(resultPerPage="resultPerPage must be 1 or more")
        ids = self.search(ql_query)
        if object_schema_id:
            schema_number = id_number(object_schema_id.strip())
            if schema_number is None:
                raise bad_request(objectSchemaId="objectSchemaId must be a schema id")
            schema_id = str(schema_number)
            ids = tuple(object_id for object_id in ids if self.objects[object_id].schema_id == schema_id)
        start = (page - 1) * result_per_page
        records = [self.objects[object_id] for object_id in ids[start : start + result_per_page]]
        renderer = self._renderer(base_url)
        answer: dict[str, Any] = {
            "objectEntries": [
                renderer.object(r, attributes="ids" if include_attributes else "none") for r in records
            ],
            "objectTypeAttributes": self._page_attributes(renderer, records),
        }
        type_ids = {self.objects[object_id].object_type_id for object_id in ids}
        if len(type_ids) == 1:
            only = self.object_types[type_ids.pop()]
            answer |= {
                "objectTypeId": only.id,
                "objectTypeIsInherited": only.inherited,
                "abstractObjectType": only.abstract,
            }
        answer |= {
            "totalFilterCount": len(ids),
            "startIndex": start,
            "toIndex": start + len(records),
            "pageObjectSize": len(records),
            "pageNumber": page,
            "orderWay": "asc",
            "conversionPossible": False,
            "pageSize": -(-len(ids) // result_per_page),
        }
        # Older public scripts page iql/objects only while iqlSearchResult is true.
        if iql:
            answer |= {"iql": ql_query, "iqlSearchResult": True}
        else:
            answer |= {"qlQuery": ql_query, "qlQuerySearchResult": True}
        return answer

    # --- AqlCatalog ----------------------------------------------------------------------------

    def schema_ids_named(self, name: str) -> set[str]:
        """Return the ids of schemas with this name (case-insensitive)."""
        return {schema.id for schema in self.schemas.values() if schema.name.lower() == name.lower()}

    def type_ids_named(self, name: str) -> set[str]:
        """Return the ids of object types with this name in any schema (case-insensitive)."""
        return {t.id for t in self.object_types.values() if t.name.lower() == name.lower()}

    def type_and_descendants(self, type_id: str) -> set[str]:
        """Return a type id with the ids of every type below it."""
        if type_id not in self.object_types:
            return set()
        return {type_id} | self.descendants_of(type_id)

    def is_known_attribute(self, name: str) -> bool:
        """Tell whether some object type has an attribute of this name (case-insensitive)."""
        if self._attribute_names is None:
            self._attribute_names = {attribute.name.lower() for attribute in self.attributes.values()}
        return name.lower() in self._attribute_names

    def attribute_values(self, subject: AqlSubject, name: str) -> list[object] | None:
        """Return the values of an object's attribute as the AQL evaluator compares them."""
        record = self.objects.get(subject.object_id)
        if record is None:
            return None
        attribute = self._attribute_named(record.object_type_id, name)
        if attribute is None:
            return None
        if attribute.system_role == "key":
            return [record.key]
        if attribute.system_role == "created":
            return [record.created]
        if attribute.system_role == "updated":
            return [record.updated]
        stored = record.values.get(attribute.id)
        values = stored[1:] if stored else ()
        if attribute.kind == ATTR_REFERENCE:
            references: list[object] = []
            for target_id in values:
                target = self.objects.get(target_id)
                if target is not None:
                    references.append(AqlReference(label=target.label, key=target.key, subject=target))
            return references
        if attribute.kind in (ATTR_USER, ATTR_STATUS):
            return [display_value(self._site, attribute, value) for value in values]
        if attribute.kind == ATTR_DEFAULT and attribute.default_type == DEFAULT_TIME:
            return [time.fromisoformat(value) for value in values]
        return list(values)

    def outbound_references(self, subject: AqlSubject) -> Iterable[AqlSubject]:
        """Return the objects a subject's reference attributes point to."""
        record = self.objects.get(subject.object_id)
        if record is None:
            return []
        targets: dict[int, ObjectRecord] = {}
        for attribute in self.effective_attributes(record.object_type_id):
            stored = record.values.get(attribute.id)
            if attribute.kind == ATTR_REFERENCE and stored:
                for target_id in stored[1:]:
                    target = self.objects.get(target_id)
                    if target is not None:
                        targets[target_id] = target
        return list(targets.values())

    def all_subjects(self) -> Iterable[AqlSubject]:
        """Return every object, for inbound/outbound reference sub-queries."""
        return self.objects.values()

"""Create the objects of a restore: each once, with all its values, after everything it references.

The object reference graph decides the order: an object is sent as soon as every object it references
exists (a dependency count per object, not waves, so a long chain of managers never idles the workers).
Only objects on a reference cycle (a strongly connected component, or an object referencing itself)
are created without the references inside their cycle and completed by a second call. Every create is
preceded by an intent in the ledger; an intent left open by a crash is reconciled against the target
before anything is created again, so a killed or retried task never creates duplicates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.exceptions import (
    AssetsApiError,
    AssetsBadRequestError,
    AssetsNotFoundError,
    AssetsTransportError,
)
from airflow_assets.ids import id_order
from airflow_assets.model import normalize as norm
from airflow_assets.restore.graph import strongly_connected
from airflow_assets.restore.ledger import Created, Intent, Ledger
from airflow_assets.restore.progress import progress_log
from airflow_assets.restore.schema_source import SchemaSource
from airflow_assets.restore.scope import ObjectSet, object_refs
from airflow_assets.restore.structure import StructureMaps, maybe_applied
from airflow_assets.restore.values import ObjectBody, ValueMaps, object_body

log = logging.getLogger(__name__)
JsonDict = dict[str, Any]

OBJECT = "object"
OBJECT_LINKS = "object_links"
INBOUND = "inbound"
ATTRIBUTE_ERROR_PREFIX = "rlabs-insight-attribute-"
# The target's clock may run behind ours: look back this far for an object an open intent may have made.
CLOCK_SKEW = timedelta(minutes=10)
# Completed creates recorded in one write.
COMPLETION_BATCH = 50
# Creates whose answer was lost and whose object could not be found, before the task gives up.
MAX_LOST_ANSWERS = 3
# A search may not show an object made a moment ago: look again after this pause.
SETTLE_SECONDS = 2.0


@dataclass
class ObjectsSummary:
    """What the objects step did."""

    selected: int = 0
    created: int = 0
    already_done: int = 0
    reconciled: int = 0
    answers_lost: int = 0
    cyclic: int = 0
    create_calls: int = 0
    update_calls: int = 0
    inbound_updates: int = 0
    lookup_reads: int = 0
    dropped_values: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-compatible values (warnings counted, not listed)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "warnings"}
        values["warnings"] = len(self.warnings)
        return values


class ObjectRestorer:
    """Create the selected objects on the target.

    :param on_created: called with the old id right after the server answered a create and before the
        intent is completed (the window a crash test aims at).
    """

    def __init__(
        self,
        client: AssetsClient,
        ledger: Ledger,
        schemas: Sequence[SchemaSource],
        selection: ObjectSet,
        maps: StructureMaps,
        value_maps: Callable[[Callable[[str], str | None]], ValueMaps],
        *,
        same_site: bool,
        live: Mapping[str, Collection[str]] | None = None,
        max_workers: int | None = None,
        on_created: Callable[[str], None] | None = None,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.client = client
        self.settle_seconds = settle_seconds
        self.ledger = ledger
        self.schemas = schemas
        self.selection = selection
        self.maps = maps
        self.same_site = same_site
        self.live = live
        self.max_workers = max_workers or client.max_workers
        self.on_created = on_created
        self.summary = ObjectsSummary(selected=len(selection.objects))
        self._lock = threading.Lock()
        self._done: dict[str, Created] = {}
        self._lookups: dict[str, str | None] = {}
        self.value_maps = value_maps(self.reference)

    # -- references ---------------------------------------------------------------------------------

    def reference(self, old_id: str) -> str | None:
        """Return what a reference to ``old_id`` is written as on the target (its key), or None."""
        created = self._done.get(old_id)
        if created is not None:
            return created.new_key or created.new_id
        if not self.same_site:
            return None
        key = self.selection.keys.get(old_id)
        if key is not None and self.live is not None:
            owner = self.selection.key_schema.get(old_id)
            return key if owner is not None and old_id in self.live.get(owner, ()) else None
        with self._lock:
            if old_id in self._lookups:
                return self._lookups[old_id]
        answer: str | None = None
        try:
            found = self.client.get_object(old_id)
        except AssetsNotFoundError:
            found = {}
        if found:
            raw_type = found.get("objectType")
            type_id = (
                str(raw_type.get("id")) if isinstance(raw_type, dict) else str(found.get("objectTypeId"))
            )
            # An object of a type this restore rebuilt elsewhere cannot fill the rebuilt attribute.
            if self.maps.object_types.get(type_id, type_id) == type_id:
                answer = str(found.get("objectKey") or old_id)
        with self._lock:
            self.summary.lookup_reads += 1
            self._lookups[old_id] = answer
        return answer

    def prefetch_references(self, objects: Iterable[JsonDict]) -> int:
        """Resolve, side by side, every object the given ones refer to; return how many ids were resolved.

        What :meth:`reference` would otherwise read one at a time, as a single-threaded caller (verify)
        meets each reference to an object this restore neither created nor selected: one read per such
        object at the API's latency, where the rate limit allows many at once.
        """
        referenced: dict[str, None] = {}
        for obj in objects:
            for attribute in obj.get("attributes") or []:
                for value in attribute.get("values") or []:
                    if "referencedObjectId" in value:
                        referenced.setdefault(str(value["referencedObjectId"]), None)
        for _ in self.client.map_concurrent(self.reference, referenced, ordered=False):
            pass
        return len(referenced)

    def load_created(self) -> None:
        """Read what earlier tries created, so references resolve to it."""
        self._done = self.ledger.created(OBJECT)

    # -- the run ------------------------------------------------------------------------------------

    def run(self) -> ObjectsSummary:
        """Create every selected object not created yet; complete the cycles; return what was done."""
        started = time.monotonic()
        self.load_created()
        self.reconcile_open_intents()
        objects = self.selection.objects
        edges = {old_id: [r for r in object_refs(obj) if r in objects] for old_id, obj in objects.items()}
        component_of: dict[str, int] = {}
        for number, component in enumerate(strongly_connected(sorted(objects, key=id_order), edges)):
            for member in component:
                component_of[member] = number
        cyclic = {
            old_id
            for old_id, targets in edges.items()
            if any(component_of[t] == component_of[old_id] for t in targets)
        }
        self.summary.cyclic = len(cyclic)
        self.summary.already_done = sum(1 for old_id in objects if old_id in self._done)
        self._run_jobs(objects, edges, component_of, cyclic)
        self.summary.seconds = round(time.monotonic() - started, 3)
        return self.summary

    def _run_jobs(
        self,
        objects: Mapping[str, JsonDict],
        edges: Mapping[str, list[str]],
        component_of: Mapping[str, int],
        cyclic: set[str],
    ) -> None:
        """Create every object once its references exist; link each cycle once all its members exist.

        Creates and the links of finished cycles share one pool: they draw on different rate budgets
        (``object/create`` and ``PUT object/{id}``), so the links cost no time of the creates.
        """
        linked = set(self.ledger.created(OBJECT_LINKS))
        waiting: dict[str, int] = {}
        dependents: dict[str, list[str]] = {}
        # Members of each cycle not created yet; a cycle is linked when it reaches zero.
        unfinished: dict[int, int] = {}
        members: dict[int, list[str]] = {}
        for old_id in cyclic:
            members.setdefault(component_of[old_id], []).append(old_id)
        ready: deque[tuple[str, str]] = deque()
        for old_id in sorted(objects, key=id_order):
            component = component_of[old_id]
            if component in members:
                unfinished[component] = unfinished.get(component, 0) + (old_id not in self._done)
            if old_id in self._done:
                continue
            outside = [t for t in edges[old_id] if component_of[t] != component and t not in self._done]
            waiting[old_id] = len(outside)
            for target in outside:
                dependents.setdefault(target, []).append(old_id)
            if not outside:
                ready.append(("create", old_id))
        for component, count in unfinished.items():
            if count == 0:
                ready.extend(("link", m) for m in sorted(members[component], key=id_order) if m not in linked)
        in_flight: dict[Future[Any], tuple[str, str]] = {}
        failure: BaseException | None = None
        completions = _Completions(self.ledger)
        progress = progress_log(log, "objects", len(waiting))
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="restore") as pool:
            while (ready and failure is None) or in_flight:
                jobs: list[tuple[str, str]] = []
                while ready and failure is None and len(in_flight) + len(jobs) < 2 * self.max_workers:
                    jobs.append(ready.popleft())
                # The intents of a round of creates, in one write, before any of them is sent.
                self.ledger.open_many(
                    OBJECT, [self._intent_context(old_id) for kind, old_id in jobs if kind == "create"]
                )
                for job in jobs:
                    work = self._create_one if job[0] == "create" else self._link_one
                    in_flight[pool.submit(work, job[1], component_of)] = job
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in finished:
                    kind, old_id = in_flight.pop(future)
                    try:
                        result = future.result()
                    except BaseException as error:
                        failure = failure or error
                        continue
                    if kind == "link":
                        self.summary.update_calls += 1
                        continue
                    created, body = result
                    completions.add(old_id, created)
                    if not body.omitted_refs:
                        # Every reference of its cycle existed already: its create was complete.
                        linked.add(old_id)
                    with self._lock:
                        self._done[old_id] = created
                    self.summary.created += 1
                    progress.add()
                    self.summary.dropped_values += len(body.dropped)
                    self.summary.warnings.extend(body.dropped)
                    for dependent in dependents.get(old_id, []):
                        waiting[dependent] -= 1
                        if waiting[dependent] == 0:
                            ready.append(("create", dependent))
                    component = component_of[old_id]
                    if component in unfinished:
                        unfinished[component] -= 1
                        if unfinished[component] == 0:
                            ready.extend(
                                ("link", m)
                                for m in sorted(members[component], key=id_order)
                                if m not in linked
                            )
                completions.flush(force=False)
        # What completed is recorded even when a create failed; a kill before this leaves open intents,
        # which the next try reconciles.
        completions.flush(force=True)
        if failure is not None:
            raise failure
        stuck = [old_id for old_id, count in waiting.items() if count and old_id not in self._done]
        if stuck:
            raise RuntimeError(
                f"{len(stuck)} objects wait for references that were never created: {stuck[:10]}"
            )

    def _intent_context(self, old_id: str) -> tuple[str, dict[str, Any]]:
        obj = self.selection.objects[old_id]
        return old_id, {
            "type_id": self.maps.object_types[str(obj["objectTypeId"])],
            "label": obj.get("label"),
        }

    def _create_one(self, old_id: str, component_of: Mapping[str, int]) -> tuple[Created, ObjectBody]:
        obj = self.selection.objects[old_id]
        type_id = self.maps.object_types[str(obj["objectTypeId"])]
        same_cycle = {
            t for t in object_refs(obj) if t in component_of and component_of[t] == component_of[old_id]
        }
        body = object_body(obj, type_id, self.value_maps, omit_refs=same_cycle - set(self._done))
        answer = self._send_create(old_id, obj, body)
        if self.on_created is not None:
            self.on_created(old_id)
        created = Created(
            norm.as_id(answer.get("id"), what="the new object's id"),
            str(answer.get("objectKey") or "") or None,
            tuple(body.refused_attributes),
        )
        return created, body

    def _send_create(self, old_id: str, obj: JsonDict, body: ObjectBody) -> JsonDict:
        """Send the create: on a refused value again without it; on a lost answer, look before resending."""
        values_refused = False
        for lost_answers in range(MAX_LOST_ANSWERS + 1):
            try:
                with self._lock:
                    self.summary.create_calls += 1
                return self.client.create_object(body.body)
            except AssetsBadRequestError as error:
                refused = _refused_attributes(error)
                if values_refused or not refused:
                    self.ledger.drop(OBJECT, old_id)
                    raise
                values_refused = True
                self._leave_out(obj, body, refused)
                return self._send_create(old_id, obj, body)
            except (AssetsApiError, AssetsTransportError) as error:
                if not maybe_applied(error):
                    self.ledger.drop(OBJECT, old_id)
                    raise
                # The server may have made the object although its answer was lost: look before resending.
                with self._lock:
                    self.summary.answers_lost += 1
                intent = self.ledger_intent(old_id)
                for wait_seconds in (0.0, self.settle_seconds):
                    time.sleep(wait_seconds)
                    found = self._find_made(obj, body, intent)
                    if found is not None:
                        with self._lock:
                            self.summary.reconciled += 1
                        return found
                if lost_answers == MAX_LOST_ANSWERS:
                    raise  # the intent stays open: the next try reconciles it first
                log.warning("%s: the create's answer was lost and no such object exists: sending it again",
                            obj.get("objectKey"))  # fmt: skip
        raise AssertionError("unreachable")

    def _leave_out(self, obj: JsonDict, body: ObjectBody, refused: Mapping[str, str]) -> None:
        """Drop the attributes the target refused from a body; one bad value never fails the object."""
        names = {new: old for old, new in self.maps.attributes.items()}
        body.body["attributes"] = [
            a for a in body.body["attributes"] if str(a["objectTypeAttributeId"]) not in refused
        ]
        body.refused_attributes.extend(refused)
        for attribute_id, message in refused.items():
            definition = self.value_maps.attribute_defs.get(names.get(attribute_id, ""), {})
            body.dropped.append(
                f"{obj.get('objectKey')}.{definition.get('name', attribute_id)}: "
                f"the target refused the value ({message})"
            )

    def ledger_intent(self, old_id: str) -> Intent | None:
        """Return the open intent of an object."""
        return next((i for i in self.ledger.open_intents(OBJECT) if i.old_id == old_id), None)

    # -- reconciling ----------------------------------------------------------------------------------

    def reconcile_open_intents(self) -> None:
        """Settle every intent a crash left open: adopt the object it made, or forget it."""
        for intent in list(self.ledger.open_intents(OBJECT)):
            obj = self.selection.objects.get(intent.old_id)
            if obj is None:
                self.ledger.drop(OBJECT, intent.old_id)
                continue
            type_id = self.maps.object_types[str(obj["objectTypeId"])]
            body = object_body(
                obj, type_id, self.value_maps, omit_refs=set(self.selection.objects) - set(self._done)
            )
            found = self._find_made(obj, body, intent)
            if found is None:
                self.ledger.drop(OBJECT, intent.old_id)
                continue
            created = Created(str(found["id"]), str(found.get("objectKey") or "") or None)
            self.ledger.complete(OBJECT, intent.old_id, created)
            self._done[intent.old_id] = created
            self.summary.reconciled += 1
            log.info(
                "object %s: adopted %s, created before the last try stopped",
                obj.get("objectKey"),
                created.new_key,
            )

    def _find_made(self, obj: JsonDict, body: ObjectBody, intent: Intent | None) -> JsonDict | None:
        """Look for the object an interrupted create made: same type and label, made after the intent,
        the same plain values, and not already mapped to another object of the snapshot."""
        label = str(obj.get("label") or "")
        type_id = body.body["objectTypeId"]
        escaped = label.replace("\\", "\\\\").replace('"', '\\"')
        taken = {created.new_id for created in self._done.values()}
        since = (intent.opened_at - CLOCK_SKEW) if intent is not None else None
        matches = []
        for page in self.client.iter_aql_pages(
            f'objectTypeId = {type_id} AND Label = "{escaped}"', page_size=50
        ):
            for candidate in page.values:
                candidate_id = str(candidate.get("id"))
                if candidate_id in taken or str(candidate.get("label") or "") != label:
                    continue
                created_at = _parse_time(candidate.get("created"))
                if since is not None and created_at is not None and created_at < since:
                    continue
                if _plain_values_match(body.body, candidate):
                    matches.append(dict(candidate))
        if len(matches) > 1:
            self.summary.warnings.append(
                f"{obj.get('objectKey')}: {len(matches)} objects on the target look like it; "
                "adopted the first "
                f"({matches[0].get('objectKey')}), check the others: "
                + ", ".join(str(m.get("objectKey")) for m in matches[1:])
            )
        return matches[0] if matches else None

    # -- cycles ---------------------------------------------------------------------------------------

    def _link_one(self, old_id: str, component_of: Mapping[str, int]) -> str:
        """Write the references inside an object's cycle, which could not be sent with its create."""
        obj = self.selection.objects[old_id]
        members = {t for t in object_refs(obj) if component_of.get(t) == component_of[old_id]}
        attributes = {
            str(a.get("objectTypeAttributeId"))
            for a in obj.get("attributes") or []
            if any(str(v.get("referencedObjectId")) in members for v in a.get("values") or [])
        }
        type_id = self.maps.object_types[str(obj["objectTypeId"])]
        body = object_body(obj, type_id, self.value_maps, only_attributes=attributes)
        new_id = self._done[old_id].new_id
        self.client.update_object(new_id, body.body)
        self.ledger.complete(OBJECT_LINKS, old_id, Created(new_id))
        return old_id

    # -- references from objects that were not restored ------------------------------------------------

    def restore_inbound(self, schema_objects: Callable[[], Any]) -> None:
        """Give live objects back their references to the recreated ones (``recreate_missing``).

        :param schema_objects: yields the snapshot's objects again (a fresh pass over the store).
        """
        done = self.ledger.created(INBOUND)
        recreated = {
            old: c for old, c in self.ledger.created(OBJECT).items() if old in self.selection.objects
        }
        for obj in schema_objects():
            old_id = obj["id"]
            if old_id in self.selection.objects or old_id in done:
                continue
            attributes: dict[str, list[str]] = {}
            for attribute in obj.get("attributes") or []:
                wanted = [
                    str(v["referencedObjectId"])
                    for v in attribute.get("values") or []
                    if str(v.get("referencedObjectId")) in recreated
                ]
                if wanted:
                    attributes[str(attribute["objectTypeAttributeId"])] = wanted
            if not attributes:
                continue
            expected = self._patch_inbound(obj, attributes, recreated)
            self.ledger.complete(
                INBOUND, old_id, Created(old_id, obj.get("objectKey"), expects=tuple(expected))
            )

    def _patch_inbound(
        self, obj: JsonDict, attributes: Mapping[str, list[str]], recreated: Mapping[str, Created]
    ) -> list[str]:
        """Put references back into a live object; return ``<attribute id>=<key>`` of those it now holds."""
        old_id = obj["id"]
        expected: list[str] = []
        try:
            live = self.client.get_object(old_id)
        except AssetsNotFoundError:
            return expected
        self.summary.lookup_reads += 1
        current: dict[str, list[str]] = {}
        for attribute in live.get("attributes") or []:
            keys = [
                str(v["referencedObject"].get("objectKey") or v["referencedObject"].get("id"))
                for v in attribute.get("objectAttributeValues") or []
                if isinstance(v.get("referencedObject"), dict)
            ]
            current[str(attribute.get("objectTypeAttributeId"))] = keys
        body_attributes = []
        for old_attribute, targets in attributes.items():
            new_attribute = self.maps.attributes.get(old_attribute, old_attribute)
            values = list(current.get(new_attribute, []))
            definition = self.value_maps.attribute_defs.get(old_attribute, {})
            maximum = int(definition.get("maximumCardinality") or 1)
            for target in targets:
                key = recreated[target].new_key or recreated[target].new_id
                if key in values:
                    expected.append(f"{new_attribute}={key}")
                    continue
                if maximum != -1 and len(values) >= maximum:
                    self.summary.warnings.append(
                        f"{obj.get('objectKey')}.{definition.get('name')}: holds {', '.join(values)} now; "
                        f"the reference to the recreated {key} was not put back"
                    )
                    continue
                values.append(key)
                expected.append(f"{new_attribute}={key}")
            if values != current.get(new_attribute, []):
                body_attributes.append(
                    {
                        "objectTypeAttributeId": new_attribute,
                        "objectAttributeValues": [{"value": v} for v in values],
                    }
                )
        if body_attributes:
            self.client.update_object(
                old_id,
                {
                    "objectTypeId": str(live.get("objectType", {}).get("id") or obj["objectTypeId"]),
                    "attributes": body_attributes,
                },
            )
            self.summary.update_calls += 1
            self.summary.inbound_updates += 1
        return expected


class _Completions:
    """Completed creates waiting to be recorded: written in batches (a write per create would cost more than
    the create on a slow store). An object whose completion is lost to a kill keeps an open intent, which the
    next try reconciles."""

    def __init__(self, ledger: Ledger, *, batch: int = COMPLETION_BATCH, seconds: float = 1.0) -> None:
        self.ledger = ledger
        self.batch = batch
        self.seconds = seconds
        self.pending: list[tuple[str, Created]] = []
        self.last = time.monotonic()

    def add(self, old_id: str, created: Created) -> None:
        self.pending.append((old_id, created))

    def flush(self, *, force: bool) -> None:
        due = len(self.pending) >= self.batch or time.monotonic() - self.last >= self.seconds
        if self.pending and (force or due):
            self.ledger.complete_many(OBJECT, self.pending)
            self.pending = []
            self.last = time.monotonic()


def _refused_attributes(error: AssetsBadRequestError) -> dict[str, str]:
    return {
        key[len(ATTRIBUTE_ERROR_PREFIX) :]: str(message)
        for key, message in error.errors.items()
        if key.startswith(ATTRIBUTE_ERROR_PREFIX)
    }


def _plain_values_match(body: JsonDict, candidate: Mapping[str, Any]) -> bool:
    """Tell whether a found object holds the plain values a create body sent (references, users,
    groups and statuses aside: their written and read forms differ)."""
    held: dict[str, set[str]] = {}
    for attribute in candidate.get("attributes") or []:
        values = {
            str(value.get("value")).lower()
            for value in attribute.get("objectAttributeValues") or []
            if value.get("value") is not None
            and not any(value.get(kind) for kind in ("referencedObject", "user", "group", "status"))
        }
        if values:
            held[str(attribute.get("objectTypeAttributeId"))] = values
    for attribute in body.get("attributes") or []:
        stored = held.get(str(attribute.get("objectTypeAttributeId")))
        sent = {str(v.get("value")).lower() for v in attribute.get("objectAttributeValues") or []}
        if stored is not None and stored != sent:
            return False
    return True


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

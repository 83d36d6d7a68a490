"""Putting a live schema's configuration back in place, on the sandbox and a real MongoDB.

The ITAM schema is backed up, then its configuration is changed the way an admin would (types and
attributes renamed, cardinality, regex, options, suffix, allowed statuses changed, an attribute deleted,
another moved, a status type renamed). The structure step (``recreate_missing``) brings the deleted
attribute back; :func:`revert_config` puts everything else back.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

from airflow_assets.api import AssetsClient
from airflow_assets.model import normalize as norm
from airflow_assets.model.schema_config import sibling_order
from airflow_assets.restore import RestoreSession
from airflow_assets.restore.config_revert import ConfigRevert, attribute_view, revert_config
from airflow_assets.restore.structure import ATTRIBUTE, OBJECT_TYPE, REFERENCE, STATUS
from airflow_assets.sandbox.launch import RunningSandbox
from tests.integration.backup_support import back_up, client_for
from tests.integration.restore_support import session

RECREATE_ITAM = {"mode": "recreate_missing", "schema_mappings": [{"old_key": "ITAM"}], "dry_run": False}
JsonDict = dict[str, Any]


class Killed(BaseException):
    """Stands for the worker being killed right after the site answered a write."""


class KilledAfter(AssetsClient):
    """A real client of the sandbox whose worker dies after a number of attribute updates."""

    def __init__(self, writes: int, **options: Any) -> None:
        super().__init__(**options)
        self.writes_left = writes

    def update_attribute(self, object_type_id: str, attribute_id: str, body: Any) -> JsonDict:
        answer = super().update_attribute(object_type_id, attribute_id, body)
        self.writes_left -= 1
        if self.writes_left == 0:
            raise Killed
        return answer


def _schema_id(client: AssetsClient, key: str) -> str:
    return str(client.object_schema_by_key(key)["id"])


def _types(client: AssetsClient) -> dict[str, JsonDict]:
    return {str(t["name"]): dict(t) for t in client.get_object_types(_schema_id(client, "ITAM"))}


def _own(client: AssetsClient, type_id: str) -> list[JsonDict]:
    """Return a type's own attributes in their order."""
    own = [norm.normalize_attribute(a) for a in client.get_object_type_attributes(type_id)]
    return sorted((a for a in own if a["objectTypeId"] == type_id), key=sibling_order)


def _attribute(client: AssetsClient, type_name: str, name: str) -> tuple[str, JsonDict]:
    type_id = str(_types(client)[type_name]["id"])
    return type_id, next(a for a in _own(client, type_id) if a["name"] == name)


def _update(client: AssetsClient, type_name: str, attribute_name: str, /, **settings: Any) -> None:
    type_id, attribute = _attribute(client, type_name, attribute_name)
    client.update_attribute(type_id, attribute["id"], settings)


def _edit_configuration(client: AssetsClient) -> None:
    """Change ITAM's configuration as an admin would, after the backup."""
    types = _types(client)
    laptop = types["Laptop"]
    client.update_object_type(str(laptop["id"]), {"name": "Notebook", "description": "Portable kit"})
    _update(client, "Hardware", "Serial number", name="Serial no")
    _update(client, "Hardware", "Purchase date", name="Serial number")  # Serial number waits for it
    _update(client, "Notebook", "Memory GB", name="Swapping")  # two names swapped
    _update(client, "Notebook", "Encrypted", name="Memory GB")
    _update(client, "Notebook", "Swapping", name="Encrypted")
    _update(client, "Server", "OS", name="Operating system", regexValidation="^[A-Z].*")
    _update(client, "Server", "Depends on", maximumCardinality=5)
    depends_on = next(r for r in client.get_reference_types() if r["name"] == "Depends on")
    _update(client, "Server", "Runs", additionalValue=depends_on["id"])
    _update(client, "Application", "Homepage", regexValidation="^https://.*", hidden=True)
    _update(client, "Notebook", "Model", options="MacBook Pro 14,Dell Latitude 7440")
    _update(client, "Hardware", "Cost", suffix="EUR", summable=True, description="Price paid")
    _, status_attribute = _attribute(client, "Hardware", "Status")
    _update(client, "Hardware", "Status", typeValueMulti=status_attribute["typeValueMulti"][:2])
    _update(client, "Application", "Version", label=True, description="Release")
    _, notes = _attribute(client, "Application", "Notes")
    client.delete_attribute(notes["id"])
    server_id, ip_address = _attribute(client, "Server", "IP address")
    client.position_attribute(server_id, ip_address["id"], 100)  # last
    schema_id = _schema_id(client, "ITAM")
    in_repair = next(
        s for s in client.get_status_types(object_schema_id=schema_id) if s["name"] == "In repair"
    )
    client.update_status_type(str(in_repair["id"]), {"name": "Repairing", "category": 1})


def _structure(client: AssetsClient, db: Database, restore_id: str = "rollback-1") -> RestoreSession:
    """Plan a recreate_missing restore of ITAM and run its structure step (recreates what was deleted)."""
    run = session(client, db, RECREATE_ITAM, restore_id)
    run.plan()
    run.build_structure()
    return run


def _revert(client: AssetsClient, run: RestoreSession, *, dry_run: bool) -> ConfigRevert:
    schema = run.schemas[0]
    type_ids = [planned.type_id for planned in run.stored_plan.schema("ITAM").object_types]
    return revert_config(client, run.ledger, schema, type_ids, dry_run=dry_run)


def _differences_from_snapshot(client: AssetsClient, run: RestoreSession) -> list[str]:
    """Compare every in-scope type of the live ITAM with the snapshot: names, settings, order."""
    schema = run.schemas[0]
    types = {old: c.new_id for old, c in run.ledger.created(OBJECT_TYPE).items()}
    attributes = {old: c.new_id for old, c in run.ledger.created(ATTRIBUTE).items()}
    statuses = {old: c.new_id for old, c in run.ledger.created(STATUS).items()}
    references = {old: c.new_id for old, c in run.ledger.created(REFERENCE).items()}
    live_types = {str(t["id"]): t for t in client.get_object_types(_schema_id(client, "ITAM"))}
    found = []
    for old_type_id, snapshot_type in schema.object_types.items():
        live_type_id = types.get(old_type_id, old_type_id)
        live_type = live_types[live_type_id]
        if live_type["name"] != snapshot_type["name"] or (live_type.get("description") or "") != (
            snapshot_type.get("description") or ""
        ):
            found.append(f"type {snapshot_type['name']}: {live_type['name']!r}")
        own = _own(client, live_type_id)
        snapshot_own = schema.attributes_of.get(old_type_id, [])
        if [a["name"] for a in own] != [a["name"] for a in snapshot_own]:
            found.append(f"{snapshot_type['name']} order: {[a['name'] for a in own]}")
        by_id = {a["id"]: a for a in own}
        for snapshot_attribute in snapshot_own:
            live = by_id.get(attributes.get(snapshot_attribute["id"], snapshot_attribute["id"]))
            wanted = attribute_view(
                snapshot_attribute,
                status_id=lambda s: statuses.get(s, s),
                type_id=lambda t: types.get(t, t),
                reference_id=lambda r: references.get(r, r),
            )
            if live is None or attribute_view(live) != wanted:
                found.append(f"{snapshot_type['name']}.{snapshot_attribute['name']}: {live}")
    in_repair = [s for s in client.get_status_types(object_schema_id=_schema_id(client, "ITAM"))
                 if s["name"] == "In repair" and s["category"] == 2]  # fmt: skip
    if len(in_repair) != 1:
        found.append("status type In repair")
    return found


def test_a_changed_configuration_is_put_back_once_and_a_dry_run_only_shows_it(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    back_up(client, mongo_db, "ITAM", "run-1")
    _edit_configuration(client)
    planned = session(client, mongo_db, RECREATE_ITAM, "rollback-plan")
    planned.plan()

    # A dry run writes nothing and says what would change, old -> new; before the structure step the
    # deleted attribute is shown as the structure step's to create.
    before = sandbox.site.revision
    early = _revert(client, planned, dry_run=True)
    assert sandbox.site.revision == before
    notes = [line for line in early.changes if line.startswith("ITAM: attribute Application.Notes: ")]
    assert len(notes) == 1 and notes[0].endswith(": the structure step creates it again")
    planned.build_structure()
    assert planned.ledger.document()["steps"]["structure"]["attributes_created"] == 1  # Notes
    before = sandbox.site.revision
    shown = _revert(client, planned, dry_run=True)
    assert sandbox.site.revision == before
    assert shown.dry_run and shown.refused == ()
    lines = set(shown.changes)
    assert "ITAM: object type Laptop: name 'Notebook' -> 'Laptop'" in lines
    assert "ITAM: object type Laptop: description 'Portable kit' -> 'Laptop records'" in lines
    assert "ITAM: attribute Hardware.Serial number: name 'Serial no' -> 'Serial number'" in lines
    assert "ITAM: attribute Hardware.Purchase date: name 'Serial number' -> 'Purchase date'" in lines
    assert "ITAM: attribute Laptop.Memory GB: name 'Encrypted' -> 'Memory GB'" in lines
    assert "ITAM: attribute Laptop.Encrypted: name 'Memory GB' -> 'Encrypted'" in lines
    assert any(line.startswith("ITAM: attribute Server.Runs: referenceType ") for line in lines)
    assert "ITAM: attribute Server.Depends on: maximumCardinality 5 -> -1" in lines
    assert "ITAM: attribute Server.OS: regexValidation '^[A-Z].*' -> ''" in lines
    assert "ITAM: attribute Hardware.Cost: suffix 'EUR' -> ''" in lines
    assert "ITAM: attribute Application.Name: label False -> True" in lines
    assert "ITAM: status type In repair: name 'Repairing' -> 'In repair'" in lines
    assert "ITAM: status type In repair: category 1 -> 2" in lines
    assert any(line.startswith("ITAM: attribute Laptop.Model: options 'MacBook Pro 14,") for line in lines)
    assert any(line.startswith("ITAM: attribute Hardware.Status: typeValueMulti [") for line in lines)
    order = [line for line in lines if "attribute order" in line]
    assert {line.split(":")[1] for line in order} == {" object type Server", " object type Application"}
    assert (shown.types_renamed, shown.attributes_renamed, shown.status_types_restored) == (1, 5, 1)
    assert shown.attributes_moved >= 2  # IP address back down; Notes (recreated last) to its place

    done = _revert(client, planned, dry_run=False)

    assert done.refused == ()
    assert done.changes == shown.changes
    assert done.as_dict() == {**shown.as_dict(), "dry_run": False}
    assert _differences_from_snapshot(client, planned) == []

    # A second run finds nothing to do and writes nothing.
    before = sandbox.site.revision
    again = _revert(client, planned, dry_run=False)
    assert sandbox.site.revision == before
    assert again.changes == () and again.refused == ()
    assert again.settings_restored == again.attributes_moved == 0


def _put_back(line: str) -> tuple[str, str]:
    """Return where and to what a report line puts a setting back (the old value aside)."""
    where, _, change = line.rpartition(": ")
    return where, change.split(" ", 1)[0] + " -> " + change.rpartition(" -> ")[2]


@pytest.mark.parametrize("writes", [3, 6])
def test_a_run_killed_half_way_is_finished_by_the_next_without_writing_anything_twice(
    sandbox: RunningSandbox, mongo_db: Database, writes: int
) -> None:
    client = client_for(sandbox)
    back_up(client, mongo_db, "ITAM", "run-1")
    _edit_configuration(client)
    planned = _structure(client, mongo_db)
    shown = _revert(client, planned, dry_run=True)
    dying = KilledAfter(
        writes,
        site_url=sandbox.url,
        email=sandbox.email,
        api_token=sandbox.api_token,
        api_base_url=sandbox.api_base_url,
        limits=client.limits,
        retry=client.retry,
    )

    with pytest.raises(Killed):
        _revert(dying, planned, dry_run=False)
    laptop = next(i for i, t in planned.schemas[0].object_types.items() if t["name"] == "Laptop")
    renaming = [a["name"] for a in _own(client, laptop) if "(renaming" in a["name"]]
    assert len(renaming) == (writes == 6)  # killed right after a swap's temporary name
    finished = _revert(client, planned, dry_run=False)

    assert finished.refused == ()
    # What the killed run put back is not sent again (a temporary name is put back like a rename).
    done = {_put_back(line) for line in finished.changes}
    assert done < {_put_back(line) for line in shown.changes}
    assert _differences_from_snapshot(client, planned) == []


def test_a_setting_the_site_refuses_is_reported_and_the_others_are_still_put_back(
    sandbox: RunningSandbox, mongo_db: Database
) -> None:
    client = client_for(sandbox)
    back_up(client, mongo_db, "ITAM", "run-1")
    # Serial numbers stop being unique; two laptops then share one, so the site refuses uniqueness back.
    _update(client, "Hardware", "Serial number", name="Serial", uniqueAttribute=False, description="Any")
    _update(client, "Hardware", "Cost", suffix="EUR")
    _, serial = _attribute(client, "Hardware", "Serial")
    laptops = client.iter_objects(f"objectTypeId = {_types(client)['Laptop']['id']}", page_size=50)
    first, second = list(laptops)[:2]
    for laptop in (first, second):
        client.update_object(
            str(laptop["id"]),
            {
                "attributes": [
                    {"objectTypeAttributeId": serial["id"], "objectAttributeValues": [{"value": "DUP-1"}]}
                ]
            },
        )
    planned = _structure(client, mongo_db)

    done = _revert(client, planned, dry_run=False)

    assert len(done.refused) == 1
    assert done.refused[0].startswith(
        "ITAM: attribute Hardware.Serial number: uniqueAttribute could not be put back: "
    )
    assert "DUP-1" in done.refused[0]
    assert "ITAM: attribute Hardware.Serial number: name 'Serial' -> 'Serial number'" in done.changes
    assert (
        "ITAM: attribute Hardware.Serial number: description 'Any' -> 'Serial number of the hardware'"
        in done.changes
    )
    assert "ITAM: attribute Hardware.Cost: suffix 'EUR' -> ''" in done.changes
    _, serial = _attribute(client, "Hardware", "Serial number")
    assert serial["uniqueAttribute"] is False and serial["description"] == "Serial number of the hardware"
    assert _attribute(client, "Hardware", "Cost")[1]["suffix"] == ""
    assert done.attributes_renamed == 1 and done.settings_restored == 2

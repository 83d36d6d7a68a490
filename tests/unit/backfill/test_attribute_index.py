"""The backfill reads history's attribute names against what a type's objects carry, inheritance included."""

from __future__ import annotations

from airflow_assets.backfill.reconstruct import attribute_index
from airflow_assets.model.schema_config import SchemaConfig


def config(*, parent_inherited: bool) -> SchemaConfig:
    return SchemaConfig(
        {
            "object_type": [
                {"id": "1", "name": "Hardware", "position": 0, "inherited": parent_inherited},
                {"id": "2", "name": "Server", "position": 0, "parentObjectTypeId": "1", "inherited": False},
                {"id": "3", "name": "Blade", "position": 0, "parentObjectTypeId": "2", "inherited": False},
            ],
            "attribute": [
                {"id": "10", "objectTypeId": "1", "name": "Serial", "type": 0, "position": 0},
                {"id": "11", "objectTypeId": "1", "name": "Name", "type": 0, "position": 1, "label": True},
                {"id": "20", "objectTypeId": "2", "name": "Name", "type": 0, "position": 0, "label": True},
                {"id": "21", "objectTypeId": "2", "name": "Rack", "type": 1, "referenceObjectTypeId": "1"},
                {"id": "30", "objectTypeId": "3", "name": "Slot", "type": 0, "position": 0},
            ],
        }
    )


def test_a_type_carries_its_parents_attributes_when_the_parent_passes_them_on_its_own_win() -> None:
    attributes_of = attribute_index(config(parent_inherited=True))

    server = attributes_of("2")
    assert sorted(server) == ["Name", "Rack", "Serial"]
    assert server["Name"].attribute_id == "20"
    assert server["Serial"].attribute_id == "10"
    # A reference's targets are its type and the types below it.
    assert server["Rack"].reference_types == {"1", "2", "3"}


def test_inheritance_stops_at_a_parent_that_does_not_pass_its_attributes_on() -> None:
    # Before SchemaConfig, the backfill walked every ancestor: Blade would have "carried" Serial and Rack,
    # which its objects never have (Server's inherited flag is false).
    attributes_of = attribute_index(config(parent_inherited=True))
    assert sorted(attributes_of("3")) == ["Slot"]

    attributes_of = attribute_index(config(parent_inherited=False))
    assert sorted(attributes_of("2")) == ["Name", "Rack"]

"""A schema's configuration: siblings by position, then id; inheritance up to a parent that stops it."""

from __future__ import annotations

from typing import Any

from airflow_assets.model.schema_config import SchemaConfig

JsonDict = dict[str, Any]


def object_type(
    type_id: str, name: str, position: int, parent: str | None = None, *, inherited: bool
) -> JsonDict:
    found: JsonDict = {"id": type_id, "name": name, "position": position, "inherited": inherited}
    if parent is not None:
        found["parentObjectTypeId"] = parent
    return found


def attribute(attribute_id: str, type_id: str, name: str, position: int, *, label: bool = False) -> JsonDict:
    return {"id": attribute_id, "objectTypeId": type_id, "name": name, "position": position, "label": label}


def config(types: list[JsonDict], attributes: list[JsonDict] | None = None) -> SchemaConfig:
    return SchemaConfig({"object_type": types, "attribute": attributes or []})


def names(items: list[JsonDict]) -> list[str]:
    return [str(item["name"]) for item in items]


# -- order ----------------------------------------------------------------------------------------------


def test_siblings_with_equal_positions_are_ordered_by_id_as_a_number_not_by_name() -> None:
    schema = config(
        [
            object_type("10", "Alpha", 1, inherited=False),
            object_type("9", "Zulu", 1, inherited=False),
            object_type("11", "Mike", 0, inherited=False),
        ]
    )

    # Position first; at equal positions the older type (lower id, 9 before 10) first, whatever the names.
    assert names(schema.types_in_order()) == ["Mike", "Zulu", "Alpha"]
    assert schema.children_of(None) == ["11", "9", "10"]


def test_types_are_listed_as_objecttypes_flat_lists_them_each_followed_by_its_children() -> None:
    schema = config(
        [
            object_type("1", "Hardware", 0, inherited=True),
            object_type("2", "Laptop", 1, "1", inherited=False),
            object_type("3", "Server", 0, "1", inherited=False),
            object_type("4", "Blade", 0, "3", inherited=False),
            object_type("5", "People", 1, inherited=False),
            object_type("6", "Orphan", 0, "404", inherited=False),  # its parent is not held: top level
        ]
    )

    assert names(schema.types_in_order()) == ["Hardware", "Server", "Blade", "Laptop", "Orphan", "People"]
    assert schema.type_ids_in_order() == ["1", "3", "4", "2", "6", "5"]
    assert schema.ancestors("4") == ["3", "1"]
    assert schema.ancestors("6") == []
    assert schema.type_and_descendants("1") == {"1", "2", "3", "4"}


def test_attributes_of_a_type_are_ordered_by_position_then_id() -> None:
    schema = config(
        [object_type("1", "Host", 0, inherited=False)],
        [
            attribute("30", "1", "Notes", 2),
            attribute("12", "1", "Name", 1, label=True),
            attribute("11", "1", "Key", 0),
            attribute("9", "1", "Model", 2),
        ],
    )

    assert names(schema.carried_attributes("1")) == ["Key", "Name", "Model", "Notes"]


# -- inheritance ----------------------------------------------------------------------------------------


def three_levels(*, middle_inherited: bool) -> SchemaConfig:
    """Hardware (passes its attributes on) > Server (passes on or not) > Blade."""
    return config(
        [
            object_type("1", "Hardware", 0, inherited=True),
            object_type("2", "Server", 0, "1", inherited=middle_inherited),
            object_type("3", "Blade", 0, "2", inherited=False),
        ],
        [
            attribute("10", "1", "Key", 0),
            attribute("11", "1", "Name", 1, label=True),
            attribute("12", "1", "Serial", 2),
            attribute("20", "2", "Rack", 0),
            attribute("30", "3", "Slot", 0),
        ],
    )


def test_a_three_level_chain_carries_every_ancestors_attributes_the_farthest_first() -> None:
    schema = three_levels(middle_inherited=True)

    assert schema.inherits_from("3") == ["3", "2", "1"]
    assert names(schema.carried_attributes("3")) == ["Key", "Name", "Serial", "Rack", "Slot"]
    assert names(schema.carried_attributes("2")) == ["Key", "Name", "Serial", "Rack"]
    assert names(schema.carried_attributes("1")) == ["Key", "Name", "Serial"]


def test_inheritance_stops_at_a_parent_with_inherited_false_whatever_the_flags_above_it() -> None:
    schema = three_levels(middle_inherited=False)

    # Server does not pass its attributes on: Blade carries only its own, not Server's nor Hardware's,
    # although Hardware passes its attributes on (to Server, which still carries them).
    assert schema.inherits_from("3") == ["3"]
    assert names(schema.carried_attributes("3")) == ["Slot"]
    assert names(schema.carried_attributes("2")) == ["Key", "Name", "Serial", "Rack"]
    # Ancestors are every parent up, inheritance or not (a restore needs them created).
    assert schema.ancestors("3") == ["2", "1"]


def test_a_parent_with_inherited_false_passes_nothing_to_its_child() -> None:
    schema = config(
        [object_type("1", "Place", 0, inherited=False), object_type("2", "Office", 0, "1", inherited=False)],
        [attribute("10", "1", "Name", 0, label=True), attribute("20", "2", "Name", 0, label=True)],
    )

    assert schema.carried_attributes("2") == [schema.attributes["20"]]
    assert schema.label_attribute("2") == schema.attributes["20"]


def test_the_label_is_the_types_own_else_the_nearest_inherited_one() -> None:
    schema = three_levels(middle_inherited=True)

    assert schema.label_attribute("3") == schema.attributes["11"]
    schema = three_levels(middle_inherited=False)
    # Blade inherits nothing and has no label of its own: an ancestor's label is not its label.
    assert schema.label_attribute("3") is None


def test_lookups_and_the_schemas_own_statuses_before_the_global_ones() -> None:
    schema = SchemaConfig(
        {
            "schema": [{"id": "6", "objectSchemaKey": "ITAM"}],
            "object_type": [object_type("1", "Host", 0, inherited=False)],
            "attribute": [attribute("10", "1", "Name", 0)],
            "status_type": [{"id": "7", "name": "In use"}],
            "global_status_type": [{"id": "1", "name": "In use"}, {"id": "2", "name": "Retired"}],
        }
    )

    assert schema.schema == {"id": "6", "objectSchemaKey": "ITAM"}
    assert schema.properties == {}
    assert schema.type_name("1") == "Host"
    assert schema.type_name("2") is None
    assert schema.attribute_name("10") == "Name"
    assert schema.attribute_name("11") is None
    assert schema.status("7") == {"id": "7", "name": "In use"}
    assert schema.status("2") == {"id": "2", "name": "Retired"}
    assert schema.status("3") is None
    assert schema.status_ids_by_name() == {"In use": ["7", "1"], "Retired": ["2"]}
    assert schema.reference_types == []

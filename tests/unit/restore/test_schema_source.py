"""A restore reads a snapshot's configuration with the site's sibling order and inheritance."""

from __future__ import annotations

from typing import Any

from airflow_assets.restore.schema_source import load_schema_source

JsonDict = dict[str, Any]


class FakeSource:
    """What :func:`load_schema_source` reads of a snapshot: its configuration items by kind."""

    def __init__(self, kinds: dict[str, list[JsonDict]]) -> None:
        self.kinds = kinds

    def config(self, kind: str) -> list[JsonDict]:
        return list(self.kinds.get(kind, []))

    def schema(self) -> JsonDict:
        return self.kinds["schema"][0]


def load(types: list[JsonDict], attributes: list[JsonDict]) -> Any:
    schema = {"id": "6", "objectSchemaKey": "ITAM"}
    kinds = {"schema": [schema], "object_type": types, "attribute": attributes}
    return load_schema_source(FakeSource(kinds))  # type: ignore[arg-type]


def test_siblings_at_the_same_position_are_created_in_id_order_as_the_site_lists_them() -> None:
    # Before SchemaConfig, the restore ordered such siblings by name (Alpha first); the site lists the
    # older type first (by id), and so does the export.
    source = load(
        [
            {"id": "10", "name": "Alpha", "position": 0, "inherited": False},
            {"id": "9", "name": "Zulu", "position": 0, "inherited": False},
            {"id": "11", "name": "Child", "position": 0, "parentObjectTypeId": "9", "inherited": False},
        ],
        [],
    )

    assert source.types_parent_first() == ["9", "11", "10"]
    assert source.types_parent_first({"10", "9"}) == ["9", "10"]


def test_a_type_below_a_parent_that_does_not_pass_its_attributes_on_carries_its_own_label() -> None:
    # Before SchemaConfig, label_attribute walked every ancestor whatever its inherited flag.
    source = load(
        [
            {"id": "1", "name": "Place", "position": 0, "inherited": False},
            {"id": "2", "name": "Office", "position": 0, "parentObjectTypeId": "1", "inherited": False},
        ],
        [
            {"id": "10", "objectTypeId": "1", "name": "Name", "position": 1, "label": True},
            {"id": "20", "objectTypeId": "2", "name": "Code", "position": 0},
        ],
    )

    assert source.label_attribute("2") is None
    assert source.label_attribute("1") == source.attributes["10"]
    assert [a["id"] for a in source.carried_attributes("2")] == ["20"]
    assert source.ancestors("2") == ["1"]
    assert source.attributes_of == {"1": [source.attributes["10"]], "2": [source.attributes["20"]]}
    assert source.type_name("2") == "Office"
    assert source.type_name("404") == "404"

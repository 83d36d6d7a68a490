"""A mapped schema's configuration as its snapshot holds it, indexed the way a restore looks it up.

Order and inheritance are :class:`~airflow_assets.model.schema_config.SchemaConfig`'s; this adds what a
restore needs beside them (the schema mapping's keys).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.source import SourceSnapshot
from airflow_assets.store.layout import CONFIG_KINDS

JsonDict = dict[str, Any]


@dataclass
class SchemaSource:
    """One mapped schema: its snapshot and its configuration."""

    source: SourceSnapshot
    schema: JsonDict
    properties: JsonDict
    object_types: dict[str, JsonDict]
    attributes: dict[str, JsonDict]
    status_types: list[JsonDict]
    reference_types: list[JsonDict]
    global_status_types: list[JsonDict]
    global_reference_types: list[JsonDict]
    attributes_of: dict[str, list[JsonDict]] = field(default_factory=dict)
    config: SchemaConfig | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.config is None:
            # Built by hand (a test): index the fields given.
            self.config = SchemaConfig(
                {
                    "schema": [self.schema],
                    "schema_properties": [self.properties] if self.properties else [],
                    "object_type": list(self.object_types.values()),
                    "attribute": list(self.attributes.values())
                    or [a for owned in self.attributes_of.values() for a in owned],
                    "status_type": self.status_types,
                    "reference_type": self.reference_types,
                    "global_status_type": self.global_status_types,
                    "global_reference_type": self.global_reference_types,
                }
            )

    @property
    def _config(self) -> SchemaConfig:
        assert self.config is not None
        return self.config

    @property
    def old_key(self) -> str:
        """Return the schema key in the snapshot."""
        return self.source.mapping.old_key

    @property
    def new_key(self) -> str:
        """Return the key the schema is restored under."""
        return self.source.mapping.new_key

    def type_name(self, type_id: str) -> str:
        """Return an object type's name (its id when unknown)."""
        name = self._config.type_name(type_id)
        return type_id if name is None else name

    def ancestors(self, type_id: str) -> list[str]:
        """Return the parent, grandparent... of an object type."""
        return self._config.ancestors(type_id)

    def types_parent_first(self, type_ids: Iterable[str] | None = None) -> list[str]:
        """Return object type ids with every parent before its children (siblings by position, then id)."""
        ordered = self._config.type_ids_in_order()
        if type_ids is None:
            return ordered
        wanted = set(type_ids)
        return [type_id for type_id in ordered if type_id in wanted]

    def label_attribute(self, type_id: str) -> JsonDict | None:
        """Return the label attribute objects of a type carry (its own, else the nearest inherited one)."""
        return self._config.label_attribute(type_id)

    def carried_attributes(self, type_id: str) -> list[JsonDict]:
        """Return the attributes objects of a type carry: inherited ones, then its own."""
        return self._config.carried_attributes(type_id)


def load_schema_source(source: SourceSnapshot) -> SchemaSource:
    """Read a snapshot's configuration."""
    schema = source.schema()
    config = SchemaConfig({kind: source.config(kind) for kind in CONFIG_KINDS})
    return SchemaSource(
        source=source,
        schema=schema,
        properties=config.properties,
        object_types=config.object_types,
        attributes=config.attributes,
        status_types=config.status_types,
        reference_types=config.reference_types,
        global_status_types=config.global_status_types,
        global_reference_types=config.global_reference_types,
        attributes_of=config.own_attributes,
        config=config,
    )

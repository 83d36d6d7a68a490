"""The ``sites`` section: each Jira site's connection and defaults, and the object schemas to back up.

A schema entry overrides its site's settings field by field; :meth:`SiteDefaults.resolve` gives the
settings one schema's backup runs with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, ValidationInfo, field_validator
from pydantic import model_validator as _model_validator
from pydantic_core import PydanticCustomError

from airflow_assets.config.all_schemas import ALL_SCHEMAS, exclude_without_all_message
from airflow_assets.config.clashes import duplicate_indexes, duplicate_message
from airflow_assets.config.fields import (
    MODEL_CONFIG,
    ConnId,
    CronExpression,
    ParallelSchemas,
    SchemaKey,
    TimezoneName,
)


class IncludeSettings(BaseModel):
    """What a backup fetches besides objects, object types, attributes and references."""

    model_config = MODEL_CONFIG

    history: bool = True
    comments: bool = True
    connected_tickets: bool = False

    def merged(self, override: IncludeOverride | None) -> IncludeSettings:
        """Return these settings with every field the override sets replaced."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class IncludeOverride(BaseModel):
    """A schema's changes to its site's :class:`IncludeSettings`; unset fields keep the site's value."""

    model_config = MODEL_CONFIG

    history: bool | None = None
    comments: bool | None = None
    connected_tickets: bool | None = None


# How activity is re-read besides changed objects: 1/N of the objects each run, or all of them every Nth run.
SweepMode = Literal["rolling", "full"]


class SchemaEntry(BaseModel):
    """One object schema to back up, with optional overrides of its site's settings.

    In YAML a bare string means ``{key: <string>}``.
    """

    model_config = MODEL_CONFIG

    key: SchemaKey
    schedule: CronExpression | None = None
    timezone: TimezoneName | None = None
    include: IncludeOverride | None = None
    full_sweep_every: int | None = Field(default=None, ge=1)
    sweep: SweepMode | None = None

    @_model_validator(mode="before")
    @classmethod
    def _coerce_bare_key(cls, data: Any) -> Any:
        if isinstance(data, str | bool):
            return {"key": data}
        if not isinstance(data, Mapping | SchemaEntry):
            raise PydanticCustomError(
                "schema_entry_type",
                "a schema entry is a key (ITAM) or a mapping such as {key: ITAM, schedule: '0 3 * * *'}",
            )
        return data


@dataclass(frozen=True)
class SchemaSettings:
    """The settings one schema's backup runs with: its entry's overrides applied to its site's settings."""

    site: str
    key: str
    conn_id: str
    schedule: str
    timezone: str
    include: IncludeSettings
    full_sweep_every: int
    parallel_schemas: int
    sweep: str = "rolling"


class SiteDefaults(BaseModel):
    """A site's settings without its schema list: the part every schema of the site inherits."""

    model_config = MODEL_CONFIG

    conn_id: ConnId = "jira_assets_default"
    schedule: CronExpression = "0 2 * * *"
    timezone: TimezoneName = "UTC"
    include: IncludeSettings = Field(default_factory=IncludeSettings)
    full_sweep_every: int = Field(default=7, ge=1)
    parallel_schemas: ParallelSchemas = Field(default=1, ge=1)
    sweep: SweepMode = "rolling"

    def resolve(self, site_name: str, entry: SchemaEntry) -> SchemaSettings:
        """Return the settings of one schema entry of this site (the entry's fields win)."""
        return SchemaSettings(
            site=site_name,
            key=entry.key,
            conn_id=self.conn_id,
            schedule=entry.schedule or self.schedule,
            timezone=entry.timezone or self.timezone,
            include=self.include.merged(entry.include),
            full_sweep_every=entry.full_sweep_every or self.full_sweep_every,
            parallel_schemas=self.parallel_schemas,
            sweep=entry.sweep or self.sweep,
        )


def _schemas_kind(value: Any) -> str:
    return "literal['*']" if isinstance(value, str) else "list[SchemaEntry]"


# A list of entries, or "*". Tagged so that an error names only the form written; the tags hold brackets,
# which the problem messages drop from field paths.
SchemaList = Annotated[
    Annotated[list[SchemaEntry], Tag("list[SchemaEntry]")] | Annotated[Literal["*"], Tag("literal['*']")],
    Discriminator(_schemas_kind),
]
SCHEMAS_HINT = 'a list of at least one schema key, e.g. [ITAM, PEOPLE], or "*" for every schema of the site'


class SiteExclude(BaseModel):
    """The schemas a site with ``schemas: "*"`` leaves out (validated alone by the part-by-part check)."""

    model_config = MODEL_CONFIG

    exclude: list[SchemaKey] = Field(default_factory=list)


class SiteSettings(SiteDefaults):
    """One Jira site (an Assets workspace): its connection, defaults and the schemas to back up.

    ``schemas: "*"`` backs up every schema the site has when a run starts, but those in ``exclude``.
    """

    schemas: SchemaList
    exclude: list[SchemaKey] | None = None

    @field_validator("schemas", mode="before")
    @classmethod
    def _refuse_other_text(cls, value: Any) -> Any:
        if (isinstance(value, str) and value != ALL_SCHEMAS) or (isinstance(value, list) and not value):
            raise ValueError(f"required: {SCHEMAS_HINT}")
        return value

    @field_validator("exclude")
    @classmethod
    def _refuse_exclude_without_all(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is not None and info.data.get("schemas") != ALL_SCHEMAS:
            raise ValueError(exclude_without_all_message())
        return value

    @property
    def all_schemas(self) -> bool:
        """Tell whether the site backs up every schema it has (``schemas: "*"``)."""
        return self.schemas == ALL_SCHEMAS

    @property
    def entries(self) -> list[SchemaEntry]:
        """Return the schemas listed by name (none with ``schemas: "*"``)."""
        return [] if isinstance(self.schemas, str) else list(self.schemas)

    @_model_validator(mode="after")
    def _refuse_duplicate_keys(self) -> SiteSettings:
        if isinstance(self.schemas, str):
            return self
        for index in duplicate_indexes(entry.key for entry in self.schemas):
            raise PydanticCustomError(
                "duplicate_schema_key",
                "{message}",
                {"index": index, "message": duplicate_message(self.schemas[index].key)},
            )
        return self

    def schema_settings(self, site_name: str) -> list[SchemaSettings]:
        """Return the resolved settings of every schema of this site, in config order.

        :param site_name: the site's name in the configuration.
        """
        return [self.resolve(site_name, entry) for entry in self.entries]

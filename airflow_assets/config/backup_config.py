"""The whole backup configuration, and the settings each place of it allows.

:data:`MODELS` is the one list of the configuration's models, found from :class:`BackupConfig` down its
fields; the problem messages read it (:mod:`airflow_assets.config.problems`), so a new section gets its
"did you mean" hints without being listed anywhere else.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field
from pydantic import model_validator as _model_validator
from pydantic_core import PydanticCustomError

from airflow_assets.config.alerts import AlertSettings
from airflow_assets.config.all_schemas import SiteSchemas, all_schemas_problems
from airflow_assets.config.clashes import (
    backed_up_twice_message,
    duplicate_indexes,
    site_clash_message,
)
from airflow_assets.config.drills import DrillSettings, resolve_drilled
from airflow_assets.config.fields import MODEL_CONFIG, SiteName
from airflow_assets.config.sites import SchemaSettings, SiteSettings
from airflow_assets.config.storage import MongoSettings, RetentionPolicy


class BackupConfig(BaseModel):
    """The whole backup configuration: storage, the sites with their schemas, retention and alerts."""

    model_config = MODEL_CONFIG

    mongo: MongoSettings = Field(default_factory=MongoSettings)
    sites: dict[SiteName, SiteSettings] = Field(min_length=1)
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    drills: DrillSettings | None = None

    @_model_validator(mode="after")
    def _refuse_sites_equal_but_for_case(self) -> BackupConfig:
        names = list(self.sites)
        for index in duplicate_indexes(name.lower() for name in names):
            raise PydanticCustomError(
                "duplicate_site_name",
                "{message}",
                {"site": names[index], "message": site_clash_message(names[index], names)},
            )
        return self

    @_model_validator(mode="after")
    def _refuse_a_schema_backed_up_twice(self) -> BackupConfig:
        first: dict[tuple[str, str], tuple[str, int]] = {}
        for name, site in self.sites.items():
            for index, entry in enumerate(site.entries):
                earlier = first.setdefault((site.conn_id, entry.key), (name, index))
                if earlier != (name, index):
                    raise PydanticCustomError(
                        "schema_backed_up_twice",
                        "{message}",
                        {
                            "site": name,
                            "index": index,
                            "message": backed_up_twice_message(entry.key, site.conn_id, *earlier),
                        },
                    )
        return self

    @_model_validator(mode="after")
    def _refuse_every_schema_clashes(self) -> BackupConfig:
        described = [
            SiteSchemas(name, site.conn_id, site.all_schemas, tuple(entry.key for entry in site.entries))
            for name, site in self.sites.items()
        ]
        for name, message in all_schemas_problems(described).items():
            raise PydanticCustomError("every_schema_clash", "{message}", {"site": name, "message": message})
        return self

    @_model_validator(mode="after")
    def _drill_configured_schemas(self) -> BackupConfig:
        if self.drills is not None:
            keys = {name: [entry.key for entry in site.entries] for name, site in self.sites.items()}
            connections = {name: site.conn_id for name, site in self.sites.items()}
            every = {name: site.exclude or [] for name, site in self.sites.items() if site.all_schemas}
            _, problems = resolve_drilled(self.drills, keys, connections, every)
            if problems:
                raise PydanticCustomError("drills", "{message}", {"message": "; ".join(problems)})
        return self

    def schema_settings(self) -> list[SchemaSettings]:
        """Return the resolved settings of every schema of every site, in config order."""
        return [settings for name, site in self.sites.items() for settings in site.schema_settings(name)]


def _held_model(annotation: Any) -> tuple[type[BaseModel] | None, int]:
    """Return the model a field holds (inside ``| None``, a list or a dict) and how many indexes or keys
    lead from the field to it in a location."""
    hops = 0
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            # None and Literal members hold no model: ``schemas`` is a list of entries or "*".
            members = [member for member in get_args(annotation) if not _plain_value(member)]
            if len(members) != 1:
                return None, hops
            annotation = members[0]
        elif origin in (list, dict):
            annotation, hops = get_args(annotation)[-1], hops + 1
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation, hops
        else:
            return None, hops


def _plain_value(annotation: Any) -> bool:
    """Tell whether a union member is None or a ``Literal`` (possibly inside ``Annotated``)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation is type(None) or get_origin(annotation) is Literal


def _models_below(model: type[BaseModel]) -> list[type[BaseModel]]:
    bases = [base for base in model.__mro__[1:] if issubclass(base, BaseModel) and base is not BaseModel]
    found = [model, *bases]
    for field in model.model_fields.values():
        held, _ = _held_model(field.annotation)
        if held is not None:
            found += [below for below in _models_below(held) if below not in found]
    return found


# Every model of the configuration (with the bases they share, e.g. SiteDefaults), top first.
MODELS: tuple[type[BaseModel], ...] = tuple(dict.fromkeys(_models_below(BackupConfig)))


def settings_at(loc: Sequence[str | int], model: type[BaseModel] = BackupConfig) -> tuple[str, ...]:
    """Return the names of the settings allowed at the place a location's last part is written in.

    E.g. ``["sites", "prod", "shedule"]`` gives a site's settings, ``["alerts", "notfy"]`` the fields of
    ``alerts``; empty when the location leads nowhere in the models.

    :param loc: a location inside ``model``.
    :param model: the model the location starts in; default the whole configuration.
    """
    parts = list(loc[:-1])
    while parts:
        part = parts.pop(0)
        field = model.model_fields.get(part) if isinstance(part, str) else None
        held, hops = _held_model(field.annotation) if field is not None else (None, 0)
        if held is None or len(parts) < hops:
            return ()
        del parts[:hops]
        model = held
    return tuple(model.model_fields)

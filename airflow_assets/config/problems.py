"""Turn validation errors into the messages users read: one line per problem, starting with its field path.

A misspelt setting gets a "did you mean" hint from the settings allowed where it is written
(:func:`~airflow_assets.config.backup_config.settings_at`), in every section alike, and only from
those: ``mongo.shedule`` suggests nothing of ``sites``.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from airflow_assets.config.backup_config import MODELS, settings_at
from airflow_assets.config.field_paths import format_path
from airflow_assets.exceptions import AssetsConfigError

_MODELS_BY_NAME = {model.__name__: model for model in MODELS}


class BackupConfigError(AssetsConfigError):
    """The backup configuration is invalid: every problem, one per line, each starting with its field path.

    :param problems: one message per problem, e.g. ``sites.prod.schemas[2].key: ...``.
    :param source: the file (or other source) the configuration came from.
    """

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # The constructor takes the problem list, not the message: rebuild from it (process pools, XCom).
        return (type(self), (self.problems, self.source))


def did_you_mean(name: str, allowed: Collection[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the allowed setting closest to ``name``, or an empty string.

    :param name: the setting as written.
    :param allowed: the settings allowed where it is written.
    """
    close = difflib.get_close_matches(name, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _clean_loc(loc: Iterable[str | int]) -> list[str | int]:
    # Union members and validator functions show up in pydantic's locations: not fields of the YAML.
    return [
        part for part in loc if isinstance(part, int) or ("[" not in part and part not in _MODELS_BY_NAME)
    ]


def problems_of(
    error: ValidationError, prefix: Sequence[str | int] = (), *, written_in: type[BaseModel] | None = None
) -> list[str]:
    """Turn a pydantic error into problem lines, each starting with the field path.

    :param error: the validation error.
    :param prefix: the location of the validated part inside the whole configuration.
    :param written_in: the model whose settings are allowed where the part is written, when the part was
        validated with a smaller one (a site's settings without ``schemas``): "did you mean" hints use it.
    """
    # pydantic's title is the name of the model validated: the place the locations start in.
    validated = written_in or _MODELS_BY_NAME.get(error.title)
    problems = []
    for detail in error.errors(include_url=False):
        inside = _clean_loc(detail["loc"])
        loc = [*prefix, *inside]
        context = detail.get("ctx") or {}
        kind = detail["type"]
        message = detail["msg"]
        if kind == "duplicate_schema_key":
            loc += ["schemas", context["index"], "key"]
        elif kind == "schema_backed_up_twice":
            loc += ["sites", context["site"], "schemas", context["index"], "key"]
        elif kind == "every_schema_clash":
            loc += ["sites", context["site"], "schemas"]
        elif kind == "duplicate_site_name":
            loc += [context["site"]]
        elif kind == "extra_forbidden":
            name = str(loc[-1]) if loc else ""
            allowed = settings_at(inside, validated) if validated is not None else settings_at(loc)
            message = "unknown setting" + did_you_mean(name, allowed)
        elif kind == "missing":
            message = "required, but missing"
        message = message.removeprefix("Value error, ")
        problems.append(f"{format_path(loc)}: {message}")
    return problems

"""Read the configuration: find the file (``$JIRA_ASSETS_CONFIG``), parse its YAML, validate it.

A data-platform team lists the schemas to protect in one YAML file (``JIRA_ASSETS_CONFIG``, default
``dags/jira_assets.yaml``). Everything here is plain Python and pydantic: no Airflow import, so the DAG
factory, the CLI and the tests read the same typed settings. Every problem is reported with the exact
field it concerns, e.g. ``sites.prod.schemas[2].key: ...``.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from airflow_assets.config.backup_config import BackupConfig
from airflow_assets.config.parts import validate_parts
from airflow_assets.config.problems import BackupConfigError
from airflow_assets.messages import shown

CONFIG_ENV_VAR = "JIRA_ASSETS_CONFIG"
DEFAULT_CONFIG_PATH = Path("dags/jira_assets.yaml")


def config_path() -> Path:
    """Return the configuration file's path: ``$JIRA_ASSETS_CONFIG``, else ``dags/jira_assets.yaml``."""
    value = os.environ.get(CONFIG_ENV_VAR, "").strip()
    return Path(value) if value else DEFAULT_CONFIG_PATH


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated in one mapping (PyYAML keeps the last silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the key {shown(key)} a second time (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        if isinstance(key, Hashable):
            seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def read_yaml(text: str, *, source: str = "<config>") -> Any:
    """Parse YAML into plain data; a syntax error becomes a :class:`BackupConfigError` naming file and line.

    :param text: the YAML document.
    :param source: where the text came from, for messages.
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
        what = " ".join(part for part in (error.context, error.problem) if part)
        raise BackupConfigError([f"{where}: invalid YAML: {what}"], source) from None
    except yaml.YAMLError as error:
        raise BackupConfigError([f"{source}: invalid YAML: {error}"], source) from None


def parse_config(text: str, *, source: str = "<config>") -> BackupConfig:
    """Parse and validate a YAML configuration.

    :param text: the YAML document.
    :param source: where it came from (a file path), for messages.
    :raises BackupConfigError: listing every problem with its field path.
    """
    parts = validate_parts(read_yaml(text, source=source))
    problems = parts.all_problems()
    if problems:
        raise BackupConfigError(problems, source)
    return parts.config()


def read_config_text(path: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """Read the configuration file; return its text and its path as a string.

    :param path: the file; default :func:`config_path`.
    :raises BackupConfigError: when the file cannot be read (missing, a directory, no permission, not UTF-8).
    """
    file = Path(path) if path is not None else config_path()
    source = str(file)
    try:
        return file.read_text(encoding="utf-8"), source
    except FileNotFoundError:
        raise BackupConfigError(
            [
                f"{source}: configuration file not found (working directory {Path.cwd()}); create it from "
                f"dags/jira_assets.example.yaml or point {CONFIG_ENV_VAR} at it"
            ],
            source,
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise BackupConfigError([f"{source}: cannot read the configuration file: {error}"], source) from None


def load_config(path: str | os.PathLike[str] | None = None) -> BackupConfig:
    """Read and validate the configuration file.

    :param path: the file; default ``$JIRA_ASSETS_CONFIG``, else ``dags/jira_assets.yaml``.
    :raises BackupConfigError: when the file cannot be read or is invalid, listing every problem.
    """
    text, source = read_config_text(path)
    return parse_config(text, source=source)

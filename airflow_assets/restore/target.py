"""What a restore reads of the target site before it writes: schemas, global types, icons, users, groups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.exceptions import AssetsApiError, AssetsAuthError
from airflow_assets.model import normalize as norm
from airflow_assets.restore.directory import Directory
from airflow_assets.restore.request import RestoreParamError

JsonDict = dict[str, Any]


@dataclass
class TargetSite:
    """The target site as the plan and the structure step see it."""

    workspace_id: str
    site_url: str
    schemas: dict[str, JsonDict]
    global_status_types: list[JsonDict]
    global_reference_types: list[JsonDict]
    icons: dict[str, str]
    directory: Directory = field(default_factory=Directory)
    object_types_of: dict[str, list[JsonDict]] = field(default_factory=dict)  # schema key -> its types

    def schema(self, key: str) -> JsonDict | None:
        """Return the target's schema with that key, or None."""
        return self.schemas.get(key)


def read_target(
    client: AssetsClient, *, with_directory: bool = True, types_of: Iterable[str] = ()
) -> TargetSite:
    """Read what the plan needs of the target (all reads; nothing is written).

    :param types_of: the keys of the target schemas whose object types to read (the schemas a
        ``recreate_missing`` restore writes into; a key the target does not have is left out).

    :raises RestoreParamError: the target refuses the credentials (named ``target_conn_id``).
    """
    try:
        schemas = {str(s.get("objectSchemaKey")): dict(s) for s in client.iter_object_schemas()}
        workspace_id = client.workspace_id
        global_status = [
            norm.normalize_config_item(s, what="a status type") for s in client.get_status_types()
        ]
        global_reference = [
            norm.normalize_config_item(r, what="a reference type") for r in client.get_reference_types()
        ]
        icons: dict[str, str] = {}
        for icon in client.get_global_icons():
            name, icon_id = icon.get("name"), icon.get("id")
            if name is not None and icon_id is not None:
                icons.setdefault(str(name), str(icon_id))
        directory = Directory()
        if with_directory:
            directory = Directory.of(client.iter_users(), client.iter_group_names())
    except AssetsAuthError as error:
        raise RestoreParamError(
            "target_conn_id", f"the target site {client.site_url} refuses these credentials: {error}"
        ) from None
    except AssetsApiError as error:
        raise RestoreParamError(
            "target_conn_id", f"the target site {client.site_url} cannot be read: {error}"
        ) from None
    object_types_of = {
        key: [dict(t) for t in client.get_object_types(str(schemas[key]["id"]))]
        for key in types_of
        # One the account may not manage is refused by the plan, which says so.
        if key in schemas and schemas[key].get("canManage") is not False
    }
    return TargetSite(
        workspace_id=workspace_id,
        site_url=client.site_url,
        schemas=schemas,
        global_status_types=global_status,
        global_reference_types=global_reference,
        icons=icons,
        directory=directory,
        object_types_of=object_types_of,
    )

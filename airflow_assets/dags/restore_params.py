"""The restore DAG's trigger form: Airflow Params with JSON schema, titles, descriptions and examples.

Input that breaks a schema is refused when the run is triggered (UI form, REST 400, CLI error); what needs
data (an unknown snapshot, a key already taken) is checked by the ``plan`` task before any write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Param

from airflow_assets.restore.request import MODES, NEW_SCHEMA

SCHEMA_KEY_PATTERN = "^[A-Z][A-Z0-9]{1,9}$"
OBJECT_KEY_PATTERN = "^[A-Z][A-Z0-9]{1,9}-[0-9]+$"


def restore_params(schema_keys: Sequence[str], sites: Sequence[str]) -> dict[str, Param]:
    """Return the restore DAG's params; the form's example mapping restores the first configured schema."""
    example = schema_keys[0] if schema_keys else "ITAM"
    copy_key = (example + "2")[:10] if len(example) < 10 else example[:9] + "2"
    return {
        "snapshot": Param(
            "latest",
            type="string",
            minLength=1,
            title="Snapshot",
            description=(
                "latest; a snapshot id (airflow-assets snapshots list); or an ISO timestamp such as "
                "2026-11-30T02:00:00Z for the latest complete snapshot taken at or before it. "
                "Applied per schema."
            ),
            examples=["latest", "2026-11-30T02:00:00Z"],
        ),
        "schema_mappings": Param(
            [{"old_key": example, "new_key": copy_key, "new_name": None}],
            type="array",
            minItems=1,
            title="Schema mappings",
            description=(
                "Which schemas to restore: old_key is the key in the snapshot; new_key the key to restore it "
                "under (new_schema: a free key; recreate_missing: leave empty); new_name optional. "
                "Schemas are ordered by their references automatically."
            ),
            items={
                "type": "object",
                "properties": {
                    "old_key": {
                        "type": "string",
                        "pattern": SCHEMA_KEY_PATTERN,
                        "title": "Key in the snapshot",
                    },
                    "new_key": {
                        "type": ["string", "null"],
                        "pattern": SCHEMA_KEY_PATTERN,
                        "title": "Key to restore under",
                    },
                    "new_name": {"type": ["string", "null"], "maxLength": 255, "title": "New schema name"},
                },
                "required": ["old_key"],
                "additionalProperties": False,
            },
            # No `examples` here: the UI offers examples as choices and cannot show an object as one (it
            # crashes the trigger form); the default is the example.
        ),
        "mode": Param(
            NEW_SCHEMA,
            type="string",
            enum=list(MODES),
            title="Mode",
            description=(
                "new_schema: create each mapped schema under its new key with its config and "
                "objects (refused if "
                "the key exists). recreate_missing: in the existing schema, create again the objects of the "
                "snapshot that no longer exist, with the references other objects had to them."
            ),
            values_display={
                "new_schema": "new_schema: rebuild into a new key (or another site)",
                "recreate_missing": "recreate_missing: bring deleted objects back",
            },
        ),
        "source_site": Param(
            None,
            type=["null", "string"],
            **_enum_of(sites),
            title="Source site",
            examples=list(sites[:1]) or ["prod"],
            description=(
                "The backup config's site the snapshots come from; only needed when two sites share a key."
            ),
        ),
        "target_conn_id": Param(
            None,
            type=["null", "string"],
            title="Target connection",
            examples=["jira_assets_staging"],
            description=(
                "The jira_assets connection to restore into. Empty: the site the snapshot came from. "
                "Another site makes it a migration (new_schema only)."
            ),
        ),
        "object_types": Param(
            [],
            type="array",
            items={"type": "string", "minLength": 1},
            uniqueItems=True,
            title="Only these object types",
            examples=[["Server", "Laptop"]],
            description=(
                "Object type names; empty restores all. The plan adds their parents and the "
                "types their references "
                "need, and says so."
            ),
        ),
        "object_keys": Param(
            [],
            type="array",
            items={"type": "string", "pattern": OBJECT_KEY_PATTERN},
            uniqueItems=True,
            title="Only these objects",
            examples=[[f"{example}-42"]],
            description="Object keys as in the snapshot, e.g. ITAM-42; empty restores all.",
        ),
        "include_comments": Param(
            True,
            type="boolean",
            title="Restore comments",
            description="Comments come back as comments that name the original author and time.",
        ),
        "history_as_comments": Param(
            False,
            type="boolean",
            title="History as a comment",
            description="Add one compact, readable comment per object with its history from the snapshot.",
        ),
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run",
            description="Plan and report only (the plan task's log); write nothing. Untick to restore.",
        ),
        "accept_damaged": Param(
            False,
            type="boolean",
            title="Accept a damaged snapshot",
            description=(
                "A snapshot that fails its check (missing or altered versions, counts or root digest that do "
                "not match) is refused. Tick to restore what is sound and list the rest in the report."
            ),
        ),
    }


def _enum_of(sites: Sequence[str]) -> dict[str, Any]:
    """Offer the configured sites as choices (and none); any name when the config has none."""
    return {"enum": [None, *sites]} if sites else {}

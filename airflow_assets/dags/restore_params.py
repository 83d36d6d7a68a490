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
ANY_SITE = "(any: the site whose backups hold the schema)"
MAPPING_OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "old_key": {"type": "string", "pattern": SCHEMA_KEY_PATTERN, "title": "Key in the snapshot"},
        "new_key": {
            "type": ["string", "null"],
            "pattern": SCHEMA_KEY_PATTERN,
            "title": "Key to restore under",
        },
        "new_name": {"type": ["string", "null"], "maxLength": 255, "title": "New schema name"},
    },
    "required": ["old_key"],
    "additionalProperties": False,
}


def restore_params(schema_keys: Sequence[str], sites: Sequence[str]) -> dict[str, Param]:
    """Return the restore DAG's params; the form's example mapping restores the first configured schema.

    A param with a default is optional: its type allows null, or the trigger form marks it required.
    """
    example = schema_keys[0] if schema_keys else "ITAM"
    copy_key = (example + "2")[:10] if len(example) < 10 else example[:9] + "2"
    backed_up = ", ".join(schema_keys) if schema_keys else "none yet"
    return {
        "snapshot": Param(
            "latest",
            type=["null", "string"],
            minLength=1,
            title="Snapshot",
            description=(
                "latest (or empty); a snapshot id (airflow-assets snapshots list); or an ISO timestamp "
                "such as 2026-11-30T02:00:00Z for the latest complete snapshot taken at or before it. "
                "Applied per schema."
            ),
            examples=["latest", "2026-11-30T02:00:00Z"],
        ),
        "schema_mappings": Param(
            f"{example} -> {copy_key}",
            # Text or a list: the form shows a plain text box (Airflow's multi-type field) in which each
            # line is one mapping; a JSON list of {old_key, new_key, new_name} is still taken (REST, CLI).
            type=["string", "array"],
            minLength=1,
            minItems=1,
            title="Schema mappings",
            description=(
                "One schema per line: old key -> new key, then an optional new name in quotes, e.g. "
                f'{example} -> {copy_key} "{example} restored". old key: the key in the snapshot; '
                "new key: the key to restore it under (recreate_missing: the old key alone). Schemas "
                f"this config backs up: {backed_up}. Schemas are ordered by their references "
                "automatically."
            ),
            items={"anyOf": [{"type": "string", "minLength": 1}, MAPPING_OBJECT]},
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
                "snapshot that no longer exist, with the references other objects had to them. rollback: "
                "put the existing schema back to the snapshot in place (ids and keys stay): changed "
                "attributes, deleted objects and configuration; see the Rollback section."
            ),
            values_display={
                "new_schema": "new_schema: rebuild into a new key (or another site)",
                "recreate_missing": "recreate_missing: bring deleted objects back",
                "rollback": "rollback: undo changes in place (ids and keys stay)",
            },
        ),
        "source_site": Param(
            None,
            type=["null", "string"],
            **_enum_of(sites),
            title="Source site",
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
            None,
            # No `examples`: the form would offer them as the only choices and refuse typed names.
            type=["null", "array"],
            items={"type": "string", "minLength": 1},
            uniqueItems=True,
            title="Only these object types",
            description=(
                "One object type name per line, e.g. Server; empty restores all. The plan adds their "
                "parents and the types their references need, and says so."
            ),
        ),
        "object_keys": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": OBJECT_KEY_PATTERN},
            uniqueItems=True,
            title="Only these objects",
            description=(
                f"One object key per line, as in the snapshot, e.g. {example}-42; empty restores all."
            ),
        ),
        "include_comments": Param(
            True,
            type=["boolean", "null"],
            title="Restore comments",
            description="Comments come back as comments that name the original author and time.",
        ),
        "history_as_comments": Param(
            False,
            type=["boolean", "null"],
            title="History as a comment",
            description="Add one compact, readable comment per object with its history from the snapshot.",
        ),
        "dry_run": Param(
            True,
            type=["boolean", "null"],
            title="Dry run",
            description="Plan and report only (the plan task's log); write nothing. Untick to restore.",
        ),
        **rollback_params(example),
        "accept_damaged": Param(
            False,
            type=["boolean", "null"],
            title="Accept a damaged snapshot",
            description=(
                "A snapshot that fails its check (missing or altered versions, counts or root digest that do "
                "not match) is refused. Tick to restore what is sound and list the rest in the report."
            ),
        ),
    }


def _enum_of(sites: Sequence[str]) -> dict[str, Any]:
    """Offer the configured sites as choices (and none, shown as words); any name when the config has none."""
    if not sites:
        return {"examples": ["prod"]}
    return {"enum": [None, *sites], "values_display": {"null": ANY_SITE, **{site: site for site in sites}}}


ROLLBACK_SECTION = "Rollback (mode rollback only)"


def rollback_params(example: str) -> dict[str, Param]:
    """Return the fields only ``mode: rollback`` reads, grouped in one section of the form."""
    return {
        "changed_by": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "minLength": 1},
            uniqueItems=True,
            title="Only changes by",
            section=ROLLBACK_SECTION,
            description=(
                "One account id or display name per line, e.g. 5b10ac8d82e05b22cc7d4ef5 or Import Bot: only "
                "their changes go back, read from the history. Empty: anybody's."
            ),
        ),
        "changed_from": Param(
            None,
            type=["null", "string"],
            title="Only changes from",
            section=ROLLBACK_SECTION,
            description=(
                "ISO timestamp, e.g. 2026-12-07T09:00:00Z: only changes made at or after it go back. With "
                "snapshot latest, the snapshot is the latest taken at or before it."
            ),
        ),
        "changed_to": Param(
            None,
            type=["null", "string"],
            title="Only changes until",
            section=ROLLBACK_SECTION,
            description="ISO timestamp, e.g. 2026-12-07T10:30:00Z: only changes made at or before it go back",
        ),
        "on_conflict": Param(
            "keep",
            type=["null", "string"],
            enum=[None, "keep", "snapshot"],
            title="On conflict",
            section=ROLLBACK_SECTION,
            description=(
                "An attribute changed in the window and again later by someone else: keep (default) lists "
                "it and leaves it; snapshot puts the snapshot's value back anyway."
            ),
            values_display={
                "null": "keep",
                "keep": "keep: list it, leave it",
                "snapshot": "snapshot: put back",
            },
        ),
        "delete_created": Param(
            False,
            type=["boolean", "null"],
            title="Delete objects created since",
            section=ROLLBACK_SECTION,
            description=(
                "Objects created since the snapshot (with a window: in it, by those accounts) are listed; "
                "tick to delete them."
            ),
        ),
        "aql": Param(
            None,
            type=["null", "string"],
            title="Only objects matching AQL",
            section=ROLLBACK_SECTION,
            description=f'An AQL filter run on the live site, e.g. Status = "In use" (schema {example}).',
        ),
        "relink_issues": Param(
            False,
            type=["boolean", "null"],
            title="Re-link Jira issues",
            section=ROLLBACK_SECTION,
            description=(
                "Objects created again get new ids: point the Jira issues whose Assets fields named them "
                "at them again (rollback and recreate_missing)."
            ),
        ),
    }

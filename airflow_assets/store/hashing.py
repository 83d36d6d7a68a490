"""Canonical JSON and the content hash that names a stored version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_json(value: Any) -> str:
    """Serialise ``value`` the same way whatever the key order (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(
    *, kind: str, workspace_id: str, schema_id: str, item_id: str, data: Mapping[str, Any]
) -> str:
    """Return the hex SHA-256 naming one version of one item (the same content always gets the same name)."""
    envelope = {"kind": kind, "ws": workspace_id, "schema": schema_id, "item": item_id, "data": data}
    return hashlib.sha256(canonical_json(envelope).encode("utf-8")).hexdigest()

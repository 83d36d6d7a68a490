"""Put a restored type's attributes in the snapshot's order.

Attributes are created plain ones first, references after (a reference needs its target type), and the
site appends each new one: the order differs from the snapshot's. Once a type has all its attributes,
each is moved to its place with ``POST objecttypeattribute/{objectTypeId}/{id}/position``. The moves are
computed from a fresh read of the target, so a retry after a crash sends only the moves still needed;
a type whose order is done is recorded in the ledger and not read again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_assets.api import AssetsClient
from airflow_assets.model import normalize as norm
from airflow_assets.model.schema_config import position_of, sibling_order
from airflow_assets.restore.ledger import Created, Ledger

ATTRIBUTE_ORDER = "attribute_order"
JsonDict = dict[str, Any]


def planned_moves(wanted: Sequence[str], target: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """Return the moves ``(attribute id, position)`` that give the target's own attributes ``wanted``'s order.

    :param wanted: target ids of the type's own attributes in the snapshot's order.
    :param target: the type's own attributes as the target lists them (with ``position``).
    The positions are counted as the target counts them (after any inherited attributes): the first
    own attribute keeps the lowest position the type's own attributes have there.
    """
    current = [str(a["id"]) for a in sorted(target, key=sibling_order)]
    if not current:
        return []
    base = min(position_of(a) for a in target)
    known = [attribute_id for attribute_id in wanted if attribute_id in current]
    moves = []
    for offset, attribute_id in enumerate(known):
        if current.index(attribute_id) != offset:
            current.remove(attribute_id)
            current.insert(offset, attribute_id)
            moves.append((attribute_id, base + offset))
    return moves


def order_attributes(
    client: AssetsClient, ledger: Ledger, old_type_id: str, new_type_id: str, wanted: Sequence[str]
) -> int:
    """Move the attributes of a restored type into the snapshot's order; return how many moved.

    :param wanted: target ids of the type's own attributes, in the snapshot's order.
    """
    if ledger.get(ATTRIBUTE_ORDER, old_type_id) is not None:
        return 0
    own = []
    for raw in client.get_object_type_attributes(new_type_id):
        attribute = norm.normalize_attribute(raw)
        if str(attribute.get("objectTypeId", new_type_id)) == new_type_id:
            own.append(attribute)
    moves = planned_moves(wanted, own)
    for attribute_id, position in moves:
        client.position_attribute(new_type_id, attribute_id, position)
    ledger.complete(ATTRIBUTE_ORDER, old_type_id, Created(new_type_id))
    return len(moves)

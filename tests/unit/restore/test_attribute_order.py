"""The moves that give a restored type's attributes the snapshot's order."""

from __future__ import annotations

from airflow_assets.restore.attribute_order import planned_moves


def _listed(*ids: str, start: int = 0) -> list[dict[str, object]]:
    return [{"id": attribute_id, "position": start + index} for index, attribute_id in enumerate(ids)]


def test_references_created_last_move_back_between_the_plain_attributes() -> None:
    target = _listed("key", "name", "created", "updated", "plate", "model", "home")
    wanted = ["key", "name", "model", "created", "updated", "plate", "home"]

    assert planned_moves(wanted, target) == [("model", 2)]


def test_positions_count_after_the_inherited_attributes() -> None:
    target = _listed("a", "b", "ref", start=4)

    assert planned_moves(["ref", "a", "b"], target) == [("ref", 4)]


def test_an_order_already_right_needs_no_move_and_unknown_ids_are_skipped() -> None:
    target = _listed("a", "b", "c")

    assert planned_moves(["a", "gone", "b", "c"], target) == []
    assert planned_moves([], []) == []

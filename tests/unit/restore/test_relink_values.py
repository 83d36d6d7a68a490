"""How one Assets field's value changes when recreated objects go back into it (pure, no site)."""

from __future__ import annotations

from airflow_assets.restore.relink import relinked_value

WS = "ws-1"


def entry(object_id: str, workspace: str = WS) -> dict[str, str]:
    return {"workspaceId": workspace, "id": f"{workspace}:{object_id}", "objectId": object_id}


def test_an_old_object_still_held_is_replaced_where_it_stands() -> None:
    value = [entry("7"), entry("131"), entry("9")]
    assert relinked_value(value, {"131": "400"}, WS) == [entry("7"), entry("400"), entry("9")]


def test_a_new_object_whose_old_one_is_gone_is_added_at_the_end() -> None:
    assert relinked_value([entry("7"), entry("9")], {"131": "400"}, WS) == [
        entry("7"),
        entry("9"),
        entry("400"),
    ]
    assert relinked_value(None, {"131": "400", "132": "401"}, WS) == [entry("400"), entry("401")]


def test_a_field_already_holding_the_new_object_needs_no_write() -> None:
    assert relinked_value([entry("400"), entry("7")], {"131": "400"}, WS) is None
    # Two objects: one already back, the other still to add; the one in place is not moved.
    assert relinked_value([entry("400")], {"131": "400", "132": "401"}, WS) == [entry("400"), entry("401")]


def test_entries_naming_the_object_by_global_id_or_object_id_alone_are_read_and_written_whole() -> None:
    # Another product (or an older API) may return entries without objectId, or without workspaceId.
    value = [{"id": "ws-2:7"}, {"objectId": "131"}, {"workspaceId": WS, "objectId": "9"}, {"key": "LOC-1"}]
    assert relinked_value(value, {"131": "400"}, WS) == [entry("7", "ws-2"), entry("400"), entry("9")]
    assert relinked_value([{"id": f"{WS}:400"}], {"131": "400"}, WS) is None

"""The plain parts of a rollback: its value maps, the lines its plan and `restores show --changes` print."""

from __future__ import annotations

from airflow_assets.model.schema_config import SchemaConfig
from airflow_assets.restore.ledger import Created
from airflow_assets.restore.log_lines import rollback_plan_lines, rollback_totals
from airflow_assets.restore.rollback import rollback_maps
from airflow_assets.restore.rollback_diff import written_values
from airflow_assets.tools.restores_show import change_line

CONFIG = SchemaConfig(
    {
        "object_type": [{"id": "7", "name": "Server", "objectSchemaId": "3"}],
        "attribute": [
            {
                "id": "70",
                "name": "Key",
                "type": 0,
                "defaultType": {"id": 0},
                "system": True,
                "objectTypeId": "7",
            },
            {
                "id": "71",
                "name": "Name",
                "type": 0,
                "defaultType": {"id": 0},
                "label": True,
                "objectTypeId": "7",
            },
            {"id": "72", "name": "Runs on", "type": 1, "referenceObjectTypeId": "7", "objectTypeId": "7"},
            {"id": "73", "name": "Notes", "type": 0, "defaultType": {"id": 0}, "objectTypeId": "7"},
        ],
    }
)


def _server(attributes: dict[str, list[dict[str, str]]]) -> dict[str, object]:
    return {
        "id": "500",
        "objectTypeId": "7",
        "attributes": [{"objectTypeAttributeId": a, "values": v} for a, v in attributes.items()],
    }


def test_a_recreated_attribute_and_object_compare_equal_to_the_snapshot_under_their_new_ids() -> None:
    # Notes (73) was deleted and created again as 91; server 600 was deleted and created again as 900.
    maps = rollback_maps(
        CONFIG, ["70", "71", "72", "91"], attributes={"73": "91"}, created={"600": Created("900")}
    )
    snapshot = _server(
        {"71": [{"value": "web-1"}], "72": [{"referencedObjectId": "600"}], "73": [{"value": "x"}]}
    )
    live = _server(
        {"71": [{"value": "web-1"}], "72": [{"referencedObjectId": "900"}], "91": [{"value": "x"}]}
    )

    assert (
        written_values(snapshot, maps)
        == written_values(live, maps)
        == {
            "71": ("web-1",),
            "72": ("900",),
            "91": ("x",),
        }
    )
    # A reference to an object not created again stays its own id; a gone attribute has no counterpart.
    plain = rollback_maps(CONFIG, ["70", "71", "72"])
    assert written_values(
        _server({"72": [{"referencedObjectId": "601"}], "73": [{"value": "x"}]}), plain
    ) == {"72": ("601",)}


def test_each_stored_change_reads_as_one_line() -> None:
    put = {
        "schema": "ITAM", "id": "5", "key": "ITAM-5", "kind": "changed", "action": "put",
        "put": [{"id": "73", "name": "Notes", "old": ["line 1\nline 2"], "new": ["imported"]}],
        "kept": [{"id": "71", "name": "Name", "old": ["a"], "new": ["b"], "reason": "conflict: by Bob"}],
    }  # fmt: skip

    assert change_line(put) == (
        "ITAM ITAM-5: Notes: [imported] -> [line 1\\nline 2]; Name kept at [b] (conflict: by Bob)"
    )
    assert change_line(
        {"schema": "ITAM", "key": "ITAM-6", "kind": "deleted_since", "action": "recreate"}
    ) == ("ITAM ITAM-6: deleted since: created again")
    created = {
        "schema": "ITAM",
        "key": "ITAM-9",
        "kind": "created_since",
        "action": "keep",
        "reason": "delete_created is off",
    }
    assert change_line(created) == "ITAM ITAM-9: created since: stays (delete_created is off)"


def test_the_plan_log_counts_per_type_and_names_the_command_that_lists_every_change() -> None:
    plans = [
        {
            "old_key": "ITAM", "snapshot_id": "ws:3:run-1", "history_snapshot_id": "ws:3:rollback__r",
            "totals": {"compared": 10, "put_back": 2, "conflicts": 1},
            "per_type": {"Server": {"put_back": 2, "conflicts": 1, "attributes": {"Notes": 2}}},
            "first_changes": ["ITAM-5: Notes: [imported] -> [x]"], "conflicts": ["ITAM-6.Notes: ..."],
            "config": {"changes": ["Server.Notes: name 'Remarks' -> 'Notes'"], "refused": []},
        }
    ]  # fmt: skip

    lines = rollback_plan_lines(plans, dry_run=True, restore_id="jira_assets_restore:manual__1")

    assert lines[0].startswith("rollback of ITAM to snapshot ws:3:run-1: 10 objects compared; changes read")
    assert (
        "  Server: 2 objects get attributes back; 1 object has conflicts (left as they are) (Notes x2)"
        in lines
    )
    assert "  configuration: Server.Notes: name 'Remarks' -> 'Notes'" in lines
    assert lines[-1] == (
        "every change is stored with the restore: airflow-assets restores show jira_assets_restore:manual__1 "
        "--changes (dry run: nothing was written)"
    )
    assert rollback_totals(plans + plans) == {"compared": 20, "put_back": 4, "conflicts": 2}

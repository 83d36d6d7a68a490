"""What a restore run is asked reaches its plan safely: hidden characters warned of, huge names cut."""

from __future__ import annotations

import pytest
from pymongo.database import Database

from airflow_assets.restore.request import RestoreParamError
from airflow_assets.sandbox.launch import RunningSandbox
from tests.integration.backup_support import client_for
from tests.integration.restore_support import session


def test_a_new_name_with_a_right_to_left_override_is_warned_of_in_the_dry_run_plan(
    demo_sandbox: RunningSandbox, demo_backup: Database
) -> None:
    client = client_for(demo_sandbox)
    mapping = {"old_key": "LOC", "new_key": "LOCX", "new_name": "Locations\u202ecodexe"}

    plan = session(client, demo_backup, {"schema_mappings": [mapping]}, "hidden-characters").plan()

    hidden = [warning for warning in plan.warnings if "U+202E RIGHT-TO-LEFT OVERRIDE" in warning]
    assert hidden == [
        "LOC: the schema name 'Locations\\u202ecodexe' holds U+202E RIGHT-TO-LEFT OVERRIDE: invisible "
        "characters that change how it reads; check it is the name intended"
    ]
    assert plan.warning_counts["hidden characters"] == 1


def test_a_huge_object_type_name_is_cut_in_the_refusal(
    demo_sandbox: RunningSandbox, demo_backup: Database
) -> None:
    client = client_for(demo_sandbox)
    params = {"schema_mappings": [{"old_key": "LOC", "new_key": "LOCX"}], "object_types": ["T" * 1_000_000]}

    with pytest.raises(RestoreParamError) as caught:
        session(client, demo_backup, params, "huge-type-name").plan()

    assert caught.value.param == "object_types[0]"
    assert "… (1000000 chars) in the chosen snapshots" in str(caught.value)
    assert len(str(caught.value)) < 1000

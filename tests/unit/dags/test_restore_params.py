"""The restore DAG's trigger form, as Airflow 3's UI renders its Param schemas (after serialization).

The UI marks a field required unless its type allows null; shows an array of strings without ``examples``
or ``enum`` as a free text box (one item per line); shows a type list of several non-null types as a plain
text box that keeps what it cannot read as JSON as text; labels ``null`` by ``values_display``.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest
from airflow.sdk import Param
from airflow.sdk.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization

from airflow_assets.dags.factory import build_restore_dag
from airflow_assets.dags.plan import RestoreDagSpec
from airflow_assets.restore.request import parse_request

REQUIRED = {"schema_mappings", "mode"}


@functools.cache
def _serialized() -> dict[str, tuple[Any, str | None, dict[str, Any]]]:
    """Return each param as the UI reads it: the DAG serialized and read back."""
    spec = RestoreDagSpec(
        dag_id="jira_assets_restore",
        mongo_conn_id="jira_assets_backup",
        mongo_database="jira_assets",
        site_connections={"prod": "jira_assets_default", "lab": "jira_assets_lab"},
        schema_keys=("LOC", "ITAM", "PEOPLE"),
        pool=None,
        tags=(),
        doc_md="",
    )
    dag = DagSerialization.from_dict(DagSerialization.to_dict(build_restore_dag(spec)))
    found = {name: dag.params.get_param(name) for name in dag.params}
    return {name: (param.value, param.description, param.schema) for name, param in found.items()}


def _params() -> dict[str, Param]:
    """Return fresh SDK Params of the serialized schemas (``resolve`` keeps the value it checked)."""
    return {
        name: Param(value, description=description, **copy.deepcopy(schema))
        for name, (value, description, schema) in _serialized().items()
    }


def _ui_required(schema: dict[str, Any]) -> bool:
    """Mirror the trigger form's rule (Airflow 3 UI, ``isRequired``): a type without null is required."""
    kind = schema.get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def test_only_the_schema_mappings_and_the_mode_are_marked_required() -> None:
    params = _params()

    assert {name for name, param in params.items() if _ui_required(param.schema)} == REQUIRED


@pytest.mark.parametrize("name", ["object_types", "object_keys"])
def test_object_filters_are_free_text_lists_not_a_choice_of_examples(name: str) -> None:
    param = _params()[name]

    assert "array" in param.schema["type"]
    assert param.schema["items"]["type"] == "string"
    assert "examples" not in param.schema and "enum" not in param.schema
    typed = ["Server", "Laptop"] if name == "object_types" else ["LOC-1", "LOC-22"]
    assert param.resolve(typed) == typed
    assert param.resolve(None) is None


def test_the_source_site_labels_its_empty_choice_in_words() -> None:
    schema = _params()["source_site"].schema

    assert None in schema["enum"]
    assert schema["values_display"]["null"].startswith("(any")


def test_schema_mappings_take_lines_of_text_and_name_the_configured_schemas() -> None:
    param = _params()["schema_mappings"]
    lines = 'LOC -> LOC2 "Locations copy"\nITAM -> ITAM2'

    assert param.resolve(lines) == lines
    assert "LOC, ITAM, PEOPLE" in (param.description or "")
    request = parse_request({"schema_mappings": param.resolve(lines)})
    assert [(m.old_key, m.new_key) for m in request.mappings] == [("LOC", "LOC2"), ("ITAM", "ITAM2")]
    # The default is a line the form shows as text, and it parses.
    assert parse_request({"schema_mappings": param.resolve()}).mappings[0].new_key == "LOC2"


def test_schema_mappings_still_take_the_json_list_of_objects() -> None:
    param = _params()["schema_mappings"]
    mappings = [{"old_key": "LOC", "new_key": "LOC2", "new_name": "Locations copy"}]

    assert param.resolve(mappings) == mappings
    # Broken JSON typed over the example is text: the run is triggered and the plan names the problem.
    assert param.resolve('[{"old_key": "LOC"') == '[{"old_key": "LOC"'


@pytest.mark.parametrize("bad", ["", [], [{"old_key": "LOC", "colour": "red"}], 42])
def test_schema_mappings_refuse_what_is_no_mapping_at_trigger_time(bad: Any) -> None:
    param: Param = _params()["schema_mappings"]

    with pytest.raises(ParamValidationError):
        param.resolve(bad)

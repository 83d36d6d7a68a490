"""The backup pools: planned from the configuration, created and checked in a real Airflow metadata DB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_assets.cli import main
from airflow_assets.config.loading import parse_config
from airflow_assets.pools import PoolSpec, pool_specs


def test_pool_specs_give_each_site_two_slots_per_parallel_schema_and_one_to_list_ahead() -> None:
    config = parse_config(
        "sites:\n"
        "  prod: {schemas: [ITAM, LOC], parallel_schemas: 3}\n"
        "  qa: {conn_id: jira_qa, schemas: [ITAM]}\n"
    )

    assert pool_specs(config) == [
        PoolSpec("jira_assets_prod", 7, "Jira Assets API tasks of site prod"),
        PoolSpec("jira_assets_qa", 3, "Jira Assets API tasks of site qa"),
    ]
    assert [spec.slots for spec in pool_specs(config, slots=5)] == [5, 5]


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """Create the tables of the session's Airflow home (a temp dir; initdb keeps what other tests stored)."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def site_names(airflow_db: None) -> Iterator[list[str]]:
    """Give each test its own site names, and delete their pools afterwards."""
    from airflow.models.pool import Pool

    names = [f"prod_{uuid.uuid4().hex[:8]}", f"qa_{uuid.uuid4().hex[:8]}"]
    yield names
    for name in names:
        if Pool.get_pool(f"jira_assets_{name}") is not None:
            Pool.delete_pool(f"jira_assets_{name}")


def _write_config(tmp_path: Path, prod: str, qa: str, parallel: int = 2) -> Path:
    path = tmp_path / "jira_assets.yaml"
    path.write_text(
        f"sites:\n  {prod}: {{schemas: [ITAM], parallel_schemas: {parallel}}}\n  {qa}: {{schemas: [LOC]}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_create_makes_every_pool_and_check_finds_them(
    tmp_path: Path, site_names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.models.pool import Pool

    prod, qa = site_names
    config = _write_config(tmp_path, prod, qa)

    assert main(["pools", "check", "--config", str(config)]) == 1
    missing = capsys.readouterr().err
    assert f"jira_assets_{prod}" in missing and f"jira_assets_{qa}" in missing

    assert main(["pools", "create", "--config", str(config)]) == 0
    assert f"pool jira_assets_{prod}: 5 slots" in capsys.readouterr().out
    stored = Pool.get_pool(f"jira_assets_{prod}")
    assert stored is not None
    assert (stored.slots, stored.description, stored.include_deferred) == (
        5,
        f"Jira Assets API tasks of site {prod}",
        False,
    )
    assert Pool.get_pool(f"jira_assets_{qa}").slots == 3  # type: ignore[union-attr]

    assert main(["pools", "check", "--config", str(config)]) == 0
    assert "all 2 pools exist" in capsys.readouterr().out


@pytest.mark.slow
def test_create_updates_existing_pools_and_check_names_only_the_missing_one(
    tmp_path: Path, site_names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.models.pool import Pool

    prod, qa = site_names
    config = _write_config(tmp_path, prod, qa, parallel=1)
    Pool.create_or_update_pool(f"jira_assets_{prod}", 1, "made by hand", include_deferred=False)

    assert main(["pools", "check", "--config", str(config)]) == 1
    missing = capsys.readouterr().err
    assert f"jira_assets_{qa}" in missing and f"jira_assets_{prod}" not in missing

    assert main(["pools", "create", "--config", str(config), "--slots", "7"]) == 0
    assert [Pool.get_pool(f"jira_assets_{name}").slots for name in site_names] == [7, 7]  # type: ignore[union-attr]
    assert Pool.get_pool(f"jira_assets_{prod}").description == f"Jira Assets API tasks of site {prod}"  # type: ignore[union-attr]


def test_a_broken_config_or_bad_slots_is_explained_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "jira_assets.yaml"
    config.write_text("sites: {prod: {schemas: [itam]}}\n", encoding="utf-8")

    assert main(["pools", "create", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"invalid backup configuration {config}:" in err
    assert "sites.prod.schemas[0].key: 'itam' is not an Assets schema key" in err
    assert "Traceback" not in err

    assert main(["pools", "check", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "configuration file not found" in capsys.readouterr().err

    assert main(["pools", "create", "--config", str(config), "--slots", "0"]) == 2
    assert "--slots must be at least 1" in capsys.readouterr().err

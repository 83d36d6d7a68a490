"""Only ``airflow_assets.store`` names the store's collections: the other modules go through it.

A module outside the store that imports a collection name from ``store.layout`` (``SNAPSHOTS``, ``SPANS``...)
or indexes a database with one (``db["snapshots"]``) would re-apply the store's rules on its own (which
snapshots are readable, which lane a reconstructed snapshot's content lives in) and drift from them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_assets
from airflow_assets.store import layout

PACKAGE = Path(airflow_assets.__file__).parent
STORE = PACKAGE / "store"
COLLECTION_CONSTANTS = (
    "SNAPSHOTS",
    "VERSIONS",
    "SPANS",
    "COUNTERS",
    "LEASES",
    "HEADS",
    "PROGRESS",
    "QUARANTINE",
    "RECONSTRUCTION_NOTES",
    "SITE_LISTINGS",
    "SITE_SCHEMAS",
    "RATE_BUDGET",
)
COLLECTION_NAMES = frozenset(getattr(layout, name) for name in COLLECTION_CONSTANTS)


def _outside_store() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if STORE not in path.parents)


def _violations(source: str, where: str) -> list[str]:
    tree = ast.parse(source, filename=where)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "airflow_assets.store.layout":
            named = [
                alias.name for alias in node.names if alias.name in COLLECTION_CONSTANTS or alias.name == "*"
            ]
            found += [f"{where}:{node.lineno} imports {name} from store.layout" for name in named]
        elif isinstance(node, ast.Attribute) and node.attr in COLLECTION_CONSTANTS:
            if isinstance(node.value, ast.Name) and node.value.id == "layout":
                found.append(f"{where}:{node.lineno} names layout.{node.attr}")
        elif isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(key, ast.Constant) and key.value in COLLECTION_NAMES:
                found.append(f"{where}:{node.lineno} indexes [{key.value!r}]")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get_collection"  # db.get_collection("snapshots")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in COLLECTION_NAMES
        ):
            found.append(f"{where}:{node.lineno} opens collection {node.args[0].value!r}")
    return found


def test_the_package_has_modules_outside_the_store() -> None:
    assert len(_outside_store()) > 50
    assert {"snapshots", "spans", "versions", "progress", "reconstruction_notes"} <= COLLECTION_NAMES


def test_no_module_outside_the_store_names_a_collection_of_the_store() -> None:
    violations = [
        violation
        for path in _outside_store()
        for violation in _violations(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    ]
    assert not violations, "read and write the store through airflow_assets.store:\n" + "\n".join(violations)


def test_the_check_finds_each_way_of_naming_a_collection() -> None:
    source = (
        "from airflow_assets.store.layout import CONFIG_KINDS, SPANS\n"
        "from airflow_assets.store import layout\n"
        "def read(db):\n"
        "    db['snapshots'].find_one()\n"
        "    db[layout.PROGRESS].find_one()\n"
        "    db.get_collection('versions')\n"
        "    db['restores'].find_one()\n"
    )
    found = _violations(source, "probe.py")
    assert len(found) == 4, found
    assert any("imports SPANS" in line for line in found)
    assert not any("CONFIG_KINDS" in line or "restores" in line for line in found)

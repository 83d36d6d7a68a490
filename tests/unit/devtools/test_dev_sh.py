"""``./dev.sh setup`` says when it installs, and skips an install whose inputs did not change."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
INSTALLING = "installing the locked dependencies into .venv"

# Stands in for the venv's python: runs `-c` snippets with the real interpreter, records anything else
# (pip and uv installs) and succeeds, so the test sees which installs dev.sh asked for, in milliseconds.
FAKE_PYTHON = f"""#!/bin/sh
if [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi
echo "$*" >> "$(dirname "$0")/../calls.log"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Return a copy of dev.sh and its inputs with a venv whose python only records what it is asked."""
    for name in ("dev.sh", "requirements-lock.txt", "pyproject.toml"):
        shutil.copy2(REPOSITORY / name, tmp_path / name)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return tmp_path


def setup(checkout: Path) -> tuple[str, list[str]]:
    """Run ``./dev.sh setup``; return its stderr and the install commands it sent since the last call."""
    log = checkout / ".venv" / "calls.log"
    log.unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", str(checkout / "dev.sh"), "setup"],
        capture_output=True,
        text=True,
        timeout=60,
        env={key: value for key, value in os.environ.items() if key != "PYTHON"},
    )
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    return done.stderr, [call for call in calls if "install" in call]


def test_setup_says_it_installs_then_skips_while_the_lock_and_pyproject_are_unchanged(checkout: Path) -> None:
    said, installs = setup(checkout)
    assert INSTALLING in said
    assert any("requirements-lock.txt" in call for call in installs)

    said, installs = setup(checkout)
    assert INSTALLING not in said
    assert installs == []

    with (checkout / "requirements-lock.txt").open("a") as lock:
        lock.write("# a changed pin\n")
    said, installs = setup(checkout)
    assert INSTALLING in said
    assert any("requirements-lock.txt" in call for call in installs)

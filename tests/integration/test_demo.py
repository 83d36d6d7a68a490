"""``airflow-assets demo`` runs end to end: backups, then a recreate_missing restore and a copy into LOC2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _demo_environment() -> dict[str, str]:
    """Return this process's environment without the Airflow settings tests/conftest.py made for the tests."""
    return {
        name: value
        for name, value in os.environ.items()
        if name != "AIRFLOW_HOME" and not name.startswith("AIRFLOW__")
    }


def test_the_demo_backs_up_deletes_and_restores_with_verify_ok(tmp_path: Path) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "airflow_assets.cli", "demo", "--workdir", str(tmp_path / "demo")],
        env=_demo_environment(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=170,
    )

    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output

    def line(pattern: str) -> re.Match[str]:
        found = re.search(pattern, demo.stdout, re.MULTILINE)
        assert found, f"no line matches {pattern!r} in:\n{output}"
        return found

    for schema in ("itam", "loc", "people"):
        line(rf"^jira_assets_backup_demo_{schema} +success ")
    lost = line(r"^  (\d+) references from \d+ other objects pointed at them$").group(1)
    assert int(lost) > 0
    line(r"^recreate_missing ITAM +success +2 .* ok: \d+ objects checked, 0 differences")
    line(rf"^  recreated ITAM-\d+ -> ITAM-\d+, ITAM-\d+ -> ITAM-\d+; lost references back: {lost} of {lost}$")
    line(r"^new_schema LOC -> LOC2 +success +34 .* ok: 34 objects checked, 0 differences")

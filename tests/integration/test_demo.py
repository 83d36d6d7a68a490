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


def run_demo(workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``airflow-assets demo`` in its own process, as ``./dev.sh demo`` does."""
    return subprocess.run(
        [sys.executable, "-m", "airflow_assets.cli", "demo", "--workdir", str(workdir)],
        env=_demo_environment(),
        cwd=workdir.parent,
        capture_output=True,
        text=True,
        timeout=170,
    )


def test_the_demo_backs_up_deletes_and_restores_with_verify_ok(tmp_path: Path) -> None:
    demo = run_demo(tmp_path / "demo")

    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output

    def line(pattern: str) -> re.Match[str]:
        found = re.search(pattern, demo.stdout, re.MULTILINE)
        assert found, f"no line matches {pattern!r} in:\n{output}"
        return found

    # A fresh work directory: the first backup of each schema is a full sweep.
    for schema in ("itam", "loc", "people"):
        line(rf"^jira_assets_backup_demo_{schema} +success +full ")
    lost = line(r"^  (\d+) references from \d+ other objects pointed at them$").group(1)
    assert int(lost) > 0
    line(r"^recreate_missing ITAM +success +2 .* ok: \d+ objects checked, 0 differences")
    line(rf"^  recreated ITAM-\d+ -> ITAM-\d+, ITAM-\d+ -> ITAM-\d+; lost references back: {lost} of {lost}$")
    line(r"^new_schema LOC -> LOC2 +success +34 .* ok: 34 objects checked, 0 differences")
    # The restores' real ids, as the restores collection holds them.
    restore_ids = re.findall(r"^  _id (jira_assets_restore:manual__\S+)$", demo.stdout, re.MULTILINE)
    assert len(set(restore_ids)) == 2, output
    assert "<run id>" not in output
    # It ends with what to look at next.
    next_steps = demo.stdout[line(r"^next:$").end() :]
    assert "airflow-assets standalone" in next_steps
    assert "docs/ui.md" in next_steps
    # Only the demo's own lines: no warning from Airflow, a library or the package.
    warned = [text for text in output.splitlines() if re.search(r"warning:|Warning|\[warning", text)]
    assert warned == [], "\n".join(warned)

    # A second run keeps the first one's MongoDB: its backups are incremental.
    again = run_demo(tmp_path / "demo")
    assert again.returncode == 0, again.stdout + again.stderr
    for schema in ("itam", "loc", "people"):
        assert re.search(
            rf"^jira_assets_backup_demo_{schema} +success +incremental ", again.stdout, re.MULTILINE
        ), again.stdout

"""The Airflow UI in a real headless Chromium against ``airflow-assets standalone``; screenshots go to docs/.

Debian's chromium (``/usr/bin/chromium``, installed by ``./dev.sh test`` when it may) is driven through
Playwright's driver; Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_assets.devtools.airflow_rest import AirflowApi
from airflow_assets.devtools.standalone_stack import RunningStandalone, running_standalone

CHROMIUM = Path("/usr/bin/chromium")
# The committed screenshots are refreshed with UPDATE_SCREENSHOTS=1; other runs write theirs to a temp folder,
# so a test run never changes the work tree.
DOCS = (
    Path(__file__).resolve().parents[2] / "docs"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="airflow-assets-screenshots-"))
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESTORE_DAG_ID = "jira_assets_restore"
BACKUP_DAG_ID = "jira_assets_backup_demo_loc"
DRY_RUN_MAPPING = 'LOC -> LOCUI "Locations (UI dry run)"'

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium (./dev.sh test installs it as root "
        "with apt: apt-get install chromium)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None, reason="playwright (the dev extra) is not installed"
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStandalone]:
    with running_standalone(tmp_path_factory.mktemp("ui") / "standalone", port=free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def api(standalone: RunningStandalone) -> Iterator[AirflowApi]:
    client = AirflowApi(standalone.url)
    client.login()
    yield client
    client.close()


@pytest.fixture(scope="module")
def page(standalone: RunningStandalone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(30_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def test_the_ui_walkthrough(standalone: RunningStandalone, api: AirflowApi, page: Any) -> None:
    started = time.monotonic()
    DOCS.mkdir(exist_ok=True)
    # A snapshot of LOC to restore from: trigger its backup over REST while the browser logs in.
    backup_run = api.trigger(BACKUP_DAG_ID)

    page.goto(standalone.url)
    page.locator("input[name=username]").wait_for()
    page.screenshot(path=str(DOCS / "ui-login.png"))
    page.fill("input[name=username]", standalone.login)
    page.fill("input[name=password]", standalone.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    _check_connection_form(page, standalone.url)

    assert api.wait_for_run(BACKUP_DAG_ID, backup_run, timeout=120) == "success"
    _dry_run_from_trigger_form(page, standalone.url, api)
    print(f"UI walkthrough: {time.monotonic() - started:.1f} s")


def _check_connection_form(page: Any, url: str) -> None:
    """Open Admin -> Connections -> Add, pick "Jira Assets", check the provider's labels and placeholders."""
    page.goto(f"{url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill("my_jira_site")
    connection_type = dialog.get_by_role("combobox")
    connection_type.click()
    connection_type.fill("Jira Assets")
    page.get_by_role("option", name="Jira Assets").first.click()
    for name, label, placeholder in (
        ("host", "Jira site URL", "https://your-site.atlassian.net"),
        ("login", "Account email", "automation@example.com"),
        ("password", "API token", "API token from id.atlassian.com"),
    ):
        field = dialog.locator(f"input[name={name}]")
        assert field.get_attribute("placeholder") == placeholder
        assert dialog.get_by_text(label, exact=True).is_visible()
    # Hidden by ui-field-behaviour: schema. The port stays: the Test button needs a stored one (443).
    assert dialog.locator("input[name=schema]").count() == 0
    assert dialog.locator("input[name=port]").count() == 1
    assert dialog.get_by_text("Port (443)", exact=True).is_visible()
    dialog.locator("input[name=host]").fill("https://your-site.atlassian.net")
    dialog.locator("input[name=login]").fill("automation@example.com")
    page.screenshot(path=str(DOCS / "ui-connection-form.png"))
    # The provider's conn-fields, in the (collapsed) Extra Fields section.
    dialog.get_by_text("Extra Fields", exact=True).click()
    for label in ("Assets workspace id", "Assets API base URL", "Cloud id", "Rate limit scale"):
        dialog.get_by_text(label, exact=True).wait_for()
    page.keyboard.press("Escape")


def _dry_run_from_trigger_form(page: Any, url: str, api: AirflowApi) -> None:
    """Fill in a schema mapping in the restore DAG's trigger form, trigger a dry run, wait for its success."""
    before = {run["dag_run_id"] for run in api.call("GET", f"dags/{RESTORE_DAG_ID}/dagRuns")["dag_runs"]}
    page.goto(f"{url}/dags/{RESTORE_DAG_ID}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    try:
        dialog.wait_for(timeout=10_000)
    except Exception:
        if page.get_by_text("Minified React error").count():
            page.screenshot(path=str(DOCS / "ui-trigger-form-error.png"))
            pytest.fail(
                "the restore DAG's trigger form crashes the UI (React error #31: an object rendered as a "
                "child): Param examples of an array of objects (schema_mappings) are shown as options; "
                f"see {DOCS / 'ui-trigger-form-error.png'}"
            )
        raise
    # The mappings are a plain text box, one mapping per line: type ours over the example, as a user would.
    mappings = dialog.locator("#element_schema_mappings")
    mappings.fill("")
    mappings.press_sequentially(DRY_RUN_MAPPING)
    # The object filters are free text lists (one name per line), not a choice of examples.
    object_types = dialog.locator("#element_object_types")
    assert object_types.evaluate("element => element.tagName") == "TEXTAREA"
    # Optional fields carry no required mark; the source site's empty choice is words, not "null".
    assert dialog.get_by_text("null", exact=True).count() == 0
    # Dry run is ticked by default.
    assert dialog.locator("input[name=element_dry_run]").is_checked()
    page.screenshot(path=str(DOCS / "ui-trigger-form.png"), full_page=True)
    dialog.get_by_role("button", name="Trigger").last.click()

    deadline = time.monotonic() + 60
    new_runs: list[str] = []
    while not new_runs and time.monotonic() < deadline:
        runs = api.call("GET", f"dags/{RESTORE_DAG_ID}/dagRuns")["dag_runs"]
        new_runs = [run["dag_run_id"] for run in runs if run["dag_run_id"] not in before]
        time.sleep(0.5)
    assert new_runs, "the trigger form started no run"
    run_id = new_runs[0]
    conf = api.call("GET", f"dags/{RESTORE_DAG_ID}/dagRuns/{run_id}")["conf"]
    assert conf["schema_mappings"] == DRY_RUN_MAPPING
    assert conf["dry_run"] is True
    assert api.wait_for_run(RESTORE_DAG_ID, run_id, timeout=120) == "success"
    page.goto(f"{url}/dags/{RESTORE_DAG_ID}/runs/{run_id}")
    page.get_by_text("success").first.wait_for()
    page.screenshot(path=str(DOCS / "ui-dry-run-success.png"))

"""The Airflow UI in a real headless Chromium against ``airflow-assets standalone``; screenshots go to docs/.

Debian's chromium (``/usr/bin/chromium``, installed by ``./dev.sh test`` when it may) is driven through
Playwright's driver; Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_assets.api import AssetsClient
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
# What `airflow-assets standalone` prints of its sandbox: where it is, and its credentials for this start.
SANDBOX_URL = re.compile(r"^sandbox \(a local Jira Cloud site with Assets\): (?P<url>http://\S+)$")
SANDBOX_AUTH = re.compile(r"^  its REST API: basic auth (?P<email>\S+) / (?P<token>\S+)$")

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

    _log_in(page, standalone, screenshot="ui-login.png")

    _check_connection_form(page, standalone.url)

    assert api.wait_for_run(BACKUP_DAG_ID, backup_run, timeout=120) == "success"
    _dry_run_from_trigger_form(page, standalone.url, api)
    print(f"UI walkthrough: {time.monotonic() - started:.1f} s")


def _log_in(page: Any, standalone: RunningStandalone, *, screenshot: str | None = None) -> None:
    """Sign in through Airflow's login form, unless this browser's session already is."""
    page.goto(standalone.url)
    username = page.locator("input[name=username]")
    try:
        username.wait_for(timeout=15_000)
    except Exception:
        if "/auth/login" not in page.url:
            return  # signed in by an earlier test of this module
        raise
    if screenshot:
        page.screenshot(path=str(DOCS / screenshot))
    page.fill("input[name=username]", standalone.login)
    page.fill("input[name=password]", standalone.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


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


def test_the_jira_assets_page_from_the_navigation_to_a_dry_run(
    standalone: RunningStandalone, api: AirflowApi, page: Any
) -> None:
    """Overview, a schema, the diff after an edit on the site, the object's versions, Restore… (dry run)."""
    started = time.monotonic()
    DOCS.mkdir(exist_ok=True)
    with _sandbox_client(standalone) as site:
        before_edit = api.trigger(BACKUP_DAG_ID)
        assert api.wait_for_run(BACKUP_DAG_ID, before_edit, timeout=180) == "success"
        office, old_address, new_address = _move_an_office(site)
        after_edit = api.trigger(BACKUP_DAG_ID)
        assert api.wait_for_run(BACKUP_DAG_ID, after_edit, timeout=180) == "success"
        loc_objects = site.count_objects("objectSchemaId = " + str(site.object_schema_by_key("LOC")["id"]))
    _log_in(page, standalone)

    # The overview, from Airflow's navigation: Airflow frames the page under /plugin/<url_route>.
    page.goto(f"{standalone.url}/plugin/jira-assets")
    frame = page.frame_locator("iframe").first
    loc = frame.locator('tr.ja-schema[data-schema="demo/LOC"]')
    loc.wait_for()
    assert loc.locator(".ja-badge").inner_text() == "fresh"
    assert loc.locator("td.num").inner_text() == str(loc_objects)
    assert frame.locator(".ja-card svg.ja-chart").count() >= 1  # the objects-per-snapshot charts
    page.screenshot(path=str(DOCS / "ui-jira-assets-overview.png"))

    # The schema: its snapshots, newest first; the newest holds the edit as one changed object.
    loc.get_by_role("link", name="LOC", exact=True).click()
    rows = frame.locator("#snapshots tr.ja-snapshot")
    rows.nth(1).wait_for()
    newest = rows.first
    assert newest.locator("td").nth(4).inner_text() == "complete"
    assert newest.locator("td").nth(8).inner_text() == "1"  # ~changed
    newest_id = newest.get_attribute("data-id")
    page.screenshot(path=str(DOCS / "ui-jira-assets-schema.png"))

    # The diff of the two snapshots: the Office's Address, old -> new, as on the site.
    newest.get_by_role("link", name="diff").click()
    change = frame.locator(f'tr.ja-change[data-object="{office}"]')
    change.first.wait_for()
    address = frame.locator(f'tr.ja-change[data-object="{office}"]', has_text="Address")
    assert address.locator("td.ja-old").inner_text() == old_address
    assert address.locator("td.ja-new").inner_text() == new_address
    assert frame.locator("tr.ja-change").count() == change.count()  # nothing else changed
    page.screenshot(path=str(DOCS / "ui-jira-assets-diff.png"))

    # The object: its two versions, the newer one current.
    change.first.get_by_role("link").click()
    versions = frame.locator("#versions tr.ja-version")
    versions.nth(1).wait_for()
    assert versions.count() == 2
    current = frame.locator("td:nth-child(2)", has_text=re.compile(r"^now$"))
    assert new_address in versions.filter(has=current).inner_text()
    assert old_address in versions.filter(has_not=current).inner_text()
    page.screenshot(path=str(DOCS / "ui-jira-assets-object.png"))

    # Restore this version… (the one before the edit): a rollback of this object, from the snapshot that
    # held it, always a dry run. The form shows the parameters; the button triggers the run.
    before = {run["dag_run_id"] for run in api.call("GET", f"dags/{RESTORE_DAG_ID}/dagRuns")["dag_runs"]}
    versions.filter(has_not=current).locator(".ja-restore-version").click()
    frame.locator("#trigger").wait_for()
    page.screenshot(path=str(DOCS / "ui-jira-assets-restore.png"))
    frame.locator("#trigger").click()
    outcome = frame.locator("#outcome")
    outcome.get_by_role("link", name="its plan").wait_for()
    assert outcome.inner_text().startswith("started"), outcome.inner_text()
    runs = api.call("GET", f"dags/{RESTORE_DAG_ID}/dagRuns")["dag_runs"]
    (run_id,) = [run["dag_run_id"] for run in runs if run["dag_run_id"] not in before]
    conf = api.call("GET", f"dags/{RESTORE_DAG_ID}/dagRuns/{run_id}")["conf"]
    assert (conf["mode"], conf["object_keys"], conf["dry_run"]) == ("rollback", [office], True)
    assert conf["snapshot"] != newest_id  # the snapshot that held the version before the edit
    assert api.wait_for_run(RESTORE_DAG_ID, run_id, timeout=120) == "success"
    # The run's stored plan, linked back from the page: the one object would get its Address back.
    outcome.get_by_role("link", name="its plan").click()
    rollback = frame.locator("#rollback")
    rollback.wait_for()
    assert "Office: 1 object gets attributes back (Address x1)" in rollback.inner_text()
    assert "dry run: nothing was written" in rollback.inner_text()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(DOCS / "ui-jira-assets-plan.png"))
    print(f"Jira Assets page walkthrough: {time.monotonic() - started:.1f} s")


def _sandbox_client(standalone: RunningStandalone) -> AssetsClient:
    """Return a client of the standalone's sandbox, from the lines it printed."""
    url = next(m["url"] for line in standalone.output if (m := SANDBOX_URL.match(line)))
    auth = next(m for line in standalone.output if (m := SANDBOX_AUTH.match(line)))
    # The sandbox serves the Assets API on its own host, where Cloud has api.atlassian.com.
    api_base_url = f"{url}/jsm/assets/workspace/{{workspaceId}}/v1"
    return AssetsClient(site_url=url, email=auth["email"], api_token=auth["token"], api_base_url=api_base_url)


def _move_an_office(site: AssetsClient) -> tuple[str, str, str]:
    """Give one Office of LOC a new Address on the site; return its key, the old and the new address."""
    schema_id = str(site.object_schema_by_key("LOC")["id"])
    office_type = next(t for t in site.get_object_types(schema_id) if t["name"] == "Office")
    attribute = next(
        a for a in site.get_object_type_attributes(str(office_type["id"])) if a["name"] == "Address"
    )
    office = min(site.iter_objects(f"objectTypeId = {office_type['id']}"), key=lambda o: int(o["id"]))
    old = next(
        (value["value"] for entry in office.get("attributes", []) for value in entry["objectAttributeValues"]
         if str(entry["objectTypeAttributeId"]) == str(attribute["id"])),
        "",
    )  # fmt: skip
    new = f"{old} (moved in the UI test)" if old else "1 Moved Street"
    values = [{"value": new}]
    site.update_object(
        str(office["id"]),
        {"attributes": [{"objectTypeAttributeId": attribute["id"], "objectAttributeValues": values}]},
    )
    return str(office["objectKey"]), old, new

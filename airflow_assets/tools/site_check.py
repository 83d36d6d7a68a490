"""``airflow-assets check``: a read-only probe of a real site and of the contract's assumptions.

The probe walks what a backup does, one call each: authentication (``myself``), the Assets workspace, the
schema list, one AQL page, one object's history and its comments, all through the package's client. A few
extra plain reads with the same credentials look at the raw answers (the client normalises ``isLast``
and hides headers): the forms the contract marks UNCONFIRMED, and the rate-limit headers the site sends.
Nothing is written. Exit codes: 0 passed, 1 the site could not be reached or refused the credentials,
2 bad usage (the connection is missing, unreadable or not a ``jira_assets`` one), 3 a read failed or an
assumption was contradicted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from airflow_assets.tools import EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE

COMMAND = "airflow-assets check"
CONFIRMED = "confirmed"
CONTRADICTED = "contradicted"
NOT_SEEN = "not seen"
# Objects asked for in the AQL page: enough to find one with history, small enough to stay cheap.
AQL_PAGE_SIZE = 25
# Header names (lower case) that carry rate-limit state on Atlassian's cloud, when it sends any.
RATE_LIMIT_HEADER_PREFIXES = ("x-ratelimit-", "ratelimit-", "x-beta-ratelimit-")
RATE_LIMIT_HEADER_NAMES = ("retry-after", "beta-retry-after")
RAW_TIMEOUT = (10.0, 60.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--conn-id`` and ``--json``."""
    parser.add_argument(
        "--conn-id", default="jira_assets_default", help="the jira_assets connection (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


@dataclass(frozen=True)
class Step:
    """One read of the probe: what was asked and what came back."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Finding:
    """What the site showed about one assumption of the contract.

    :param assumption: the assumption, as the contract states it.
    :param verdict: ``confirmed``, ``contradicted`` or ``not seen`` (nothing on this site to check it with).
    :param observed: what the answers held.
    """

    assumption: str
    verdict: str
    observed: str


@dataclass
class Report:
    """Everything the probe found; :attr:`exit_code` turns it into the command's answer."""

    conn_id: str
    site: str = ""
    steps: list[Step] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    unreachable: bool = False
    misconfigured: bool = False

    @property
    def problems(self) -> list[str]:
        """Return the failed reads and contradicted assumptions, one line each."""
        failed = [f"{step.name}: {step.detail}" for step in self.steps if not step.ok]
        contradicted = [
            f"{finding.assumption}: {finding.observed}"
            for finding in self.findings
            if finding.verdict == CONTRADICTED
        ]
        return failed + contradicted

    @property
    def exit_code(self) -> int:
        """Return 2 for an unusable connection, 1 when the site could not be reached, 3 on any problem."""
        if self.misconfigured:
            return EXIT_USAGE
        if self.unreachable:
            return EXIT_FAILURE
        return EXIT_PROBLEMS if self.problems else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON data."""
        return {
            "conn_id": self.conn_id,
            "site": self.site,
            "passed": self.exit_code == EXIT_OK,
            "exit_code": self.exit_code,
            "error": self.error,
            "steps": [asdict(step) for step in self.steps],
            "assumptions": [asdict(finding) for finding in self.findings],
            "rate_limit_headers": self.rate_limit_headers,
            "problems": self.problems,
        }


class _ConnectionMissing(Exception):
    """The connection id names no connection."""


def run(args: argparse.Namespace) -> int:
    """Probe the site of ``--conn-id``; print the report; return its exit code."""
    try:
        report = probe(args.conn_id)
    except _ConnectionMissing:
        from airflow_assets.tools.connections import not_defined

        print(f"{COMMAND}: {not_defined(args.conn_id)}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif not (report.unreachable or report.misconfigured):
        print(render(report))
    if report.error:
        from airflow_assets.tools.connections import about_connection

        print(f"{COMMAND}: {about_connection(args.conn_id, report.error)}", file=sys.stderr)
    return report.exit_code


def probe(conn_id: str) -> Report:
    """Run the probe against the site of a ``jira_assets`` connection.

    :param conn_id: the Airflow connection id.
    :raise _ConnectionMissing: when no connection has that id.
    """
    from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

    from airflow_assets.api import RetryPolicy
    from airflow_assets.exceptions import AssetsConfigError, JiraAssetsError
    from airflow_assets.hooks import JiraAssetsHook

    report = Report(conn_id)
    # Someone is waiting at the terminal: retry briefly, not with a backup's patience.
    retry = RetryPolicy(max_attempts=3, initial_wait=1.0, max_wait=5.0, max_retry_after=10.0)
    hook = JiraAssetsHook(conn_id, retry=retry)
    token = ""
    try:
        token = hook.get_connection(conn_id).password or ""
        client = hook.get_client()
    except AirflowNotFoundException as error:
        raise _ConnectionMissing(conn_id) from error
    except (AirflowException, AssetsConfigError) as error:
        # A connection that cannot be read, is incomplete (no host) or of another type: fix it first.
        report.error = _first_line(error, token)
        report.misconfigured = True
        return report
    except JiraAssetsError as error:
        report.error = _first_line(error, token)
        report.unreachable = True
        return report
    report.site = client.site_url
    with client:
        try:
            _probe_access(client, report)
        except JiraAssetsError as error:
            report.error = f"the site could not be used: {_first_line(error, token)}"
            report.unreachable = True
            return report
        raw = _RawReader(client.api_base_url, client.email, token)
        try:
            _probe_data(client, raw, report, token)
        finally:
            raw.close()
    report.rate_limit_headers = raw.rate_limit_headers
    report.findings.append(rate_limit_finding(raw.rate_limit_headers))
    return report


def _probe_access(client: Any, report: Report) -> None:
    """Read who the credentials belong to and the workspace; raise when either fails."""
    me = client.myself()
    who = str(me.get("displayName") or me.get("accountId") or client.email)
    report.steps.append(Step("authentication", True, f"as {who} ({client.email})"))
    report.steps.append(Step("workspace", True, f"{client.workspace_id} at {client.api_base_url}"))


def _probe_data(client: Any, raw: _RawReader, report: Report, token: str) -> None:
    """Read the schemas, one AQL page, one object's history and comments, and check the raw answers."""
    from airflow_assets.exceptions import AssetsNotFoundError, JiraAssetsError

    try:
        schemas = list(client.iter_object_schemas(include_counts=True))
    except JiraAssetsError as error:
        report.steps.append(Step("schemas", False, _first_line(error, token)))
        return
    keys = ", ".join(str(schema.get("objectSchemaKey")) for schema in schemas) or "none"
    report.steps.append(Step("schemas", True, f"{len(schemas)} visible: {keys}"))
    report.findings.append(ids_are_strings(schemas, "objectschema/list"))
    report.findings.append(global_ids(schemas, client.workspace_id))
    raw_schemas = raw.get("objectschema/list", {"startAt": 0, "maxResults": 1})
    if raw_schemas is not None:
        report.findings.append(is_last_form("objectschema/list", raw_schemas))
    if not schemas:
        report.findings.append(Finding("the site has data to check the rest with", NOT_SEEN, "no schemas"))
        return
    # The schema with the most objects: the likeliest to hold history, comments and child types.
    schema = max(schemas, key=lambda item: _number(item.get("objectCount")))
    schema_id, schema_key = str(schema["id"]), str(schema.get("objectSchemaKey"))
    query = f"objectSchemaId = {schema_id}"
    try:
        page = client.aql_page(query, max_results=AQL_PAGE_SIZE)
    except JiraAssetsError as error:
        report.steps.append(Step("AQL page", False, f"{query}: {_first_line(error, token)}"))
        return
    report.steps.append(
        Step(
            "AQL page", True, f"{query} ({schema_key}): {len(page.values)} objects, last page {page.is_last}"
        )
    )
    raw_page = raw.post(
        "object/aql",
        {"startAt": 0, "maxResults": AQL_PAGE_SIZE, "includeAttributes": "true"},
        {"qlQuery": query},
    )
    if raw_page is not None:
        report.findings.append(is_last_form("object/aql", raw_page))
        report.findings.append(max_results_echo(raw_page, AQL_PAGE_SIZE))
        report.findings.append(aql_attribute_definitions(raw_page))
        report.findings.append(object_keys(raw_page.get("values") or [], schema_key))
    raw_types = raw.get(f"objectschema/{schema_id}/objecttypes/flat", {})
    if isinstance(raw_types, list):
        report.findings.append(parent_object_type_ids(raw_types))
    report.findings.append(status_types_include_globals(client, schema_id))
    if not page.values:
        report.findings.append(Finding("history values are display strings", NOT_SEEN, "no objects"))
        return
    # The most recently updated object: the likeliest to have changed values in its history.
    obj = max(page.values, key=lambda value: str(value.get("updated") or ""))
    object_id, object_key = str(obj["id"]), str(obj.get("objectKey") or obj["id"])
    try:
        history = client.get_object_history(object_id)
        report.steps.append(Step("history", True, f"object {object_key}: {len(history)} entries"))
        report.findings.append(history_values(history))
    except JiraAssetsError as error:
        report.steps.append(Step("history", False, f"object {object_key}: {_first_line(error, token)}"))
    comments_assumption = "GET comment/object/{id} answers on Cloud (not in the Cloud spec)"
    try:
        comments = client.get_object_comments(object_id)
    except AssetsNotFoundError as error:
        report.findings.append(Finding(comments_assumption, CONTRADICTED, _first_line(error, token)))
        return
    except JiraAssetsError as error:
        report.steps.append(Step("comments", False, f"object {object_key}: {_first_line(error, token)}"))
        return
    report.steps.append(Step("comments", True, f"object {object_key}: {len(comments)} comments"))
    report.findings.append(Finding(comments_assumption, CONFIRMED, f"a list of {len(comments)} comments"))


# -- the assumptions, each checked on answers as the site sent them ------------------------------------


def is_last_form(endpoint: str, page: Mapping[str, Any]) -> Finding:
    """Check that a page's ``isLast`` is a boolean or the string "true"/"false" (both are read)."""
    assumption = f"{endpoint}: isLast is a boolean or the string 'true'/'false'"
    if "isLast" not in page:
        return Finding(assumption, CONTRADICTED, f"no isLast; keys: {', '.join(sorted(page))}")
    value = page["isLast"]
    if isinstance(value, bool):
        return Finding(assumption, CONFIRMED, f"a JSON boolean ({json.dumps(value)})")
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return Finding(assumption, CONFIRMED, f"a string ({value!r})")
    return Finding(assumption, CONTRADICTED, f"{type(value).__name__} {value!r}")


def max_results_echo(page: Mapping[str, Any], asked: int) -> Finding:
    """Check that a page echoes the ``maxResults`` the server used (it may cap what was asked)."""
    assumption = "object/aql echoes the maxResults it used"
    value = page.get("maxResults")
    if value is None:
        return Finding(assumption, CONTRADICTED, "no maxResults in the page")
    count = len(page.get("values") or [])
    if _number(value, default=-1) < 0:
        return Finding(assumption, CONTRADICTED, f"maxResults {value!r} is not a number")
    return Finding(assumption, CONFIRMED, f"asked {asked}, echoed {value!r}, {count} values")


def aql_attribute_definitions(page: Mapping[str, Any]) -> Finding:
    """Check that AQL values carry only attribute ids; definitions come once in ``objectTypeAttributes``."""
    assumption = "object/aql: definitions come once in objectTypeAttributes, values carry only their id"
    values = page.get("values") or []
    if not values:
        return Finding(assumption, NOT_SEEN, "no objects in the page")
    if not isinstance(page.get("objectTypeAttributes"), list):
        return Finding(assumption, CONTRADICTED, "no objectTypeAttributes list in the page")
    attributes = [attribute for value in values for attribute in value.get("attributes") or []]
    embedded = sum(1 for attribute in attributes if "objectTypeAttribute" in attribute)
    if embedded:
        return Finding(
            assumption, CONTRADICTED, f"{embedded} of {len(attributes)} values embed their definition"
        )
    definitions = len(page["objectTypeAttributes"])
    return Finding(assumption, CONFIRMED, f"{definitions} definitions, {len(attributes)} values by id")


def ids_are_strings(items: Sequence[Mapping[str, Any]], endpoint: str) -> Finding:
    """Check that every ``id`` is a JSON string."""
    assumption = f"{endpoint}: every id is a JSON string"
    if not items:
        return Finding(assumption, NOT_SEEN, "no items")
    others = sorted({type(item.get("id")).__name__ for item in items if not isinstance(item.get("id"), str)})
    if others:
        return Finding(assumption, CONTRADICTED, f"ids of type {', '.join(others)}")
    return Finding(assumption, CONFIRMED, f"{len(items)} string ids")


def global_ids(schemas: Sequence[Mapping[str, Any]], workspace_id: str) -> Finding:
    """Check that ``globalId`` is ``<workspaceId>:<id>``."""
    assumption = "globalId is '<workspaceId>:<id>'"
    present = [schema for schema in schemas if "globalId" in schema]
    if not present:
        return Finding(assumption, NOT_SEEN, "no globalId on the schemas")
    wrong = [str(s["globalId"]) for s in present if str(s["globalId"]) != f"{workspace_id}:{s.get('id')}"]
    if wrong:
        return Finding(assumption, CONTRADICTED, f"e.g. {wrong[0]!r}")
    return Finding(assumption, CONFIRMED, f"{len(present)} schemas")


def object_keys(objects: Sequence[Mapping[str, Any]], schema_key: str) -> Finding:
    """Check that ``objectKey`` is ``<SCHEMAKEY>-<objectId>``."""
    assumption = "objectKey is '<SCHEMAKEY>-<objectId>'"
    if not objects:
        return Finding(assumption, NOT_SEEN, "no objects")
    wrong = [
        str(o.get("objectKey")) for o in objects if str(o.get("objectKey")) != f"{schema_key}-{o.get('id')}"
    ]
    if wrong:
        return Finding(assumption, CONTRADICTED, f"{len(wrong)} of {len(objects)}, e.g. {wrong[0]!r}")
    return Finding(assumption, CONFIRMED, f"{len(objects)} objects")


def parent_object_type_ids(object_types: Sequence[Mapping[str, Any]]) -> Finding:
    """Check that ``parentObjectTypeId`` is a string, absent on root types (the spec says a number)."""
    assumption = "parentObjectTypeId is a string, absent on root types"
    if not object_types:
        return Finding(assumption, NOT_SEEN, "no object types")
    parents = [t["parentObjectTypeId"] for t in object_types if t.get("parentObjectTypeId") is not None]
    nulls = sum(1 for t in object_types if "parentObjectTypeId" in t and t["parentObjectTypeId"] is None)
    roots = len(object_types) - len(parents)
    forms = sorted({type(parent).__name__ for parent in parents})
    observed = f"{len(parents)} child types ({', '.join(forms) or 'none'}), {roots} roots"
    if nulls:
        observed += f" ({nulls} with null)"
    if not parents:
        return Finding(assumption, NOT_SEEN, observed)
    if forms != ["str"]:
        return Finding(assumption, CONTRADICTED, observed)
    return Finding(assumption, CONFIRMED, observed)


def history_values(entries: Sequence[Mapping[str, Any]]) -> Finding:
    """Check that history ``oldValue``/``newValue`` are display strings when present."""
    assumption = "history oldValue/newValue are display strings"
    values = [
        entry[name] for entry in entries for name in ("oldValue", "newValue") if entry.get(name) is not None
    ]
    if not values:
        return Finding(assumption, NOT_SEEN, f"{len(entries)} entries, none with a value")
    others = sorted({type(value).__name__ for value in values if not isinstance(value, str)})
    codes = sorted({str(entry.get("type")) for entry in entries})
    if others:
        return Finding(assumption, CONTRADICTED, f"values of type {', '.join(others)}")
    return Finding(assumption, CONFIRMED, f"{len(values)} string values; type codes {', '.join(codes)}")


def status_types_include_globals(client: Any, schema_id: str) -> Finding:
    """Check that ``config/statustype?objectSchemaId=X`` lists the global status types too."""
    from airflow_assets.exceptions import JiraAssetsError

    assumption = "config/statustype?objectSchemaId=X lists the global status types too"
    try:
        global_ids_ = {str(status.get("id")) for status in client.get_status_types()}
        scoped = {str(status.get("id")) for status in client.get_status_types(object_schema_id=schema_id)}
    except JiraAssetsError as error:
        return Finding(assumption, NOT_SEEN, f"could not read the status types: {_first_line(error, '')}")
    if not global_ids_:
        return Finding(assumption, NOT_SEEN, "no global status types")
    missing = global_ids_ - scoped
    observed = f"{len(global_ids_)} global, {len(scoped)} listed for schema {schema_id}"
    if missing:
        return Finding(assumption, CONTRADICTED, f"{observed}; globals missing: {', '.join(sorted(missing))}")
    return Finding(assumption, CONFIRMED, observed)


def rate_limit_finding(headers: Mapping[str, str]) -> Finding:
    """Report the rate-limit headers seen and check the formats the contract expects of them."""
    assumption = "rate-limit headers are optional; Retry-After in seconds, X-RateLimit-Reset ISO 8601"
    if not headers:
        return Finding(
            assumption, NOT_SEEN, "no rate-limit header on any answer (Assets does not promise any)"
        )
    seen = ", ".join(sorted(headers))
    retry_after = headers.get("retry-after")
    if retry_after is not None and not retry_after.strip().isdigit():
        return Finding(
            assumption, CONTRADICTED, f"Retry-After {retry_after!r} is not whole seconds; seen: {seen}"
        )
    reset = headers.get("x-ratelimit-reset")
    if reset is not None and not _is_iso_datetime(reset):
        return Finding(assumption, CONTRADICTED, f"X-RateLimit-Reset {reset!r} is not ISO 8601; seen: {seen}")
    return Finding(assumption, CONFIRMED, f"seen: {seen}")


# -- output --------------------------------------------------------------------------------------------


def render(report: Report) -> str:
    """Return the report as text for a terminal."""
    lines = [f"{COMMAND}: connection {report.conn_id!r} -> {report.site or '?'}"]
    width = max([len(step.name) for step in report.steps] + [8])
    for step in report.steps:
        lines.append(f"  {'ok' if step.ok else 'FAILED':<6}  {step.name:<{width}}  {step.detail}")
    if report.findings:
        lines.append("contract assumptions:")
        for finding in report.findings:
            lines.append(f"  {finding.verdict:<12}  {finding.assumption}")
            lines.append(f"  {'':<12}    {finding.observed}")
    if report.rate_limit_headers:
        shown = ", ".join(f"{name}: {value}" for name, value in sorted(report.rate_limit_headers.items()))
        lines.append(f"rate-limit headers seen: {shown}")
    if report.unreachable:
        lines.append(f"result: FAILED - {report.error}")
    elif report.problems:
        lines.append(f"result: {len(report.problems)} problem(s):")
        lines.extend(f"  - {problem}" for problem in report.problems)
    else:
        unseen = sum(1 for finding in report.findings if finding.verdict == NOT_SEEN)
        confirmed = sum(1 for finding in report.findings if finding.verdict == CONFIRMED)
        lines.append(f"result: probe passed; {confirmed} assumptions confirmed, {unseen} not seen")
    return "\n".join(lines)


# -- raw reads -----------------------------------------------------------------------------------------


class _RawReader:
    """Plain reads of the Assets API with the connection's credentials, keeping the answers' raw form.

    Failures are not retried and do not stop the probe: the client's reads already proved access.
    """

    def __init__(self, api_base_url: str, email: str, token: str) -> None:
        import requests

        self._base = api_base_url.rstrip("/")
        self._session = requests.Session()
        self._session.auth = (email, token)
        self._session.headers["Accept"] = "application/json"
        self.rate_limit_headers: dict[str, str] = {}

    def close(self) -> None:
        self._session.close()

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        return self._send("GET", path, params, None)

    def post(self, path: str, params: Mapping[str, Any], body: Mapping[str, Any]) -> Any:
        return self._send("POST", path, params, body)

    def _send(self, method: str, path: str, params: Mapping[str, Any], body: Mapping[str, Any] | None) -> Any:
        import requests

        try:
            response = self._session.request(
                method, f"{self._base}/{path}", params=dict(params), json=body, timeout=RAW_TIMEOUT
            )
        except requests.RequestException:
            return None
        self.rate_limit_headers.update(rate_limit_headers(response.headers.items()))
        if response.status_code >= 300:
            return None
        try:
            return response.json()
        except ValueError:
            return None


def rate_limit_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return the rate-limit headers among ``headers``, names in lower case."""
    return {
        name.lower(): value
        for name, value in headers
        if name.lower() in RATE_LIMIT_HEADER_NAMES or name.lower().startswith(RATE_LIMIT_HEADER_PREFIXES)
    }


def _is_iso_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _number(value: Any, *, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _first_line(error: BaseException, secret: str) -> str:
    """Return the first line of an error's message, with the token masked should it appear."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line.replace(secret, "***") if secret else line

"""The FastAPI app of the "Jira Assets" page: check the caller, call one query, render one template.

Mounted by the plugin under ``/jira-assets`` of Airflow's API server. Every route depends on
:func:`airflow_assets.ui.access.caller` (Airflow's own ``get_user``) and filters by :class:`Access`; a
snapshot the caller may not read answers 404 like one that does not exist, so ids cannot be probed.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, and `Grant` is local.
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pymongo.database import Database
from pymongo.errors import PyMongoError

from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.tools.snapshot_reading import mongo_problem
from airflow_assets.ui import charts, queries
from airflow_assets.ui.access import Access, caller, refuse
from airflow_assets.ui.catalog import Catalog, load_catalog

log = logging.getLogger(__name__)
# The restore params the page fills in (queries.restore_conf); the rest are the trigger form's to change.
RESTORE_FIELDS = frozenset(
    {"snapshot", "schema_mappings", "mode", "source_site", "object_types", "object_keys", "dry_run"}
)
URL_PREFIX = "/jira-assets"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# The configuration is re-read at most this often (seconds): a changed file shows within a minute.
CATALOG_TTL = 60.0
# Someone waits at the page: an unreachable MongoDB is reported after seconds, not pymongo's 30.
SERVER_SELECTION_TIMEOUT_MS = 3000

DatabaseOpener = Callable[[Catalog], AbstractContextManager[Database]]


@contextmanager
def _open_backup_database(catalog: Catalog) -> Iterator[Database]:
    from airflow_assets.hooks.backup_store import backup_database
    from airflow_assets.hooks.encryption_key import ENCRYPTION_KEY_CONN_ID
    from airflow_assets.ui.connections import server_connections

    with (
        server_connections(catalog.mongo_conn_id, ENCRYPTION_KEY_CONN_ID),
        backup_database(
            catalog.mongo_conn_id,
            catalog.mongo_database,
            server_selection_timeout_ms=SERVER_SELECTION_TIMEOUT_MS,
        ) as db,
    ):
        yield db


class _CachedCatalog:
    def __init__(self, load: Callable[[], Catalog]) -> None:
        self._load = load
        self._value: Catalog | None = None
        self._read_at = 0.0

    def __call__(self) -> Catalog:
        if self._value is None or time.monotonic() - self._read_at > CATALOG_TTL:
            self._value, self._read_at = self._load(), time.monotonic()
        return self._value


def create_app(
    *,
    catalog: Callable[[], Catalog] | None = None,
    open_database: DatabaseOpener = _open_backup_database,
) -> FastAPI:
    """Return the page's app.

    :param catalog: returns the configured schemas (default: the backup configuration, re-read each minute).
    :param open_database: opens the backup store for one request (default: the config's mongo connection,
        with the encryption key connection when there is one).
    """
    app = FastAPI(title="Jira Assets", docs_url=None, redoc_url=None, openapi_url=None)
    current_catalog = catalog or _CachedCatalog(load_catalog)

    @app.exception_handler(JiraAssetsError)
    @app.exception_handler(PyMongoError)
    def store_problem(request: Request, error: Exception) -> HTMLResponse:
        # The message names the problem (a missing key, a damaged version), never the connection's URI:
        # pymongo's own text, which names hosts, goes to the API server's log only.
        log.warning("Jira Assets page: %s: %s", request.url.path, mongo_problem(error))
        shown = str(error) if isinstance(error, JiraAssetsError) else "the backup store cannot be reached"
        return HTMLResponse(
            f"<h1>Jira Assets</h1><p>{escape(shown)}</p>", status_code=status.HTTP_503_SERVICE_UNAVAILABLE
        )

    def access(user: Annotated[Any, Depends(caller)]) -> Access:
        return Access(user, current_catalog())

    Grant = Annotated[Access, Depends(access)]

    @contextmanager
    def store(grant: Access) -> Iterator[Database]:
        if grant.catalog.problems:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "the backup configuration cannot be read: " + "; ".join(grant.catalog.problems),
            )
        from airflow.exceptions import AirflowConfigException
        from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

        from airflow_assets.tools.connections import connection_problem, not_defined

        conn_id = grant.catalog.mongo_conn_id
        try:
            with open_database(grant.catalog) as db:
                yield db
        except AirflowNotFoundException:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, not_defined(conn_id)) from None
        except (AirflowException, AirflowConfigException) as error:
            message = connection_problem(conn_id, error)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, message) from None

    def page(request: Request, template: str, grant: Access, **values: Any) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return TEMPLATES.TemplateResponse(
            request,
            template,
            {
                "base": root,
                "airflow": root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else "",
                "may_restore": grant.may_restore(),
                "restore_dag": grant.catalog.restore_dag_id,
                "when": _when,
                "short": _short,
                "quote": lambda text: quote(str(text), safe=""),
                **values,
            },
        )

    @app.get("/", response_class=HTMLResponse)
    def overview_page(request: Request, grant: Grant) -> HTMLResponse:
        configured = [(w.site, w.schema_key) for w in grant.catalog.schemas] + [
            (site.site, "*") for site in grant.catalog.sites
        ]
        if configured and not any(grant.may_read(*pair) for pair in configured):
            raise refuse("you may read none of the backup DAGs")
        with store(grant) as db:
            view = queries.overview(db, grant.catalog, grant.may_read)
        drawn = {
            (summary.site, summary.schema_key): charts.line_chart(
                summary.points,
                title=f"{summary.site}/{summary.schema_key}: objects per snapshot",
                y_unit="objects",
            )
            for summary in view.schemas
        }
        return page(request, "overview.html", grant, view=view, charts=drawn)

    @app.get("/schemas/{site}/{schema_key}", response_class=HTMLResponse)
    def schema_page(
        request: Request,
        site: str,
        schema_key: str,
        grant: Grant,
        since: str | None = None,
        until: str | None = None,
        everything: bool = False,
        page_number: int = 1,
    ) -> HTMLResponse:
        if not grant.may_read(site, schema_key):
            raise refuse(f"you may not read the DAG {grant.catalog.dag_for(site, schema_key)}")
        start, end = _date(since, "since"), _date(until, "until", end_of_day=True)
        recent = start is None and end is None and not everything
        if recent:
            # Without a filter, the last weeks: a schema of a thousand snapshots stays one quick page.
            start = datetime.now(UTC) - timedelta(days=queries.DEFAULT_DAYS)
        with store(grant) as db:
            view = queries.schema_view(
                db, grant.catalog, site, schema_key, since=start, until=end, page=page_number
            )
        chart = charts.bar_chart(
            view.changes_per_day, title=f"{site}/{schema_key}: object changes per day", y_unit="changes"
        )
        return page(
            request, "schema.html", grant, view=view, chart=chart, since=since or "", until=until or "",
            recent_days=queries.DEFAULT_DAYS if recent else None, everything=everything,
        )  # fmt: skip

    @app.get("/snapshots/{snapshot_id}", response_class=HTMLResponse)
    def snapshot_page(request: Request, snapshot_id: str, grant: Grant) -> HTMLResponse:
        with store(grant) as db:
            snapshot = _visible(db, snapshot_id, grant)
            report = queries.snapshot_view(db, snapshot)
            previous = queries.SnapshotReader(db).previous_complete(snapshot) if report["readable"] else None
        restore = _restore_link(request, grant, queries.restore_conf(snapshot))
        return page(
            request, "snapshot.html", grant, report=report, snapshot=snapshot, previous=previous,
            restore=restore, type_restore=lambda name: _restore_link(
                request, grant, queries.restore_conf(snapshot, object_types=[name])
            ),
        )  # fmt: skip

    @app.get("/diff/{old_id}/{new_id}", response_class=HTMLResponse)
    def diff_page(
        request: Request,
        old_id: str,
        new_id: str,
        grant: Grant,
        page_number: int = 1,
        type_id: str | None = None,
    ) -> HTMLResponse:
        with store(grant) as db:
            old, new = _visible(db, old_id, grant), _visible(db, new_id, grant)
            try:
                diff = queries.diff_page(db, old, new, page=page_number, type_id=type_id)
            except ValueError as error:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        return page(request, "diff.html", grant, diff=diff, type_id=type_id)

    @app.get("/objects/{snapshot_id}/{object_id}", response_class=HTMLResponse)
    def object_page(request: Request, snapshot_id: str, object_id: str, grant: Grant) -> HTMLResponse:
        with store(grant) as db:
            snapshot = _visible(db, snapshot_id, grant)
            try:
                view = queries.object_view(db, snapshot, object_id)
            except queries.NotVisible as error:
                raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        conf = queries.restore_conf(snapshot, object_keys=[view.key]) if view.key else None
        restore = _restore_link(request, grant, conf) if conf else None

        def version_restore(snapshot_id: str) -> str | None:
            """Restore… this object as one of its versions: from the first snapshot that held it."""
            return _restore_link(request, grant, {**conf, "snapshot": snapshot_id}) if conf else None

        return page(
            request, "object.html", grant, view=view, restore=restore, version_restore=version_restore
        )

    @app.get("/restore", response_class=HTMLResponse)
    def restore_form(request: Request, conf: str, grant: Grant) -> HTMLResponse:
        if not grant.may_restore():
            raise refuse(f"you may not trigger the DAG {grant.catalog.restore_dag_id}")
        params = _restore_params(conf)
        with store(grant) as db:
            _visible(db, str(params["snapshot"]), grant)
        return page(request, "restore.html", grant, params=params, conf_json=json.dumps(params, indent=2))

    @app.get("/restores/{restore_id}", response_class=HTMLResponse)
    def restore_page(request: Request, restore_id: str, grant: Grant) -> HTMLResponse:
        if not grant.may_read_dag(grant.catalog.restore_dag_id):
            raise refuse(f"you may not read the DAG {grant.catalog.restore_dag_id}")
        with store(grant) as db:
            summary = queries.restore_summary(db, restore_id)
        request_params = (summary or {}).get("request") or {}
        site = request_params.get("source_site")
        for mapping in request_params.get("schema_mappings") or []:
            if not grant.may_read(site, str(mapping.get("old_key"))):
                summary = None
        return page(request, "restore_run.html", grant, summary=summary, restore_id=restore_id)

    @app.get("/dag/{dag_id}")
    def from_dag(request: Request, dag_id: str, grant: Grant) -> Response:
        """Open the schema a backup DAG backs up (the DAG page's "Jira Assets" tab)."""
        if not grant.may_read_dag(dag_id):
            raise refuse(f"you may not read the DAG {dag_id}")
        root = request.scope.get("root_path", "")
        for watch in grant.catalog.schemas:
            if grant.catalog.dag_for(watch.site, watch.schema_key) == dag_id:
                return RedirectResponse(f"{root}/schemas/{quote(watch.site)}/{quote(watch.schema_key)}")
        return RedirectResponse(f"{root}/")

    @app.get("/run/{dag_id}/{run_id}")
    def from_run(request: Request, dag_id: str, run_id: str, grant: Grant) -> Response:
        """Open the snapshot a backup run took (the run page's "Jira Assets" tab)."""
        if not grant.may_read_dag(dag_id):
            raise refuse(f"you may not read the DAG {dag_id}")
        from airflow_assets.store.snapshots import SnapshotStore

        root = request.scope.get("root_path", "")
        if dag_id == grant.catalog.restore_dag_id:
            # A restore run's page: its plan (a rollback's own snapshot is linked from the plan's schema).
            return RedirectResponse(f"{root}/restores/{quote(f'{dag_id}:{run_id}', safe='')}")
        with store(grant) as db:
            snapshot = SnapshotStore(db).find_for_run(dag_id, run_id)
        if snapshot is not None and grant.may_read(snapshot.site, snapshot.schema_key):
            return RedirectResponse(f"{root}/snapshots/{quote(snapshot.snapshot_id, safe='')}")
        return RedirectResponse(f"{root}/dag/{quote(dag_id, safe='')}")

    return app


def _visible(db: Database, snapshot_id: str, grant: Access) -> Any:
    try:
        return queries.find_snapshot(db, snapshot_id, grant.may_read)
    except queries.NotVisible as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except queries.NotAllowed as error:
        raise refuse(str(error)) from None


def _restore_link(request: Request, grant: Access, conf: dict[str, Any]) -> str | None:
    """Return the prefilled restore form's address, or None when the caller may not trigger a restore."""
    if not grant.may_restore():
        return None
    root = request.scope.get("root_path", "")
    return f"{root}/restore?" + urlencode({"conf": json.dumps(conf, separators=(",", ":"))})


def _restore_params(text: str) -> dict[str, Any]:
    try:
        params = json.loads(text)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "conf is not JSON") from None
    if not isinstance(params, dict) or not isinstance(params.get("snapshot"), str):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "conf names no snapshot")
    unknown = sorted(set(params) - RESTORE_FIELDS)
    if unknown:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"conf: the page fills in only {', '.join(sorted(RESTORE_FIELDS))}, "
            f"not {', '.join(unknown)[:200]}",
        )
    # The page only ever starts a dry run: the plan is read first, the real restore is a second decision.
    params["dry_run"] = True
    return params


def _date(text: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"{name}: {text[:40]!r} is not a date like 2026-12-01"
        ) from None
    if end_of_day and len(text) <= 10:
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)[:16].replace("T", " ")


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else ("" if value is None else json.dumps(value, default=str))
    return text if len(text) <= limit else text[: limit - 1] + "…"

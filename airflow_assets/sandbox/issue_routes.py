"""The Jira issue routes of the sandbox: fields, one issue (read and edit) and JQL search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from airflow_assets.sandbox.model import SandboxError, Site
from airflow_assets.sandbox.site_issues import SEARCH_DEFAULT_PAGE

__all__ = ["add_issue_routes"]


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _string_list(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SandboxError(400, [f"'{name}' must be an array of strings."], {})
    return value


def add_issue_routes(app: FastAPI, site: Site) -> None:
    """Serve ``/rest/api/3/field``, ``/rest/api/3/issue/{issueIdOrKey}`` and ``/rest/api/3/search/jql``."""

    @app.get("/rest/api/3/field")
    def fields() -> JSONResponse:
        return JSONResponse(site.jira_fields())

    @app.get("/rest/api/3/issue/{issue_id_or_key}")
    def get_issue(
        request: Request, issue_id_or_key: str, fields: Annotated[list[str] | None, Query()] = None
    ) -> JSONResponse:
        return JSONResponse(site.get_issue(issue_id_or_key, fields=fields, base_url=_base_url(request)))

    @app.put("/rest/api/3/issue/{issue_id_or_key}")
    def update_issue(
        request: Request,
        issue_id_or_key: str,
        body: Annotated[Any, Body()],
        return_issue: Annotated[bool, Query(alias="returnIssue")] = False,
    ) -> Response:
        site.update_issue(issue_id_or_key, body)
        if return_issue:
            return JSONResponse(site.get_issue(issue_id_or_key, base_url=_base_url(request)))
        return Response(status_code=204)

    @app.get("/rest/api/3/search/jql")
    def search_get(
        request: Request,
        jql: str | None = None,
        max_results: Annotated[int, Query(alias="maxResults")] = SEARCH_DEFAULT_PAGE,
        next_page_token: Annotated[str | None, Query(alias="nextPageToken")] = None,
        fields: Annotated[list[str] | None, Query()] = None,
    ) -> JSONResponse:
        return JSONResponse(
            site.search_issues(
                jql,
                max_results=max_results,
                next_page_token=next_page_token,
                fields=fields,
                base_url=_base_url(request),
            )
        )

    @app.post("/rest/api/3/search/jql")
    def search_post(request: Request, body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        jql = body.get("jql")
        max_results = body.get("maxResults", SEARCH_DEFAULT_PAGE)
        token = body.get("nextPageToken")
        if jql is not None and not isinstance(jql, str):
            raise SandboxError(400, ["'jql' must be a string."], {})
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise SandboxError(400, ["'maxResults' must be an integer."], {})
        if token is not None and not isinstance(token, str):
            raise SandboxError(400, ["'nextPageToken' must be a string."], {})
        return JSONResponse(
            site.search_issues(
                jql,
                max_results=max_results,
                next_page_token=token,
                fields=_string_list(body, "fields"),
                base_url=_base_url(request),
            )
        )

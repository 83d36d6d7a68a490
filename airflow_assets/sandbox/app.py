"""The HTTP face of the sandbox: the Jira site routes and every Assets REST route, over one ``Site``.

The Jira issue routes (fields, issues, JQL search) live in ``issue_routes``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from airflow_assets.sandbox.issue_routes import add_issue_routes
from airflow_assets.sandbox.model import SandboxError, Site

JsonBody = Annotated[dict[str, Any], Body()]
UNAUTHORIZED = {
    "errorMessages": ["You are not authenticated. Authentication required to perform this operation."],
    "errors": {},
}


def error_response(status: int, messages: list[str], errors: dict[str, str] | None = None) -> JSONResponse:
    """Answer in Atlassian's error shape."""
    return JSONResponse({"errorMessages": messages, "errors": errors or {}}, status_code=status)


class BasicAuthMiddleware:
    """Refuse every request without the site's email and API token (HTTP Basic) with 401.

    :param app: the wrapped ASGI app.
    :param site: the site whose credentials are accepted.
    """

    def __init__(self, app: ASGIApp, site: Site) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps(UNAUTHORIZED).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Basic realm="Jira Assets sandbox"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorized(self, scope: Scope) -> bool:
        header = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        scheme, _, encoded = header.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        email, separator, token = decoded.partition(":")
        if not separator:
            return False
        email_ok = secrets.compare_digest(email.lower().encode(), self.site.email.lower().encode())
        token_ok = secrets.compare_digest(token.encode(), self.site.api_token.encode())
        return email_ok and token_ok


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def create_app(site: Site) -> FastAPI:
    """Build the FastAPI app serving ``site``: the Jira site routes and the Assets API routes."""
    app = FastAPI(title="Jira Assets sandbox", openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(BasicAuthMiddleware, site=site)
    _install_error_handlers(app)

    @app.get("/rest/servicedeskapi/assets/workspace")
    def workspaces() -> JSONResponse:
        return _json(site.workspaces())

    @app.get("/rest/api/3/myself")
    def myself(request: Request) -> JSONResponse:
        return _json(site.myself(base_url=_base_url(request)))

    @app.get("/rest/api/3/user/search")
    def user_search(
        request: Request,
        query: str | None = None,
        account_id: Annotated[str | None, Query(alias="accountId")] = None,
        start_at: Annotated[int, Query(alias="startAt")] = 0,
        max_results: Annotated[int, Query(alias="maxResults")] = 50,
    ) -> JSONResponse:
        if query is None and account_id is None:
            raise SandboxError(400, ["One of 'query' or 'accountId' must be given"])
        found = site.find_users(
            query=query, account_id=account_id, start_at=start_at, max_results=max_results,
            base_url=_base_url(request),
        )  # fmt: skip
        return _json(found)

    @app.get("/rest/api/3/users/search")
    def users_search(
        request: Request,
        start_at: Annotated[int, Query(alias="startAt")] = 0,
        max_results: Annotated[int, Query(alias="maxResults")] = 50,
    ) -> JSONResponse:
        return _json(site.find_users(start_at=start_at, max_results=max_results, base_url=_base_url(request)))

    @app.get("/rest/api/3/group/bulk")
    def group_bulk(
        group_name: Annotated[list[str] | None, Query(alias="groupName")] = None,
        group_id: Annotated[list[str] | None, Query(alias="groupId")] = None,
        start_at: Annotated[int, Query(alias="startAt")] = 0,
        max_results: Annotated[int, Query(alias="maxResults")] = 50,
    ) -> JSONResponse:
        return _json(
            site.find_groups(names=group_name, group_ids=group_id, start_at=start_at, max_results=max_results)
        )

    add_issue_routes(app, site)

    def check_workspace(workspace_id: Annotated[str, Path(alias="workspaceId")]) -> None:
        if workspace_id != site.workspace_id:
            raise SandboxError(404, [f"The workspace {workspace_id} does not exist"])

    assets = APIRouter(
        prefix="/jsm/assets/workspace/{workspaceId}/v1", dependencies=[Depends(check_workspace)]
    )
    _schema_routes(assets, site)
    _object_type_routes(assets, site)
    _attribute_routes(assets, site)
    _object_routes(assets, site)
    _aql_routes(assets, site)
    _config_routes(assets, site)
    app.include_router(assets)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Answer every error, FastAPI's own included, in Atlassian's shape."""

    @app.exception_handler(SandboxError)
    def sandbox_error(request: Request, error: SandboxError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> Response:
        messages = {404: "Not found", 405: "Method not allowed"}
        message = messages.get(error.status_code, str(error.detail))
        response = error_response(error.status_code, [message])
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        errors: dict[str, str] = {}
        messages: list[str] = []
        for problem in error.errors():
            location = [str(part) for part in problem.get("loc", ())]
            if location and location[0] == "body":
                messages.append(f"The request body is invalid: {problem.get('msg', 'invalid')}")
            else:
                errors[location[-1] if location else "request"] = str(problem.get("msg", "invalid"))
        return error_response(400, messages, errors)

    @app.exception_handler(Exception)
    def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        return error_response(500, ["Internal server error"])


def _schema_routes(router: APIRouter, site: Site) -> None:
    @router.get("/objectschema/list")
    def list_schemas(
        request: Request,
        start_at: Annotated[int, Query(alias="startAt")] = 0,
        max_results: Annotated[int, Query(alias="maxResults")] = 25,
        include_counts: Annotated[bool, Query(alias="includeCounts")] = False,
    ) -> JSONResponse:
        return _json(
            site.list_schemas(
                start_at=start_at,
                max_results=max_results,
                include_counts=include_counts,
                base_url=_base_url(request),
            )
        )

    @router.post("/objectschema/create")
    def create_schema(request: Request, body: JsonBody) -> JSONResponse:
        return _json(site.create_schema(body, base_url=_base_url(request)), 201)

    @router.get("/objectschema/{schema_id}")
    def get_schema(request: Request, schema_id: str) -> JSONResponse:
        return _json(site.get_schema(schema_id, base_url=_base_url(request)))

    @router.put("/objectschema/{schema_id}")
    def update_schema(request: Request, schema_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.update_schema(schema_id, body, base_url=_base_url(request)))

    @router.delete("/objectschema/{schema_id}")
    def delete_schema(request: Request, schema_id: str) -> JSONResponse:
        return _json(site.delete_schema(schema_id, base_url=_base_url(request)))

    @router.get("/objectschema/{schema_id}/objecttypes/flat")
    def schema_object_types(
        request: Request,
        schema_id: str,
        include_object_counts: Annotated[bool, Query(alias="includeObjectCounts")] = False,
    ) -> JSONResponse:
        return _json(
            site.schema_object_types(
                schema_id, include_object_counts=include_object_counts, base_url=_base_url(request)
            )
        )

    @router.get("/objectschema/{schema_id}/objecttypes")
    def schema_object_types_tree(
        request: Request,
        schema_id: str,
        exclude_abstract: Annotated[bool, Query(alias="excludeAbstract")] = False,
    ) -> JSONResponse:
        return _json(
            site.schema_object_types_tree(
                schema_id, exclude_abstract=exclude_abstract, base_url=_base_url(request)
            )
        )

    @router.get("/objectschema/{schema_id}/attributes")
    def schema_attributes(
        request: Request,
        schema_id: str,
        only_value_editable: Annotated[bool, Query(alias="onlyValueEditable")] = False,
    ) -> JSONResponse:
        return _json(
            site.schema_attributes(
                schema_id, only_value_editable=only_value_editable, base_url=_base_url(request)
            )
        )

    @router.get("/global/config/objectschema/{schema_id}/property")
    def schema_properties(request: Request, schema_id: str) -> JSONResponse:
        return _json(site.schema_properties(schema_id, base_url=_base_url(request)))

    @router.post("/global/config/objectschema/{schema_id}/property")
    def set_schema_properties(request: Request, schema_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.set_schema_properties(schema_id, body, base_url=_base_url(request)))


def _object_type_routes(router: APIRouter, site: Site) -> None:
    @router.post("/objecttype/create")
    def create_object_type(request: Request, body: JsonBody) -> JSONResponse:
        return _json(site.create_object_type(body, base_url=_base_url(request)), 201)

    @router.get("/objecttype/{type_id}")
    def get_object_type(request: Request, type_id: str) -> JSONResponse:
        return _json(site.get_object_type(type_id, base_url=_base_url(request)))

    @router.put("/objecttype/{type_id}")
    def update_object_type(request: Request, type_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.update_object_type(type_id, body, base_url=_base_url(request)))

    @router.delete("/objecttype/{type_id}")
    def delete_object_type(request: Request, type_id: str) -> JSONResponse:
        return _json(site.delete_object_type(type_id, base_url=_base_url(request)))

    @router.post("/objecttype/{type_id}/position")
    def position_object_type(request: Request, type_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.position_object_type(type_id, body, base_url=_base_url(request)))

    @router.get("/objecttype/{type_id}/attributes")
    def object_type_attributes(
        request: Request,
        type_id: str,
        only_value_editable: Annotated[bool, Query(alias="onlyValueEditable")] = False,
        order_by_name: Annotated[bool, Query(alias="orderByName")] = False,
        query: Annotated[str | None, Query(alias="query")] = None,
        include_values_exist: Annotated[bool, Query(alias="includeValuesExist")] = False,
        exclude_parent_attributes: Annotated[bool, Query(alias="excludeParentAttributes")] = False,
        include_children: Annotated[bool, Query(alias="includeChildren")] = False,
        order_by_required: Annotated[bool, Query(alias="orderByRequired")] = False,
    ) -> JSONResponse:
        return _json(
            site.list_attributes(
                type_id,
                only_value_editable=only_value_editable,
                order_by_name=order_by_name,
                query=query,
                include_values_exist=include_values_exist,
                exclude_parent_attributes=exclude_parent_attributes,
                include_children=include_children,
                order_by_required=order_by_required,
                base_url=_base_url(request),
            )
        )


def _attribute_routes(router: APIRouter, site: Site) -> None:
    @router.post("/objecttypeattribute/{type_id}")
    def create_attribute(request: Request, type_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.create_attribute(type_id, body, base_url=_base_url(request)), 201)

    @router.put("/objecttypeattribute/{type_id}/{attribute_id}")
    def update_attribute(request: Request, type_id: str, attribute_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.update_attribute(type_id, attribute_id, body, base_url=_base_url(request)))

    @router.delete("/objecttypeattribute/{attribute_id}")
    def delete_attribute(attribute_id: str) -> Response:
        site.delete_attribute(attribute_id)
        return Response(status_code=204)

    @router.post("/objecttypeattribute/{type_id}/{attribute_id}/position")
    def position_attribute(request: Request, type_id: str, attribute_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.position_attribute(type_id, attribute_id, body, base_url=_base_url(request)))


def _object_routes(router: APIRouter, site: Site) -> None:
    @router.post("/object/create")
    def create_object(request: Request, body: JsonBody) -> JSONResponse:
        return _json(site.create_object(body, base_url=_base_url(request)), 201)

    @router.get("/object/{object_id}")
    def get_object(request: Request, object_id: str) -> JSONResponse:
        return _json(site.get_object(object_id, base_url=_base_url(request)))

    @router.put("/object/{object_id}")
    def update_object(request: Request, object_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.update_object(object_id, body, base_url=_base_url(request)))

    @router.delete("/object/{object_id}")
    def delete_object(object_id: str) -> Response:
        site.delete_object(object_id)
        return Response(status_code=204)

    @router.get("/object/{object_id}/attributes")
    def object_attributes(request: Request, object_id: str) -> JSONResponse:
        return _json(site.object_attributes(object_id, base_url=_base_url(request)))

    @router.get("/object/{object_id}/history")
    def object_history(request: Request, object_id: str, asc: bool = False) -> JSONResponse:
        return _json(site.object_history(object_id, asc=asc, base_url=_base_url(request)))

    @router.get("/object/{object_id}/referenceinfo")
    def object_reference_info(request: Request, object_id: str) -> JSONResponse:
        return _json(site.object_reference_info(object_id, base_url=_base_url(request)))

    @router.get("/objectconnectedtickets/{object_id}/tickets")
    def connected_tickets(request: Request, object_id: str) -> JSONResponse:
        return _json(site.connected_tickets(object_id, base_url=_base_url(request)))

    @router.get("/comment/object/{object_id}")
    def object_comments(request: Request, object_id: str) -> JSONResponse:
        return _json(site.object_comments(object_id, base_url=_base_url(request)))

    @router.post("/comment/create")
    def create_comment(request: Request, body: JsonBody) -> JSONResponse:
        return _json(site.add_comment(body, base_url=_base_url(request)), 201)


def _ql_query(body: dict[str, Any]) -> str:
    # Only the legacy GET routes also take `iql`; the POST bodies of the current API name it qlQuery alone.
    query = body.get("qlQuery")
    if query is None:
        raise SandboxError(400, [], {"qlQuery": "qlQuery is required"})
    if not isinstance(query, str):
        raise SandboxError(400, [], {"qlQuery": "qlQuery must be a string"})
    return query


def _aql_routes(router: APIRouter, site: Site) -> None:
    @router.post("/object/aql")
    def aql(
        request: Request,
        body: JsonBody,
        start_at: Annotated[int, Query(alias="startAt")] = 0,
        max_results: Annotated[int, Query(alias="maxResults")] = 25,
        include_attributes: Annotated[bool, Query(alias="includeAttributes")] = True,
    ) -> JSONResponse:
        return _json(
            site.aql_page(
                _ql_query(body),
                start_at=start_at,
                max_results=max_results,
                include_attributes=include_attributes,
                base_url=_base_url(request),
            )
        )

    @router.post("/object/aql/totalcount")
    def aql_total_count(body: JsonBody) -> JSONResponse:
        return _json(site.aql_total_count(_ql_query(body)))

    def legacy_route(*, iql_route: bool) -> Callable[..., JSONResponse]:
        def legacy(
            request: Request,
            ql_query: Annotated[str | None, Query(alias="qlQuery")] = None,
            iql: Annotated[str | None, Query(alias="iql")] = None,
            object_schema_id: Annotated[str | None, Query(alias="objectSchemaId")] = None,
            page: Annotated[int, Query(alias="page")] = 1,
            result_per_page: Annotated[int, Query(alias="resultPerPage")] = 25,
            include_attributes: Annotated[bool, Query(alias="includeAttributes")] = True,
        ) -> JSONResponse:
            query = ql_query if ql_query is not None else iql
            if query is None:
                raise SandboxError(400, [], {"qlQuery": "qlQuery is required"})
            return _json(
                site.legacy_aql_page(
                    query,
                    object_schema_id=object_schema_id,
                    page=page,
                    result_per_page=result_per_page,
                    include_attributes=include_attributes,
                    base_url=_base_url(request),
                    iql=iql_route,
                )
            )

        return legacy

    router.add_api_route("/aql/objects", legacy_route(iql_route=False), methods=["GET"])
    router.add_api_route("/iql/objects", legacy_route(iql_route=True), methods=["GET"])


def _config_routes(router: APIRouter, site: Site) -> None:
    @router.get("/config/statustype")
    def list_status_types(
        request: Request, object_schema_id: Annotated[str | None, Query(alias="objectSchemaId")] = None
    ) -> JSONResponse:
        return _json(site.list_status_types(object_schema_id, base_url=_base_url(request)))

    @router.post("/config/statustype")
    def create_status_type(request: Request, body: JsonBody) -> JSONResponse:
        return _json(site.create_status_type(body, base_url=_base_url(request)), 201)

    @router.put("/config/statustype/{status_id}")
    def update_status_type(request: Request, status_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.update_status_type(status_id, body, base_url=_base_url(request)))

    @router.delete("/config/statustype/{status_id}")
    def delete_status_type(status_id: str) -> Response:
        site.delete_status_type(status_id)
        return Response(status_code=204)

    @router.get("/config/referencetype")
    def list_reference_types(
        request: Request,
        object_schema_id: Annotated[str | None, Query(alias="objectSchemaId")] = None,
        include_all: Annotated[bool, Query(alias="includeAll")] = False,
    ) -> JSONResponse:
        return _json(
            site.list_reference_types(object_schema_id, include_all=include_all, base_url=_base_url(request))
        )

    @router.post("/config/referencetype")
    def create_reference_type(request: Request, body: JsonBody) -> JSONResponse:
        return _json(site.create_reference_type(body, base_url=_base_url(request)), 201)

    @router.put("/config/referencetype/{reference_id}")
    def update_reference_type(request: Request, reference_id: str, body: JsonBody) -> JSONResponse:
        return _json(site.update_reference_type(reference_id, body, base_url=_base_url(request)))

    @router.delete("/config/referencetype/{reference_id}")
    def delete_reference_type(reference_id: str) -> Response:
        site.delete_reference_type(reference_id)
        return Response(status_code=204)

    @router.get("/icon/global")
    def list_icons(request: Request) -> JSONResponse:
        return _json(site.list_icons(base_url=_base_url(request)))

    @router.get("/icon/{icon_id}")
    def get_icon(request: Request, icon_id: str) -> JSONResponse:
        return _json(site.get_icon(icon_id, base_url=_base_url(request)))

"""A tiny scripted Assets site for the client's tests: real HTTP, scripted faults, every request recorded."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from airflow_assets.api import AssetsClient, PacerRegistry, RateLimits
from airflow_assets.sandbox.server import serve_in_thread
from tests.fast_retry import FAST_RETRY

WORKSPACE_ID = "ws-0001"
API_PREFIX = f"/jsm/assets/workspace/{WORKSPACE_ID}/v1/"

# GET endpoints that answer a JSON list; the echo route wraps its answer in one for them.
LIST_ENDPOINT = re.compile(
    r"(/history|/attributes|/referenceinfo|/objecttypes/flat|^comment/object/|^config/\w+$|^icon/global$)"
)
# The retry tests script four failing answers and expect the client to give up after the fourth.
FOUR_ATTEMPTS = replace(FAST_RETRY, max_attempts=4)
NO_PACING = RateLimits(enabled=False)


@dataclass
class Reply:
    """One scripted answer (consumed once, in order, by requests to its method and path)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent verbatim instead of ``body`` (truncated JSON, HTML)
    content_type: str = "application/json"
    drop: bool = False  # announce a body, send part of it and close the connection
    delay: float = 0.0


@dataclass(frozen=True)
class Call:
    """One request as the server saw it."""

    at: float
    method: str
    path: str  # relative to the Assets API base, or to the site for site routes
    query: dict[str, str]
    body: Any
    authorized: bool
    raw_path: str  # as sent, before percent-decoding


class ScriptedSite:
    """The state and script of one fake site; ``url`` is set once it serves."""

    def __init__(self) -> None:
        self.workspace_id = WORKSPACE_ID
        self.email = "robot@example.com"
        self.api_token = "tok-" + secrets.token_urlsafe(18)
        self.url = ""
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget data, script and recorded calls (one server serves a whole test module)."""
        self.objects: list[dict[str, Any]] = []
        self.schemas: list[dict[str, Any]] = []
        self.page_cap: int | None = None
        self.omit_is_last = False
        # A broken server or proxy that always answers the first page, whatever startAt asks.
        self.ignore_start_at = False
        self.workspaces: list[dict[str, Any]] = [{"workspaceId": WORKSPACE_ID}]
        self.latency = 0.0
        self.calls: list[Call] = []
        self._script: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)

    @property
    def api_base_template(self) -> str:
        """Return the API base URL with the workspace placeholder (as the sandbox connection sets it)."""
        return self.url + "/jsm/assets/workspace/{workspaceId}/v1"

    def script(self, method: str, path: str, *replies: Reply | dict[str, Any]) -> None:
        """Queue answers for ``method path`` (path relative to the API base, e.g. ``object/1``).

        Each reply is a :class:`Reply` or the keyword arguments of one, e.g. ``{"status": 429}``.
        """
        with self._lock:
            self._script[(method, path)].extend(
                reply if isinstance(reply, Reply) else Reply(**reply) for reply in replies
            )

    def calls_to(self, method: str, path: str | None = None, prefix: str | None = None) -> list[Call]:
        """Return the recorded calls of one method and path (or path prefix)."""
        with self._lock:
            return [
                call
                for call in self.calls
                if call.method == method
                and (path is None or call.path == path)
                and (prefix is None or call.path.startswith(prefix))
            ]

    def add_objects(self, count: int) -> None:
        """Fill the site with ``count`` objects with ids 1..count."""
        self.objects = [
            {"id": str(i), "label": f"host-{i}.example.com", "objectKey": f"IT-{i}", "attributes": []}
            for i in range(1, count + 1)
        ]

    def _next_reply(self, method: str, path: str) -> Reply | None:
        with self._lock:
            queue = self._script.get((method, path))
            return queue.popleft() if queue else None

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def page(self, items: list[dict[str, Any]], query: dict[str, str], **extra: Any) -> dict[str, Any]:
        """Answer one startAt/maxResults page the way Assets does (short pages, a misleading total)."""
        start = 0 if self.ignore_start_at else int(query.get("startAt", 0))
        asked = int(query.get("maxResults", 25))
        size = min(asked, self.page_cap) if self.page_cap else asked
        values = items[start : start + size]
        page: dict[str, Any] = {"startAt": start, "maxResults": size, "total": 3, "values": values, **extra}
        if not self.omit_is_last:
            page["isLast"] = page["last"] = start + len(values) >= len(items)
        return page


def build_app(site: ScriptedSite) -> Callable[..., Any]:
    """Return the ASGI app: a scripting layer in front of a small FastAPI app."""
    api = FastAPI()
    base = f"/jsm/assets/workspace/{site.workspace_id}/v1"

    @api.get("/rest/servicedeskapi/assets/workspace")
    def workspace() -> dict[str, Any]:
        values = site.workspaces
        return {"size": len(values), "start": 0, "limit": 50, "isLastPage": True, "values": values}

    @api.get(base + "/objectschema/list")
    def schema_list(request: Request) -> dict[str, Any]:
        return site.page(site.schemas, dict(request.query_params))

    @api.post(base + "/object/aql")
    def aql(request: Request) -> dict[str, Any]:
        attributes = [{"id": "1", "name": "Name", "label": True}]
        return site.page(site.objects, dict(request.query_params), objectTypeAttributes=attributes)

    @api.post(base + "/object/aql/totalcount")
    def total_count() -> dict[str, Any]:
        return {"totalCount": len(site.objects)}

    @api.api_route(base + "/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def echo(rest: str, request: Request) -> JSONResponse:
        raw = await request.body()
        payload = {
            "method": request.method,
            "path": rest,
            "query": dict(request.query_params),
            "body": json.loads(raw) if raw else None,
        }
        if request.method == "GET" and LIST_ENDPOINT.search(rest):
            return JSONResponse([payload])
        return JSONResponse(payload, status_code=201 if rest.endswith("create") else 200)

    expected_auth = b"Basic " + base64.b64encode(f"{site.email}:{site.api_token}".encode())

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw_body = b"".join(chunks)
        method = scope["method"]
        path = scope["path"]
        relative = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path.lstrip("/")
        headers = dict(scope["headers"])
        authorized = headers.get(b"authorization") == expected_auth
        body = json.loads(raw_body) if raw_body else None
        query = dict(parse_qsl(scope["query_string"].decode()))
        raw_path = scope.get("raw_path", path.encode()).decode()
        site._record(Call(time.monotonic(), method, relative, query, body, authorized, raw_path))
        if site.latency:
            await asyncio.sleep(site.latency)
        if not authorized:
            await _send(send, Reply(401, {"errorMessages": ["Client must be authenticated."], "errors": {}}))
            return
        reply = site._next_reply(method, relative)
        if reply is not None:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            await _send(send, reply)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": raw_body, "more_body": False}

        await api(scope, replay, send)

    return app


async def _send(send: Callable[..., Any], reply: Reply) -> None:
    payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
    declared = len(payload) + 500 if reply.drop else len(payload)
    headers = [(b"content-type", reply.content_type.encode()), (b"content-length", str(declared).encode())]
    headers += [(key.lower().encode(), value.encode()) for key, value in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if reply.drop:
        # Returning with the body incomplete makes uvicorn close the connection mid-response.
        await send({"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True})
        return
    await send({"type": "http.response.body", "body": payload, "more_body": False})


@pytest.fixture(scope="module")
def served_site() -> Iterator[ScriptedSite]:
    """Serve one scripted site per test module (starting and stopping uvicorn costs ~0.2 s)."""
    scripted = ScriptedSite()
    with serve_in_thread(build_app(scripted)) as url:
        scripted.url = url
        yield scripted


@pytest.fixture
def site(served_site: ScriptedSite) -> ScriptedSite:
    """Return the module's scripted site, reset for this test."""
    served_site.reset()
    return served_site


@pytest.fixture
def make_client(site: ScriptedSite) -> Iterator[Callable[..., AssetsClient]]:
    """Build clients of the scripted site (fast retries, no pacing unless asked); closed after the test."""
    clients: list[AssetsClient] = []

    def make(**overrides: Any) -> AssetsClient:
        settings: dict[str, Any] = {
            "site_url": site.url,
            "email": site.email,
            "api_token": site.api_token,
            "api_base_url": site.api_base_template,
            "retry": FOUR_ATTEMPTS,
            "limits": NO_PACING,
            "pacers": PacerRegistry(),
            "timeout": (2.0, 5.0),
        }
        settings.update(overrides)
        client = AssetsClient(**settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., AssetsClient]) -> AssetsClient:
    """Return a client of the scripted site with the test defaults."""
    return make_client()

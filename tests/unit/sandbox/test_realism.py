"""Realism middleware over real HTTP: latency, rate limits, page-size cap, faults and their counters."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import requests
from fastapi import Body, FastAPI, Response

from airflow_assets.sandbox.realism import (
    BAD_GATEWAY_HTML,
    CONNECTION_CUT,
    CONNECTION_RESET,
    FAULT_KINDS,
    SERVICE_UNAVAILABLE,
    TRUNCATED_JSON,
    RealismConfig,
    RealismMiddleware,
    cap_page_size,
    endpoint_class,
    is_write,
)
from airflow_assets.sandbox.server import serve_in_thread

WORKSPACE = "/jsm/assets/workspace/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/v1"
JsonBody = Annotated[dict[str, Any], Body()]
RATE_LIMIT_HEADERS = ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def assets_app(calls: Counter[str]) -> FastAPI:
    """Build a tiny app with a few Assets-shaped routes that counts its invocations in ``calls``."""
    app = FastAPI()

    @app.post(WORKSPACE + "/object/aql")
    def aql(body: JsonBody, startAt: int = 0, maxResults: int = 25) -> dict[str, Any]:
        calls["aql"] += 1
        values = [{"id": str(startAt + index), "label": f"Host {index}"} for index in range(3)]
        return {"startAt": startAt, "maxResults": maxResults, "values": values, "isLast": True}

    @app.get(WORKSPACE + "/iql/objects")
    def iql(page: int = 1, resultPerPage: int = 25) -> dict[str, Any]:
        calls["iql"] += 1
        return {"objectEntries": [], "pageSize": 0, "resultPerPage": resultPerPage}

    @app.get(WORKSPACE + "/object/{object_id}")
    def get_object(object_id: str) -> dict[str, Any]:
        calls["get"] += 1
        return {"id": object_id, "label": "SYD-1", "objectKey": f"ITSM-{object_id}"}

    @app.post(WORKSPACE + "/object/create", status_code=201)
    def create_object(body: JsonBody) -> dict[str, Any]:
        calls["create"] += 1
        return {"id": "88", "label": "SYD-1", "objectKey": "ITSM-88"}

    @app.put(WORKSPACE + "/object/{object_id}")
    def update_object(object_id: str, body: JsonBody) -> dict[str, Any]:
        calls["update"] += 1
        return {"id": object_id, "label": "SYD-2", "objectKey": f"ITSM-{object_id}"}

    @app.delete(WORKSPACE + "/object/{object_id}", status_code=204)
    def delete_object(object_id: str) -> Response:
        calls["delete"] += 1
        return Response(status_code=204)

    @app.get("/rest/servicedeskapi/assets/workspace")
    def workspace() -> dict[str, Any]:
        calls["workspace"] += 1
        return {"size": 1, "start": 0, "limit": 50, "isLastPage": True, "values": [{"workspaceId": "ws"}]}

    return app


class Switchboard:
    """Forward to whichever ASGI app the current test installed, so the module needs one server only."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # The server's own send goes through unchanged: the middleware can still reach its transport.
        await self.target(scope, receive, send)


Served = tuple[str, RealismMiddleware, Counter[str]]
ServerFactory = Callable[..., AbstractContextManager[Served]]


@pytest.fixture(scope="module")
def switchboard() -> Iterator[tuple[Switchboard, str]]:
    """Serve one switchboard over real HTTP for the whole module (a server takes ~0.2 s to stop)."""
    board = Switchboard()
    with serve_in_thread(board) as url:
        yield board, url


@pytest.fixture
def realism_server(switchboard: tuple[Switchboard, str]) -> ServerFactory:
    """Return a factory putting the tiny app behind a fresh middleware; yields (base, middleware, calls)."""
    board, url = switchboard

    @contextmanager
    def install(config: RealismConfig, *, fault_kinds: tuple[str, ...] | None = None) -> Iterator[Served]:
        calls: Counter[str] = Counter()
        middleware = RealismMiddleware(assets_app(calls), config, fault_kinds=fault_kinds)
        board.target = middleware
        try:
            yield url + WORKSPACE, middleware, calls
        finally:
            board.target = None

    return install


def hiding_transport(middleware: RealismMiddleware) -> Callable[..., Any]:
    """Wrap ``send`` the way another middleware would, so the server's transport cannot be reached."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def wrapped_send(message: Any) -> None:
            await send(message)

        await middleware(scope, receive, wrapped_send)

    return app


def always_fault(kind: str, **config: Any) -> tuple[RealismConfig, tuple[str, ...]]:
    """Return a config that faults (nearly) every request, drawing only ``kind``."""
    # fault_rate must stay below 1; with this seed the first draws all fall under it.
    return RealismConfig(**{"fault_rate": 0.999, "random_seed": 3, **config}), (kind,)


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latency_ms", -1.0),
        ("latency_ms", float("nan")),
        ("jitter_ms", -0.5),
        ("window_seconds", 0),
        ("fault_rate", 1.0),
        ("fault_rate", -0.1),
        ("page_size_cap", 0),
        ("page_size_cap", -5),
    ],
)
def test_config_rejects_invalid_values_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        RealismConfig(**{field: value})


def test_config_rejects_non_positive_rate_limit_and_a_limit_without_rate_limits() -> None:
    with pytest.raises(ValueError, match="rate_limit_per_minute"):
        RealismConfig(rate_limits=True, rate_limit_per_minute=0)
    with pytest.raises(ValueError, match="rate_limit_per_minute"):
        RealismConfig(rate_limit_per_minute=100)


def test_default_config_is_a_pass_through(realism_server: ServerFactory) -> None:
    assert RealismConfig().is_pass_through
    assert RealismConfig(random_seed=4, retry_after=False).is_pass_through
    with realism_server(RealismConfig()) as (base, middleware, calls):
        response = requests.post(base + "/object/aql?maxResults=5000", json={"qlQuery": "objectTypeId = 1"})
        assert response.status_code == 200
        assert response.json()["maxResults"] == 5000
        assert not [name for name in response.headers if name.lower() in RATE_LIMIT_HEADERS]
    assert calls["aql"] == 1
    assert middleware.stats.requests == 1
    assert middleware.stats.accepted == {"POST object/aql": 1}


def test_non_http_scopes_pass_through_untouched() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        pass

    middleware = RealismMiddleware(app, RealismConfig(latency_ms=5000, rate_limits=True, fault_rate=0.9))
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    asyncio.run(middleware(scope, receive, send))
    assert seen == [scope]
    assert middleware.stats.requests == 0


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="fault_kinds"):
        RealismMiddleware(assets_app(Counter()), RealismConfig(), fault_kinds=("gremlins",))


# --- endpoint classes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "klass", "limit"),
    [
        ("POST", WORKSPACE + "/object/aql", "POST object/aql", 1000),
        ("POST", WORKSPACE + "/object/aql/totalcount", "POST object/aql/totalcount", 500),
        ("GET", WORKSPACE + "/aql/objects", "GET aql/objects", 500),
        ("GET", WORKSPACE + "/iql/objects", "GET iql/objects", 500),
        ("POST", WORKSPACE + "/object/navlist/aql", "POST object/navlist/aql", 500),
        (
            "GET",
            WORKSPACE + "/objectconnectedtickets/88/tickets",
            "GET objectconnectedtickets/{id}/tickets",
            2000,
        ),
        ("GET", WORKSPACE + "/object/88", "GET object/{id}", 2000),
        ("GET", WORKSPACE + "/object/ITSM-88", "GET object/{id}", 2000),
        ("PUT", WORKSPACE + "/object/88", "PUT object/{id}", 1000),
        ("DELETE", WORKSPACE + "/object/88", "DELETE object/{id}", 1000),
        ("post", WORKSPACE + "/object/create", "POST object/create", 2000),
        ("GET", WORKSPACE + "/objecttype/23/attributes", "GET objecttype/{id}/attributes", 2000),
        ("GET", WORKSPACE + "/object/88/history", "GET object/{id}/history", 1000),
        ("GET", WORKSPACE + "/comment/object/88", "GET comment/object/{id}", 1000),
        ("PUT", WORKSPACE + "/objecttypeattribute/23/144", "PUT objecttypeattribute/{id}/{id}", 1000),
        ("GET", WORKSPACE + "/objectschema/list/", "GET objectschema/list", 1000),
        ("GET", "/rest/servicedeskapi/assets/workspace", "GET /rest/servicedeskapi/assets/workspace", 1000),
        ("GET", "/rest/api/3/issue/PROJ-42", "GET /rest/api/3/issue/{id}", 1000),
        ("PUT", "/rest/api/3/issue/10968", "PUT /rest/api/3/issue/{id}", 1000),
        ("GET", "/rest/agile/1.0/board", "GET /rest/agile/1.0/board", 1000),
    ],
)
def test_endpoint_class_uses_the_documented_figures(method: str, path: str, klass: str, limit: int) -> None:
    assert endpoint_class(method, path) == (klass, limit)


def test_read_only_searches_sent_as_post_are_not_writes() -> None:
    assert not is_write("POST", WORKSPACE + "/object/aql")
    assert not is_write("POST", WORKSPACE + "/object/aql/totalcount")
    assert not is_write("GET", WORKSPACE + "/object/88")
    assert is_write("POST", WORKSPACE + "/object/create")
    assert is_write("PUT", WORKSPACE + "/object/88")
    assert is_write("DELETE", WORKSPACE + "/object/88")
    assert is_write("POST", WORKSPACE + "/comment/create")


# --- latency --------------------------------------------------------------------------------------


def test_latency_is_added_without_blocking_other_requests(realism_server: ServerFactory) -> None:
    with realism_server(RealismConfig(latency_ms=200, jitter_ms=50, random_seed=1)) as (base, _, _):
        started = time.monotonic()
        assert requests.get(base + "/object/1").status_code == 200
        assert time.monotonic() - started >= 0.2

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(lambda n: requests.get(f"{base}/object/{n}").status_code, range(6)))
        elapsed = time.monotonic() - started
    assert statuses == [200] * 6
    # Six requests served one after the other would take at least 1.2 s.
    assert 0.2 <= elapsed < 0.8


# --- rate limits ----------------------------------------------------------------------------------


def test_429_after_the_limit_with_retry_after_and_quota_headers(realism_server: ServerFactory) -> None:
    config = RealismConfig(rate_limits=True, rate_limit_per_minute=3, window_seconds=1.0)
    with realism_server(config) as (base, middleware, calls):
        accepted = [requests.get(base + "/object/7") for _ in range(3)]
        assert [response.status_code for response in accepted] == [200, 200, 200]
        assert [response.headers["X-RateLimit-Remaining"] for response in accepted] == ["2", "1", "0"]
        assert all(response.headers["X-RateLimit-Limit"] == "3" for response in accepted)
        assert [response.headers.get("X-RateLimit-NearLimit") for response in accepted] == [
            None,
            None,
            "true",
        ]

        limited = requests.get(base + "/object/8")
        assert limited.status_code == 429
        assert limited.headers["Content-Type"].startswith("application/json")
        assert limited.json() == {"errorMessages": ["Rate limit exceeded."], "errors": {}}
        assert limited.headers["Retry-After"] == "1"
        assert limited.headers["X-RateLimit-Limit"] == "3"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert limited.headers["RateLimit-Reason"] == "jira-quota-per-endpoint-based"
        reset = datetime.fromisoformat(limited.headers["X-RateLimit-Reset"])
        assert -1 <= (reset - datetime.now(UTC)).total_seconds() <= 2

        # The limit is per endpoint class: another class still has its whole budget.
        assert requests.post(base + "/object/aql", json={"qlQuery": "Key = X-1"}).status_code == 200
    assert calls["get"] == 3
    assert middleware.stats.rate_limited_by_class == {"GET object/{id}": 1}


def test_429_without_retry_after_sends_no_rate_limit_headers(realism_server: ServerFactory) -> None:
    config = RealismConfig(rate_limits=True, retry_after=False, rate_limit_per_minute=2, window_seconds=1.0)
    with realism_server(config) as (base, _, _):
        responses = [requests.get(base + "/object/7") for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 429]
    assert responses[2].json() == {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    for response in responses:
        assert not [
            name for name in response.headers if "ratelimit" in name.lower() or name.lower() == "retry-after"
        ]


def test_window_slides_and_rejected_requests_do_not_count(realism_server: ServerFactory) -> None:
    config = RealismConfig(rate_limits=True, rate_limit_per_minute=2, window_seconds=1.0)
    with realism_server(config) as (base, middleware, calls):
        session = requests.Session()
        assert [session.get(base + "/object/1").status_code for _ in range(2)] == [200, 200]
        both_accepted = time.monotonic()
        time.sleep(0.5)
        # Rejections half-way through the window: if they counted, the window would stay full until ~1.5 s.
        assert [session.get(base + "/object/1").status_code for _ in range(3)] == [429, 429, 429]
        time.sleep(max(0.0, both_accepted + 1.02 - time.monotonic()))
        assert [session.get(base + "/object/1").status_code for _ in range(3)] == [200, 200, 429]
    assert calls["get"] == 4
    stats = middleware.stats.snapshot()
    assert stats["requests"] == 8
    assert stats["accepted"] == {"GET object/{id}": 4}
    assert stats["rate_limited"] == 4


# --- page-size cap --------------------------------------------------------------------------------


def test_page_size_cap_clamps_max_results_and_result_per_page(realism_server: ServerFactory) -> None:
    with realism_server(RealismConfig(page_size_cap=100)) as (base, _, _):
        aql = base + "/object/aql?startAt=40&maxResults=1000&includeAttributes=true"
        assert requests.post(aql, json={"qlQuery": "objectTypeId = 1"}).json()["maxResults"] == 100
        small = base + "/object/aql?maxResults=50"
        assert requests.post(small, json={"qlQuery": "objectTypeId = 1"}).json()["maxResults"] == 50
        assert requests.post(aql, json={"qlQuery": "x"}).json()["startAt"] == 40
        assert (
            requests.get(base + "/iql/objects?iql=Name%20%3D%20x&resultPerPage=500").json()["resultPerPage"]
            == 100
        )


def test_cap_page_size_leaves_other_bytes_alone() -> None:
    query = b"qlQuery=Name%20%3D%20%22a%26b%22&maxResults=5000&startAt=0&maxResults=abc"
    assert (
        cap_page_size(query, 1000)
        == b"qlQuery=Name%20%3D%20%22a%26b%22&maxResults=1000&startAt=0&maxResults=abc"
    )
    assert cap_page_size(b"maxResults=25", 1000) == b"maxResults=25"
    assert cap_page_size(b"", 1000) == b""


# --- faults ---------------------------------------------------------------------------------------


def test_service_unavailable_is_a_json_503_sometimes_with_retry_after(realism_server: ServerFactory) -> None:
    config, kinds = always_fault(SERVICE_UNAVAILABLE)
    with realism_server(config, fault_kinds=kinds) as (base, middleware, calls):
        responses = [requests.get(base + "/object/1") for _ in range(12)]
    assert {response.status_code for response in responses} == {503}
    assert all(response.json()["errorMessages"] for response in responses)
    assert {response.headers.get("Retry-After") for response in responses} == {None, "1"}
    assert calls["get"] == 0
    assert middleware.stats.faults == {SERVICE_UNAVAILABLE: 12}


def test_service_unavailable_without_retry_after_sends_none(realism_server: ServerFactory) -> None:
    config, kinds = always_fault(SERVICE_UNAVAILABLE, retry_after=False)
    with realism_server(config, fault_kinds=kinds) as (base, _, _):
        responses = [requests.get(base + "/object/1") for _ in range(8)]
    assert {response.headers.get("Retry-After") for response in responses} == {None}


def test_bad_gateway_is_an_html_page(realism_server: ServerFactory) -> None:
    config, kinds = always_fault(BAD_GATEWAY_HTML)
    with realism_server(config, fault_kinds=kinds) as (base, _, calls):
        response = requests.get(base + "/object/1")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    assert calls["get"] == 0


def test_truncated_json_is_a_complete_response_whose_body_does_not_parse(
    realism_server: ServerFactory,
) -> None:
    config, kinds = always_fault(TRUNCATED_JSON)
    with realism_server(config, fault_kinds=kinds) as (base, middleware, calls):
        response = requests.post(base + "/object/aql?maxResults=10", json={"qlQuery": "objectTypeId = 1"})
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) > 0
    assert response.content.startswith(b'{"startAt":0')
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    # A read-only search runs in the app and then has its response damaged.
    assert calls["aql"] == 1
    assert middleware.stats.faults == {TRUNCATED_JSON: 1}


def test_connection_reset_surfaces_as_connection_error_and_the_server_keeps_serving(
    realism_server: ServerFactory,
) -> None:
    config, kinds = always_fault(CONNECTION_RESET, fault_rate=0.5)
    with realism_server(config, fault_kinds=kinds) as (base, middleware, calls):
        outcomes: Counter[str] = Counter()
        session = requests.Session()
        for _ in range(20):
            try:
                outcomes[str(session.get(base + "/object/1").status_code)] += 1
            except requests.exceptions.ConnectionError:
                outcomes["reset"] += 1
    assert outcomes["reset"] == middleware.stats.faults[CONNECTION_RESET] > 0
    assert outcomes["200"] == 20 - outcomes["reset"] > 0
    # Reads run in the app before the connection drops, as a proxy timing out behind a server would.
    assert calls["get"] == 20


def test_connection_cut_surfaces_as_incomplete_read(realism_server: ServerFactory) -> None:
    config, kinds = always_fault(CONNECTION_CUT)
    with (
        realism_server(config, fault_kinds=kinds) as (base, middleware, _),
        pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"),
    ):
        requests.get(base + "/object/1")
    assert middleware.stats.faults == {CONNECTION_CUT: 1}


def test_drops_still_surface_when_the_server_transport_is_hidden(
    switchboard: tuple[Switchboard, str],
) -> None:
    """Fall back to an incomplete response when send is not uvicorn's own (another middleware wraps it)."""
    calls: Counter[str] = Counter()
    middleware = RealismMiddleware(assets_app(calls), RealismConfig(fault_rate=0.999, random_seed=3))

    board, url = switchboard
    board.target = hiding_transport(middleware)
    try:
        for _ in range(10):
            with suppress(requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
                requests.get(url + WORKSPACE + "/object/1")
    finally:
        board.target = None
    faults = middleware.stats.faults
    assert CONNECTION_RESET not in faults
    assert faults.get(CONNECTION_CUT, 0) > 0


def write_attempts(base: str) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """Return (call, method, url, body) for a create, an update and a delete (which answers 204, no body)."""
    return [
        ("create", "POST", base + "/object/create", {"objectTypeId": "1", "attributes": []}),
        ("update", "PUT", base + "/object/88", {"objectTypeId": "1", "attributes": []}),
        ("delete", "DELETE", base + "/object/88", None),
    ]


@pytest.mark.parametrize("kind", [SERVICE_UNAVAILABLE, BAD_GATEWAY_HTML, CONNECTION_RESET])
def test_refused_writes_never_reach_the_site(kind: str, realism_server: ServerFactory) -> None:
    config, kinds = always_fault(kind)
    with realism_server(config, fault_kinds=kinds) as (base, middleware, calls):
        for _, method, url, body in write_attempts(base):
            if kind == CONNECTION_RESET:
                with pytest.raises(requests.exceptions.ConnectionError):
                    requests.request(method, url, json=body)
            else:
                assert requests.request(method, url, json=body).status_code in (502, 503)
    assert calls == Counter()
    assert middleware.stats.faults == {kind: 3}


@pytest.mark.parametrize("kind", [CONNECTION_CUT, TRUNCATED_JSON])
def test_damaged_answers_hide_writes_that_were_applied_once(kind: str, realism_server: ServerFactory) -> None:
    config, kinds = always_fault(kind)
    with realism_server(config, fault_kinds=kinds) as (base, middleware, calls):
        for call, method, url, body in write_attempts(base):
            # The client gets no answer it can read: an error, or a 2xx whose body does not parse.
            try:
                response = requests.request(method, url, json=body)
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
                pass
            else:
                assert kind == TRUNCATED_JSON
                assert call != "delete"
                assert response.status_code in (200, 201)
                with pytest.raises(requests.exceptions.JSONDecodeError):
                    response.json()
            # ...yet the site applied the write, exactly once.
            assert calls[call] == 1
    assert calls == Counter({"create": 1, "update": 1, "delete": 1})
    # A delete has no body to truncate: its connection is cut instead.
    expected = {kind: 3} if kind == CONNECTION_CUT else {TRUNCATED_JSON: 2, CONNECTION_CUT: 1}
    assert middleware.stats.faults == expected


def test_a_write_without_a_body_is_still_cut_when_the_server_transport_is_hidden(
    switchboard: tuple[Switchboard, str],
) -> None:
    calls: Counter[str] = Counter()
    config, kinds = always_fault(CONNECTION_RESET)
    middleware = RealismMiddleware(assets_app(calls), config, fault_kinds=kinds)

    board, url = switchboard
    board.target = hiding_transport(middleware)
    try:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.delete(url + WORKSPACE + "/object/88")
    finally:
        board.target = None
    # A reset needs the transport; the fallback cut comes after the app, so the delete was applied.
    assert calls == Counter({"delete": 1})
    assert middleware.stats.faults == {CONNECTION_CUT: 1}


def test_fault_rate_is_a_seeded_fraction_and_stats_add_up(realism_server: ServerFactory) -> None:
    def run() -> tuple[list[str], dict[str, Any], Counter[str]]:
        config = RealismConfig(fault_rate=0.3, random_seed=11)
        outcomes: list[str] = []
        with realism_server(config) as (base, middleware, calls):
            for number in range(120):
                try:
                    response = requests.get(f"{base}/object/{number}")
                    outcome = str(response.status_code)
                    response.json()
                    outcomes.append(outcome)
                except requests.exceptions.JSONDecodeError:
                    outcomes.append(f"{outcome} unreadable")
                except requests.exceptions.ChunkedEncodingError:
                    outcomes.append("incomplete")
                except requests.exceptions.ConnectionError:
                    outcomes.append("reset")
            return outcomes, middleware.stats.snapshot(), calls

    outcomes, stats, calls = run()
    assert stats["requests"] == 120
    assert stats["accepted"] == {"GET object/{id}": 120}
    assert stats["rate_limited"] == 0
    faults = stats["faults"]
    assert set(faults) == set(FAULT_KINDS)
    assert 20 <= sum(faults.values()) <= 55
    tally = Counter(outcomes)
    assert tally["200"] == 120 - sum(faults.values())
    assert tally["503"] == faults[SERVICE_UNAVAILABLE]
    assert tally["502 unreadable"] == faults[BAD_GATEWAY_HTML]
    assert tally["200 unreadable"] == faults[TRUNCATED_JSON]
    assert tally["incomplete"] == faults[CONNECTION_CUT]
    assert tally["reset"] == faults[CONNECTION_RESET]
    # Reads run in the app unless the fault is answered before it (503, 502).
    assert calls["get"] == 120 - faults[SERVICE_UNAVAILABLE] - faults[BAD_GATEWAY_HTML]
    # The same seed fails the same requests in the same way.
    assert run()[0] == outcomes


def test_rate_limits_latency_cap_and_faults_combine(realism_server: ServerFactory) -> None:
    config = RealismConfig(
        latency_ms=5,
        rate_limits=True,
        rate_limit_per_minute=4,
        window_seconds=1.0,
        page_size_cap=10,
        fault_rate=0.999,
        random_seed=3,
    )
    with realism_server(config, fault_kinds=(TRUNCATED_JSON,)) as (base, middleware, calls):
        statuses = [
            requests.post(base + "/object/aql?maxResults=500", json={"qlQuery": "x"}).status_code
            for _ in range(6)
        ]
        # The workspace route is classified on its own and has its own budget.
        assert (
            requests.get(base.split("/jsm/")[0] + "/rest/servicedeskapi/assets/workspace").status_code == 200
        )
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert calls == Counter({"aql": 4, "workspace": 1})
    assert middleware.stats.snapshot() == {
        "requests": 7,
        "accepted": {"POST object/aql": 4, "GET /rest/servicedeskapi/assets/workspace": 1},
        "rate_limited": 2,
        "rate_limited_by_class": {"POST object/aql": 2},
        "faults": {TRUNCATED_JSON: 5},
    }

"""Make the sandbox behave like Atlassian's cloud under load: latency, rate limits, page cap and faults."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Per-minute figures from the Assets OpenAPI description (see assets-api.md, "Rate limits").
DEFAULT_LIMIT = 1000
SEARCH_LIMIT = 500
HOT_PATH_LIMIT = 2000

SERVICE_UNAVAILABLE = "service_unavailable"
CONNECTION_RESET = "connection_reset"
CONNECTION_CUT = "connection_cut"
TRUNCATED_JSON = "truncated_json"
BAD_GATEWAY_HTML = "bad_gateway_html"
FAULT_KINDS: tuple[str, ...] = (
    SERVICE_UNAVAILABLE,
    CONNECTION_RESET,
    CONNECTION_CUT,
    TRUNCATED_JSON,
    BAD_GATEWAY_HTML,
)

_JSON = (b"content-type", b"application/json;charset=UTF-8")
RATE_LIMIT_BODY = b'{"errorMessages":["Rate limit exceeded."],"errors":{}}'
SERVICE_UNAVAILABLE_BODY = (
    b'{"errorMessages":["Service temporarily unavailable. Please try again later."],"errors":{}}'
)
BAD_GATEWAY_BODY = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream server returned an invalid response.</p>\n"
    b"<hr><address>proxy</address></body></html>\n"
)
# Retry-After on a 503 stays short: clients honour it, and the tests and benchmarks must not crawl.
SERVICE_UNAVAILABLE_RETRY_AFTER = 1
NEAR_LIMIT_FRACTION = 0.2

_ASSETS_PREFIX = re.compile(r"^/jsm/assets/workspace/[^/]+/v1(?=/|$)")
_PAGE_SIZE_PARAMS = (b"maxResults", b"resultPerPage")
_READ_ONLY_POSTS = frozenset(
    {
        "POST object/aql",
        "POST object/aql/totalcount",
        "POST /rest/api/3/search",
        "POST /rest/api/3/search/jql",
    }
)


@dataclass(frozen=True)
class RealismConfig:
    """Switches that make the sandbox behave like Atlassian's cloud; every one is off by default.

    :param latency_ms: fixed delay added to every request.
    :param jitter_ms: extra delay drawn uniformly from ``[0, jitter_ms]`` per request.
    :param rate_limits: enforce the documented per-endpoint limits over a sliding window (answer 429).
    :param retry_after: send ``Retry-After`` and the ``X-RateLimit-*`` headers; without it no rate-limit
        header at all, as Assets often does (JSDCLOUD-11605).
    :param rate_limit_per_minute: one limit replacing every documented figure (needs ``rate_limits``).
    :param window_seconds: length of the sliding window the limits apply to (60 on Atlassian's side).
    :param page_size_cap: clamp ``maxResults``/``resultPerPage`` in the query string to this value.
    :param fault_rate: fraction of requests answered with a fault (503, dropped connection, truncated JSON,
        502 HTML page). A 503, a 502 page or a connection reset refuses a write before the site sees it; a cut
        connection or truncated JSON damages the answer of a write the site has applied.
    :param random_seed: seed for the fault and jitter draws; ``None`` draws from the OS.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limits: bool = False
    retry_after: bool = True
    rate_limit_per_minute: int | None = None
    window_seconds: float = 60.0
    page_size_cap: int | None = None
    fault_rate: float = 0.0
    random_seed: int | None = None

    def __post_init__(self) -> None:
        """Reject values the middleware cannot honour, naming the field."""
        _require(self, _is_number(self.latency_ms) and self.latency_ms >= 0, "latency_ms", "a number >= 0")
        _require(self, _is_number(self.jitter_ms) and self.jitter_ms >= 0, "jitter_ms", "a number >= 0")
        _require(
            self,
            _is_number(self.window_seconds) and self.window_seconds > 0,
            "window_seconds",
            "a number > 0",
        )
        _require(
            self, _is_number(self.fault_rate) and 0 <= self.fault_rate < 1, "fault_rate", "a number in [0, 1)"
        )
        for name in ("rate_limit_per_minute", "page_size_cap"):
            value = getattr(self, name)
            if value is not None:
                _require(
                    self,
                    isinstance(value, int) and not isinstance(value, bool) and value > 0,
                    name,
                    "a positive integer or None",
                )
        if self.rate_limit_per_minute is not None and not self.rate_limits:
            # A limit that silently does nothing would make a benchmark lie about what it measured.
            raise ValueError("RealismConfig.rate_limit_per_minute needs rate_limits=True (--rate-limits)")
        if self.random_seed is not None and (
            not isinstance(self.random_seed, int) or isinstance(self.random_seed, bool)
        ):
            raise ValueError(
                f"RealismConfig.random_seed must be an integer or None, got {self.random_seed!r}"
            )

    @property
    def is_pass_through(self) -> bool:
        """Tell whether this configuration changes nothing about the requests it sees."""
        return (
            self.latency_ms == 0
            and self.jitter_ms == 0
            and not self.rate_limits
            and self.page_size_cap is None
            and self.fault_rate == 0
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require(config: RealismConfig, condition: bool, field: str, expected: str) -> None:
    if not condition:
        raise ValueError(f"RealismConfig.{field} must be {expected}, got {getattr(config, field)!r}")


@lru_cache(maxsize=4096)
def endpoint_class(method: str, path: str) -> tuple[str, int]:
    """Map a request to its rate-limit class (method + path template) and documented per-minute limit.

    Assets paths are named relative to ``/jsm/assets/workspace/<id>/v1/`` ("GET object/{id}/history"); other
    paths keep their leading slash ("GET /rest/servicedeskapi/assets/workspace").
    """
    method = method.upper()
    prefix = _ASSETS_PREFIX.match(path)
    if prefix is None:
        segments = [segment for segment in path.split("/") if segment]
        # The third segment of /rest/<api>/<version>/... is a version ("3", "1.0"), not an id.
        keep_version = len(segments) > 2 and segments[0] == "rest"
        template = "/".join(
            segment if (index == 2 and keep_version) or not _is_id(segment) else "{id}"
            for index, segment in enumerate(segments)
        )
        return f"{method} /{template}", DEFAULT_LIMIT
    template = "/".join(
        "{id}" if _is_id(segment) else segment for segment in path[prefix.end() :].split("/") if segment
    )
    return f"{method} {template}", _documented_limit(method, template)


def _is_id(segment: str) -> bool:
    # Ids are numbers, object keys ("ITSM-88"), issue keys or UUIDs; literal path words have no digit.
    return any(character.isdigit() for character in segment)


def _documented_limit(method: str, template: str) -> int:
    if template in ("object/aql/totalcount", "aql/objects", "iql/objects"):
        return SEARCH_LIMIT
    if template == "object/navlist" or template.startswith("object/navlist/"):
        return SEARCH_LIMIT
    if template.startswith("objectconnectedtickets/") or template == "objecttype/{id}/attributes":
        return HOT_PATH_LIMIT
    if (method, template) in (("GET", "object/{id}"), ("POST", "object/create")):
        return HOT_PATH_LIMIT
    return DEFAULT_LIMIT


def is_write(method: str, path: str) -> bool:
    """Tell whether a request may change the site (the read-only searches sent as POST are not writes)."""
    method = method.upper()
    if method not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    klass, _ = endpoint_class(method, path)
    return klass not in _READ_ONLY_POSTS and not klass.startswith("POST object/navlist")


def cap_page_size(query_string: bytes, cap: int) -> bytes:
    """Clamp ``maxResults``/``resultPerPage`` in a raw query string to ``cap``; keep every other byte."""
    parts = query_string.split(b"&")
    changed = False
    for index, part in enumerate(parts):
        name, separator, value = part.partition(b"=")
        if separator and name in _PAGE_SIZE_PARAMS and value.isdigit() and int(value) > cap:
            parts[index] = name + b"=" + str(cap).encode()
            changed = True
    return b"&".join(parts) if changed else query_string


class RealismStats:
    """Thread-safe counters of what the middleware saw and did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._accepted: Counter[str] = Counter()
        self._rate_limited: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    @property
    def requests(self) -> int:
        """Return the number of HTTP requests seen."""
        with self._lock:
            return self._requests

    @property
    def accepted(self) -> dict[str, int]:
        """Return, per endpoint class, the requests let through the rate limiter (faulted ones included)."""
        with self._lock:
            return dict(self._accepted)

    @property
    def rate_limited(self) -> int:
        """Return the number of 429 responses sent."""
        with self._lock:
            return sum(self._rate_limited.values())

    @property
    def rate_limited_by_class(self) -> dict[str, int]:
        """Return the number of 429 responses sent per endpoint class."""
        with self._lock:
            return dict(self._rate_limited)

    @property
    def faults(self) -> dict[str, int]:
        """Return the number of faults sent, per kind (see ``FAULT_KINDS``)."""
        with self._lock:
            return dict(self._faults)

    def snapshot(self) -> dict[str, Any]:
        """Return a consistent copy of every counter."""
        with self._lock:
            return {
                "requests": self._requests,
                "accepted": dict(self._accepted),
                "rate_limited": sum(self._rate_limited.values()),
                "rate_limited_by_class": dict(self._rate_limited),
                "faults": dict(self._faults),
            }

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._requests = 0
            self._accepted.clear()
            self._rate_limited.clear()
            self._faults.clear()

    def _count_request(self) -> None:
        with self._lock:
            self._requests += 1

    def _count_accepted(self, klass: str) -> None:
        with self._lock:
            self._accepted[klass] += 1

    def _count_rate_limited(self, klass: str) -> None:
        with self._lock:
            self._rate_limited[klass] += 1

    def _count_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1


@dataclass(frozen=True)
class _Admission:
    accepted: bool
    limit: int
    remaining: int
    seconds_until_free: float


class _SlidingWindowLimiter:
    """Count accepted requests per endpoint class over a sliding window."""

    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._accepted_at: dict[str, deque[float]] = {}

    def admit(self, klass: str, limit: int) -> _Admission:
        """Accept and record a request, or say how long until the window has room for it."""
        now = self._clock()
        with self._lock:
            stamps = self._accepted_at.setdefault(klass, deque())
            horizon = now - self._window
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
            if len(stamps) >= limit:
                # A rejected request is not recorded: only accepted ones fill the window.
                frees_at = stamps[len(stamps) - limit] + self._window
                return _Admission(False, limit, 0, max(frees_at - now, 0.0))
            stamps.append(now)
            return _Admission(True, limit, limit - len(stamps), 0.0)


@dataclass
class _Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class RealismMiddleware:
    """Pure ASGI middleware adding latency, rate limits, a page-size cap and faults to the sandbox."""

    def __init__(
        self, app: ASGIApp, config: RealismConfig, *, fault_kinds: Iterable[str] | None = None
    ) -> None:
        """Wrap ``app``; ``fault_kinds`` narrows the faults drawn (tests force one kind at a time).

        :param app: the ASGI app to wrap.
        :param config: the realism switches.
        :param fault_kinds: the kinds of fault drawn when a fault is due (default: all of ``FAULT_KINDS``).
        """
        self.app = app
        self.config = config
        self.stats = RealismStats()
        kinds = tuple(FAULT_KINDS if fault_kinds is None else fault_kinds)
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown or not kinds:
            raise ValueError(f"fault_kinds must be a non-empty subset of {FAULT_KINDS}, got {kinds!r}")
        self._fault_kinds = kinds
        self._limiter = _SlidingWindowLimiter(config.window_seconds)
        self._random_lock = threading.Lock()
        # Separate streams, so that enabling jitter does not change which requests fail.
        self._fault_random = random.Random(config.random_seed)
        self._jitter_random = random.Random(config.random_seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.config
        method: str = scope["method"]
        path: str = scope["path"]
        klass, documented_limit = endpoint_class(method, path)
        self.stats._count_request()
        if config.is_pass_through:
            self.stats._count_accepted(klass)
            await self.app(scope, receive, send)
            return

        if config.latency_ms or config.jitter_ms:
            await asyncio.sleep(self._delay_seconds())

        extra_headers: list[tuple[bytes, bytes]] = []
        if config.rate_limits:
            admission = self._limiter.admit(klass, config.rate_limit_per_minute or documented_limit)
            if not admission.accepted:
                self.stats._count_rate_limited(klass)
                await self._send_rate_limited(send, admission)
                return
            if config.retry_after:
                extra_headers = _quota_headers(admission)
        self.stats._count_accepted(klass)

        if config.page_size_cap is not None:
            capped = cap_page_size(scope.get("query_string", b""), config.page_size_cap)
            if capped != scope.get("query_string", b""):
                scope = dict(scope)
                scope["query_string"] = capped

        fault = self._draw_fault()
        if fault is None:
            await self.app(scope, receive, _adding_headers(send, extra_headers))
            return
        await self._send_fault(fault, scope, receive, send, extra_headers, write=is_write(method, path))

    def _delay_seconds(self) -> float:
        with self._random_lock:
            jitter = self._jitter_random.uniform(0, self.config.jitter_ms) if self.config.jitter_ms else 0.0
        return (self.config.latency_ms + jitter) / 1000

    def _draw_fault(self) -> str | None:
        if not self.config.fault_rate:
            return None
        with self._random_lock:
            if self._fault_random.random() >= self.config.fault_rate:
                return None
            return self._fault_random.choice(self._fault_kinds)

    def _coin(self) -> bool:
        with self._random_lock:
            return self._fault_random.random() < 0.5

    async def _send_rate_limited(self, send: Send, admission: _Admission) -> None:
        headers: list[tuple[bytes, bytes]] = []
        if self.config.retry_after:
            retry_after = max(1, math.ceil(admission.seconds_until_free))
            frees_at = datetime.now(UTC) + timedelta(seconds=admission.seconds_until_free)
            # Round up: a client waiting until the stated second must find the slot free.
            reset = frees_at.replace(microsecond=0) + timedelta(seconds=1 if frees_at.microsecond else 0)
            headers = [
                (b"retry-after", str(retry_after).encode()),
                (b"x-ratelimit-limit", str(admission.limit).encode()),
                (b"x-ratelimit-remaining", b"0"),
                (b"x-ratelimit-reset", reset.strftime("%Y-%m-%dT%H:%M:%SZ").encode()),
                (b"ratelimit-reason", b"jira-quota-per-endpoint-based"),
            ]
        await _send_whole(send, _Response(429, [_JSON, *headers], RATE_LIMIT_BODY))

    async def _send_fault(
        self,
        kind: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra_headers: list[tuple[bytes, bytes]],
        *,
        write: bool,
    ) -> None:
        """Answer with fault ``kind``; reads always run in the app unless refused by a 503 or a 502 page.

        A write is refused before the app by a 503, a 502 page or a reset (a load balancer dropping it). A cut
        or truncated answer comes after the app has applied the write: the client cannot tell it happened. A
        write answered without a body (a 204) has its connection cut instead, and so does a reset when the
        server's transport is out of reach.
        """
        if kind == SERVICE_UNAVAILABLE:
            headers = [_JSON]
            if self.config.retry_after and self._coin():
                headers.append((b"retry-after", str(SERVICE_UNAVAILABLE_RETRY_AFTER).encode()))
            self.stats._count_fault(kind)
            await _send_whole(send, _Response(503, headers, SERVICE_UNAVAILABLE_BODY))
            return
        if kind == BAD_GATEWAY_HTML:
            self.stats._count_fault(kind)
            await _send_whole(
                send, _Response(502, [(b"content-type", b"text/html; charset=utf-8")], BAD_GATEWAY_BODY)
            )
            return

        transport = _server_transport(send)
        if kind == CONNECTION_RESET and transport is None:
            # Without the server's transport a connection can only be dropped once a response has started.
            kind = CONNECTION_CUT
        if kind == CONNECTION_RESET and write:
            # A load balancer resetting the connection: the write never reaches the site.
            assert transport is not None
            self.stats._count_fault(kind)
            _reset(transport)
            await _until_disconnected(receive)
            return

        # Everything else runs in the app first; for a write that means it is applied and only the answer is
        # lost, exactly what a client of Atlassian's cloud must survive.
        response = await _run_to_buffer(self.app, scope, receive)
        response.headers.extend(extra_headers)
        if len(response.body) < 2:
            if not write:
                # Nothing to cut or truncate (e.g. a 204): deliver it untouched rather than invent a body.
                await _send_whole(send, response)
                return
            # An applied write must not look answered: with no body to damage, drop the connection instead.
            kind = CONNECTION_CUT

        if kind == CONNECTION_RESET:
            assert transport is not None
            self.stats._count_fault(kind)
            _reset(transport)
            await _until_disconnected(receive)
        elif kind == CONNECTION_CUT:
            self.stats._count_fault(kind)
            await _cut(send, receive, transport, response)
        else:
            self.stats._count_fault(kind)
            response.body = response.body[: len(response.body) // 2]
            await _send_whole(send, response)


async def _cut(
    send: Send, receive: Receive, transport: asyncio.Transport | None, response: _Response
) -> None:
    """Drop the connection halfway through ``response``, or before it when it has no body to halve."""
    if transport is not None and not response.body:
        transport.close()
        await _until_disconnected(receive)
        return
    # Announce the full length, deliver at most half: the client sees an incomplete read.
    announced = response.body or b"{}"
    headers = _with_length(_Response(response.status, response.headers, announced))
    status = response.status if response.body else 200
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": announced[: len(announced) // 2], "more_body": True})
    if transport is not None:
        # Closing ourselves flushes the partial body first and spares the server's error log.
        transport.close()
        await _until_disconnected(receive)
    # Otherwise returning with the response incomplete makes the server abort the connection.


def _quota_headers(admission: _Admission) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-ratelimit-limit", str(admission.limit).encode()),
        (b"x-ratelimit-remaining", str(admission.remaining).encode()),
    ]
    if admission.remaining < admission.limit * NEAR_LIMIT_FRACTION:
        headers.append((b"x-ratelimit-nearlimit", b"true"))
    return headers


def _adding_headers(send: Send, extra_headers: list[tuple[bytes, bytes]]) -> Send:
    if not extra_headers:
        return send

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", []), *extra_headers]
        await send(message)

    return send_with_headers


def _with_length(response: _Response) -> list[tuple[bytes, bytes]]:
    headers = [(name, value) for name, value in response.headers if name.lower() != b"content-length"]
    headers.append((b"content-length", str(len(response.body)).encode()))
    return headers


async def _send_whole(send: Send, response: _Response) -> None:
    await send({"type": "http.response.start", "status": response.status, "headers": _with_length(response)})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})


async def _run_to_buffer(app: ASGIApp, scope: Scope, receive: Receive) -> _Response:
    response = _Response(500, [], b"")
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = [(bytes(name), bytes(value)) for name, value in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, capture)
    response.body = b"".join(chunks)
    return response


def _server_transport(send: Send) -> asyncio.Transport | None:
    # ASGI has no "drop this connection" message. uvicorn's send is a bound method of its per-request cycle,
    # which holds the asyncio transport; other servers fall back to an incomplete response.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


def _reset(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # Linger 0 turns the close into a TCP RST: the client sees "connection reset by peer".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _until_disconnected(receive: Receive, timeout: float = 5.0) -> None:
    # Waiting for the server to notice the closed connection lets the app return cleanly (no 500, no log).
    async def drain() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(drain(), timeout)

"""Run an ASGI app (the sandbox) on a real socket, in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """Bind a listening TCP socket; port 0 lets the OS choose a free port."""
    # IPPROTO_TCP (not 0) makes asyncio set TCP_NODELAY; without it every keep-alive request waits ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app: Any, *, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        # h11 lets the fault injection drop a connection mid-response; httptools would do as well,
        # but one implementation everywhere keeps behaviour identical between tests and the CLI.
        http="h11",
        # The standard asyncio loop (not uvloop) in the CLI too: the fault injection drops connections
        # through asyncio transports, and tests (which run the server in a thread) use that loop anyway.
        loop="asyncio",
        timeout_keep_alive=30,
        limit_concurrency=None,
    )
    return uvicorn.Server(config)


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a daemon thread; yield its base URL (``http://host:port``) and stop on exit."""
    sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    server = _uvicorn_server(app)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="assets-sandbox", daemon=True
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the sandbox server thread died during start-up")
            threading.Event().wait(0.01)
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_forever(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on an already bound socket in the foreground until SIGINT/SIGTERM."""
    server = _uvicorn_server(app)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that was
    # installed before it; a no-op handler there turns a requested stop into a clean exit (status 0).
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Swallow the stop signal uvicorn re-raises after its graceful shutdown."""

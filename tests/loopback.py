"""Running an ASGI app on a real loopback socket: a local fake of an external service for
client tests, or the app itself for schemathesis and the browser tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


def loopback_socket() -> socket.socket:
    """A socket bound to 127.0.0.1 on an ephemeral port: its URL is known before the app that
    will serve it is built (the app's settings may need its own base URL)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def serve(
    app: Any,
    *,
    name: str = "fake server",
    sock: socket.socket | None = None,
    lifespan: str = "off",
    start_seconds: float = 10,
) -> Iterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 (`sock`, else an ephemeral port) in a thread; yield
    its base URL. `lifespan="on"` for our own app (engines, caches and jobs start with it)."""
    sock = sock or loopback_socket()
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} did not start")
        time.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

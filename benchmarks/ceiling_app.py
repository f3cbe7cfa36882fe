"""The real app plus one bare route, for the server-stack ceiling in ``bench_api.py``.

``create_app()`` builds ``edgelab.app.create_app()`` unchanged (same settings, middleware,
error handlers, metrics) and adds ``GET /_bench/static``, which returns the bytes of a
``/markets?limit=50`` body captured earlier (file named by ``EDGELAB_BENCH_STATIC_BODY``) from
memory: no dependencies, no query parsing, no cache lookup, no database. Served by uvicorn
with the same options as ``edgelab serve``, it is the most ``/markets`` could do on this stack.

Benchmark-only; it is never imported by the application. Run it with::

    uvicorn ceiling_app:create_app --factory --app-dir benchmarks ...
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

from edgelab.app import create_app as create_edgelab_app

BODY_ENV = "EDGELAB_BENCH_STATIC_BODY"
STATIC_PATH = "/_bench/static"


def create_app() -> FastAPI:
    body = Path(os.environ[BODY_ENV]).read_bytes()
    app = create_edgelab_app()

    @app.get(STATIC_PATH, include_in_schema=False)
    async def bench_static() -> Response:
        return Response(body, media_type="application/json")

    return app

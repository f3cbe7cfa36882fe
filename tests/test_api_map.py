"""The URL map (`edgelab.api`) is the whole API: no route is mounted anywhere else."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from edgelab.api import API_ROUTES, mount_api
from edgelab.app import create_app
from tests.fixtures.database import make_settings


def _operations(app: FastAPI) -> set[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_api_route_of_the_app_is_in_the_url_map(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    only_the_map = FastAPI()
    mount_api(only_the_map)
    in_app = _operations(app)
    assert in_app == _operations(only_the_map)
    assert {("GET", "/markets"), ("POST", "/api/analyze"), ("GET", "/health")} <= in_app


def test_each_router_is_mounted_once() -> None:
    routers = [id(router) for _, router in API_ROUTES]
    assert len(routers) == len(set(routers))

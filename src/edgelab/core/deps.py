"""Annotated dependencies every product uses: settings and cache owned by the app.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a thread pool, and
the hand-off costs more than the work (measured: a third of a cached request's time).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from edgelab.core.cache import Cache
from edgelab.core.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[Cache, Depends(get_cache)]

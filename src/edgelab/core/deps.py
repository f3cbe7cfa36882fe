"""Annotated dependencies every product uses: settings and cache owned by the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from edgelab.core.cache import Cache
from edgelab.core.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[Cache, Depends(get_cache)]

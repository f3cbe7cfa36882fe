"""Annotated dependencies every product uses: the app's resources, settings and cache.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a thread pool, and
the hand-off costs more than the work (measured: a third of a cached request's time).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from edgelab.core.cache import Cache
from edgelab.core.resources import Resources, resources_of
from edgelab.core.settings import Settings
from edgelab.core.storage.store import BlobStore


async def get_resources(request: Request) -> Resources:
    return resources_of(request)


async def get_settings(request: Request) -> Settings:
    return resources_of(request).settings


async def get_cache(request: Request) -> Cache:
    return resources_of(request).cache


async def get_blob_store(request: Request) -> BlobStore:
    return resources_of(request).blob_store


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[Cache, Depends(get_cache)]
BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]
"""Where uploaded files live (local directory or Vercel Blob, `EDGELAB_UPLOAD_STORE`)."""

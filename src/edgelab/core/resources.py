"""The app's long-lived objects, typed, and the hooks products fill at start-up.

One object at `app.state.resources` instead of a bag of untyped `app.state` keys read through
`getattr`. Core's own objects are fields (settings and the rate-limit policy from `create_app`;
engine, sessions, cache, jobs, limiter and blob store from the lifespan). A product keeps its
objects (API clients, buffers, stores) under their own class with `provide()` and reads them
back typed with `get()`, so core never names a product.

`Product` is what each product adds besides its routers (which `edgelab.api` mounts): its jobs,
what it opens at start-up (and closes at shutdown) and how it erases a user's data. Lower
products reach higher ones only through these hooks: account deletion (accounts) runs every
registered `erase_user`, and betting's bet detail asks for a cross-venue price provider that
predictions installs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from edgelab.core.observability import Degradation
from edgelab.core.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from edgelab.core.auth import Resolver
    from edgelab.core.cache import Cache
    from edgelab.core.clock.followed import FollowedClock
    from edgelab.core.jobs import Jobs
    from edgelab.core.ratelimit import RateLimiter, RateLimitPolicy
    from edgelab.core.storage.store import BlobStore

T = TypeVar("T")
UserEraser = Callable[[AsyncSession, "Resources", str], Awaitable[None]]
"""Deletes (or anonymises) one product's data of a user, inside the deletion's unit of work."""


@dataclass(eq=False)
class Resources:
    settings: Settings
    ratelimit_policy: RateLimitPolicy
    principal_resolver: Resolver | None = None
    user_erasers: list[UserEraser] = field(default_factory=list)
    # made in the lifespan (reading one before start-up is an AttributeError, on purpose)
    engine: AsyncEngine = field(init=False)
    sessionmaker: async_sessionmaker[AsyncSession] = field(init=False)
    cache: Cache = field(init=False)
    jobs: Jobs = field(init=False)
    blob_store: BlobStore = field(init=False)
    ratelimiter: RateLimiter | None = None
    started_monotonic: float = 0.0  # `clock.monotonic()` when the lifespan started
    followed_clock: FollowedClock | None = None  # EDGELAB_CLOCK_URL: a replay's simulated time
    metrics: CollectorRegistry | None = None  # this app's Prometheus registry
    # which backends are down and what fell back (`/health`, `edgelab_degraded_total`)
    degradation: Degradation = field(default_factory=Degradation)
    _products: dict[type[Any], Any] = field(default_factory=dict)

    def provide(self, kind: type[T], value: T) -> T:
        self._products[kind] = value
        return value

    def get(self, kind: type[T]) -> T:
        try:
            value: T = self._products[kind]
        except KeyError:
            raise LookupError(f"{kind.__name__} is not provided (is its product set up?)") from None
        return value

    def setdefault(self, kind: type[T], make: Callable[[], T]) -> T:
        """The object of `kind`, made on first use (memos that cost nothing until asked for)."""
        if kind not in self._products:
            self._products[kind] = make()
        value: T = self._products[kind]
        return value

    def find(self, kind: type[T]) -> T | None:
        """The object of `kind`, or None when no product provides one (an optional feature)."""
        value: T | None = self._products.get(kind)
        return value


def resources_of(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def resource(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A FastAPI dependency reading a product's object: `Annotated[C, Depends(resource(C))]`.

    `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool."""

    async def dependency(request: Request) -> T:
        return resources_of(request).get(kind)

    return dependency


def optional_resource(kind: type[T]) -> Callable[[Request], Awaitable[T | None]]:
    async def dependency(request: Request) -> T | None:
        return resources_of(request).find(kind)

    return dependency


@dataclass(frozen=True)
class Product:
    """What a product adds to the app at start-up, besides its routers.

    - `register_jobs(jobs, settings)`: its background tasks and schedules;
    - `start(resources, stack)`: open its clients and `provide()` them; push their closing onto
      `stack` (closed in reverse order at shutdown);
    - `erase_user`: its part of deleting an account.
    """

    name: str
    register_jobs: Callable[[Jobs, Settings], None] | None = None
    start: Callable[[Resources, AsyncExitStack], Awaitable[None]] | None = None
    erase_user: UserEraser | None = None

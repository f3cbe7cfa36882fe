"""What every product's CLI commands share: the console, settings, progress bars, one unit of
work per command, and dropping answers a server caches in Redis after a write. Also the
`db` commands (migrations are core's)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.cache import make_cache
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings

console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
MARKETS_CACHE_PREFIXES = ("markets:", "health:")


def load_settings() -> Settings:
    return Settings()


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One unit of work: commit if `work` returns, roll back if it raises."""

    async def main() -> T:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def clear_shared_cache(settings: Settings, prefixes: Iterable[str]) -> None:
    """After a write, drop cached answers a server shares with us through Redis.

    An in-process cache lives in the server's memory and expires by its TTL instead.
    """
    if not settings.redis_url:
        return
    url = settings.redis_url

    async def main() -> None:
        cache = make_cache(url)
        try:
            for prefix in prefixes:
                await cache.delete_prefix(prefix)
        finally:
            await cache.close()

    asyncio.run(main())


db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from edgelab.core import migrations

    settings = load_settings()
    migrations.upgrade(settings, revision)
    console.print(f"[green]database at {revision}[/] ({settings.database_url})")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Revert migrations down to REVISION (default: one step; `base` for all)."""
    from edgelab.core import migrations

    migrations.downgrade(load_settings(), revision)
    console.print(f"[yellow]database downgraded to {revision}[/]")


@db_app.command("current")
def db_current() -> None:
    """Show the database's current revision."""
    from edgelab.core import migrations

    migrations.current(load_settings())

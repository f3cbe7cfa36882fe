"""Async engine, session factory, declarative Base and the request's unit of work.

Services may `flush()`, never `commit()`: `get_session` commits when the route returns and
rolls back when it raises, before the response is sent (declare it with
`Depends(get_session, scope="function")`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from edgelab.core.jobs.buffer import unit_of_work_jobs
from edgelab.core.resources import resources_of
from edgelab.core.settings import Settings

if TYPE_CHECKING:
    from edgelab.core.cache import Cache

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store times in UTC with an offset")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite setup, run outside any transaction.

    The driver's own transaction handling is switched off (and BEGIN emitted by `_sqlite_begin`)
    so SAVEPOINT and RELEASE behave as SQL says; otherwise a released savepoint can commit the
    enclosing transaction. WAL lets readers run while a writer works.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # One writer at a time: a writer waits up to 30 s for another's commit rather than fail
    # (the live loop's scoring holds the write lock for seconds while jobs and requests write).
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


SQLITE_IMMEDIATE = "edgelab_sqlite_immediate"  # connection option: BEGIN IMMEDIATE


def _sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def take_write_lock(session: AsyncSession) -> None:
    """Make `session`'s next transaction a writer from its first statement. Call it before the
    session's first statement.

    On SQLite (one writer at a time, WAL) a transaction that reads and then writes fails at its
    first write, at once and whatever the busy timeout ("database is locked": its snapshot is
    stale), when another writer committed in between; one that begins IMMEDIATE waits for the
    lock instead (`busy_timeout`) and cannot fail so. PostgreSQL locks rows: nothing to do.
    """
    if session.get_bind().dialect.name == "sqlite":
        await session.connection(execution_options={SQLITE_IMMEDIATE: True})


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def unit_bind(engine: AsyncEngine, method: str) -> AsyncEngine:
    """The engine a request's unit of work runs on: on SQLite, a request that may write (any
    method but GET, HEAD and OPTIONS) begins IMMEDIATE at its first statement, so reading and
    then writing cannot fail on another writer's commit (see `take_write_lock`); it waits for
    the lock instead."""
    if method.upper() in SAFE_METHODS or engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SQLITE_IMMEDIATE: True})


def is_sqlite_busy(exc: BaseException) -> bool:
    """A SQLite write refused for the lock (see `take_write_lock`)."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


# SQLite's messages when its file cannot be used (a volume gone, a full or failing disk)
_SQLITE_UNAVAILABLE = (
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
)
# PostgreSQL's (through asyncpg) for a database that refuses or dropped its connections
_POSTGRESQL_UNAVAILABLE = (
    "not currently accepting connections",
    "does not allow connections",
    "connection is closed",
    "connection was closed",
    "terminating connection",
    "the database system is",  # starting up, shutting down, in recovery mode
)
_UNAVAILABLE_MESSAGES = _SQLITE_UNAVAILABLE + _POSTGRESQL_UNAVAILABLE


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or used at all (not a bad query): a connection refused,
    dropped (`pg_terminate_backend`, a restart) or timed out, the pool exhausted, a database
    that refuses connections, SQLite's file gone. The request is answered 503
    `database_unavailable`; the pool replaces dead connections by itself (`pool_pre_ping`).
    """
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # the driver's error may be wrapped
        seen.add(id(current))
        if isinstance(current, PoolTimeoutError):
            return True
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            message = str(current.orig).lower()
            if any(part in message for part in _UNAVAILABLE_MESSAGES):
                return True
        if _is_asyncpg_unavailable(current):
            return True
        if isinstance(current, OSError | TimeoutError) and _raised_in_driver(current):
            return True  # connecting: refused, reset, unreachable, timed out
        current = current.__cause__ or current.__context__
    return False


_DRIVER_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def _raised_in_driver(exc: BaseException) -> bool:
    """Raised while SQLAlchemy or a driver was working (not a file or socket of a route's)."""
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def _is_asyncpg_unavailable(exc: BaseException) -> bool:
    """asyncpg's errors for a server that is going away, starting, or refusing connections."""
    module = type(exc).__module__
    if not module.startswith("asyncpg"):
        return False
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    # 08: connection exception; 57P: operator intervention (shutdown, terminated, cannot
    # connect now); 53300: too many connections
    if sqlstate.startswith(("08", "57P")) or sqlstate == "53300":
        return True
    message = str(exc).lower()
    return type(exc).__name__ == "ConnectionDoesNotExistError" or any(
        part in message for part in _POSTGRESQL_UNAVAILABLE
    )


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    url = url or settings.database_url
    kwargs: dict[str, Any] = {"echo": settings.database_echo}
    if url.startswith("sqlite"):
        path = settings.sqlite_path if url == settings.database_url else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if ":memory:" in url:
            kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit on success, roll back on error, before sending.

    Jobs the request enqueued (`core.jobs.enqueue`) are sent after the commit and dropped on
    rollback.
    """
    resources = resources_of(request)
    maker = resources.sessionmaker
    jobs = getattr(resources, "jobs", None)  # None only in an app started without jobs
    async with AsyncExitStack() as stack:
        buffer = await stack.enter_async_context(unit_of_work_jobs(jobs)) if jobs else None
        async with maker(bind=unit_bind(resources.engine, request.method)) as session:
            try:
                yield session
            except BaseException as exc:
                await finish_failed_unit_of_work(session, exc)
                raise
            else:
                if buffer is not None and request.method.upper() not in SAFE_METHODS:
                    buffer.stage(session)  # the job outbox, committed with the work (Redis)
                touched = session.in_transaction()  # it reached the database
                await session.commit()
                if touched:
                    resources.degradation.succeeded("database")
        if buffer is not None:
            await buffer.flush()


async def finish_failed_unit_of_work(session: AsyncSession, exc: BaseException) -> None:
    """Roll back, unless the error asks to keep what was recorded (see AppError)."""
    if getattr(exc, "persist_changes", False):
        await session.commit()
    else:
        await session.rollback()


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """For read-only routes that answer from a cache: open a session only on a miss."""
    return resources_of(request).sessionmaker


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionMakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


async def cached_read(
    cache: Cache,
    sessions: async_sessionmaker[AsyncSession],
    key: str,
    ttl: float,
    build: Callable[[AsyncSession], Awaitable[bytes]],
    *,
    commit: bool = False,
) -> bytes:
    """An answer from the cache, filled by `build` in a session of its own.

    The fill cannot use the request's unit of work: a stale entry is refreshed in the
    background and may finish after the request (`Cache.get_or_fill`). `commit` for fills that
    store what they fetched (a price history backfilled from upstream); otherwise the session
    only reads and is closed without a commit.
    """

    async def fill() -> bytes:
        async with sessions() as session:
            body = await build(session)
            if commit:
                await session.commit()
            return body

    return await cache.get_or_fill(key, ttl, fill)

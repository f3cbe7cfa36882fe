"""What the chess analyzer adds to the app at start-up: the review job and the Chess.com client."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.chess.chesscom import ChesscomClient
from edgelab.core.jobs import Jobs
from edgelab.core.resources import Product, Resources
from edgelab.core.settings import Settings


def _register_jobs(jobs: Jobs, settings: Settings) -> None:
    from edgelab.chess.jobs import register_chess_jobs

    register_chess_jobs(jobs, settings)


async def _start(resources: Resources, stack: AsyncExitStack) -> None:
    client = ChesscomClient(resources.settings, resources.cache)  # no I/O until first use
    resources.provide(ChesscomClient, client)
    stack.push_async_callback(client.aclose)


async def _erase_user(session: AsyncSession, resources: Resources, user_id: str) -> None:
    from edgelab.chess.service import delete_user_reviews

    await delete_user_reviews(session, user_id)


PRODUCT = Product(name="chess", register_jobs=_register_jobs, start=_start, erase_user=_erase_user)

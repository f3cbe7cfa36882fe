"""HTTP layer of the live loop's record: `GET /admin/runs` (admins only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from edgelab.betting.live import service
from edgelab.betting.live.schemas import LoopRunList, LoopRunOut
from edgelab.core.auth import AdminCaller
from edgelab.core.db import SessionDep
from edgelab.core.errors import error_responses

router = APIRouter(tags=["admin"])


@router.get(
    "/runs",
    response_model=LoopRunList,
    responses=error_responses(401, 403, 422),
    summary="The live loop's runs, newest first: calls, credits, rows written, errors",
)
async def list_runs(
    _caller: AdminCaller,
    session: SessionDep,
    job: Annotated[Literal["betting.poll_odds", "betting.poll_scores"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> LoopRunList:
    """Admins only: `Authorization: Bearer <EDGELAB_ADMIN_TOKEN>` or a user with the admin
    role. A run is recorded when it called The Odds API, wrote something or failed."""
    items, total = await service.list_runs(session, job=job, limit=limit, offset=offset)
    return LoopRunList(
        items=[LoopRunOut.model_validate(r) for r in items], total=total, limit=limit, offset=offset
    )

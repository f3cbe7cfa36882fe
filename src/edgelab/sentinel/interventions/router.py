"""HTTP layer of interventions (`/api/interventions`): analysts and admins only (`AnalystUser`).

Operators poll `GET /api/interventions?status=active&updated_since=...` with an analyst's API
key and enforce what they find for their players; for our own users the platform enforces it
(see `interventions.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from edgelab.core.auth import AnalystUser
from edgelab.core.db import ReadSessionMakerDep, SessionDep
from edgelab.core.deps import SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.formats import AwareIsoDatetime
from edgelab.core.ratelimit import rate_limit
from edgelab.sentinel.anthropic_client import ClaudeExplainer, get_explainer
from edgelab.sentinel.interventions import service as interventions
from edgelab.sentinel.interventions.schemas import (
    InterventionCancel,
    InterventionCreate,
    InterventionList,
    InterventionOut,
    InterventionStatus,
    InterventionType,
    ListFilters,
)
from edgelab.sentinel.models import SentinelIntervention
from edgelab.sentinel.schemas import SEED_PLAYER_ID_PATTERN

router = APIRouter(tags=["interventions"])


def _limited(scope: str) -> list[Any]:
    """Per caller (an operator's API key resolves to its analyst) at EDGELAB_RATE_LIMIT_SENTINEL,
    whatever the tier: at least the 100 requests a minute per key the seed contract promises."""
    return [Depends(rate_limit(scope, policy_limit="sentinel"))]


InterventionIdPath = Annotated[
    str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$", examples=["int_..."])
]


def _out(row: SentinelIntervention) -> InterventionOut:
    return InterventionOut(
        id=row.id,
        player_id=row.player_id,
        intervention_type=row.intervention_type,  # type: ignore[arg-type]
        analyst_id=row.analyst_id,
        created_by=row.created_by,
        reason=row.reason,
        note=row.note,
        duration_hours=row.duration_hours,
        status=interventions.status_of(row),  # type: ignore[arg-type]
        created_at=row.created_at,
        updated_at=row.updated_at,
        ends_at=row.ends_at,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
        cancel_reason=row.cancel_reason,
        enforced_by_edgelab=row.user_id is not None,
        effects=dict(row.effects or {}),
    )


@router.post(
    "",
    dependencies=_limited("POST /api/interventions"),
    status_code=201,
    response_model=InterventionOut,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def create_intervention(
    body: InterventionCreate,
    principal: AnalystUser,
    session: SessionDep,
    settings: SettingsDep,
    sessions: ReadSessionMakerDep,
    explainer: Annotated[ClaudeExplainer | None, Depends(get_explainer)],
) -> InterventionOut:
    """Record a decision about a Sentinel player (404 `player_not_found` if unknown). For our
    own users it takes effect at once: a timeout restricts the account, a nudge e-mails them
    (a message written before the unit of work's first statement: Claude never holds it up)."""
    nudge = await interventions.draft_nudge(sessions, explainer, body)
    row = await interventions.create_intervention(session, settings, principal, body, nudge=nudge)
    return _out(row)


@router.get(
    "",
    dependencies=_limited("GET /api/interventions"),
    response_model=InterventionList,
    responses=error_responses(401, 403, 422, 429),
)
async def list_interventions(
    _: AnalystUser,
    session: SessionDep,
    player_id: Annotated[str | None, Query(pattern=SEED_PLAYER_ID_PATTERN)] = None,
    intervention_type: InterventionType | None = None,
    status: InterventionStatus | None = None,
    active: Annotated[
        bool | None, Query(description="true: status active; false: expired or cancelled.")
    ] = None,
    updated_since: Annotated[
        AwareIsoDatetime | None,
        Query(description="Only those changed after this (ISO 8601 with an offset)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> InterventionList:
    """Interventions, most recently changed first; filters combine with AND."""
    filters = ListFilters(
        player_id=player_id,
        intervention_type=intervention_type,
        status=status,
        active=active,
        updated_since=updated_since,
    )
    rows, total = await interventions.list_interventions(
        session, filters, limit=limit, offset=offset
    )
    return InterventionList(items=[_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/{intervention_id}",
    dependencies=_limited("GET /api/interventions/{id}"),
    response_model=InterventionOut,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def get_intervention(
    intervention_id: InterventionIdPath, _: AnalystUser, session: SessionDep
) -> InterventionOut:
    return _out(await interventions.get_intervention(session, intervention_id))


@router.post(
    "/{intervention_id}/cancel",
    dependencies=_limited("POST /api/interventions/{id}/cancel"),
    response_model=InterventionOut,
    responses=error_responses(401, 403, 404, 409, 422, 429),
)
async def cancel_intervention(
    intervention_id: InterventionIdPath,
    principal: AnalystUser,
    session: SessionDep,
    body: Annotated[InterventionCancel | None, Body()] = None,
) -> InterventionOut:
    """Cancel an active intervention (409 if already cancelled or expired). Cancelling our own
    user's timeout lifts the restriction (unless another timeout still runs). The record stays:
    cancelling is a change of status, audited, not a deletion."""
    row = await interventions.cancel_intervention(
        session, principal, intervention_id, body.reason if body else None
    )
    return _out(row)

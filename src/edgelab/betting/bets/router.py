"""HTTP layer of the bet tracker (`/me/bets`, `/me/performance`): signed-in users, any tier."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from edgelab.betting.ab.service import bet_attribution
from edgelab.betting.bets import service as bets
from edgelab.betting.bets.schemas import (
    BetAttribution,
    BetCreate,
    BetDetailOut,
    BetList,
    BetOut,
    Performance,
)
from edgelab.betting.markets.devig import american_to_decimal
from edgelab.core.auth import CurrentUser, UnrestrictedUser
from edgelab.core.clock import utcnow
from edgelab.core.db import SessionDep
from edgelab.core.deps import SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import rate_limit

router = APIRouter(tags=["bets"])
BetIdPath = Annotated[str, Path(min_length=1, max_length=40)]
CSV_COLUMNS = [*BetOut.model_fields, "profit_minor"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (a bookmaker typed `=...`) is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def bets_csv(items: list[BetOut]) -> str:
    """One row per bet, the JSON fields' names as the header; times ISO 8601 UTC, amounts
    in minor units, `profit_minor` = payout - stake (blank while open)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        row = item.model_dump(mode="json")
        payout = row.get("payout_minor")
        row["profit_minor"] = None if payout is None else payout - row["stake_minor"]
        writer.writerow(["" if row[c] is None else _csv_cell(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


@router.post(
    "/me/bets",
    status_code=201,
    dependencies=[Depends(rate_limit("POST /me/bets"))],
    response_model=BetOut,
    responses={
        **error_responses(400, 401, 403, 404, 422, 429),
        200: {"model": BetOut, "description": "Already recorded (same external_id)."},
    },
)
async def record_bet(
    body: BetCreate,
    principal: UnrestrictedUser,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> BetOut:
    """Record a bet you placed; it is settled from the result and measured against the close.
    Refused (403 `account_restricted`) during a responsible-gambling time-out."""
    odds = (
        body.odds_decimal
        if body.odds_decimal is not None
        else float(american_to_decimal(float(body.odds_american or 0)))
    )
    bet, created = await bets.record_bet(
        session,
        settings,
        principal,
        bets.NewBet(
            market_id=body.market_id,
            odds_decimal=round(odds, 6),
            stake_minor=body.stake_minor,
            currency=body.currency,
            bookmaker=body.bookmaker,
            placed_at=body.placed_at or utcnow(),
            line=body.line,
            external_id=body.external_id,
        ),
    )
    if not created:
        response.status_code = 200
    return BetOut.model_validate(bet)


@router.get(
    "/me/bets",
    dependencies=[Depends(rate_limit("GET /me/bets"))],
    response_model=BetList,
    responses=error_responses(401, 422, 429),
)
async def list_bets(
    principal: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BetList:
    items, total = await bets.list_bets(session, principal, limit=limit, offset=offset)
    return BetList(
        items=[BetOut.model_validate(b) for b in items], total=total, limit=limit, offset=offset
    )


@router.get(
    "/me/bets.csv",
    dependencies=[Depends(rate_limit("GET /me/bets.csv"))],
    response_class=Response,
    responses={
        **error_responses(401, 429),
        200: {"content": {"text/csv": {}}, "description": "Every bet, oldest placed first."},
    },
)
async def export_bets(principal: CurrentUser, session: SessionDep) -> Response:
    """All your bets as CSV (a download): the columns are `GET /me/bets`' fields plus
    `profit_minor`."""
    items = [BetOut.model_validate(b) for b in await bets.all_bets(session, principal)]
    return Response(
        bets_csv(items),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="edgelab-bets.csv"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/me/bets/{bet_id}",
    dependencies=[Depends(rate_limit("GET /me/bets/{id}"))],
    response_model=BetDetailOut,
    responses=error_responses(401, 404, 422, 429),
)
async def get_bet(
    bet_id: BetIdPath, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> BetDetailOut:
    """The bet, and the A/B exposure it is attributed to (`attribution`, null if none)."""
    out = BetDetailOut.model_validate(await bets.get_bet(session, principal, bet_id))
    found = await bet_attribution(
        session, out.id, settings.ab_experiment, settings.ab_attribution_days
    )
    if found is not None:
        out.attribution = BetAttribution(arm=found.arm, rank=found.rank, shown_at=found.shown_at)
    return out


@router.delete(
    "/me/bets/{bet_id}",
    status_code=204,
    dependencies=[Depends(rate_limit("DELETE /me/bets/{id}"))],
    responses=error_responses(401, 404, 422, 429),
)
async def delete_bet(bet_id: BetIdPath, principal: CurrentUser, session: SessionDep) -> Response:
    """Remove a bet recorded by mistake."""
    await bets.delete_bet(session, principal, bet_id)
    return Response(status_code=204)


@router.get(
    "/me/performance",
    dependencies=[Depends(rate_limit("GET /me/performance"))],
    response_model=Performance,
    responses=error_responses(401, 429),
)
async def performance(principal: CurrentUser, session: SessionDep) -> Performance:
    """ROI with a bootstrap interval and CLV per bet and on average, by market type, month and
    book, with the cumulative profit, the CLV histogram and a plain verdict. Bets without a
    closing-line value count in ROI, not in CLV (`clv_bets` is the CLV sample)."""
    return Performance.of(await bets.performance(session, principal))

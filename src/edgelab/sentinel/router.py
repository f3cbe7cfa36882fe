"""HTTP layer of Sentinel. Every route is for analysts and operators: the `analyst` or `admin`
role (`AnalystUser`); anyone else signed in gets 403 `role_required`, anonymous callers 401.
An operator's systems call the bulk endpoints with an analyst's personal API key."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from edgelab.accounts.uploads.router import UploadStoreDep
from edgelab.core.auth import READS_ONLY, AnalystUser
from edgelab.core.db import SessionDep
from edgelab.core.deps import ResourcesDep, SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.formats import AwareIsoDatetime
from edgelab.core.ratelimit import rate_limit
from edgelab.core.settings import Settings
from edgelab.sentinel import service
from edgelab.sentinel.anthropic_client import ClaudeExplainer, get_explainer
from edgelab.sentinel.assessment import components, risk_assessment
from edgelab.sentinel.betlog import imports, ingest, timeline
from edgelab.sentinel.betlog.imports import BetImport, BetImportResult
from edgelab.sentinel.models import SentinelBet, SentinelPlayer, SentinelScore
from edgelab.sentinel.schemas import (
    ACTIVITY_ID_PATTERN,
    PLAYER_ID_PATTERN,
    ActivityPage,
    AnalyzeRequest,
    BetActivity,
    BetBatch,
    Category,
    IngestResult,
    LimitChangeBatch,
    PlayerList,
    PlayerOut,
    PlayerUpdate,
    RiskAssessment,
    RunOut,
    ScoreHistory,
    ScoreOut,
    TopFeature,
    TransactionActivity,
    TransactionBatch,
)

router = APIRouter(tags=["sentinel"])
PlayerIdPath = Annotated[str, Path(pattern=PLAYER_ID_PATTERN, examples=["PLR_10042_NJ"])]
ExplainerDep = Annotated[ClaudeExplainer | None, Depends(get_explainer)]


def _in_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("the time is out of range in UTC") from None


UTCQueryTime = Annotated[AwareIsoDatetime, AfterValidator(_in_utc)]


def _score_out(score: SentinelScore) -> ScoreOut:
    return ScoreOut(
        scored_at=score.scored_at,
        as_of=score.as_of,
        composite_risk_score=score.composite,
        risk_category=score.risk_category,  # type: ignore[arg-type]
        component_scores=components(score),
        absent_components=[service.api_name(c) for c in score.absent or []],
        top_features=[TopFeature(**f) for f in score.top_features or []],
    )


def _player_out(
    player: SentinelPlayer, score: SentinelScore | None, settings: Settings
) -> PlayerOut:
    return PlayerOut(
        player_id=player.player_id,
        source=player.source,
        time_zone=service.effective_zone(player, settings),
        time_zone_is_default=player.time_zone is None,
        gamalyze_score=player.gamalyze_score,
        last_activity_at=player.last_activity_at,
        needs_rescore=player.scored_version != player.activity_version,
        score=_score_out(score) if score is not None else None,
    )


def _activity_out(entry: timeline.Entry) -> BetActivity | TransactionActivity:
    row = entry.row
    if isinstance(row, SentinelBet):
        return BetActivity(
            id=f"bet_{row.id}",
            at=row.placed_at,
            external_id=row.external_id,
            source=row.source,
            sport=row.sport,
            market_type=row.market_type,
            is_live=row.is_live,
            odds_decimal=row.odds_decimal,
            stake_minor=row.stake_minor,
            payout_minor=row.payout_minor,
            currency=row.currency,
            result=row.status,  # type: ignore[arg-type]
            settled_at=row.settled_at,
        )
    return TransactionActivity(
        id=f"tx_{row.id}",
        at=row.occurred_at,
        external_id=row.external_id,
        source=row.source,
        type=row.kind,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        amount_minor=row.amount_minor,
        currency=row.currency,
    )


@router.post(
    "/sentinel/bets", response_model=IngestResult, responses=error_responses(401, 403, 422)
)
async def ingest_bets(body: BetBatch, _: AnalystUser, session: SessionDep) -> IngestResult:
    """Operator bulk upload of bets (1-10,000), all-or-nothing: a bad row rejects the batch with
    422 listing every bad row. Idempotent on `external_id`: a row already stored is counted in
    `duplicates` and changes nothing."""
    return await ingest.ingest_bets(session, body.bets)


@router.post(
    "/sentinel/transactions", response_model=IngestResult, responses=error_responses(401, 403, 422)
)
async def ingest_transactions(
    body: TransactionBatch, _: AnalystUser, session: SessionDep
) -> IngestResult:
    """Operator bulk upload of deposits, withdrawals and reversed withdrawals (1-10,000), with
    the same all-or-nothing validation and idempotency as bets."""
    return await ingest.ingest_transactions(session, body.transactions)


@router.post(
    "/sentinel/limit-changes",
    response_model=IngestResult,
    responses=error_responses(401, 403, 422),
)
async def ingest_limit_changes(
    body: LimitChangeBatch, _: AnalystUser, session: SessionDep
) -> IngestResult:
    """Operator bulk upload of players' deposit, loss, wager and session limit changes
    (1-10,000), with the same all-or-nothing validation and idempotency as bets. Raising or
    removing a limit feeds the behavioural assessment; a new change makes the player due for
    rescoring."""
    return await ingest.ingest_limit_changes(session, body.limit_changes)


@router.get(
    "/sentinel/players", response_model=PlayerList, responses=error_responses(401, 403, 422)
)
async def list_players(
    _: AnalystUser,
    session: SessionDep,
    settings: SettingsDep,
    category: Category | None = None,
    watchlist: Annotated[
        bool | None, Query(description="true: only players on the analysts' watchlist.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PlayerList:
    """Scored players ranked by composite risk score, highest first (ties by player id).
    With `watchlist=true`: the players with an active watchlist intervention, scored or not
    (unscored last)."""
    items, total = await service.list_players(
        session, category=category, limit=limit, offset=offset, watchlist=bool(watchlist)
    )
    return PlayerList(
        items=[_player_out(p, s, settings) for p, s in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/sentinel/players/{player_id}",
    response_model=PlayerOut,
    responses=error_responses(401, 403, 404, 422),
)
async def get_player(
    player_id: PlayerIdPath, _: AnalystUser, session: SessionDep, settings: SettingsDep
) -> PlayerOut:
    player = await service.get_player(session, player_id)
    score = (await service.latest_scores(session, [player.pk])).get(player.pk)
    return _player_out(player, score, settings)


@router.put(
    "/sentinel/players/{player_id}",
    response_model=PlayerOut,
    responses=error_responses(401, 403, 422),
)
async def update_player(
    player_id: PlayerIdPath,
    body: PlayerUpdate,
    _: AnalystUser,
    session: SessionDep,
    settings: SettingsDep,
) -> PlayerOut:
    """Set a player's IANA time zone (null: back to EDGELAB_SENTINEL_DEFAULT_TZ) and/or external
    self-assessment score; creates the player if new. A change makes them due for rescoring."""
    player = await service.update_player(session, player_id, body.model_dump(exclude_unset=True))
    score = (await service.latest_scores(session, [player.pk])).get(player.pk)
    return _player_out(player, score, settings)


@router.get(
    "/sentinel/players/{player_id}/scores",
    response_model=ScoreHistory,
    responses=error_responses(401, 403, 404, 422),
)
async def player_scores(
    player_id: PlayerIdPath,
    _: AnalystUser,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=3650)] = 90,
) -> ScoreHistory:
    """The player's scores of the last `days` days, oldest first (one per scoring run that
    found new activity)."""
    player = await service.get_player(session, player_id)
    rows = await service.score_history(session, player, days=days)
    return ScoreHistory(player_id=player_id, days=days, items=[_score_out(s) for s in rows])


@router.get(
    "/sentinel/players/{player_id}/activity",
    response_model=ActivityPage,
    responses=error_responses(401, 403, 404, 422),
)
async def player_activity(
    player_id: PlayerIdPath,
    _: AnalystUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        UTCQueryTime | None,
        Query(description="Only rows strictly older than this time (ISO 8601 with offset)."),
    ] = None,
    before_id: Annotated[
        str | None,
        Query(
            pattern=ACTIVITY_ID_PATTERN,
            description="With `before`: the id of the last item seen (`next_before_id`), so "
            "rows at that same instant are neither skipped nor repeated.",
        ),
    ] = None,
) -> ActivityPage:
    """The player's bets and deposits/withdrawals merged, newest first, money in minor units
    of the stored currency. Page with `before` + `before_id` = the previous page's
    `next_before` + `next_before_id` (a keyset: stable while new rows arrive)."""
    if before_id is not None and before is None:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "before"),
                    "msg": "before_id needs before (pass next_before with next_before_id)",
                    "type": "missing",
                    "input": None,
                }
            ]
        )
    player = await service.get_player(session, player_id)
    cursor = timeline.parse_cursor(before, before_id) if before is not None else None
    page = await timeline.player_activity(session, player, limit=limit, before=cursor)
    following = page.next_cursor
    return ActivityPage(
        player_id=player.player_id,
        limit=limit,
        items=[_activity_out(e) for e in page.entries],
        next_before=following.at if following is not None else None,
        next_before_id=following.activity_id if following is not None else None,
    )


@router.get("/sentinel/runs", response_model=list[RunOut], responses=error_responses(401, 403, 422))
async def runs(
    _: AnalystUser, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[RunOut]:
    """The latest scoring runs: mode, players scored, rows read, duration, errors."""
    from edgelab.sentinel.rescore import latest_runs

    return [RunOut.model_validate(r) for r in await latest_runs(session, limit)]


@router.post(
    "/api/analytics/analyze-player",
    dependencies=[
        Depends(rate_limit("POST /api/analytics/analyze-player", policy_limit="sentinel"))
    ],
    response_model=RiskAssessment,
    responses=error_responses(401, 403, 404, 422, 429),
    openapi_extra=READS_ONLY,  # an assessment asked for: a read-only key may ask
)
async def analyze_player(
    body: AnalyzeRequest,
    _: AnalystUser,
    resources: ResourcesDep,
    explainer: ExplainerDep,
) -> RiskAssessment:
    """The seed contract: a player's RiskAssessment (rescored first if they have new activity),
    with the 90-day history and a nudge for the player when asked. Its unit of work commits
    before Claude is asked (`assessment.py`), so no request's write waits on Claude."""
    return await risk_assessment(resources, explainer, body)


@router.post(
    "/sentinel/imports",
    response_model=BetImportResult,
    responses=error_responses(400, 401, 403, 404, 422, 503),
)
async def import_upload(
    body: BetImport, principal: AnalystUser, session: SessionDep, store: UploadStoreDep
) -> BetImportResult:
    """Import a bet-history CSV uploaded through `POST /uploads` (kind `bet_history`, the bulk
    layout), with the validation and idempotency of `edgelab sentinel import-bets`: any bad row
    rejects the file (422 listing the rows) and nothing is written; a repeat import stores
    nothing new (rows counted as duplicates)."""
    result = await imports.import_upload(session, store, principal, body.upload_id)
    return BetImportResult(upload_id=body.upload_id, **result.model_dump())

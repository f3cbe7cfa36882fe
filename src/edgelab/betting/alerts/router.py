"""HTTP layer of alerts: a paid user's rules and sent alerts, and the sign-in-free unsubscribe."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from edgelab.betting.alerts import service as alerts
from edgelab.betting.alerts.schemas import (
    AlertList,
    AlertRuleCreate,
    AlertRuleList,
    AlertRuleOut,
    AlertRuleUpdate,
    DeliveredAlert,
    Unsubscribed,
)
from edgelab.core.auth import PaidUser
from edgelab.core.db import SessionDep
from edgelab.core.deps import SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import rate_limit

router = APIRouter(tags=["alerts"])
RuleIdPath = Annotated[
    str,
    Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$", description="Rule id."),
]


@router.post(
    "/rules",
    dependencies=[Depends(rate_limit("POST /alerts/rules"))],
    status_code=201,
    response_model=AlertRuleOut,
    responses=error_responses(401, 403, 409, 422, 429),
)
async def create_rule(
    body: AlertRuleCreate, principal: PaidUser, session: SessionDep
) -> AlertRuleOut:
    """At most 20 rules a user (409 `alert_rule_limit_reached` beyond)."""
    rule = await alerts.create_rule(session, principal.id, body.model_dump())
    return AlertRuleOut.model_validate(rule)


@router.get(
    "/rules",
    dependencies=[Depends(rate_limit("GET /alerts/rules"))],
    response_model=AlertRuleList,
    responses=error_responses(401, 403, 429),
)
async def list_rules(principal: PaidUser, session: SessionDep) -> AlertRuleList:
    rules = await alerts.list_rules(session, principal.id)
    return AlertRuleList(
        items=[AlertRuleOut.model_validate(r) for r in rules],
        max_rules=alerts.MAX_RULES_PER_USER,
    )


@router.get(
    "/rules/{rule_id}",
    dependencies=[Depends(rate_limit("GET /alerts/rules/{id}"))],
    response_model=AlertRuleOut,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def get_rule(rule_id: RuleIdPath, principal: PaidUser, session: SessionDep) -> AlertRuleOut:
    return AlertRuleOut.model_validate(await alerts.get_rule(session, principal.id, rule_id))


@router.patch(
    "/rules/{rule_id}",
    dependencies=[Depends(rate_limit("PATCH /alerts/rules/{id}"))],
    response_model=AlertRuleOut,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def update_rule(
    rule_id: RuleIdPath, body: AlertRuleUpdate, principal: PaidUser, session: SessionDep
) -> AlertRuleOut:
    """Only the fields sent change."""
    changes = body.model_dump(exclude_unset=True)
    return AlertRuleOut.model_validate(
        await alerts.update_rule(session, principal.id, rule_id, changes)
    )


@router.delete(
    "/rules/{rule_id}",
    dependencies=[Depends(rate_limit("DELETE /alerts/rules/{id}"))],
    status_code=204,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def delete_rule(rule_id: RuleIdPath, principal: PaidUser, session: SessionDep) -> Response:
    """Markets the rule already sent stay sent (they are not e-mailed again)."""
    await alerts.delete_rule(session, principal.id, rule_id)
    return Response(status_code=204)


@router.get(
    "",
    dependencies=[Depends(rate_limit("GET /alerts"))],
    response_model=AlertList,
    responses=error_responses(401, 403, 422, 429),
)
async def list_alerts(
    principal: PaidUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertList:
    """The alerts e-mailed to you, newest first."""
    sent, total = await alerts.list_sent(session, principal.id, limit=limit, offset=offset)
    items = [
        DeliveredAlert(
            market_id=a.delivery.outcome_id,
            rule_id=a.delivery.rule_id,
            rule_name=a.rule_name,
            algorithm=a.delivery.algorithm,  # type: ignore[arg-type]
            value_score=a.delivery.value_score,
            odds_decimal=a.delivery.odds_decimal,
            line=a.delivery.line,
            market_type=a.market.market_type,  # type: ignore[arg-type]
            outcome_label=a.outcome.label,
            home_team=a.game.home_team,
            away_team=a.game.away_team,
            slate_date=a.delivery.slate_date,
            tip_time=a.game.tip_time,
            sent_at=a.delivery.created_at,
        )
        for a in sent
    ]
    return AlertList(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/unsubscribe",
    dependencies=[Depends(rate_limit("GET /alerts/unsubscribe"))],
    response_model=Unsubscribed,
    responses=error_responses(403, 422, 429),
)
async def unsubscribe(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[
        str, Query(min_length=1, max_length=200, description="From the alert e-mail's link.")
    ],
) -> Unsubscribed:
    """Stop alert e-mails, without signing in: the link's token is signed for one user.

    Rules are kept; turn e-mails back on with `PATCH /me` `{"alert_preferences": {"email": true}}`.
    """
    await alerts.unsubscribe(session, settings, token)
    return Unsubscribed(
        message="You will get no more alert e-mails. Your rules are kept: turn e-mails back on "
        "in your profile whenever you like."
    )

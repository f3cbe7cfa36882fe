"""The seed contract's RiskAssessment (`POST /api/analytics/analyze-player`): a player's
current score (rescored first when they have activity not yet scored), explained by Claude when
it is configured and answers, by the deterministic template otherwise (`anthropic_client`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import utcnow
from edgelab.core.settings import Settings
from edgelab.sentinel import explain, service
from edgelab.sentinel.anthropic_client import ClaudeExplainer, explanation, facts_for_prompt
from edgelab.sentinel.models import SentinelScore
from edgelab.sentinel.schemas import (
    AnalyzeRequest,
    ComponentScores,
    HistoryPoint,
    RiskAssessment,
    TopFeature,
)


def components(score: SentinelScore) -> ComponentScores:
    return ComponentScores(
        loss_chase=score.loss_chase,
        bet_escalation=score.bet_escalation,
        market_drift=score.market_drift,
        temporal_risk=score.temporal_risk,
        gamalyze=score.behavioural,
    )


async def risk_assessment(
    session: AsyncSession,
    settings: Settings,
    explainer: ClaudeExplainer | None,
    request: AnalyzeRequest,
) -> RiskAssessment:
    """The assessment, with the 90-day history and a nudge for the player when asked; the
    explanation never fails the request (`explanation_source` says who wrote it)."""
    a = await service.assess_player(
        session, settings, request.player_id, include_history=request.include_history
    )
    score = a.score
    absent = list(score.absent or [])
    weights = service.effective_weights(absent)
    absent_api = [service.api_name(c) for c in absent]
    action, detail = service.ACTIONS[score.risk_category]
    top = list(score.top_features or [])
    notes = [
        "Components are 0-1 relative to the player's own history and to the population as of "
        "the last full scoring run; the composite is their weighted mean.",
    ]
    if absent:
        notes.append(
            "Absent components (" + ", ".join(absent_api) + ") are left out and the composite "
            "re-weighted over the rest; `gamalyze` carries the behavioural assessment."
        )
    component_scores = components(score)
    written = await explanation(
        explainer,
        facts_for_prompt(
            category=score.risk_category,
            composite=score.composite,
            components=component_scores.model_dump(),
            weights=weights,
            top_features=top,
            absent=absent_api,
        ),
        explain.explain(
            category=score.risk_category, composite=score.composite, top_features=top, absent=absent
        ),
    )
    if written.fallback_reason is not None:
        notes.append(
            f"Claude could not write the explanation ({written.fallback_reason}): the template did."
        )
    return RiskAssessment(
        player_id=a.player.player_id,
        composite_risk_score=score.composite,
        risk_category=score.risk_category,  # type: ignore[arg-type]
        component_scores=component_scores,
        ai_explanation=written.text,
        explanation_source=written.source,  # type: ignore[arg-type]
        recommended_action=action,  # type: ignore[arg-type]
        recommended_action_detail=detail,
        generated_at=utcnow(),
        scored_at=score.scored_at,
        as_of=score.as_of,
        weights=weights,
        absent_components=absent_api,
        reweighted=bool(absent),
        top_features=[TopFeature(**f) for f in top],
        notes=notes,
        history=(
            [
                HistoryPoint(
                    scored_at=h.scored_at,
                    composite_risk_score=h.composite,
                    risk_category=h.risk_category,  # type: ignore[arg-type]
                )
                for h in a.history
            ]
            if a.history is not None
            else None
        ),
        nudge=explain.nudge(top_features=top) if request.generate_nudge else None,
        nudge_source="template" if request.generate_nudge else None,
    )

"""The seed contract's RiskAssessment (`POST /api/analytics/analyze-player`): a player's
current score (rescored first when they have activity not yet scored), explained by Claude when
it is configured and answers, by the deterministic template otherwise (`anthropic_client`), and
with a nudge for the player when asked (Claude or the template likewise).

Two steps, so that no write transaction waits on Claude: the score is read (and the player
rescored) in a unit of work of its own, committed (and its jobs sent) before Claude is asked;
then the explanation and the nudge are written, both at once, with no session open. On SQLite
the unit takes the write lock from its first statement (it may rescore: read, then write), and
holds it only for the database work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from edgelab.core.clock import utcnow
from edgelab.core.db import take_write_lock
from edgelab.core.jobs import session_unit_of_work
from edgelab.core.resources import Resources
from edgelab.sentinel import explain, service
from edgelab.sentinel.anthropic_client import (
    ClaudeExplainer,
    Explanation,
    explanation,
    facts_for_prompt,
    written_nudge,
)
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


@dataclass(frozen=True)
class _Read:
    """What the unit of work found, kept as plain values once it has committed."""

    player_id: str
    score: SentinelScore
    history: list[HistoryPoint] | None


async def _read(resources: Resources, request: AnalyzeRequest) -> _Read:
    async with session_unit_of_work(resources.jobs, resources.sessionmaker) as session:
        await take_write_lock(session)
        a = await service.assess_player(
            session, resources.settings, request.player_id, include_history=request.include_history
        )
        history = (
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
        )
        return _Read(a.player.player_id, a.score, history)


async def _no_nudge() -> None:
    return None


async def risk_assessment(
    resources: Resources, explainer: ClaudeExplainer | None, request: AnalyzeRequest
) -> RiskAssessment:
    """The assessment, with the 90-day history and a nudge for the player when asked; neither
    the explanation nor the nudge ever fails the request (`explanation_source`, `nudge_source`
    say who wrote them)."""
    found = await _read(resources, request)  # committed: no write lock held from here on
    score = found.score
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
    written, nudge = await asyncio.gather(
        explanation(
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
                category=score.risk_category,
                composite=score.composite,
                top_features=top,
                absent=absent,
            ),
        ),
        (
            written_nudge(
                explainer,
                explain.nudge_facts(top_features=top),
                explain.nudge(top_features=top),
                player_id=found.player_id,
            )
            if request.generate_nudge
            else _no_nudge()
        ),
    )
    if written.fallback_reason is not None:
        notes.append(
            f"Claude could not write the explanation ({written.fallback_reason}): the template did."
        )
    if isinstance(nudge, Explanation) and nudge.fallback_reason is not None:
        notes.append(
            f"Claude could not write the nudge ({nudge.fallback_reason}): the template did."
        )
    return RiskAssessment(
        player_id=found.player_id,
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
        history=found.history,
        nudge=nudge.text if nudge is not None else None,
        nudge_source=nudge.source if nudge is not None else None,  # type: ignore[arg-type]
    )

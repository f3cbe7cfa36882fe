"""Explanations of a score, written from its top contributing features (deterministic).

Explainability is expected of every score (BetBuddy's feature risk curves, Mindway's reasons,
the UKGC's record keeping: SENTINEL §2-4): the analyst text names the category, the composite
and the features that added most to it, each with where the player stands in the population;
the player-facing nudge is personalised feedback in the mentor style (SENTINEL §2 [28]): what
was noticed, no judgement, and the tools at hand.

This template writes every explanation and nudge unless `EDGELAB_ANTHROPIC_API_KEY` is set:
then Claude does (`anthropic_client.py`), and this text is the fallback whenever Claude fails
(or its nudge names a diagnosis), so the response always has one and says which source wrote
it. `nudge_facts` is all Claude is told for a nudge: what stood out, the player's own figure
where it has a plain unit, and how it compares with other players.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from edgelab.sentinel.scoring import SPECS

COMPONENT_NAMES = {
    "loss_chase": "loss chasing",
    "bet_escalation": "bet escalation",
    "market_drift": "market drift",
    "temporal_risk": "temporal risk",
    "behavioural": "behavioural assessment",
}
ABSENT_REASONS = {
    "loss_chase": "no settled bets or transactions to compare",
    "bet_escalation": "no bets or deposits in the window",
    "market_drift": "no bets in the window",
    "temporal_risk": "no bets in the window",
    "behavioural": "no self-assessment, limit changes or time-outs on file",
}
NUDGES = {
    "loss_chase": "After a loss, a pause before the next bet helps keep betting fun: chasing a "
    "loss rarely wins it back.",
    "bet_escalation": "Your stakes have been growing lately. A deposit limit keeps spending "
    "where you planned it.",
    "market_drift": "You have been trying many new and in-play markets lately; in-play betting "
    "moves fast, so set a budget before you start.",
    "temporal_risk": "You have been playing late at night and in long sessions. Short breaks and "
    "a time reminder can help.",
    "behavioural": "Your self-assessment suggests checking in on your play.",
}
# the behavioural component's own markers, when one of them is what stood out
FEATURE_NUDGES = {
    "ba_limit_increases": "You recently raised or removed a limit. Limits work best when they "
    "stay where you set them in a calm moment; you can lower one again at any time.",
    "ba_prior_timeouts": "You have taken a break from betting recently. If you need another, "
    "a longer cool-off is there for you.",
}
SOURCE = "template"
# a feature's raw value in words, where it has a plain unit (the others are contrasts, curves or
# logs that mean nothing to a player: only the comparison with other players is given for them)
FIGURES: dict[str, Callable[[float], str]] = {
    "be_intensity": lambda v: f"{v:.1f} bets per betting day",
    "be_frequency": lambda v: f"bets on {v * 100:.0f}% of days",
    "be_deposits_per_day": lambda v: f"{v:.1f} deposits per active day",
    "md_live_share": lambda v: f"{v * 100:.0f}% of bets placed in-play",
    "md_breadth": lambda v: f"{v:.0f} different kinds of market",
    "md_new_markets": lambda v: f"{v * 100:.0f}% of last week's bets on markets new to you",
    "tr_session_minutes": lambda v: f"sessions of {v:.0f} minutes on average",
    "tr_binge_share": lambda v: f"{v * 100:.0f}% of sessions unusually long",
    "tr_consecutive_days": lambda v: f"{v:.0f} days in a row with bets",
    "ba_limit_increases": lambda v: f"{v:.0f} limit(s) raised or removed lately",
    "ba_prior_timeouts": lambda v: f"{v:.0f} time-out(s) taken lately",
}


def _population_share(score: float) -> int:
    """A feature score s = 2p - 1 back to the percentile p, in whole percent."""
    return min(99, math.floor((score + 1.0) / 2.0 * 100))


def explain(
    *,
    category: str,
    composite: float,
    top_features: Sequence[dict[str, Any]],
    absent: Sequence[str],
) -> str:
    """One paragraph for analysts: category, composite, top features, what was not assessed."""
    head = f"Risk {category} ({composite:.2f} on a 0-1 scale)."
    if top_features:
        parts = [
            f"{f['label']} (higher than {_population_share(float(f['score']))}% of players; "
            f"{COMPONENT_NAMES.get(f['component'], f['component'])})"
            for f in top_features
        ]
        drivers = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}"
        body = f" Main drivers: the player {drivers}."
    else:
        body = " No marker stands out against the population."
    tail = ""
    if absent:
        missing = "; ".join(
            f"{COMPONENT_NAMES.get(c, c)} ({ABSENT_REASONS.get(c, 'no data')})" for c in absent
        )
        tail = f" Not assessed: {missing}; the composite is re-weighted over the rest."
    return head + body + tail


def nudge(*, top_features: Sequence[dict[str, Any]]) -> str:
    """A short, non-judgemental message for the player, from their strongest components."""
    seen: list[str] = []
    first: dict[str, str] = {}  # component -> its strongest feature
    for f in top_features:
        if f["component"] not in seen:
            seen.append(f["component"])
            first[f["component"]] = str(f.get("feature", ""))
    lines = [FEATURE_NUDGES.get(first[c], NUDGES[c]) for c in seen[:2] if c in NUDGES]
    if not lines:
        lines = ["Thanks for playing responsibly."]
    return (
        "A quick check-in on your play. "
        + " ".join(lines)
        + " You can set deposit limits or take a time-out at any time in your account settings."
    )


def nudge_facts(*, top_features: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """What a nudge may be written from: per top feature, what was noticed (about the player),
    their figure where it has a plain unit, and where they stand among players. No scores,
    categories or identity."""
    facts: list[dict[str, str]] = []
    for f in top_features:
        name = str(f.get("feature", ""))
        fact = {
            "noticed": str(f.get("label", "")),
            "area": COMPONENT_NAMES.get(str(f.get("component")), str(f.get("component"))),
        }
        value, score = f.get("value"), f.get("score")
        if name in FIGURES and isinstance(value, int | float) and math.isfinite(value):
            fact["figure"] = FIGURES[name](float(value))
        spec = SPECS.get(name)
        if spec is not None and not spec.absolute and isinstance(score, int | float):
            fact["compared_with_other_players"] = (
                f"higher than {_population_share(float(score))}% of players"
            )
        facts.append(fact)
    return facts

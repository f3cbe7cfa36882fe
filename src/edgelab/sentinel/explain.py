"""Explanations of a score, written from its top contributing features (deterministic).

Explainability is expected of every score (BetBuddy's feature risk curves, Mindway's reasons,
the UKGC's record keeping: SENTINEL §2-4): the analyst text names the category, the composite
and the features that added most to it, each with where the player stands in the population;
the player-facing nudge is personalised feedback in the mentor style (SENTINEL §2 [28]): what
was noticed, no judgement, and the tools at hand.

This template writes every explanation unless `EDGELAB_ANTHROPIC_API_KEY` is set: then Claude
does (`anthropic_client.py`), and this text is the fallback whenever Claude fails, so the
response always has an explanation and says which source wrote it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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

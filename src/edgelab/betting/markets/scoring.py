"""Value scores under two competing algorithms (vectorised over any number of outcomes).

raw_edge = p_true * decimal_odds - 1  (expected profit per unit staked if p_true is right).

Algorithm A, "edge x confidence x market quality":
    confidence_a     = sample * agreement
        sample       = 1 - exp(-min_games / 8)            both teams' games this season
        agreement    = exp(-((logit(p_true) - logit(p_market)) / 0.5)^2): big disagreements
                       with a liquid market usually mean missing information (injuries,
                       resting stars), not value; measured in log-odds so longshots are not
                       favoured by their small probabilities
    market_quality_a = clip(1 - overround / 0.10, 0, 1) * type_weight
    value_score_a    = 100 * (1 - exp(-max(raw_edge, 0) * confidence_a * market_quality_a / 0.05))

Algorithm B, "fractional Kelly on a shrunk probability":
    p_b              = expit(r * logit(p_true) + (1 - r) * logit(p_market))
                       r = the model's measured reliability against this market type (0..1)
    kelly            = (p_b * d - 1) / (d - 1)
    stake            = kelly_fraction * max(kelly, 0)      (share of bankroll; quarter Kelly)
    value_score_b    = 100 * (1 - exp(-stake / 0.01))
    confidence_b     = Phi(edge_b / (d * sigma_p)), edge_b = p_b * d - 1,
                       sigma_p = 0.01 + 0.05 * (1 - r): the probability the shrunk edge is real
    market_quality_b = exp(-overround / 0.045) * exp(-method_spread / 0.01): a market is
                       clear when its margin is small and the de-vig methods agree on the price

All inputs are arrays of equal length. Every output is in its documented range by
construction (no clipping at the end hides a formula that escapes it; tests check this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit
from scipy.stats import norm

FloatArray = NDArray[np.float64]
TYPE_WEIGHTS = {"moneyline": 1.0, "spread": 1.0, "total": 0.9, "prop": 0.7}
KELLY_FRACTION = 0.25
A_SCALE = 0.05
AGREEMENT_LOGIT_SCALE = 0.5
B_SCALE = 0.01
_EPS = 1e-9


@dataclass(frozen=True)
class Scores:
    raw_edge: FloatArray
    a_value_score: FloatArray
    a_confidence: FloatArray
    a_market_quality: FloatArray
    a_sample: FloatArray
    a_agreement: FloatArray
    b_value_score: FloatArray
    b_confidence: FloatArray
    b_market_quality: FloatArray
    b_p_shrunk: FloatArray
    b_kelly: FloatArray
    b_stake: FloatArray
    b_edge: FloatArray


def raw_edge(p_true: FloatArray, odds: FloatArray) -> FloatArray:
    return np.asarray(p_true * odds - 1.0, dtype=np.float64)


def kelly(p: FloatArray, odds: FloatArray) -> FloatArray:
    """Full Kelly share of bankroll, (p * d - 1) / (d - 1): the stake that maximises the
    expected log growth of a bankroll betting at decimal odds d with win probability p.
    Negative when there is no edge (the Kelly bettor would take the other side)."""
    odds = np.asarray(odds, dtype=np.float64)
    return np.asarray((p * odds - 1.0) / np.maximum(odds - 1.0, _EPS), dtype=np.float64)


@dataclass(frozen=True)
class StakeSuggestion:
    """A fractional-Kelly stake, as shares of bankroll (0.02 = 2%)."""

    kelly_fraction: float  # of full Kelly, 0 < f <= 1
    max_stake: float  # the cap, 0 < cap <= 1
    p_used: float
    odds: float
    full_kelly: float  # may be negative: no edge
    suggested_stake: float  # min(f * max(full_kelly, 0), cap)
    capped: bool


def stake_suggestion(
    p: float, odds: float, *, fraction: float = KELLY_FRACTION, max_stake: float = 1.0
) -> StakeSuggestion:
    """`fraction` of full Kelly at `p` (0 with no edge), at most `max_stake` of bankroll.

    Fractional Kelly gives up a little growth for much less variance and is far less hurt
    when p is overestimated, which any model's p is at times; the cap bounds one bet's damage.
    """
    if not (0.0 < fraction <= 1.0 and 0.0 < max_stake <= 1.0):
        raise ValueError("fraction and max_stake must be in (0, 1]")
    full = float(kelly(np.asarray(p, dtype=np.float64), np.asarray(odds, dtype=np.float64)))
    stake = fraction * max(full, 0.0)
    return StakeSuggestion(
        kelly_fraction=fraction,
        max_stake=max_stake,
        p_used=float(p),
        odds=float(odds),
        full_kelly=full,
        suggested_stake=min(stake, max_stake),
        capped=stake > max_stake,
    )


def score_outcomes(
    *,
    odds: FloatArray,
    p_true: FloatArray,
    p_market: FloatArray,
    overround: FloatArray,
    method_spread: FloatArray,
    type_weight: FloatArray,
    min_games: FloatArray,
    reliability: FloatArray,
) -> Scores:
    odds = np.asarray(odds, dtype=np.float64)
    p_true = np.clip(np.asarray(p_true, dtype=np.float64), _EPS, 1 - _EPS)
    p_market = np.clip(np.asarray(p_market, dtype=np.float64), _EPS, 1 - _EPS)
    overround = np.maximum(np.asarray(overround, dtype=np.float64), 0.0)
    edge = p_true * odds - 1.0

    sample = 1.0 - np.exp(-np.maximum(min_games, 0.0) / 8.0)
    agreement = np.exp(-(((logit(p_true) - logit(p_market)) / AGREEMENT_LOGIT_SCALE) ** 2))
    conf_a = sample * agreement
    mq_a = np.clip(1.0 - overround / 0.10, 0.0, 1.0) * type_weight
    score_a = 100.0 * (1.0 - np.exp(-np.maximum(edge, 0.0) * conf_a * mq_a / A_SCALE))

    r = np.clip(reliability, 0.0, 1.0)
    p_b = expit(r * logit(p_true) + (1.0 - r) * logit(p_market))
    full_kelly = kelly(p_b, odds)
    stake = KELLY_FRACTION * np.maximum(full_kelly, 0.0)
    score_b = 100.0 * (1.0 - np.exp(-stake / B_SCALE))
    edge_b = p_b * odds - 1.0
    sigma_p = 0.01 + 0.05 * (1.0 - r)
    conf_b = norm.cdf(edge_b / (odds * sigma_p))
    mq_b = np.exp(-overround / 0.045) * np.exp(-np.maximum(method_spread, 0.0) / 0.01)

    return Scores(
        raw_edge=edge,
        a_value_score=score_a,
        a_confidence=conf_a,
        a_market_quality=mq_a,
        a_sample=sample,
        a_agreement=agreement,
        b_value_score=score_b,
        b_confidence=conf_b,
        b_market_quality=mq_b,
        b_p_shrunk=p_b,
        b_kelly=full_kelly,
        b_stake=stake,
        b_edge=edge_b,
    )

"""What each caller sees of a scored market: the free and paid views, and the shapes of the
value-betting answers (rows, breakdowns, notes, the stake suggestion).

Free and paid views (the caller comes from `core.auth`, fresh on every request, so a tier
change shows on the next request; anonymous callers get the free view):

| feature                              | free (and anonymous)                 | paid      |
| odds freshness                       | as of EDGELAB_FREE_ODDS_DELAY_MINUTES | real time |
| value scores, p_true, p_market, edge | yes                                  | yes       |
| confidence, market quality breakdown | null, named in `gated`               | yes       |
| stake suggestion (`/bet`)            | null, named in `gated`               | yes       |
| props markets                        | not listed; asked for: 403           | yes       |
| score history                        | `points: null`, `gated: ["points"]`  | yes       |

Refusals are 403 `paid_subscription_required`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from edgelab.betting.markets import schemas, service
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.model.models import ModelFit
from edgelab.core.auth import ForbiddenError
from edgelab.core.clock import utcnow
from edgelab.core.error_codes import PAID_SUBSCRIPTION_REQUIRED
from edgelab.core.settings import Settings

CACHE_PREFIX = "markets:"
FREE_MARKET_TYPES = ("moneyline", "spread", "total")  # every other type (props) is paid
# Row fields null in the free view; the bet detail also nulls the breakdowns' insides.
FREE_GATED_ROW_FIELDS = (
    "algo_a_confidence",
    "algo_a_market_quality",
    "algo_b_confidence",
    "algo_b_market_quality",
)
FREE_GATED_BREAKDOWN_FIELDS = ("confidence", "market_quality", "components")
FREE_GATED_DETAIL_FIELDS = (
    *FREE_GATED_ROW_FIELDS,
    "algo_a_components",
    "algo_b_components",
    *(f"algo_{a}.{f}" for a in ("a", "b") for f in FREE_GATED_BREAKDOWN_FIELDS),
    "stake_suggestion",
)
PROPS_NOTE = "Props markets are for paid subscribers: the free view does not list them."
GATED_NOTE = (
    "Confidence and market-quality breakdowns are for paid subscribers: the fields in `gated` "
    "are null in the free view."
)
HISTORY_NOTE = "Score history is for paid subscribers: `points` is null in the free view."
# Short forms of the formulas documented in full in betting/pricing/value.py.
FORMULA_A = "100 / (1 + exp(-(EV - SE_dispersion) / 0.02)); SE_dispersion = books' disagreement"
FORMULA_B = "100 * Phi(EV / SE_full); SE_full adds tau, the price's move still to come"


@dataclass(frozen=True)
class CallerView:
    """What this caller may see: the paid view, or the free one with odds this many minutes
    old (0 = real time, `EDGELAB_FREE_ODDS_DELAY_MINUTES=0`)."""

    paid: bool
    odds_delay_minutes: int
    user_id: str | None = None  # the signed-in caller (the A/B subject), None when anonymous

    @property
    def name(self) -> schemas.View:
        return "paid" if self.paid else "free"

    def as_of(self) -> dt.datetime | None:
        """The newest odds time this caller may see; None for real time."""
        if self.odds_delay_minutes == 0:
            return None
        return utcnow() - dt.timedelta(minutes=self.odds_delay_minutes)

    def delay_note(self) -> str:
        return (
            f"Free view: each market as of its latest score at least {self.odds_delay_minutes} "
            "minutes old; a paid subscription shows real-time odds."
        )


def paid_only(message: str) -> ForbiddenError:
    return ForbiddenError(message, code=PAID_SUBSCRIPTION_REQUIRED)


def refuse_props(market_type: str) -> None:
    if market_type not in FREE_MARKET_TYPES:
        raise paid_only(f"{market_type.capitalize()} markets need a paid subscription.")


def row(item: service.ScoredOutcome, algorithm: str, paid: bool) -> dict[str, object]:
    s, g = item.score, item.game
    return {
        "market_id": s.outcome_id,
        "game_id": g.id,
        "market_type": item.market.market_type,
        "outcome_label": item.outcome.label,
        "side": item.outcome.side,
        "home_team": g.home_team,
        "away_team": g.away_team,
        "line": s.line,
        "odds_decimal": s.odds_decimal,
        "odds_kind": s.odds_kind,
        "bookmaker": s.bookmaker,
        "price_assumed": item.price_assumed,
        "p_true": s.p_true,
        "p_market": s.p_market,
        "raw_edge": s.raw_edge,
        "value_score": s.algo_a_value_score if algorithm == "a" else s.algo_b_value_score,
        "algo_a_value_score": s.algo_a_value_score,
        "algo_a_confidence": s.algo_a_confidence if paid else None,
        "algo_a_market_quality": s.algo_a_market_quality if paid else None,
        "algo_b_value_score": s.algo_b_value_score,
        "algo_b_confidence": s.algo_b_confidence if paid else None,
        "algo_b_market_quality": s.algo_b_market_quality if paid else None,
        "tip_time": g.tip_time,
        "tip_time_estimated": g.tip_time_estimated,
        "time_to_tip_minutes": s.time_to_tip_minutes,
        "calc_time": s.calc_time,
        "best_price": s.model_components.get("best_price")
        or {"odds": s.odds_decimal, "bookmaker": s.bookmaker},  # scored before best prices
        "flagged": bool(s.model_components.get("flagged", False)),
        "books": len(s.model_components.get("consensus_books") or [s.bookmaker]),
    }


# Stored with the model's numbers (`slate.score_slate`) but shown as their own fields.
MARKET_VIEW_COMPONENTS = ("consensus_books", "best_price", "flagged", "flag_rule")


def stake_suggestion(s: ValueScore, settings: Settings) -> dict[str, object]:
    """Fractional Kelly (`scoring.stake_suggestion`) on p_true given no push (a push returns
    the stake, so it neither wins nor loses the bankroll)."""
    from edgelab.betting.markets import scoring  # SciPy: not at start-up

    k = scoring.stake_suggestion(
        float(s.algo_b_components.get("p_shrunk", s.p_true)),
        s.odds_decimal,
        fraction=settings.kelly_fraction,
        max_stake=settings.kelly_max_stake,
    )
    if k.full_kelly <= 0:
        explanation = (
            f"No edge at the fair price: p {k.p_used:.1%} at "
            f"{k.odds:.2f} is below the break-even {1 / k.odds:.1%}, so stake nothing."
        )
    else:
        explanation = (
            f"Full Kelly at p {k.p_used:.1%} and odds {k.odds:.2f} is {k.full_kelly:.1%} of "
            f"bankroll; {k.kelly_fraction:g} of it is {k.kelly_fraction * k.full_kelly:.2%}"
            + (f", capped at {k.max_stake:.1%}." if k.capped else ".")
            + " Fractional Kelly trades a little growth for far less risk from an "
            "overestimated p."
        )
    return {**asdict(k), "explanation": explanation}


def likely_loser_note(s: ValueScore) -> list[str]:
    """Value on the side the market expects to lose confuses many users: say it plainly."""
    if not (s.p_true < 0.5 and s.raw_edge > 0):
        return []
    return [
        f"The market expects this side to lose more often than not (p_true {s.p_true:.0%}); "
        f"the value is in the price: at {s.odds_decimal:.2f} it needs to win only "
        f"{1 / s.odds_decimal:.0%} of the time to break even, so it wins often enough to "
        "profit over many bets."
    ]


def notes_for(items: list[service.ScoredOutcome]) -> list[str]:
    notes = []
    if any(i.game.tip_time_estimated for i in items):
        notes.append(service.ESTIMATED_TIME_NOTE)
    if any(i.price_assumed for i in items):
        notes.append(service.ASSUMED_PRICE_NOTE)
    return notes


def breakdown(
    value_score: float,
    confidence: float,
    market_quality: float,
    components: dict[str, float],
    formula: str,
    paid: bool,
) -> dict[str, object]:
    return {
        "value_score": value_score,
        "confidence": confidence if paid else None,
        "market_quality": market_quality if paid else None,
        "components": components if paid else None,
        "formula": formula,
    }


def detail(
    item: service.ScoredOutcome,
    fit: ModelFit,
    view: CallerView,
    settings: Settings,
    notes: list[str],
    other_markets: list[dict[str, object]],
) -> schemas.BetDetail:
    s, paid = item.score, view.paid
    return schemas.BetDetail.model_validate(
        {
            **row(item, "a", paid),
            "p_market_by_method": s.p_market_methods,
            "p_market_books": s.model_components.get("consensus_books") or [s.bookmaker],
            "stake_suggestion": stake_suggestion(s, settings) if paid else None,
            "devig_method": s.devig_method,
            "margin": s.margin,
            "algo_a_components": s.algo_a_components if paid else None,
            "algo_b_components": s.algo_b_components if paid else None,
            "algo_a": breakdown(
                s.algo_a_value_score,
                s.algo_a_confidence,
                s.algo_a_market_quality,
                s.algo_a_components,
                FORMULA_A,
                paid,
            ),
            "algo_b": breakdown(
                s.algo_b_value_score,
                s.algo_b_confidence,
                s.algo_b_market_quality,
                s.algo_b_components,
                FORMULA_B,
                paid,
            ),
            "model": {
                "version": fit.version,
                "trained_through": fit.trained_through,
                "n_games": fit.n_games,
                "components": {
                    k: v for k, v in s.model_components.items() if k not in MARKET_VIEW_COMPONENTS
                },
            },
            "game_date": item.game.game_date,
            "view": view.name,
            "odds_delay_minutes": view.odds_delay_minutes,
            "gated": [] if paid else list(FREE_GATED_DETAIL_FIELDS),
            "notes": notes,
            "other_markets": other_markets,
        }
    )

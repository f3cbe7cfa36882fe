"""Bettor tools: the fractional-Kelly stake suggestion and the likely-loser note on `/bet`, the
sharp-book consensus behind p_market and the best price across books (live odds from the local
fake of The Odds API), every fetched snapshot kept, and the one closing-line-value definition
the backtest shares with the bet tracker."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.bets import settlement
from edgelab.betting.evaluation import backtest
from edgelab.betting.markets import scoring
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.slate import score_slate
from edgelab.betting.odds import ids
from edgelab.betting.odds.live import ingest_live_odds
from edgelab.betting.odds.models import OddsSnapshot
from edgelab.betting.pricing.consensus import devig_two_way
from edgelab.core.auth import issue_access_token
from edgelab.core.clock import ManualClock
from edgelab.core.settings import Settings
from tests.betting.factories import import_synthetic, synthetic_seasons
from tests.betting.fake_oddsapi import FakeOddsApi
from tests.fixtures.database import make_settings
from tests.fixtures.slate import shared_slate

LIVE_DATE = dt.date(2025, 2, 5)  # 19:40 in New York on the 5th is 00:40 UTC on the 6th
BOS_NYK = ids.game_id(LIVE_DATE, "BOS", "NYK")
LOSER_NOTE = "The market expects this side to lose more often than not"


@pytest.fixture
async def settings(db_url: str, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings; a test may change some with `indirect` parametrisation."""
    return make_settings(db_url, **getattr(request, "param", {}))


def _fair(home: float, away: float) -> float:
    """Multiplicative de-vig of a two-way price, by hand: home's share of the implied sum."""
    return (1 / home) / (1 / home + 1 / away)


# --- Kelly maths -----------------------------------------------------------------------------


def test_kelly_stake_matches_hand_values() -> None:
    # p 0.55 at evens: full Kelly (0.55 * 2 - 1) / 1 = 0.10; a quarter of it is 0.025
    k = scoring.stake_suggestion(0.55, 2.0, fraction=0.25, max_stake=0.05)
    assert (k.full_kelly, k.suggested_stake, k.capped) == (
        pytest.approx(0.10),
        pytest.approx(0.025),
        False,
    )
    # p 0.40 at 3.10: (1.24 - 1) / 2.10 = 0.1142857...; quarter: 0.0285714...
    k = scoring.stake_suggestion(0.40, 3.10, fraction=0.25, max_stake=0.05)
    assert k.full_kelly == pytest.approx(0.24 / 2.10)
    assert k.suggested_stake == pytest.approx(0.06 / 2.10)


def test_the_cap_limits_a_large_kelly_stake() -> None:
    # p 0.60 at 3.00: full Kelly 0.40, quarter 0.10 > cap 0.05
    k = scoring.stake_suggestion(0.60, 3.0, fraction=0.25, max_stake=0.05)
    assert k.full_kelly == pytest.approx(0.40)
    assert (k.suggested_stake, k.capped) == (0.05, True)


def test_no_edge_means_no_stake() -> None:
    # p 0.50 at 1.90: (0.95 - 1) / 0.90 < 0
    k = scoring.stake_suggestion(0.50, 1.90, fraction=0.25, max_stake=0.05)
    assert k.full_kelly == pytest.approx(-0.05 / 0.90)
    assert (k.suggested_stake, k.capped) == (0.0, False)
    with pytest.raises(ValueError):
        scoring.stake_suggestion(0.5, 2.0, fraction=0.0)


# --- /bet: stake suggestion and the likely-loser note ----------------------------------------


db_url, engine, slate = shared_slate()


async def _paid_headers(session: AsyncSession, settings: Settings) -> dict[str, str]:
    user = await create_user(session, "kelly@tools.test", tier="paid")
    await session.commit()
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


async def _best_b_market(client: httpx.AsyncClient, headers: dict[str, str], date: str) -> str:
    """The top side by algorithm B among moneylines, spreads and totals (props are paid-only)."""
    rows = (await client.get(f"/markets?algorithm=b&limit=200&date={date}", headers=headers)).json()
    top = next(r for r in rows["items"] if r["market_type"] != "prop")
    assert top["raw_edge"] > 0  # a side with value at the fair price
    return str(top["market_id"])


@pytest.mark.parametrize(
    "settings",
    [{}, {"kelly_fraction": 0.5, "kelly_max_stake": 1.0}],
    indirect=True,
    ids=["quarter-kelly-capped", "half-kelly-uncapped"],
)
async def test_the_stake_suggestion_is_fractional_kelly_on_the_fair_probability(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate
) -> None:
    headers = await _paid_headers(session, settings)
    market = await _best_b_market(client, headers, slate.last_date.isoformat())
    bet = (await client.get(f"/bet/{market}", headers=headers)).json()
    k = bet["stake_suggestion"]
    p, d = bet["algo_b_components"]["p_shrunk"], bet["odds_decimal"]
    assert (k["p_used"], k["odds"]) == (p, d)
    assert (k["kelly_fraction"], k["max_stake"]) == (
        settings.kelly_fraction,
        settings.kelly_max_stake,
    )
    full = (p * d - 1) / (d - 1)
    assert k["full_kelly"] == pytest.approx(full) and full > 0
    uncapped = settings.kelly_fraction * full
    assert k["suggested_stake"] == pytest.approx(min(uncapped, settings.kelly_max_stake))
    assert k["capped"] is (uncapped > settings.kelly_max_stake)
    # p given no push: the fair probability of a win over that of a decided bet
    push = bet["algo_b_components"]["p_push"]
    assert p == pytest.approx(bet["p_true"] / (1 - push))
    assert f"{d:.2f}" in k["explanation"]


@pytest.mark.parametrize("settings", [{"free_odds_delay_minutes": 0}], indirect=True)
async def test_free_callers_get_no_stake_suggestion_but_paid_ones_do(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate
) -> None:
    headers = await _paid_headers(session, settings)
    market = await _best_b_market(client, headers, slate.last_date.isoformat())
    paid = (await client.get(f"/bet/{market}", headers=headers)).json()
    free = (await client.get(f"/bet/{market}")).json()
    assert free["view"] == "free" and paid["view"] == "paid"
    assert free["stake_suggestion"] is None and "stake_suggestion" in free["gated"]
    assert paid["stake_suggestion"]["suggested_stake"] > 0 and paid["gated"] == []


@pytest.mark.parametrize("settings", [{"free_odds_delay_minutes": 0}], indirect=True)
async def test_the_likely_loser_note_shows_iff_p_true_below_half_with_an_edge(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate
) -> None:
    date = slate.last_date.isoformat()
    rows = await session.execute(
        select(ValueScore).where(ValueScore.is_current.is_(True)).order_by(ValueScore.outcome_id)
    )
    current = list(rows.scalars())
    # make the four cases certain: (p_true < 0.5, edge > 0) for each combination
    forced = {
        current[0].outcome_id: (0.38, 3.10),  # likely loser with value: 0.38 * 3.10 = 1.178
        current[1].outcome_id: (0.38, 2.40),  # likely loser, no value
        current[2].outcome_id: (0.62, 1.80),  # likely winner with value
        current[3].outcome_id: (0.62, 1.50),  # likely winner, no value
    }
    for oid, (p, odds) in forced.items():
        await session.execute(
            update(ValueScore)
            .where(ValueScore.outcome_id == oid, ValueScore.is_current.is_(True))
            .values(p_true=p, odds_decimal=odds, raw_edge=p * odds - 1)
        )
    await session.commit()
    headers = await _paid_headers(session, settings)
    markets = (await client.get(f"/markets?limit=200&date={date}", headers=headers)).json()
    seen = {True: 0, False: 0}
    for row in markets["items"]:
        bet = (await client.get(f"/bet/{row['market_id']}", headers=headers)).json()
        expected = bet["p_true"] < 0.5 and bet["raw_edge"] > 0
        assert any(LOSER_NOTE in n for n in bet["notes"]) is expected, row["market_id"]
        seen[expected] += 1
    assert seen[True] >= 1 and seen[False] >= 3
    free = (await client.get(f"/bet/{current[0].outcome_id}")).json()  # the note is for everyone
    note = next(n for n in free["notes"] if LOSER_NOTE in n)
    assert "p_true 38%" in note and "at 3.10" in note and "32%" in note  # 1 / 3.10


# --- consensus of the sharp books and the best price -----------------------------------------


def _book(key: str, at: str, h2h: tuple[float, float], spread: tuple[float, float, float]):
    """One bookmaker's quotes: h2h (home, away), spreads (home line, home, away prices)."""
    stamp = f"2025-02-05T{at}Z"
    line, home, away = spread
    return {
        "key": key,
        "title": key,
        "last_update": stamp,
        "markets": [
            {
                "key": "h2h",
                "last_update": stamp,
                "outcomes": [
                    {"name": "New York Knicks", "price": h2h[1]},
                    {"name": "Boston Celtics", "price": h2h[0]},
                ],
            },
            {
                "key": "spreads",
                "last_update": stamp,
                "outcomes": [
                    {"name": "New York Knicks", "price": away, "point": -line},
                    {"name": "Boston Celtics", "price": home, "point": line},
                ],
            },
        ],
    }


def _event(*books: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": "tools-consensus-1",
            "sport_key": "basketball_nba",
            "sport_title": "NBA",
            "commence_time": "2025-02-06T00:40:00Z",
            "home_team": "Boston Celtics",
            "away_team": "New York Knicks",
            "bookmakers": list(books),
        }
    ]


MULTI_BOOK = _event(
    _book("pinnacle", "21:00:00", (1.80, 2.10), (-5.5, 1.95, 1.95)),
    _book("lowvig", "21:05:00", (1.83, 2.05), (-6.5, 1.97, 1.93)),  # another spread line
    _book("draftkings", "21:10:00", (1.70, 2.30), (-5.5, 1.91, 1.91)),
    _book("fanduel", "21:15:00", (1.95, 1.95), (-5.5, 1.90, 1.92)),
)


@pytest.fixture
def live_settings(settings: Settings, server: tuple[FakeOddsApi, str]) -> Settings:
    server[0].reset()
    return settings.model_copy(
        update={
            "odds_api_url": server[1],
            "odds_api_key": SecretStr("test-key"),
            "http_max_retries": 1,
            "http_timeout_seconds": 2.0,
        }
    )


async def _ingest(session: AsyncSession, settings: Settings, server, body: Any = None) -> None:
    if body is not None:
        server[0].plan(status=200, body=copy.deepcopy(body))
    await ingest_live_odds(session, settings)


async def _scores(session: AsyncSession, outcome_id: str) -> dict[str, ValueScore]:
    rows = await session.execute(select(ValueScore).where(ValueScore.outcome_id == outcome_id))
    return {r.bookmaker: r for r in rows.scalars()}


def _devigged(home: float, away: float) -> float:
    """A book's fair probability of the home side, odds-ratio de-vig (the model's method)."""
    return float(devig_two_way(home, away, "odds_ratio"))


async def test_the_fair_price_is_the_books_consensus_and_the_best_price_is_named(
    session: AsyncSession, live_settings: Settings, server
) -> None:
    await import_synthetic(session, live_settings, synthetic_seasons(seasons=1, days_per_season=10))
    await _ingest(session, live_settings, server, MULTI_BOOK)
    await score_slate(session, live_settings, LIVE_DATE)
    home = await _current(session, ids.outcome_id(BOS_NYK, "moneyline", "home"))
    # moneylines: the median of the four books' fair prices (two middle ones averaged)
    fair = sorted(_devigged(h, a) for h, a in ((1.80, 2.10), (1.83, 2.05), (1.70, 2.30),
                                              (1.95, 1.95)))  # fmt: skip
    assert home.p_market == pytest.approx((fair[1] + fair[2]) / 2, abs=1e-9)
    assert home.model_components["consensus_books"] == sorted(
        ["pinnacle", "lowvig", "draftkings", "fanduel"]
    )
    # the best price for a side is the highest one at the fair price: FanDuel's 1.95 for home
    assert (home.bookmaker, home.odds_decimal) == ("fanduel", 1.95)
    assert home.raw_edge == pytest.approx(home.p_true * 1.95 - 1)
    away = await _current(session, ids.outcome_id(BOS_NYK, "moneyline", "away"))
    assert (away.bookmaker, away.odds_decimal) == ("draftkings", 2.30)
    assert away.p_market == pytest.approx(1 - home.p_market)


async def test_bet_and_markets_show_the_best_price_and_the_books_behind_p_market(
    client: httpx.AsyncClient, session: AsyncSession, live_settings: Settings, server
) -> None:
    await import_synthetic(session, live_settings, synthetic_seasons(seasons=1, days_per_season=10))
    await _ingest(session, live_settings, server, MULTI_BOOK)
    await score_slate(session, live_settings, LIVE_DATE)
    headers = await _paid_headers(session, live_settings)
    oid = ids.outcome_id(BOS_NYK, "moneyline", "home")
    bet = (await client.get(f"/bet/{oid}", headers=headers)).json()
    assert bet["bookmaker"] == "fanduel" and bet["odds_decimal"] == 1.95
    assert bet["best_price"] == {"odds": 1.95, "bookmaker": "fanduel", "line": None}
    assert set(bet["p_market_books"]) == {"pinnacle", "lowvig", "draftkings", "fanduel"}
    assert "consensus_books" not in bet["model"]["components"]
    rows = (
        await client.get(f"/markets?limit=200&date={LIVE_DATE.isoformat()}", headers=headers)
    ).json()["items"]
    by_id = {r["market_id"]: r for r in rows}
    away = by_id[ids.outcome_id(BOS_NYK, "moneyline", "away")]
    assert away["best_price"] == {"odds": 2.30, "bookmaker": "draftkings", "line": None}
    assert away["odds_decimal"] == 2.30 and away["books"] == 4


async def test_the_sharp_books_pull_the_spread_consensus_toward_their_number(
    session: AsyncSession, live_settings: Settings, server
) -> None:
    """Pinnacle (-5.5) and LowVig (-6.5) are sharp; DraftKings and FanDuel hang -5.5. Weighted
    up, the sharp books say Boston by about 6: Boston -5.5 covers more often than the plain
    average of the four books says."""
    await import_synthetic(session, live_settings, synthetic_seasons(seasons=1, days_per_season=10))
    await _ingest(session, live_settings, server, MULTI_BOOK)
    oid = ids.outcome_id(BOS_NYK, "spread", "home")
    await score_slate(session, live_settings, LIVE_DATE)
    sharp = await _current(session, oid)
    plain_settings = live_settings.model_copy(update={"sharp_books": []})
    await score_slate(session, plain_settings, LIVE_DATE)
    plain = await _current(session, oid)
    assert sharp.line == plain.line == -5.5  # the best number for Boston is -5.5
    assert sharp.model_components["expected_margin_home"] is not None
    assert sharp.algo_b_components["fair"] > plain.algo_b_components["fair"] > 5.5
    assert sharp.p_market > plain.p_market


async def _current(session: AsyncSession, outcome_id: str) -> ValueScore:
    row = await session.execute(
        select(ValueScore).where(
            ValueScore.outcome_id == outcome_id, ValueScore.is_current.is_(True)
        )
    )
    return row.scalar_one()


async def test_single_book_history_scores_the_same_whatever_the_sharp_list(
    session: AsyncSession, settings: Settings, slate
) -> None:
    """The shipped data has one book per market: naming it sharp, or no book at all, changes
    nothing, and p_market stays that book's own de-vigged price."""
    before = {
        (r.outcome_id, r.odds_kind): r
        for r in (await session.execute(select(ValueScore))).scalars()
        if r.model_components["consensus_books"] == ["sbr"]  # the moments one book prices
    }
    frozen = {
        k: (r.p_market, r.algo_a_value_score, r.algo_b_value_score, r.p_market_methods)
        for k, r in before.items()
    }
    book = next(iter(before.values())).bookmaker
    for sharp in ([book], []):
        await score_slate(
            session, settings.model_copy(update={"sharp_books": sharp}), slate.last_date
        )
        after = {
            (r.outcome_id, r.odds_kind): (
                r.p_market,
                r.algo_a_value_score,
                r.algo_b_value_score,
                r.p_market_methods,
            )
            for r in (await session.execute(select(ValueScore))).scalars()
            if r.model_components["consensus_books"] == ["sbr"]
        }
        assert after == frozen
    snaps = {s.id: s for s in (await session.execute(select(OddsSnapshot))).scalars()}
    pair: dict[tuple[str, str], float] = {}
    for r in before.values():
        pair[(r.outcome_id, r.odds_kind)] = snaps[r.snapshot_id].odds_decimal
    for (oid, kind), r in before.items():
        market, side = oid.rsplit("-", 1)
        other = {"home": "away", "away": "home", "over": "under", "under": "over"}[side]
        if "-ml-" not in oid or (f"{market}-{other}", kind) not in pair:
            continue  # moneylines: no push, so p_market is exactly the book's fair price
        fair = _devigged(pair[(oid, kind)], pair[(f"{market}-{other}", kind)])
        assert r.p_market == pytest.approx(fair, abs=1e-12)
        assert r.raw_edge < 0  # against itself a book offers no value: its margin is all


# --- the whole line path is kept -------------------------------------------------------------


def _pinnacle_only(at: str, home: float, away: float) -> list[dict[str, Any]]:
    return _event(_book("pinnacle", at, (home, away), (-5.5, 1.95, 1.95)))


async def test_every_fetched_price_is_kept_and_history_shows_the_whole_path(
    client: httpx.AsyncClient,
    session: AsyncSession,
    live_settings: Settings,
    server,
    manual_clock: ManualClock,
) -> None:
    manual_clock.set(dt.datetime(2025, 2, 5, 22, 0, tzinfo=dt.UTC))  # fetched before tip-off
    await import_synthetic(session, live_settings, synthetic_seasons(seasons=1, days_per_season=10))
    oid = ids.outcome_id(BOS_NYK, "moneyline", "home")

    async def stored() -> list[float]:
        rows = await session.execute(
            select(OddsSnapshot.odds_decimal)
            .where(OddsSnapshot.outcome_id == oid)
            .order_by(OddsSnapshot.captured_at)
        )
        return list(rows.scalars())

    await _ingest(session, live_settings, server, _pinnacle_only("21:00:00", 1.80, 2.10))
    await _ingest(session, live_settings, server, _pinnacle_only("21:30:00", 1.75, 2.20))
    assert await stored() == [1.80, 1.75]  # a moved line is a new snapshot, the old one stays
    # the book moved its price but not its last_update: kept as a new snapshot, not overwritten
    await _ingest(session, live_settings, server, _pinnacle_only("21:30:00", 1.70, 2.30))
    assert await stored() == [1.80, 1.75, 1.70]
    await _ingest(session, live_settings, server, _pinnacle_only("21:30:00", 1.70, 2.30))
    assert await stored() == [1.80, 1.75, 1.70]  # seen before: nothing new

    await score_slate(session, live_settings, LIVE_DATE)
    headers = await _paid_headers(session, live_settings)
    history = (await client.get(f"/bet/{oid}/history", headers=headers)).json()
    assert [p["odds_decimal"] for p in history["points"]] == [1.80, 1.75, 1.70]
    away = ids.outcome_id(BOS_NYK, "moneyline", "away")
    away_history = (await client.get(f"/bet/{away}/history", headers=headers)).json()
    assert [p["odds_decimal"] for p in away_history["points"]] == [2.10, 2.20, 2.30]


# --- one closing-line-value definition -------------------------------------------------------


def test_closing_line_value_is_fair_close_minus_one_over_odds_taken_on_arrays() -> None:
    clv = settlement.closing_line_value(np.array([2.10, 1.80]), np.array([0.50, 0.55]))
    assert clv == pytest.approx([0.50 - 1 / 2.10, 0.55 - 1 / 1.80])
    assert settlement.closing_line_value(2.10, 0.5) == pytest.approx(clv[0])
    with pytest.raises(ValueError):
        settlement.closing_line_value(np.array([2.0, 1.0]), np.array([0.5, 0.5]))


async def test_backtest_clv_of_a_closing_moneyline_is_its_fair_price_minus_one_over_odds(
    session: AsyncSession, settings: Settings
) -> None:
    await import_synthetic(session, settings, synthetic_seasons(seasons=2, days_per_season=12))
    result = backtest.run_backtest(await backtest.load_backtest_data(session))
    ml = np.flatnonzero((result.market_type == "moneyline") & (result.kind == "close"))
    assert ml.size > 0
    for i in ml[:50]:
        home, away = result.odds[i]
        # e.g. 1.50 / 2.70: fair home = (1/1.5) / (1/1.5 + 1/2.7) = 0.6429; CLV 0.6429 - 0.6667
        assert result.clv[i, 0] == pytest.approx(_fair(home, away) - 1 / home, abs=1e-12)
        assert result.clv[i, 1] == pytest.approx(1 - _fair(home, away) - 1 / away, abs=1e-12)
    assert settlement.closing_line_value(1.50, _fair(1.50, 2.70)) == pytest.approx(
        (1 / 1.5) / (1 / 1.5 + 1 / 2.7) - 1 / 1.5
    )

"""Cross-venue value: Polymarket NBA game markets matched to our scored games."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.slate import score_slate
from edgelab.betting.odds.models import Game, Market, Outcome
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.predictions.crossvenue import read_game, side_edge
from edgelab.predictions.models import PredictionMarket, PredictionOutcome
from tests.betting.factories import import_synthetic, synthetic_seasons

NICKNAMES = {"BOS": "Celtics", "LAL": "Lakers"}


def _market(**kw: object) -> PredictionMarket:
    base: dict[str, object] = {
        "id": "1",
        "question": "Lakers vs. Celtics",
        "tags": [],
        "tag_slugs": "|nba|",
    }
    return PredictionMarket(**{**base, **kw})


def test_read_game_maps_team_names_and_the_slug_date() -> None:
    outcomes = [
        PredictionOutcome(token_id="a", market_id="1", position=0, name="Lakers", price=0.4),
        PredictionOutcome(
            token_id="b", market_id="1", position=1, name="Boston Celtics", price=0.6
        ),
    ]
    g = read_game(_market(slug="nba-lal-bos-2026-01-15"), outcomes, "America/New_York")
    assert g is not None and g.game_date == dt.date(2026, 1, 15)
    assert {code: o.token_id for code, o in g.by_team.items()} == {"LAL": "a", "BOS": "b"}
    late = dt.datetime(2026, 1, 16, 1, 30, tzinfo=dt.UTC)  # 20:30 the day before in New York
    g = read_game(
        _market(slug="lakers-celtics", game_start_time=late), outcomes, "America/New_York"
    )
    assert g is not None and g.game_date == dt.date(2026, 1, 15)
    yes_no = [
        PredictionOutcome(token_id="a", market_id="1", position=0, name="Yes", price=0.4),
        PredictionOutcome(token_id="b", market_id="1", position=1, name="No", price=0.6),
    ]
    assert read_game(_market(slug="nba-lal-bos-2026-01-15"), yes_no, "America/New_York") is None


def test_side_edge_after_fees() -> None:
    fee, edge, direction = side_edge(0.40, 0.50, 1.9, 0.02)
    assert direction == "buy_on_polymarket"
    assert fee == pytest.approx(0.008) and edge == pytest.approx(0.50 - 0.40 - 0.008)
    fee, edge, direction = side_edge(0.70, 0.50, 2.2, 0.02)
    assert direction == "bet_at_sportsbook" and fee == 0
    assert edge == pytest.approx(0.70 - 1 / 2.2)


@pytest.fixture
async def matched(session: AsyncSession, settings: Settings) -> dict[str, object]:
    """A scored synthetic slate, and a Polymarket market for one of its games that prices the
    home side 0.2 under the sportsbook's de-vigged probability."""
    data = synthetic_seasons()
    await import_synthetic(session, settings, data)
    await score_slate(session, settings, data.last_date)
    row = (
        await session.execute(
            select(ValueScore, Outcome, Game)
            .join(Outcome, Outcome.id == ValueScore.outcome_id)
            .join(Market, Market.id == Outcome.market_id)
            .join(Game, Game.id == Market.game_id)
            .where(
                ValueScore.is_current.is_(True),
                Market.market_type == "moneyline",
                Outcome.side == "home",
                Game.game_date == data.last_date,
            )
            .order_by(Outcome.id)
            .limit(1)
        )
    ).one()
    score, outcome, game = row
    p_home = max(0.0, score.p_market - 0.2)
    market = PredictionMarket(
        id="555",
        question=f"{game.away_team} vs. {game.home_team}",
        slug=f"nba-{game.away_team.lower()}-{game.home_team.lower()}-{game.game_date}",
        tags=["NBA"],
        tag_slugs="|nba|",
        closed=False,
        active=True,
        fetched_at=dt.datetime.now(dt.UTC),
    )
    session.add(market)
    await session.flush()
    session.add_all(
        [
            PredictionOutcome(
                token_id="t-away",
                market_id="555",
                position=0,
                name=game.away_team,
                price=1 - p_home,
            ),
            PredictionOutcome(
                token_id="t-home", market_id="555", position=1, name=game.home_team, price=p_home
            ),
        ]
    )
    user = await create_user(session, "xv-paid@api.test", tier="paid")
    await session.commit()
    return {
        "home_market_id": outcome.id,
        "p_book": score.p_market,
        "p_home": p_home,
        "headers": {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"},
    }


async def test_value_lists_the_cheaper_side_after_fees(
    client: httpx.AsyncClient, matched: dict[str, object], settings: Settings
) -> None:
    r = await client.get("/predictions/value", headers=matched["headers"])  # type: ignore[arg-type]
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["matched_games"] == 1
    home = [
        row for row in body["items"] if row["sportsbook_market_id"] == matched["home_market_id"]
    ]
    assert len(home) == 1
    row = home[0]
    fee = settings.polymarket_fee_rate * row["polymarket_price"]
    assert row["direction"] == "buy_on_polymarket"
    assert row["edge_after_fees"] == pytest.approx(matched["p_book"] - matched["p_home"] - fee)  # type: ignore[operator]
    edges = [r["edge_after_fees"] for r in body["items"]]
    assert edges == sorted(edges, reverse=True) and min(edges) > body["threshold"]
    assert (await client.get("/predictions/value")).status_code == 401


async def test_bet_detail_shows_the_polymarket_probability(
    client: httpx.AsyncClient, matched: dict[str, object]
) -> None:
    r = await client.get(f"/bet/{matched['home_market_id']}", headers=matched["headers"])  # type: ignore[arg-type]
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["other_markets"][0]["venue"] == "polymarket"
    assert body["other_markets"][0]["market_id"] == "555"
    assert body["other_markets"][0]["probability"] == pytest.approx(matched["p_home"])

"""The value-betting API over a scored synthetic slate (real app, real database).

The synthetic odds are dated in 2030 and later, so they are never 15 minutes old: free callers
see none of them, and the tests of the full answer call as a paid user (`paid` fixture). The
free view, row by row of the gating table, is in test_gating.py.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.markets.slate import score_slate
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.betting.factories import (
    SEED_FIELDS,
    SyntheticSeasons,
    import_synthetic,
    synthetic_seasons,
)


@pytest.fixture
async def slate(session: AsyncSession, settings: Settings) -> SyntheticSeasons:
    data = synthetic_seasons()
    await import_synthetic(session, settings, data)
    await score_slate(session, settings, data.last_date)
    await session.commit()
    return data


@pytest.fixture
async def paid(client: httpx.AsyncClient, session: AsyncSession, settings: Settings):
    """The client, signed in as a paid user (real-time odds and every field)."""
    user = await create_user(session, "paid@api.test", tier="paid")
    await session.commit()
    client.headers["Authorization"] = f"Bearer {issue_access_token(settings, user.id)}"
    return client


def _date(data: SyntheticSeasons) -> str:
    return data.last_date.isoformat()


@pytest.mark.parametrize("algorithm", ["a", "b"])
async def test_markets_are_ranked_by_the_chosen_algorithm(
    paid: httpx.AsyncClient, slate, algorithm
):
    r = await paid.get(f"/markets?algorithm={algorithm}&limit=200&date={_date(slate)}")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 48 and len(body["items"]) == 48 and body["algorithm"] == algorithm
    scores = [row[f"algo_{algorithm}_value_score"] for row in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert [row["value_score"] for row in body["items"]] == scores
    assert set(body["items"][0]) >= SEED_FIELDS
    assert {row["market_type"] for row in body["items"]} == {"moneyline", "spread", "total"}
    assert (body["view"], body["odds_delay_minutes"], body["gated"]) == ("paid", 0, [])
    assert all(0 <= row[f"algo_{algorithm}_confidence"] <= 1 for row in body["items"])
    assert all(0 <= row[f"algo_{algorithm}_market_quality"] <= 1 for row in body["items"])


async def test_free_callers_see_only_odds_at_least_15_minutes_old(
    client: httpx.AsyncClient, paid: httpx.AsyncClient, slate
):
    """This slate's odds are dated in the future: none is old enough for the free view yet."""
    top = (await paid.get(f"/markets?date={_date(slate)}")).json()["items"][0]
    del client.headers["Authorization"]  # `paid` signed the shared client in: sign it out
    body = (await client.get(f"/markets?limit=200&date={_date(slate)}")).json()
    assert (body["view"], body["odds_delay_minutes"], body["total"]) == ("free", 15, 0)
    assert set(body["gated"]) == {
        "algo_a_confidence",
        "algo_a_market_quality",
        "algo_b_confidence",
        "algo_b_market_quality",
    }
    assert any("score that old yet" in n for n in body["notes"])
    r = await client.get(f"/bet/{top['market_id']}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "paid_subscription_required"
    history = (await client.get(f"/bet/{top['market_id']}/history")).json()
    assert history["points"] is None and history["gated"] == ["points"]


async def test_paging_is_stable_and_covers_every_market_once(paid: httpx.AsyncClient, slate):
    seen = []
    for offset in range(0, 48, 10):
        r = await paid.get(f"/markets?limit=10&offset={offset}&date={_date(slate)}")
        seen += [row["market_id"] for row in r.json()["items"]]
    full = (await paid.get(f"/markets?limit=200&date={_date(slate)}")).json()["items"]
    assert seen == [row["market_id"] for row in full]
    assert len(set(seen)) == 48


async def test_filters_narrow_the_list(paid: httpx.AsyncClient, slate):
    d = _date(slate)
    totals = (await paid.get(f"/markets?market_type=total&limit=200&date={d}")).json()
    assert totals["total"] == 16 and {r["market_type"] for r in totals["items"]} == {"total"}
    all_rows = (await paid.get(f"/markets?limit=200&date={d}")).json()["items"]
    cut = sorted(r["algo_a_value_score"] for r in all_rows)[24]
    high = (await paid.get(f"/markets?algorithm=a&min_value_score={cut}&limit=200&date={d}")).json()
    assert high["total"] == sum(1 for r in all_rows if r["algo_a_value_score"] >= cut)
    conf = (await paid.get(f"/markets?algorithm=b&min_confidence=0.5&limit=200&date={d}")).json()
    assert all(r["algo_b_confidence"] >= 0.5 for r in conf["items"])


async def test_the_default_slate_is_the_latest_full_date(paid: httpx.AsyncClient, slate):
    body = (await paid.get("/markets")).json()
    assert body["slate_date"] == _date(slate) and body["total"] == 48
    assert any("estimated" in note for note in body["notes"])


async def test_bet_detail_breaks_down_both_algorithms(paid: httpx.AsyncClient, slate):
    top = (await paid.get(f"/markets?market_type=spread&date={_date(slate)}")).json()["items"][0]
    r = await paid.get(f"/bet/{top['market_id']}")
    assert r.status_code == 200
    bet = r.json()
    assert set(bet) >= SEED_FIELDS
    assert bet["market_id"] == top["market_id"] and bet["odds_kind"] == "open"
    assert set(bet["p_market_by_method"]) == {
        "multiplicative",
        "additive",
        "power",
        "shin",
        "odds_ratio",
    }
    assert bet["p_market_by_method"]["odds_ratio"] == pytest.approx(bet["p_market"])
    push = bet["algo_b"]["components"]["p_push"]
    p_lose = 1 - bet["p_true"] - push
    assert bet["raw_edge"] == pytest.approx(bet["p_true"] * (bet["odds_decimal"] - 1) - p_lose)
    assert bet["raw_edge"] < 0  # one book alone is its own fair price: its vig is all there is
    assert bet["algo_a"]["value_score"] == bet["algo_a_value_score"]
    assert {"ev", "se_ev", "tau"} <= set(bet["algo_b"]["components"])
    assert bet["model"]["trained_through"] < _date(slate)
    assert bet["price_assumed"] is True and bet["tip_time_estimated"] is True
    assert bet["time_to_tip_minutes"] > 0


async def test_history_runs_from_open_to_close(paid: httpx.AsyncClient, slate):
    mid = f"nba-{_date(slate)}"
    top = (await paid.get(f"/markets?market_type=total&date={_date(slate)}")).json()["items"][0]
    r = await paid.get(f"/bet/{top['market_id']}/history")
    assert r.status_code == 200 and top["market_id"].startswith(mid)
    points = r.json()["points"]
    assert [p["odds_kind"] for p in points] == ["open", "close"]
    assert points[0]["calc_time"] < points[1]["calc_time"]
    assert points[0]["line"] == points[1]["line"] + 1.0  # the factory opens totals a point high


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/bet/no-such-market", 404, "market_not_found"),
        ("/bet/no-such-market/history", 404, "market_not_found"),
        ("/markets?algorithm=c", 422, "validation_error"),
        ("/markets?limit=500", 422, "validation_error"),
        ("/markets?limit=0", 422, "validation_error"),
        ("/markets?min_value_score=101", 422, "validation_error"),
        ("/markets?market_type=parlay", 422, "validation_error"),
        ("/markets?date=yesterday", 422, "validation_error"),
        # numbers are not dates (pydantic's lax mode read 0 as 1970-01-01)
        ("/markets?date=0", 422, "validation_error"),
        ("/markets?date=20240101", 422, "validation_error"),
        ("/markets?date=2023-04-09T00:00:00", 422, "validation_error"),
        ("/markets/props?date=0", 422, "validation_error"),
    ],
)
async def test_bad_requests_get_the_error_envelope(client: httpx.AsyncClient, path, status, code):
    r = await client.get(path)
    assert r.status_code == status
    body = r.json()
    assert body["error"]["code"] == code and body["request_id"] == r.headers["x-request-id"]


async def test_an_unscored_slate_answers_empty_with_a_hint(
    client: httpx.AsyncClient, session, settings
):
    await import_synthetic(session, settings, synthetic_seasons(seasons=1, days_per_season=3))
    body = (await client.get("/markets?date=2030-10-24")).json()
    assert body["total"] == 0 and any("edgelab score" in n for n in body["notes"])
    from sqlalchemy import select

    from edgelab.betting.odds.models import Outcome

    some = (await session.execute(select(Outcome.id).limit(1))).scalar_one()
    r = await client.get(f"/bet/{some}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "market_not_scored"

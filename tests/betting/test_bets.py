"""The bet tracker: recording, settling from results, closing-line value, performance."""

from __future__ import annotations

import datetime as dt
import math

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.bets import settlement
from edgelab.betting.bets.service import settle_open_bets
from edgelab.betting.odds.models import Game, OddsSnapshot, Outcome
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.betting.factories import import_synthetic, synthetic_seasons

pytestmark = pytest.mark.asyncio(loop_scope="session")


# --- settlement, by hand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market_type", "side", "line", "home", "away", "expected"),
    [
        ("moneyline", "home", None, 101, 99, "won"),
        ("moneyline", "away", None, 101, 99, "lost"),
        ("spread", "home", -5.5, 110, 104, "won"),  # won by 6 > 5.5
        ("spread", "home", -5.5, 109, 104, "lost"),  # won by 5
        ("spread", "away", 5.5, 109, 104, "won"),  # lost by 5 < 5.5
        ("spread", "home", -5.0, 109, 104, "push"),
        ("spread", "away", -3.0, 100, 104, "won"),  # away favourite won by 4
        ("total", "over", 210.5, 110, 101, "won"),
        ("total", "under", 210.5, 110, 101, "lost"),
        ("total", "under", 211.0, 110, 101, "push"),
        ("prop", "over", 25.5, 110, 101, None),
        ("spread", "home", None, 110, 101, None),
    ],
)
async def test_settle_by_the_rules(market_type, side, line, home, away, expected) -> None:
    assert settlement.settle(market_type, side, line, home, away) == expected


async def test_payout_includes_the_stake_and_rounds_down_to_the_minor_unit() -> None:
    assert settlement.payout_minor("won", 1000, 1.909091) == 1909
    assert settlement.payout_minor("push", 1000, 1.9) == 1000
    assert settlement.payout_minor("lost", 1000, 1.9) == 0


async def test_clv_is_fair_closing_probability_minus_the_price_taken() -> None:
    assert settlement.closing_line_value(2.10, 0.5) == pytest.approx(0.5 - 1 / 2.10)
    assert settlement.closing_line_value(1.80, 0.5) < 0
    with pytest.raises(ValueError):
        settlement.closing_line_value(1.0, 0.5)


# --- through the API --------------------------------------------------------------------------


async def _setup(session: AsyncSession, settings: Settings) -> dict[str, object]:
    data = synthetic_seasons(seasons=1, days_per_season=3, seed=11, unplayed_last_day=True)
    await import_synthetic(session, settings, data)
    played = (
        await session.execute(
            select(Game).where(Game.home_score.is_not(None)).order_by(Game.id).limit(1)
        )
    ).scalar_one()
    unplayed = (
        await session.execute(
            select(Game).where(Game.home_score.is_(None)).order_by(Game.id).limit(1)
        )
    ).scalar_one()
    alice = await create_user(session, "alice.bets@example.com")
    bob = await create_user(session, "bob.bets@example.com")
    await session.commit()
    return {
        "played": played,
        "unplayed": unplayed,
        "alice": {"Authorization": f"Bearer {issue_access_token(settings, alice.id)}"},
        "bob": {"Authorization": f"Bearer {issue_access_token(settings, bob.id)}"},
    }


async def _closing_fair(session: AsyncSession, outcome_id: str) -> float:
    """Independent multiplicative de-vig of the market's two closing prices."""
    market_id = (
        await session.execute(select(Outcome.market_id).where(Outcome.id == outcome_id))
    ).scalar_one()
    rows = (
        await session.execute(
            select(OddsSnapshot.outcome_id, OddsSnapshot.odds_decimal)
            .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
            .where(Outcome.market_id == market_id, OddsSnapshot.kind == "close")
        )
    ).all()
    implied = {o: 1 / odds for o, odds in rows}
    return implied[outcome_id] / sum(implied.values())


async def test_a_bet_on_a_finished_game_is_settled_with_its_payout_and_clv(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    s = await _setup(session, settings)
    game: Game = s["played"]  # type: ignore[assignment]
    market_id = f"{game.id}-ml-home"
    r = await client.post(
        "/me/bets",
        headers=s["alice"],
        json={"market_id": market_id, "odds_decimal": 2.5, "stake_minor": 1000, "bookmaker": "x"},
    )
    assert r.status_code == 201, r.text
    bet = r.json()
    home_won = game.home_score > game.away_score  # type: ignore[operator]
    assert bet["status"] == ("won" if home_won else "lost")
    assert bet["payout_minor"] == (2500 if home_won else 0)
    fair = await _closing_fair(session, market_id)
    assert bet["p_close_fair"] == pytest.approx(fair)
    assert bet["clv"] == pytest.approx(fair - 1 / 2.5)


async def test_a_spread_bet_takes_the_line_from_the_data_and_american_odds_convert(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    s = await _setup(session, settings)
    game: Game = s["played"]  # type: ignore[assignment]
    market_id = f"{game.id}-spread-away"
    r = await client.post(
        "/me/bets",
        headers=s["alice"],
        json={
            "market_id": market_id,
            "odds_american": -110,
            "stake_minor": 1100,
            "placed_at": "2026-10-01T12:00:00+00:00",  # before any snapshot: the first line
        },
    )
    assert r.status_code == 201, r.text
    bet = r.json()
    assert bet["odds_decimal"] == pytest.approx(1 + 100 / 110, abs=1e-6)
    first_line = (
        await session.execute(
            select(OddsSnapshot.line)
            .where(OddsSnapshot.outcome_id == market_id)
            .order_by(OddsSnapshot.captured_at)
            .limit(1)
        )
    ).scalar_one()
    assert bet["line"] == first_line
    expected = settlement.settle("spread", "away", first_line, game.home_score, game.away_score)  # type: ignore[arg-type]
    assert bet["status"] == expected


async def test_an_open_bet_settles_when_the_result_arrives(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    s = await _setup(session, settings)
    game: Game = s["unplayed"]  # type: ignore[assignment]
    r = await client.post(
        "/me/bets",
        headers=s["alice"],
        json={"market_id": f"{game.id}-total-over", "odds_decimal": 1.95, "stake_minor": 500},
    )
    assert r.status_code == 201 and r.json()["status"] == "open"
    line = r.json()["line"]
    game.home_score, game.away_score = 120, 119  # 239 > any synthetic line
    await session.flush()
    assert await settle_open_bets(session, settings) >= 1
    after = (await client.get(f"/me/bets/{r.json()['id']}", headers=s["alice"])).json()
    assert line < 239 and after["status"] == "won" and after["payout_minor"] == 975


async def test_the_same_external_id_returns_the_stored_bet(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    s = await _setup(session, settings)
    body = {
        "market_id": f"{s['played'].id}-ml-away",  # type: ignore[attr-defined]
        "odds_decimal": 1.8,
        "stake_minor": 100,
        "external_id": "slip-42",
    }
    first = await client.post("/me/bets", headers=s["alice"], json=body)
    again = await client.post("/me/bets", headers=s["alice"], json={**body, "stake_minor": 999})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["stake_minor"] == 100
    listed = (await client.get("/me/bets", headers=s["alice"])).json()
    assert listed["total"] == 1


async def test_bad_bets_are_refused_with_the_envelope(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    s = await _setup(session, settings)
    market_id = f"{s['played'].id}-ml-home"  # type: ignore[attr-defined]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    cases = [
        ({"market_id": market_id, "stake_minor": 1}, 422),
        ({"market_id": market_id, "odds_decimal": 2, "odds_american": 100, "stake_minor": 1}, 422),
        ({"market_id": market_id, "odds_american": 50, "stake_minor": 1}, 422),
        ({"market_id": market_id, "odds_decimal": 2, "stake_minor": 0}, 422),
        (
            {
                "market_id": market_id,
                "odds_decimal": 2,
                "stake_minor": 1,
                "placed_at": "2030-01-01T00:00:00",
            },
            422,
        ),
        ({"market_id": market_id, "odds_decimal": 2, "stake_minor": 1, "placed_at": future}, 400),
        # a number is not a time; year 1 at +01:00 has no UTC time (it overflowed: a 500)
        ({"market_id": market_id, "odds_decimal": 2, "stake_minor": 1, "placed_at": 0}, 422),
        (
            {
                "market_id": market_id,
                "odds_decimal": 2,
                "stake_minor": 1,
                "placed_at": "0001-01-01T00:00:00+01:00",
            },
            422,
        ),
        ({"market_id": "nba-no-such", "odds_decimal": 2, "stake_minor": 1}, 404),
    ]
    for body, status in cases:
        r = await client.post("/me/bets", headers=s["alice"], json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] and r.json()["request_id"]
    assert (await client.post("/me/bets", json=cases[-1][0])).status_code == 401
    assert (await client.get("/me/bets", headers=s["alice"])).json()["total"] == 0


async def test_one_user_cannot_read_or_delete_anothers_bet(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    s = await _setup(session, settings)
    r = await client.post(
        "/me/bets",
        headers=s["alice"],
        json={"market_id": f"{s['played'].id}-ml-home", "odds_decimal": 2, "stake_minor": 10},  # type: ignore[attr-defined]
    )
    await session.commit()
    bet_id = r.json()["id"]
    assert (await client.get(f"/me/bets/{bet_id}", headers=s["bob"])).status_code == 404
    assert (await client.delete(f"/me/bets/{bet_id}", headers=s["bob"])).status_code == 404
    assert (await client.get("/me/bets", headers=s["bob"])).json()["total"] == 0
    assert (await client.get(f"/me/bets/{bet_id}", headers=s["alice"])).status_code == 200
    assert (await client.delete(f"/me/bets/{bet_id}", headers=s["alice"])).status_code == 204
    assert (await client.get(f"/me/bets/{bet_id}", headers=s["alice"])).status_code == 404


async def test_performance_reports_roi_with_an_interval_and_clv_by_type_and_month(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    s = await _setup(session, settings)
    games = list(
        (
            await session.execute(
                select(Game).where(Game.home_score.is_not(None)).order_by(Game.id)
            )
        ).scalars()
    )
    for n, game in enumerate(games[:6]):
        for side in ("ml-home", "total-over"):
            r = await client.post(
                "/me/bets",
                headers=s["alice"],
                json={
                    "market_id": f"{game.id}-{side}",
                    "odds_decimal": 1.9 + n / 10,
                    "stake_minor": 100 * (n + 1),
                },
            )
            assert r.status_code == 201, r.text
    perf = (await client.get("/me/performance", headers=s["alice"])).json()
    bets = (await client.get("/me/bets?limit=200", headers=s["alice"])).json()["items"]
    settled = [b for b in bets if b["status"] != "open"]
    staked = sum(b["stake_minor"] for b in settled)
    profit = sum(b["payout_minor"] - b["stake_minor"] for b in settled)
    overall = perf["overall"]
    assert overall["settled"] == len(settled) == 12
    assert overall["roi"] == pytest.approx(profit / staked)
    low, high = overall["roi_ci95"]
    assert low <= overall["roi"] <= high and low < high
    assert set(perf["by_market_type"]) == {"moneyline", "total"}
    assert sum(v["bets"] for v in perf["by_month"].values()) == 12
    clvs = [b["clv"] for b in bets if b["clv"] is not None]
    assert len(clvs) == overall["clv_bets"] > 0
    assert overall["mean_clv"] == pytest.approx(sum(clvs) / len(clvs))
    assert not math.isnan(overall["mean_clv"])
    assert (await client.get("/me/performance")).status_code == 401


async def test_deleting_the_account_removes_its_bets_alert_rules_and_uploads(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    from edgelab.accounts.uploads.models import Upload
    from edgelab.betting.alerts.models import AlertRule
    from edgelab.betting.bets.models import UserBet

    s = await _setup(session, settings)
    paid = await create_user(session, "paid.leaver@example.com", tier="paid")
    await session.commit()
    auth = {"Authorization": f"Bearer {issue_access_token(settings, paid.id)}"}
    market_id = f"{s['played'].id}-ml-home"  # type: ignore[attr-defined]
    bet = {"market_id": market_id, "odds_decimal": 2, "stake_minor": 10}
    assert (await client.post("/me/bets", headers=auth, json=bet)).status_code == 201
    assert (await client.post("/me/bets", headers=s["alice"], json=bet)).status_code == 201
    rule = {"name": "all", "min_value_score": 0, "algorithm": "a"}
    assert (await client.post("/alerts/rules", headers=auth, json=rule)).status_code == 201
    upload = await client.post(
        "/uploads",
        headers=auth,
        data={"kind": "bet_history"},
        files={"file": ("b.csv", b"date,stake\n2026-01-01,10\n", "text/csv")},
    )
    assert upload.status_code == 201, upload.text

    assert (await client.delete("/me", headers=auth)).status_code == 204

    for model in (UserBet, AlertRule, Upload):
        left = (await session.execute(select(model).where(model.user_id == paid.id))).all()
        assert left == [], model.__name__
    others = (await client.get("/me/bets", headers=s["alice"])).json()
    assert others["total"] == 1  # another user's data is untouched


async def test_clv_comes_from_one_book_that_closed_at_the_bets_line(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """A book that closed at another number (first by name here) is passed over for one that
    closed at the bet's line; both sides come from that one book."""
    s = await _setup(session, settings)
    game: Game = s["played"]  # type: ignore[assignment]
    over, under = f"{game.id}-total-over", f"{game.id}-total-under"
    closes = (
        await session.execute(
            select(OddsSnapshot).where(
                OddsSnapshot.outcome_id.in_([over, under]), OddsSnapshot.kind == "close"
            )
        )
    ).scalars()
    by_side = {c.outcome_id: c for c in closes}
    line = by_side[over].line
    assert line is not None
    for side, odds in ((over, 1.50), (under, 2.80)):  # "aaa" closed two points higher
        session.add(
            OddsSnapshot(
                outcome_id=side,
                bookmaker="aaa",
                kind="close",
                captured_at=by_side[side].captured_at,
                odds_decimal=odds,
                line=line + 2,
                source="test",
            )
        )
    await session.commit()
    r = await client.post(
        "/me/bets",
        headers=s["alice"],
        json={"market_id": over, "odds_decimal": 1.95, "stake_minor": 1000, "line": line},
    )
    assert r.status_code == 201, r.text
    bet = r.json()
    implied = {o: 1 / by_side[o].odds_decimal for o in (over, under)}
    fair = implied[over] / sum(implied.values())
    assert bet["line"] == line and bet["p_close_fair"] == pytest.approx(fair)
    assert bet["clv"] == pytest.approx(fair - 1 / 1.95)

"""My performance and the CSV export through the API: breakdowns by book, the cumulative
profit, the CLV histogram, the verdict, and bets without a closing line kept out of CLV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import statistics
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.bets import performance as figures
from edgelab.betting.bets.service import settle_open_bets
from edgelab.betting.odds.models import Game
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.betting.factories import add_game, add_quote, import_synthetic, synthetic_seasons

BOOKS = ("pinnacle", "draftkings", None)


async def _user(session: AsyncSession, settings: Settings, email: str) -> dict[str, str]:
    user = await create_user(session, email)
    await session.commit()
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


async def _played_games(session: AsyncSession, settings: Settings) -> list[Game]:
    data = synthetic_seasons(seasons=1, days_per_season=4, seed=23)
    await import_synthetic(session, settings, data)
    await session.commit()
    stmt = select(Game).where(Game.home_score.is_not(None)).order_by(Game.id)
    return list((await session.execute(stmt)).scalars())


async def _record(
    client: httpx.AsyncClient, headers: dict[str, str], games: list[Game], count: int
) -> list[dict[str, object]]:
    out = []
    for n, game in enumerate(games[:count]):
        body: dict[str, object] = {
            "market_id": f"{game.id}-{('ml-home', 'ml-away', 'total-over')[n % 3]}",
            "odds_decimal": round(1.8 + (n % 5) / 10, 2),
            "stake_minor": 500 + 100 * (n % 4),
            "placed_at": f"2026-0{1 + n % 3}-{10 + n:02d}T12:00:00+00:00",
        }
        book = BOOKS[n % 3]
        if book is not None:
            body["bookmaker"] = book
        r = await client.post("/me/bets", headers=headers, json=body)
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def _profit(bet: dict[str, object]) -> int:
    return int(bet["payout_minor"]) - int(bet["stake_minor"])  # type: ignore[call-overload]


async def test_performance_breaks_down_by_book_with_sample_sizes_and_keeps_its_keys(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = await _user(session, settings, "books@my-bets.test")
    bets = await _record(client, headers, await _played_games(session, settings), 12)
    perf = (await client.get("/me/performance", headers=headers)).json()
    assert {"currencies", "overall", "by_market_type", "by_month", "per_bet_clv", "notes"} <= set(
        perf
    )
    assert set(perf["by_book"]) == {"pinnacle", "draftkings", "unknown"}
    for book, summary in perf["by_book"].items():
        mine = [b for b in bets if (b["bookmaker"] or "unknown") == book]
        assert summary["bets"] == summary["settled"] == len(mine) == 4
        staked = sum(int(b["stake_minor"]) for b in mine)  # type: ignore[call-overload]
        assert summary["profit_minor"] == sum(_profit(b) for b in mine)
        assert summary["roi"] == pytest.approx(sum(_profit(b) for b in mine) / staked)
        assert summary["clv_bets"] == sum(1 for b in mine if b["clv"] is not None)
    assert sum(s["bets"] for s in perf["by_month"].values()) == 12
    assert set(perf["by_month"]) == {"2026-01", "2026-02", "2026-03"}


async def test_cumulative_profit_and_the_clv_histogram_follow_the_bets(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = await _user(session, settings, "charts@my-bets.test")
    bets = await _record(client, headers, await _played_games(session, settings), 15)
    perf = (await client.get("/me/performance", headers=headers)).json()
    ordered = sorted(bets, key=lambda b: str(b["placed_at"]))
    running, expected = 0, []
    for n, bet in enumerate(ordered, start=1):
        running += _profit(bet)
        expected.append((bet["placed_at"], running, n))
    got = [(p["placed_at"], p["profit_minor"], p["bets"]) for p in perf["cumulative_profit"]]
    assert got == expected
    assert perf["cumulative_profit"][-1]["profit_minor"] == perf["overall"]["profit_minor"]
    clvs = [float(b["clv"]) for b in bets if b["clv"] is not None]  # type: ignore[arg-type]
    assert clvs
    bins = perf["clv_histogram"]
    assert len(bins) == 20 and bins[0]["low"] == pytest.approx(-0.10)
    assert sum(b["n"] for b in bins) == len(clvs) == perf["overall"]["clv_bets"]
    for clv in clvs:  # each CLV counted in the one-point bin that holds it (ends clipped)
        index = min(max(math.floor(round(clv * 100, 9)) + 10, 0), 19)
        assert bins[index]["low"] <= max(min(clv, 0.1), -0.1) <= bins[index]["high"]
    mean = statistics.fmean(clvs)
    half = 1.959964 * statistics.stdev(clvs) / math.sqrt(len(clvs))
    low, high = perf["overall"]["mean_clv_ci95"]
    assert low == pytest.approx(mean - half) and high == pytest.approx(mean + half)


async def test_the_verdict_says_roi_cannot_tell_luck_yet_and_how_many_bets_it_needs(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = await _user(session, settings, "verdict@my-bets.test")
    empty = (await client.get("/me/performance", headers=headers)).json()
    assert empty["verdict"].startswith("No bets yet") and empty["bets_needed"] is None
    bets = await _record(client, headers, await _played_games(session, settings), 12)
    perf = (await client.get("/me/performance", headers=headers)).json()
    overall = perf["overall"]
    returns = [_profit(b) / int(b["stake_minor"]) for b in bets]  # type: ignore[call-overload]
    edge = max(abs(overall["roi"]), 0.02)
    needed = max(math.ceil((1.959964 * statistics.stdev(returns) / edge) ** 2), len(returns))
    assert perf["bets_needed"] == needed
    low, high = overall["roi_ci95"]
    assert f"After 12 settled bets your ROI is {100 * overall['roi']:+.1f}%" in perf["verdict"]
    if low < 0 < high:
        assert "consistent with luck" in perf["verdict"]
        assert f"roughly {needed:,} bets" in perf["verdict"]
    assert f"over {overall['clv_bets']} bets with a closing line" in perf["verdict"]


async def test_a_bet_without_a_closing_line_counts_in_roi_and_not_in_clv(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = await _user(session, settings, "noclose@my-bets.test")
    bets = await _record(client, headers, await _played_games(session, settings), 3)
    tip = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.UTC)
    game = await add_game(session, day=dt.date(2026, 2, 28), home="BOS", away="NYK", tip=tip)
    await add_quote(session, game, "moneyline", "fanduel", tip - dt.timedelta(hours=2), (1.8, 2.1))
    await session.commit()
    r = await client.post(
        "/me/bets",
        headers=headers,
        json={"market_id": f"{game.id}-ml-home", "odds_decimal": 1.8, "stake_minor": 1000},
    )
    assert r.status_code == 201 and r.json()["status"] == "open", r.text
    game.home_score, game.away_score = 110, 100  # the final arrives; no book ever closed
    await session.commit()
    assert await settle_open_bets(session, settings) == 1
    await session.commit()
    perf = (await client.get("/me/performance", headers=headers)).json()
    overall = perf["overall"]
    with_clv = [float(b["clv"]) for b in bets if b["clv"] is not None]  # type: ignore[arg-type]
    assert with_clv
    assert overall["settled"] == 4 and overall["clv_bets"] == len(with_clv)
    assert overall["profit_minor"] == sum(_profit(b) for b in bets) + 800
    assert overall["mean_clv"] == pytest.approx(statistics.fmean(with_clv))
    missing = 4 - len(with_clv)
    assert any(f"{missing} settled bet(s) have no closing-line value" in n for n in perf["notes"])
    assert all(item["bet_id"] != r.json()["id"] for item in perf["per_bet_clv"])


async def test_the_csv_export_lists_every_bet_of_the_caller_only(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = await _user(session, settings, "csv@my-bets.test")
    other = await _user(session, settings, "csv.other@my-bets.test")
    games = await _played_games(session, settings)
    bets = await _record(client, headers, games, 4)
    r = await client.post(
        "/me/bets",
        headers=headers,
        json={
            "market_id": f"{games[5].id}-ml-home",
            "odds_decimal": 2.0,
            "stake_minor": 700,
            "bookmaker": "=HYPERLINK(1)",
        },
    )
    assert r.status_code == 201
    await _record(client, other, games, 2)
    answer = await client.get("/me/bets.csv", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {row["id"] for row in rows} == {str(b["id"]) for b in [*bets, r.json()]}
    for row in rows:
        assert int(row["profit_minor"]) == int(row["payout_minor"]) - int(row["stake_minor"])
    formula = next(row for row in rows if row["id"] == r.json()["id"])
    assert formula["bookmaker"] == "'=HYPERLINK(1)"  # a spreadsheet shows it as text
    placed = [row["placed_at"] for row in rows]
    assert placed == sorted(placed)
    assert (await client.get("/me/bets.csv")).status_code == 401


# --- the verdict's cases, on the pure figures -------------------------------------------------


@dataclass
class _Bet:
    status: str
    stake_minor: int = 1000
    payout_minor: int | None = None
    clv: float | None = None
    placed_at: dt.datetime = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    market_type: str = "moneyline"
    bookmaker: str | None = None
    currency: str = "USD"


def _verdict(bets: list[_Bet]) -> str:
    return str(figures.report(bets, seed=1)["verdict"])


def test_the_verdict_waits_for_results_and_says_when_clv_is_missing() -> None:
    assert _verdict([_Bet("open"), _Bet("open")]).startswith("2 open bet(s), none settled yet")
    no_close = _verdict([_Bet("won", payout_minor=1900), _Bet("lost", payout_minor=0)])
    assert "After 2 settled bets" in no_close and "CLV, cannot help yet" in no_close


def test_a_few_lucky_wins_clear_zero_but_are_called_rough() -> None:
    bets = [_Bet("won", payout_minor=1900 + 10 * n, clv=0.01 * n) for n in range(7)]
    text = _verdict(bets)
    assert "the interval excludes zero, but under 30 bets the interval itself is rough" in text


def test_void_and_open_bets_stake_nothing_in_roi() -> None:
    bets = [
        _Bet("won", payout_minor=2000),
        _Bet("lost", payout_minor=0, stake_minor=500),
        _Bet("void", payout_minor=1000),
        _Bet("open"),
    ]
    overall = figures.summary(bets, seed=1)
    assert (overall["bets"], overall["settled"], overall["open"]) == (4, 2, 1)
    assert overall["staked_minor"] == 1500 and overall["profit_minor"] == 500
    assert overall["roi"] == pytest.approx(500 / 1500)


async def test_the_csv_export_keeps_an_imported_bets_own_texts_and_result(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = await _user(session, settings, "csv.import@my-bets.test")
    text = (
        "Date,Sport,League,Event,Bet Type,Selection,Odds,Stake,Result,Payout\n"
        "2024-03-01,Basketball,NBA,Celtics @ Knicks,Moneyline,Celtics,+120,10,Cashed Out,14.5\n"
    )
    up = await client.post(
        "/me/bets/imports", headers=headers, files={"file": ("b.csv", text.encode(), "text/csv")}
    )
    assert up.status_code == 201, up.text
    done = await client.post(f"/me/bets/imports/{up.json()['id']}/confirm", headers=headers)
    assert done.json()["result"]["imported"] == 1
    listed = (await client.get("/me/bets", headers=headers)).json()["items"][0]
    assert (listed["sport"], listed["market_text"], listed["result"]) == (
        "Basketball / NBA",
        "Moneyline",
        "cashout",
    )
    answer = await client.get("/me/bets.csv", headers=headers)
    (row,) = csv.DictReader(io.StringIO(answer.text))
    assert row["source"] == "import" and row["event"] == "Celtics @ Knicks"
    assert (row["sport"], row["market_text"], row["selection"]) == (
        "Basketball / NBA",
        "Moneyline",
        "Celtics",
    )
    assert (row["result"], row["status"], row["payout_minor"]) == ("cashout", "won", "1450")

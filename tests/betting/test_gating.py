"""Free and paid views of the value-betting routes, row by row of the gating table, plus tier
rate limits on the real app.

| feature                          | free (anonymous or free user)     | paid      |
| odds freshness                   | as of 15 minutes ago              | real time |
| value score                      | yes                               | yes       |
| confidence, market quality       | null, named in `gated`            | yes       |
| props markets                    | not listed; asked for: 403        | yes       |
| historical analytics (history)   | `points: null`, `gated`           | yes       |

The slate is the synthetic one as it stands five hours before its first tip-off (NOW, where
each test holds the app's clock): opening lines, seven books' quotes an hour old (and props
from four of them), then the quotes of the last half hour, all scored by the product once, at
NOW (`shared_slate(live=live_day)`). In market `moved` a book quotes a better price 30 minutes
before NOW and an even better one 5 minutes before; in `fresh_only` a book's only new quote is
3 minutes old; a game added to the slate is quoted by every book 2 minutes before NOW
(`too_new`: all its scores that recent). No results and no closing lines yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import User
from edgelab.accounts.service import create_user
from edgelab.betting.markets import service, slate
from edgelab.betting.odds import ids
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome
from edgelab.core.auth import issue_access_token
from edgelab.core.clock import ManualClock
from edgelab.core.settings import Settings
from tests.betting.factories import (
    LAGGING_BOOK,
    SEED_FIELDS,
    SHARP_BOOKS,
    SOFT_BOOKS,
    SyntheticSeasons,
    add_game,
    add_quote,
)
from tests.fixtures.database import make_settings
from tests.fixtures.slate import shared_slate

pytestmark = pytest.mark.asyncio(loop_scope="session")

GATED_ROW = {
    "algo_a_confidence",
    "algo_a_market_quality",
    "algo_b_confidence",
    "algo_b_market_quality",
}
GATED_DETAIL = GATED_ROW | {
    "algo_a_components",
    "algo_b_components",
    *(f"algo_{a}.{f}" for a in "ab" for f in ("confidence", "market_quality", "components")),
    "stake_suggestion",  # sized on algorithm B's shrunk (confidence-like) probability
}
CALLERS = ["anonymous", "free", "paid"]
CACHED = {"markets_cache_ttl_seconds": 60.0}
SMALL_LIMITS = {
    "rate_limit_anonymous": "2/minute",
    "rate_limit_free": "3/minute",
    "rate_limit_paid": "5/minute",
}

MINUTE = dt.timedelta(minutes=1)
NOW_BEFORE_FIRST_TIP = dt.timedelta(hours=5)
MOVER, FRESH_BOOK = "draftkings", "fanduel"  # the books quoting `moved` and `fresh_only` anew
ADDED = ("NYK", "PHI")  # home, away of the game added to the slate (`too_new`)


async def _now(session: AsyncSession, day: dt.date) -> dt.datetime:
    first_tip: dt.datetime | None = await session.scalar(
        select(func.min(Game.tip_time)).where(Game.game_date == day)
    )
    assert first_tip is not None
    return first_tip - NOW_BEFORE_FIRST_TIP


async def _picks(session: AsyncSession, day: dt.date) -> tuple[Game, Game, str]:
    """The games of `moved` and `fresh_only` and the id of the game added to the slate."""
    added = ids.game_id(day, *ADDED)
    games = (
        await session.execute(
            select(Game).where(Game.game_date == day, Game.id != added).order_by(Game.id)
        )
    ).scalars()
    moved, fresh_only, *_ = games
    return moved, fresh_only, added


async def _home_handicap(session: AsyncSession, game: Game, book: str) -> float:
    """The handicap `book` gave the home side of the game's spread this morning."""
    line: float | None = await session.scalar(
        select(OddsSnapshot.line).where(
            OddsSnapshot.outcome_id == ids.outcome_id(game.id, "spread", "home"),
            OddsSnapshot.bookmaker == book,
        )
    )
    assert line is not None
    return line


async def live_day(
    session: AsyncSession, settings: Settings, data: SyntheticSeasons
) -> dt.datetime:
    """The slate's day from the books' morning quotes to NOW (module docstring)."""
    day = data.last_date
    now = await _now(session, day)
    moved, fresh_only, _ = await _picks(session, day)
    handicap = await _home_handicap(session, moved, MOVER)
    await add_quote(session, moved, "spread", MOVER, now - 30 * MINUTE, (2.4, 1.6), handicap)
    await add_quote(session, moved, "spread", MOVER, now - 5 * MINUTE, (2.6, 1.5), handicap)
    handicap = await _home_handicap(session, fresh_only, FRESH_BOOK)
    await add_quote(
        session, fresh_only, "spread", FRESH_BOOK, now - 3 * MINUTE, (2.2, 1.68), handicap
    )
    tip = now + NOW_BEFORE_FIRST_TIP + dt.timedelta(hours=2, minutes=30)  # a late game
    added = await add_game(session, day=day, home=ADDED[0], away=ADDED[1], tip=tip)
    for n, book in enumerate((*SHARP_BOOKS, *SOFT_BOOKS, LAGGING_BOOK)):
        at = now - 2 * MINUTE - dt.timedelta(seconds=10 * n)  # every book within the minute
        vig = 1.025 if book in SHARP_BOOKS else 1.045
        wobble = 0.5 * (n % 3 - 1)
        p_home = 0.56 + 0.01 * (n % 3 - 1)
        await add_quote(session, added, "moneyline", book, at,
                        (1 / (p_home * vig), 1 / ((1 - p_home) * vig)))  # fmt: skip
        await add_quote(session, added, "spread", book, at, (2 / vig, 2 / vig), -2.5 + wobble)
        await add_quote(session, added, "total", book, at, (2 / vig, 2 / vig), 221.5 + wobble)
    return now


db_url, engine, seasons = shared_slate(live=live_day, upcoming_last_day=True)


@pytest.fixture
async def settings(db_url: str, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings; a test may change some with `indirect` parametrisation."""
    return make_settings(db_url, **getattr(request, "param", {}))


@dataclass
class Slate:
    date: str
    moved: str  # a better price 30 min ago (free sees it) and a better one 5 min ago (paid)
    fresh_only: str  # quoted this morning, and anew 3 min ago
    too_new: str  # every score 2 min old: not in the free view at all
    added_game: str  # the game of `too_new`, listed 2 min ago: none of its markets is free
    requoted: frozenset[str]  # outcomes of the markets quoted anew in the last half hour
    prop: str  # a scored props market
    now: dt.datetime


@pytest.fixture
async def gslate(
    session: AsyncSession, seasons: SyntheticSeasons, manual_clock: ManualClock
) -> Slate:
    """The slate at NOW, the app's clock held there (access tokens use the real clock)."""
    day = seasons.last_date
    now = await _now(session, day)
    manual_clock.set(now)
    moved, fresh_only, added = await _picks(session, day)
    prop = await session.scalar(
        select(Outcome.id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(Market.market_type == "prop", Game.game_date == day)
        .order_by(Outcome.id)
        .limit(1)
    )  # a real props market, scored from 4 books
    assert prop is not None
    requoted = frozenset(
        ids.outcome_id(g.id, "spread", side)
        for g in (moved, fresh_only)
        for side in ("home", "away")
    )
    return Slate(
        day.isoformat(),
        ids.outcome_id(moved.id, "spread", "home"),
        ids.outcome_id(fresh_only.id, "spread", "home"),
        ids.outcome_id(added, "total", "over"),
        added,
        requoted,
        prop,
        now,
    )


@pytest.fixture
async def callers(session: AsyncSession, settings: Settings) -> dict[str, dict[str, str]]:
    """Request headers of each kind of caller: nobody, a free user, a paid user."""
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for tier in ("free", "paid"):
        user = await create_user(session, f"{tier}@gating.test", tier=tier)
        headers[tier] = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    await session.commit()
    return headers


async def _markets(
    client: httpx.AsyncClient, headers: dict[str, str], query: str = ""
) -> dict[str, Any]:
    r = await client.get(f"/markets?limit=200&{query}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def now_age(gslate: Slate, row: dict[str, Any]) -> dt.timedelta:
    return gslate.now - dt.datetime.fromisoformat(row["calc_time"])


def _by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["market_id"]: row for row in body["items"]}


# --- odds freshness ------------------------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
async def test_free_callers_see_odds_as_of_15_minutes_ago_and_paid_in_real_time(
    client: httpx.AsyncClient, gslate: Slate, callers, who: str
) -> None:
    body = await _markets(client, callers[who], f"date={gslate.date}")
    rows = _by_id(body)
    paid = who == "paid"
    assert body["view"] == ("paid" if paid else "free")
    assert body["odds_delay_minutes"] == (0 if paid else 15)
    moved = rows[gslate.moved]
    assert (moved["odds_kind"], moved["odds_decimal"]) == ("live", 2.6 if paid else 2.4)
    age = gslate.now - dt.datetime.fromisoformat(moved["calc_time"])
    assert age < dt.timedelta(minutes=15) if paid else age >= dt.timedelta(minutes=15)
    # a market whose only new price is 3 minutes old shows its earlier price to free callers
    fresh = rows[gslate.fresh_only]
    assert (fresh["odds_decimal"] == 2.2) is paid
    assert (now_age(gslate, fresh) < dt.timedelta(minutes=15)) is paid
    # a market whose every score is 2 minutes old is not in the free view yet
    assert (gslate.too_new in rows) is paid
    added = {m for m, row in rows.items() if row["game_id"] == gslate.added_game}
    assert len(added) == (6 if paid else 0)
    sides, prop_sides = 8 * 6, 8 * 2  # 8 games: moneyline, spread, total; a prop market each
    assert body["total"] == len(rows) == (sides + 6 + prop_sides if paid else sides)

    bet = (await client.get(f"/bet/{gslate.moved}", headers=callers[who])).json()
    assert (bet["odds_decimal"], bet["odds_delay_minutes"]) == ((2.6, 0) if paid else (2.4, 15))
    too_new = await client.get(f"/bet/{gslate.too_new}", headers=callers[who])
    assert too_new.status_code == (200 if paid else 403)
    if not paid:
        assert too_new.json()["error"]["code"] == "paid_subscription_required"


async def test_on_old_odds_the_free_view_shows_what_the_paid_view_shows(
    client: httpx.AsyncClient, gslate: Slate, callers
) -> None:
    """A market no book has quoted within the delay: same row, same price in both views."""
    # One algorithm for both: without it each caller is ranked in their own A/B arm.
    free = _by_id(await _markets(client, callers["free"], f"date={gslate.date}&algorithm=a"))
    paid = _by_id(await _markets(client, callers["paid"], f"date={gslate.date}&algorithm=a"))
    props = {m for m, row in paid.items() if row["market_type"] == "prop"}
    added = {m for m, row in paid.items() if row["game_id"] == gslate.added_game}
    assert gslate.too_new in added and gslate.prop in props
    assert set(free) == set(paid) - added - props
    assert gslate.requoted < set(free)
    for market_id in set(free) - gslate.requoted:
        assert {k: v for k, v in free[market_id].items() if k not in GATED_ROW} == {
            k: v for k, v in paid[market_id].items() if k not in GATED_ROW
        }


@pytest.mark.parametrize(
    "settings", [{"free_odds_delay_minutes": 0}], indirect=True, ids=["no-delay"]
)
async def test_a_zero_delay_setting_gives_free_callers_real_time_odds(
    client: httpx.AsyncClient, gslate: Slate, callers
) -> None:
    body = await _markets(client, callers["free"], f"date={gslate.date}")
    assert body["view"] == "free" and body["odds_delay_minutes"] == 0
    assert _by_id(body)[gslate.moved]["odds_decimal"] == 2.6
    assert all(row["algo_a_confidence"] is None for row in body["items"])


async def test_the_delayed_view_ranks_rows_as_scoring_picks_the_current_one() -> None:
    assert service.AS_OF_KIND_PRIORITY == slate.KIND_PRIORITY


# --- value score ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
async def test_value_scores_are_in_every_view(
    client: httpx.AsyncClient, gslate: Slate, callers, who: str
) -> None:
    for algorithm in "ab":
        body = await _markets(client, callers[who], f"algorithm={algorithm}&date={gslate.date}")
        scores = [row[f"algo_{algorithm}_value_score"] for row in body["items"]]
        assert scores and all(0 <= s <= 100 for s in scores)
        assert scores == sorted(scores, reverse=True)
        assert [row["value_score"] for row in body["items"]] == scores
        assert all(set(row) >= SEED_FIELDS for row in body["items"])
    bet = (await client.get(f"/bet/{gslate.moved}", headers=callers[who])).json()
    assert bet["algo_a"]["value_score"] == bet["algo_a_value_score"] >= 0
    assert bet["algo_b"]["value_score"] == bet["algo_b_value_score"] >= 0
    assert bet["algo_a"]["formula"] and bet["p_true"] > 0


# --- confidence and market-quality breakdowns ----------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
async def test_confidence_and_market_quality_are_paid_fields(
    client: httpx.AsyncClient, gslate: Slate, callers, who: str
) -> None:
    paid = who == "paid"
    body = await _markets(client, callers[who], f"date={gslate.date}")
    assert set(body["gated"]) == (set() if paid else GATED_ROW)
    for row in body["items"]:
        assert set(row) >= GATED_ROW  # the keys stay: clients and the seed contract need them
        values = [row[k] for k in sorted(GATED_ROW)]
        assert all(0 <= v <= 1 for v in values) if paid else values == [None] * 4
    if not paid:
        assert any("paid subscribers" in n and "`gated`" in n for n in body["notes"])

    bet = (await client.get(f"/bet/{gslate.moved}", headers=callers[who])).json()
    assert set(bet["gated"]) == (set() if paid else GATED_DETAIL)
    for name in GATED_DETAIL:
        top, _, inner = name.partition(".")
        value = bet[top][inner] if inner else bet[top]
        assert (value is not None) is paid, name
    if paid:
        assert {"ev", "se_ev", "tau"} <= set(bet["algo_b"]["components"])
        assert bet["algo_a"]["confidence"] == bet["algo_a_confidence"]


@pytest.mark.parametrize("who", CALLERS)
async def test_filtering_on_confidence_is_paid(
    client: httpx.AsyncClient, gslate: Slate, callers, who: str
) -> None:
    query = f"algorithm=b&date={gslate.date}"
    everything = (await _markets(client, callers["paid"], query))["items"]
    confidences = sorted(row["algo_b_confidence"] for row in everything)
    cut = confidences[len(confidences) // 2]  # the median: the filter keeps about half
    r = await client.get(f"/markets?{query}&min_confidence={cut}&limit=200", headers=callers[who])
    if who != "paid":
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "paid_subscription_required"
        return
    assert r.status_code == 200
    kept = {row["market_id"] for row in r.json()["items"]}
    assert kept == {row["market_id"] for row in everything if row["algo_b_confidence"] >= cut}
    assert 0 < len(kept) < len(everything)


# --- props markets -------------------------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
async def test_props_markets_are_paid(
    client: httpx.AsyncClient, gslate: Slate, callers, who: str
) -> None:
    paid = who == "paid"
    headers = callers[who]
    body = await _markets(client, headers, f"date={gslate.date}")
    assert (gslate.prop in _by_id(body)) is paid
    assert any("Props markets are for paid subscribers" in n for n in body["notes"]) is not paid

    only_props = await client.get(f"/markets?market_type=prop&date={gslate.date}", headers=headers)
    props_route = await client.get(f"/markets/props?date={gslate.date}", headers=headers)
    detail = await client.get(f"/bet/{gslate.prop}", headers=headers)
    history = await client.get(f"/bet/{gslate.prop}/history", headers=headers)
    if paid:
        assert only_props.status_code == 200
        rows = only_props.json()["items"]
        assert gslate.prop in [row["market_id"] for row in rows]
        assert {row["market_type"] for row in rows} == {"prop"} and len(rows) == 8 * 2
        assert props_route.status_code == 200 and props_route.json()["items"] == rows
        assert detail.status_code == 200 and detail.json()["market_type"] == "prop"
        assert history.status_code == 200
    else:
        for r in (only_props, props_route, detail, history):
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "paid_subscription_required"


# --- historical analytics ------------------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
async def test_score_history_is_paid(
    client: httpx.AsyncClient, gslate: Slate, callers, who: str
) -> None:
    r = await client.get(f"/bet/{gslate.moved}/history", headers=callers[who])
    assert r.status_code == 200  # not 403: the seed contract pins this route at 200 anonymously
    body = r.json()
    assert body["market_id"] == gslate.moved and body["model_version"]
    if who == "paid":
        assert body["view"] == "paid" and body["gated"] == []
        points = body["points"]
        # from the opening line, through the seven books' morning, to the two new prices; no
        # close before tip-off
        assert points[0]["odds_kind"] == "open"
        assert all(p["odds_kind"] != "close" for p in points)
        assert [(p["odds_kind"], p["bookmaker"], p["odds_decimal"]) for p in points[-2:]] == [
            ("live", MOVER, 2.4),
            ("live", MOVER, 2.6),
        ]
        assert [p["calc_time"] for p in body["points"]] == sorted(
            p["calc_time"] for p in body["points"]
        )
    else:
        assert body["view"] == "free" and body["gated"] == ["points"]
        assert body["points"] is None and any("paid subscribers" in n for n in body["notes"])


async def test_an_unknown_market_is_404_in_every_view(
    client: httpx.AsyncClient, gslate: Slate, callers
) -> None:
    for headers in callers.values():
        for path in ("/bet/no-such-market", "/bet/no-such-market/history"):
            r = await client.get(path, headers=headers)
            assert r.status_code == 404 and r.json()["error"]["code"] == "market_not_found"


# --- who the caller is ---------------------------------------------------------------------


@pytest.mark.parametrize("settings", [CACHED], indirect=True, ids=["cached"])
async def test_the_cache_keeps_free_and_paid_answers_apart(
    client: httpx.AsyncClient, gslate: Slate, callers
) -> None:
    """Same query, both orders: whichever view fills the cache, the other never gets it."""
    query = f"date={gslate.date}"
    paid_first = await _markets(client, callers["paid"], query)
    free_second = await _markets(client, callers["anonymous"], query)
    assert paid_first["view"] == "paid" and free_second["view"] == "free"
    assert free_second["items"][0]["algo_a_confidence"] is None
    assert gslate.prop not in _by_id(free_second)

    query = f"algorithm=b&date={gslate.date}"
    free_first = await _markets(client, callers["free"], query)
    paid_second = await _markets(client, callers["paid"], query)
    assert free_first["view"] == "free" and paid_second["view"] == "paid"
    assert paid_second["items"][0]["algo_b_confidence"] is not None
    assert _by_id(paid_second)[gslate.moved]["odds_decimal"] == 2.6
    # and each view is served from the cache: a second free call repeats the first body
    assert await _markets(client, callers["free"], query) == free_first


@pytest.mark.parametrize("settings", [CACHED], indirect=True, ids=["cached"])
async def test_a_tier_change_shows_on_the_next_request_with_the_same_token(
    client: httpx.AsyncClient, gslate: Slate, callers, session: AsyncSession
) -> None:
    headers = callers["free"]
    assert (await _markets(client, headers, f"date={gslate.date}"))["view"] == "free"
    assert (await client.get(f"/bet/{gslate.moved}/history", headers=headers)).json()[
        "points"
    ] is None

    await session.execute(update(User).where(User.email == "free@gating.test").values(tier="paid"))
    await session.commit()
    body = await _markets(client, headers, f"date={gslate.date}")
    assert body["view"] == "paid" and body["items"][0]["algo_a_confidence"] is not None
    assert (await client.get(f"/bet/{gslate.moved}/history", headers=headers)).json()["points"]

    await session.execute(update(User).where(User.email == "free@gating.test").values(tier="free"))
    await session.commit()
    assert (await _markets(client, headers, f"date={gslate.date}"))["view"] == "free"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("Bearer not-a-jwt", "invalid_token"),
        ("Bearer elk_not-a-key", "invalid_api_key"),
        ("Basic dXNlcjpwYXNz", "invalid_token"),
    ],
)
async def test_a_bad_credential_is_401_not_the_free_view(
    client: httpx.AsyncClient, gslate: Slate, authorization: str, code: str
) -> None:
    for path in ("/markets", f"/bet/{gslate.moved}", f"/bet/{gslate.moved}/history"):
        r = await client.get(path, headers={"Authorization": authorization})
        assert r.status_code == 401 and r.json()["error"]["code"] == code
        assert r.headers["www-authenticate"] == "Bearer"


# --- rate limits by tier -------------------------------------------------------------------


async def _count_ok(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> int:
    statuses = [(await client.get(path, headers=headers)).status_code for _ in range(8)]
    assert set(statuses) <= {200, 429}
    return statuses.count(200)


@pytest.mark.parametrize("settings", [SMALL_LIMITS], indirect=True, ids=["small-limits"])
async def test_product_routes_are_limited_per_user_by_tier_and_per_ip_when_anonymous(
    client: httpx.AsyncClient, gslate: Slate, callers, session: AsyncSession, settings: Settings
) -> None:
    second_free = await create_user(session, "free2@gating.test")
    await session.commit()
    second = {"Authorization": f"Bearer {issue_access_token(settings, second_free.id)}"}
    for path in ("/markets", f"/bet/{gslate.moved}", f"/bet/{gslate.moved}/history"):
        assert await _count_ok(client, path, callers["anonymous"]) == 2
        assert await _count_ok(client, path, callers["free"]) == 3
        assert await _count_ok(client, path, second) == 3  # per user, not per IP
        assert await _count_ok(client, path, callers["paid"]) == 5
    assert await _count_ok(client, "/me", callers["paid"]) == 5
    assert await _count_ok(client, "/me/api-keys", callers["free"]) == 3

    refused = await client.get("/markets", headers=callers["anonymous"])
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-limit"] == "2"
    assert refused.headers["x-ratelimit-remaining"] == "0"


@pytest.mark.parametrize("settings", [SMALL_LIMITS], indirect=True, ids=["small-limits"])
async def test_a_successful_call_reports_the_callers_own_budget(
    client: httpx.AsyncClient, gslate: Slate, callers
) -> None:
    anonymous = await client.get("/markets", headers=callers["anonymous"])
    paid = await client.get("/markets", headers=callers["paid"])
    assert (anonymous.headers["x-ratelimit-limit"], anonymous.headers["x-ratelimit-remaining"]) == (
        "2",
        "1",
    )
    assert (paid.headers["x-ratelimit-limit"], paid.headers["x-ratelimit-remaining"]) == ("5", "4")


@pytest.mark.parametrize("settings", [SMALL_LIMITS], indirect=True, ids=["small-limits"])
async def test_refreshing_with_a_stale_access_token_attached_is_not_refused_by_the_limiter(
    client: httpx.AsyncClient,
) -> None:
    """Token endpoints count per IP and ignore `Authorization`: clients often still send the
    expired token they are replacing."""
    r = await client.post(
        "/auth/refresh",
        json={"refresh_token": "x" * 43},
        headers={"Authorization": "Bearer expired.or.garbage"},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_refresh_token"
    assert r.headers["x-ratelimit-limit"] == "2"

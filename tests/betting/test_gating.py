"""Free and paid views of the value-betting routes, row by row of the gating table, plus tier
rate limits on the real app.

| feature                          | free (anonymous or free user)     | paid      |
| odds freshness                   | as of 15 minutes ago              | real time |
| value score                      | yes                               | yes       |
| confidence, market quality       | null, named in `gated`            | yes       |
| props markets                    | not listed; asked for: 403        | yes       |
| historical analytics (history)   | `points: null`, `gated`           | yes       |

The slate is the synthetic one, scored, then moved into the past (the historical view every
caller agrees on), with live prices added at chosen times around the 15-minute cut: outcome
`moved` has a live price 30 minutes old and a newer one 5 minutes old; `fresh_only` has just a
live price 3 minutes old over its opening line; `too_new` has every score 2 minutes old; and
one props market is scored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import User
from edgelab.accounts.service import create_user
from edgelab.betting.markets import service, slate
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.odds.models import Market, OddsSnapshot, Outcome
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.betting.factories import (
    SEED_FIELDS,
    SyntheticSeasons,
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


@pytest.fixture
async def settings(db_url: str, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings; a test may change some with `indirect` parametrisation."""
    return make_settings(db_url, **getattr(request, "param", {}))


@dataclass
class Slate:
    date: str
    moved: str  # live 30 min ago (free sees it) and live 5 min ago (paid only)
    fresh_only: str  # opening line long ago, one live price 3 min ago
    too_new: str  # every score 2 min ago: not in the free view at all
    prop: str  # a scored props market
    now: dt.datetime


def _clone(row: ValueScore, **changes: Any) -> ValueScore:
    data = {c.key: getattr(row, c.key) for c in ValueScore.__table__.columns if c.key != "id"}
    return ValueScore(**(data | changes))


async def _live_score(
    session: AsyncSession,
    template: ValueScore,
    *,
    outcome_id: str,
    at: dt.datetime,
    odds: float,
    current: bool,
) -> None:
    """A live price captured `at` for the outcome, scored like `template` but at `odds`."""
    snap = OddsSnapshot(
        outcome_id=outcome_id,
        bookmaker="livebook",
        kind="live",
        captured_at=at,
        odds_decimal=odds,
        line=template.line,
        source="test",
    )
    session.add(snap)
    await session.flush()
    if current:
        await session.execute(
            update(ValueScore).where(ValueScore.outcome_id == outcome_id).values(is_current=False)
        )
    session.add(
        _clone(
            template,
            outcome_id=outcome_id,
            snapshot_id=snap.id,
            calc_time=at,
            odds_kind="live",
            bookmaker="livebook",
            odds_decimal=odds,
            is_current=current,
        )
    )
    await session.flush()


async def _current(session: AsyncSession, market_type: str, n: int) -> ValueScore:
    rows = await session.execute(
        select(ValueScore)
        .join(Outcome, Outcome.id == ValueScore.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .where(ValueScore.is_current.is_(True), Market.market_type == market_type)
        .order_by(ValueScore.outcome_id)
    )
    return list(rows.scalars())[n]


db_url, engine, seasons = shared_slate()


@pytest.fixture
async def gslate(session: AsyncSession, settings: Settings, seasons: SyntheticSeasons) -> Slate:
    data = seasons
    now = dt.datetime.now(dt.UTC)
    rows = list((await session.execute(select(ValueScore))).scalars())
    shift = max(r.calc_time for r in rows) - (now - dt.timedelta(days=1))
    for r in rows:  # the whole slate a day old or more: every view agrees on it
        r.calc_time -= shift
    await session.flush()

    moved = await _current(session, "spread", 0)
    fresh_only = await _current(session, "spread", 1)
    too_new = await _current(session, "total", 0)
    m, f, t = moved.outcome_id, fresh_only.outcome_id, too_new.outcome_id
    minutes = dt.timedelta(minutes=1)
    await _live_score(session, moved, outcome_id=m, at=now - 30 * minutes, odds=2.4, current=False)
    await _live_score(session, moved, outcome_id=m, at=now - 5 * minutes, odds=2.6, current=True)
    await _live_score(
        session, fresh_only, outcome_id=f, at=now - 3 * minutes, odds=2.2, current=True
    )
    too_new_rows = (
        await session.execute(select(ValueScore).where(ValueScore.outcome_id == t))
    ).scalars()
    for k, row in enumerate(sorted(too_new_rows, key=lambda r: r.calc_time)):
        row.calc_time = now - 2 * minutes - dt.timedelta(seconds=len(rows) - k)  # all recent
    await session.flush()

    prop = await _current(session, "prop", 0)  # a real props market, scored from 4 books
    prop_id = prop.outcome_id
    await session.commit()
    return Slate(data.last_date.isoformat(), m, f, t, prop_id, now)


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
    sides, prop_sides = 8 * 6, 8 * 2  # 8 games: moneyline, spread, total; a prop market each
    assert body["total"] == len(rows) == (sides + prop_sides if paid else sides - 1)

    bet = (await client.get(f"/bet/{gslate.moved}", headers=callers[who])).json()
    assert (bet["odds_decimal"], bet["odds_delay_minutes"]) == ((2.6, 0) if paid else (2.4, 15))
    too_new = await client.get(f"/bet/{gslate.too_new}", headers=callers[who])
    assert too_new.status_code == (200 if paid else 403)
    if not paid:
        assert too_new.json()["error"]["code"] == "paid_subscription_required"


async def test_on_old_odds_the_free_view_shows_what_the_paid_view_shows(
    client: httpx.AsyncClient, gslate: Slate, callers
) -> None:
    """With historical data every score is older than the delay: same rows, same prices."""
    # One algorithm for both: without it each caller is ranked in their own A/B arm.
    free = _by_id(await _markets(client, callers["free"], f"date={gslate.date}&algorithm=a"))
    paid = _by_id(await _markets(client, callers["paid"], f"date={gslate.date}&algorithm=a"))
    changed = {gslate.moved, gslate.fresh_only, gslate.too_new, gslate.prop}
    props = {m for m, row in paid.items() if row["market_type"] == "prop"}
    assert set(free) == set(paid) - {gslate.too_new} - props
    for market_id in set(free) - changed:
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
    r = await client.get(
        f"/markets?algorithm=b&min_confidence=0.5&limit=200&date={gslate.date}",
        headers=callers[who],
    )
    if who != "paid":
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "paid_subscription_required"
        return
    assert r.status_code == 200
    rows = r.json()["items"]
    assert rows and all(row["algo_b_confidence"] >= 0.5 for row in rows)


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
        kinds = [p["odds_kind"] for p in body["points"]]
        # the opening line, the seven books' morning, the close, the two live prices
        assert kinds[0] == "open" and "close" in kinds and kinds[-2:] == ["live", "live"]
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

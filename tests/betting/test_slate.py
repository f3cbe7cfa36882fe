"""Fitting on the past and scoring a slate: no look-ahead, one current row per side."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.service import resolve_slate_date
from edgelab.betting.markets.slate import score_slate
from edgelab.betting.model.models import ModelFit
from edgelab.betting.odds.models import Game
from edgelab.core.settings import Settings
from tests.betting.factories import add_book_quotes, import_synthetic, synthetic_seasons


async def _scores(session: AsyncSession, slate: dt.date) -> dict[int, ValueScore]:
    rows = await session.execute(select(ValueScore).where(ValueScore.slate_date == slate))
    return {r.snapshot_id: r for r in rows.scalars()}


async def test_slate_scores_every_snapshot_and_marks_the_opening_line_current(
    session: AsyncSession, settings: Settings
):
    data = synthetic_seasons()
    await import_synthetic(session, settings, data)
    result = await score_slate(session, settings, data.last_date)
    rows = list((await _scores(session, data.last_date)).values())
    assert result.games == 8 and result.scored == len(rows) == 8 * 10  # ml 2 + (2+2) x open/close
    current = [r for r in rows if r.is_current]
    assert len(current) == 8 * 6  # one per bettable side
    assert {
        r.odds_kind
        for r in current
        if r.outcome_id.endswith(("-over", "-home")) and "-ml-" not in r.outcome_id
    } == {"open"}
    assert {r.odds_kind for r in current if "-ml-" in r.outcome_id} == {"close"}
    fit = await session.get(ModelFit, result.model_version)
    assert fit is not None and fit.trained_through == data.dates[-2]  # last date before


async def test_scores_do_not_change_when_the_slate_results_change(
    session: AsyncSession, settings: Settings
):
    data = synthetic_seasons()
    await import_synthetic(session, settings, data)
    first = await score_slate(session, settings, data.last_date)
    before = {
        k: (v.p_true, v.algo_a_value_score, v.algo_b_value_score)
        for k, v in (await _scores(session, data.last_date)).items()
    }
    await session.execute(
        update(Game).where(Game.game_date == data.last_date).values(home_score=200, away_score=50)
    )
    second = await score_slate(session, settings, data.last_date)
    after = {
        k: (v.p_true, v.algo_a_value_score, v.algo_b_value_score)
        for k, v in (await _scores(session, data.last_date)).items()
    }
    assert first.model_version == second.model_version
    assert before == after


async def test_an_earlier_result_moves_the_rating_model_but_not_an_unearned_p_true(
    session: AsyncSession, settings: Settings
):
    """The rating model sees every earlier result; p_true is the market's until the model has
    earned a weight walk-forward (these two synthetic seasons give it no test to pass)."""
    data = synthetic_seasons()
    await import_synthetic(session, settings, data)
    await add_book_quotes(session, settings, data)
    await score_slate(session, settings, data.last_date)

    def seen(rows: dict[int, ValueScore]) -> dict[str, tuple[float, float]]:
        return {
            v.outcome_id + v.calc_time.isoformat(): (
                v.p_true,
                v.model_components["expected_margin_home"],
            )
            for v in rows.values()
        }

    before = seen(await _scores(session, data.last_date))
    await session.execute(
        update(Game).where(Game.game_date == data.dates[-2]).values(home_score=200, away_score=50)
    )
    await score_slate(session, settings, data.last_date)
    after = seen(await _scores(session, data.last_date))
    assert {k: v[1] for k, v in before.items()} != {k: v[1] for k, v in after.items()}
    assert {k: v[0] for k, v in before.items()} == {k: v[0] for k, v in after.items()}
    fit = (await session.execute(select(ModelFit))).scalars().first()
    assert fit is not None and fit.params["blend"]["moneyline"]["weight"] == 0.0


async def test_the_demo_slate_is_the_latest_full_date_unless_a_date_is_set(
    session: AsyncSession, settings: Settings
):
    data = synthetic_seasons(seasons=1, days_per_season=4)
    await import_synthetic(session, settings, data)
    session.add(
        Game(
            id="nba-2099-01-01-bos-atl",
            season=2099,
            game_date=dt.date(2099, 1, 1),
            tip_time=dt.datetime(2099, 1, 2, 0, 30, tzinfo=dt.UTC),
            home_team="BOS",
            away_team="ATL",
        )
    )
    await session.flush()
    assert (
        await resolve_slate_date(session, settings) >= data.last_date
    )  # 1-game date is not a slate
    assert await resolve_slate_date(session, settings) != dt.date(2099, 1, 1)
    pinned = settings.model_copy(update={"demo_date": data.dates[1]})
    assert await resolve_slate_date(session, pinned) == data.dates[1]


async def test_scoring_a_date_without_games_says_so(session: AsyncSession, settings: Settings):
    await import_synthetic(session, settings, synthetic_seasons(seasons=1, days_per_season=3))
    with pytest.raises(LookupError, match="no games on 2031-02-02"):
        await score_slate(session, settings, dt.date(2031, 2, 2))


async def test_rescoring_keeps_one_current_row_per_side(session: AsyncSession, settings: Settings):
    data = synthetic_seasons(days_per_season=20)
    await import_synthetic(session, settings, data)
    await score_slate(session, settings, data.last_date)
    await score_slate(
        session, settings.model_copy(update={"sharp_books": ["lowvig"]}), data.last_date
    )
    rows = (
        (await session.execute(select(ValueScore).where(ValueScore.slate_date == data.last_date)))
        .scalars()
        .all()
    )
    assert len({r.model_version for r in rows}) == 2  # both calculations kept as history
    current = [r for r in rows if r.is_current]
    per_side: dict[str, int] = {}
    for r in current:
        per_side[r.outcome_id] = per_side.get(r.outcome_id, 0) + 1
    assert len(per_side) == 8 * 6 and set(per_side.values()) == {1}
    assert len({r.model_version for r in current}) == 1  # all from the second calculation

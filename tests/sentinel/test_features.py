"""Each feature on small hand-made logs, against values computed by hand (or by an independent
NumPy call), and each moving the way its SENTINEL.md marker says."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from edgelab.sentinel import features as F
from edgelab.sentinel import scoring
from tests.sentinel.logs import MIN, T0, bet, features_of, tx


def _chain(player: int, gaps_after_win: float, gaps_after_loss: float) -> list[dict]:
    """Alternating won/lost bets, each settling 1 min after placing; the next bet comes the
    given minutes after the settlement."""
    rows, t = [], 0.0
    for k in range(7):
        status = "won" if k % 2 == 0 else "lost"
        rows.append(bet(player, t, settled_min=t + 1, status=status))
        t = t + 1 + (gaps_after_win if status == "won" else gaps_after_loss)
    return rows


def test_betting_faster_after_losses_raises_the_rebet_speedup():
    v = features_of(_chain(0, 20, 5) + _chain(1, 5, 20) + _chain(2, 10, 10)).values
    # 3 gaps after wins (20 min) and 3 after losses (5 min), shrunk by 3 / (3 + 3)
    expected = (math.log1p(20) - math.log1p(5)) * 3 / 6
    assert v["lc_rebet_speedup"][0] == pytest.approx(expected)
    assert v["lc_rebet_speedup"][1] == pytest.approx(-expected)
    assert v["lc_rebet_speedup"][2] == pytest.approx(0.0)
    assert v["lc_stake_after_loss"][0] == pytest.approx(0.0)  # same stakes throughout


def test_rebet_speedup_is_undefined_without_both_wins_and_losses():
    rows = [bet(0, 10 * k, settled_min=10 * k + 1, status="lost") for k in range(5)]
    assert np.isnan(features_of(rows).values["lc_rebet_speedup"][0])


def test_returning_the_day_after_losing_days_is_measured_against_winning_days():
    outcomes = {0: "lost", 1: "won", 3: "lost", 4: "lost", 6: "won", 8: "lost"}
    rows = [bet(0, d * 24 * 60, status=s) for d, s in outcomes.items()]
    v = features_of(rows).values["lc_return_after_losing_day"][0]
    # observable losing days 0, 3, 4 -> back the next day after 0 and 3 (2/3); winning days
    # 1, 6 -> never (0/2); day 8 has no next day in the window. Shrunk by 2 / (2 + 3).
    assert v == pytest.approx((2 / 3 - 0.0) * 2 / 5)


def test_deposits_within_an_hour_after_a_loss_count_per_betting_day():
    day = 24 * 60
    rows = [
        bet(0, 0, settled_min=10, status="lost"),
        bet(0, day, settled_min=day + 10, status="lost"),
        bet(0, 2 * day, settled_min=2 * day + 10, status="won"),
    ]
    txs = [tx(0, 40), tx(0, day + 100), tx(0, 2 * day + 20)]  # 30 min, 90 min, after a win
    v = features_of(rows, txs).values
    assert v["lc_deposits_after_loss"][0] == pytest.approx(1 / 3)


def test_reversed_withdrawals_count_and_no_transaction_feed_is_unknown():
    rows = [bet(0, 0), bet(1, 0)]
    txs = [
        tx(0, 5, "withdrawal"),
        tx(0, 50, "withdrawal_reversal"),
        tx(0, 60, "withdrawal_reversal"),
        tx(0, 70, "withdrawal_reversal", approved=False),
        tx(0, 80, "deposit", approved=False),
        tx(0, 81, "deposit"),
    ]
    v = features_of(rows, txs).values
    assert v["lc_withdrawal_reversals"][0] == 2
    assert v["lc_declined_deposit_share"][0] == pytest.approx(0.5)
    assert np.isnan(v["lc_withdrawal_reversals"][1])
    assert np.isnan(v["lc_deposits_after_loss"][1])


def test_rising_daily_stakes_give_the_regression_slope_per_30_days():
    day = 24 * 60
    stakes = [1000 * 2 ** (d / 10) for d in range(10)]
    rows = [bet(0, d * day, stake=s) for d, s in enumerate(stakes)]
    rows += [bet(1, d * day, stake=1000) for d in range(10)]
    v = features_of(rows).values["be_stake_trajectory"]
    slope = np.polyfit(np.arange(10), np.log(stakes), 1)[0]  # independent fit, per day
    assert v[0] == pytest.approx(slope * 30 * 10 / 15)  # shrunk by days / (days + 5)
    assert v[1] == pytest.approx(0.0, abs=1e-9)


def test_recent_stakes_are_compared_with_the_players_own_baseline():
    day = 24 * 60
    rows = [bet(0, d * day, stake=1000) for d in range(20)]
    rows += [bet(0, d * day, stake=3000) for d in range(25, 30)]
    v = features_of(rows).values
    assert v["be_recent_vs_baseline"][0] == pytest.approx(math.log(3.0))


def test_variability_intensity_and_frequency_follow_the_bwin_definitions():
    day = 24 * 60
    daily = [1000, 3000, 2000, 6000]
    rows = []
    for d, total in zip((0, 1, 4, 9), daily, strict=True):
        rows += [bet(0, d * day, stake=total / 2), bet(0, d * day + 5, stake=total / 2)]
    v = features_of(rows).values
    assert v["be_stake_variability"][0] == pytest.approx(np.std(daily) / np.mean(daily))
    assert v["be_intensity"][0] == pytest.approx(2.0)
    span = (9 * day + 5 + 1) / (24 * 60) + 1  # first bet to the last settlement, in days, + 1
    assert v["be_frequency"][0] == pytest.approx(4 / span)


def test_live_share_breadth_and_new_markets():
    day = 24 * 60
    base = [bet(0, d * day, market=0) for d in range(10)]  # fixed-odds, one market
    recent = [
        bet(0, 20 * day, market=0, live=True),
        bet(0, 20 * day + 5, market=5, live=True),
        bet(0, 20 * day + 10, market=5, live=True),
        bet(0, 20 * day + 15, market=0, live=True),
    ]
    v = features_of(base + recent).values
    assert v["md_live_share"][0] == pytest.approx(4 / 14)
    assert v["md_live_shift"][0] == pytest.approx(1.0)
    assert v["md_breadth"][0] == 2
    assert v["md_new_markets"][0] == pytest.approx(0.5)


def test_night_play_is_read_in_the_players_local_time():
    night_utc = 17.5 * 60  # 05:30 UTC: 00:30 in New York, 21:30 the evening before in LA
    rows = [bet(0, night_utc + d * 24 * 60) for d in range(4)]
    rows += [bet(1, night_utc + d * 24 * 60) for d in range(4)]
    rows += [bet(2, night_utc + d * 24 * 60) for d in range(2)]
    rows += [bet(2, d * 24 * 60) for d in range(2, 4)]  # 07:00 New York
    v = features_of(rows, zones=["America/New_York", "America/Los_Angeles", "America/New_York"])
    assert v.aux["night_share"].tolist() == [1.0, 0.0, 0.5]
    # BetBuddy's curve: the 38-68 % range is riskier than all-night play (stable night workers)
    assert v.values["tr_night_play"].tolist() == pytest.approx([0.4, 0.0, 1.0])


def test_local_offsets_follow_daylight_saving_time():
    winter = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC).timestamp()
    summer = dt.datetime(2026, 7, 15, 12, tzinfo=dt.UTC).timestamp()
    off = F.utc_offsets(np.array([winter, summer]), np.array([0, 0]), ["America/New_York"])
    assert off.tolist() == [-5 * 3600.0, -4 * 3600.0]


def test_sessions_binges_and_consecutive_days():
    day = 24 * 60
    rows = [bet(0, m) for m in (0, 10, 20)]  # a 20-minute session
    rows += [bet(0, 120)]  # a single-bet session
    rows += [bet(0, 2 * day + 25 * k) for k in range(13)]  # 300 minutes, bets 25 min apart
    rows += [bet(0, d * day) for d in (1, 5, 6)]  # betting days 0, 1, 2, 5, 6
    v = features_of(rows).values
    # sessions: 20, 0, 0 (day 1), 300, 0, 0 minutes -> median 0: threshold max(120, 0)
    assert v["tr_session_minutes"][0] == pytest.approx(320 / 6)
    assert v["tr_binge_share"][0] == pytest.approx(1 / 6)
    assert v["tr_consecutive_days"][0] == 3


def test_only_the_90_days_before_the_latest_activity_count():
    day = 24 * 60
    rows = [bet(0, 0, stake=10**6)] + [bet(0, (100 + d) * day) for d in range(6)]
    t = features_of(rows)
    assert t.aux["bets"][0] == 6
    assert t.as_of[0] == pytest.approx(T0 + (105 * day + 1) * MIN)


def test_players_without_activity_have_undefined_features():
    t = features_of([bet(0, 0)], n=2)
    assert np.isnan(t.as_of[1])
    assert all(np.isnan(v[1]) for v in t.values.values())


def _population(rng: np.random.Generator, players: int) -> list[dict]:
    rows = []
    for p in range(players):
        for _ in range(int(rng.integers(5, 40))):
            status = "won" if rng.random() < 0.45 else "lost"
            placed = float(rng.uniform(0, 30 * 24 * 60))
            rows.append(
                bet(
                    p,
                    placed,
                    settled_min=placed + float(rng.uniform(2, 200)),
                    status=status,
                    stake=float(rng.lognormal(7, 0.5)),
                    odds=float(rng.uniform(1.3, 3.5)),
                    market=int(rng.integers(0, 4)),
                    live=bool(rng.random() < 0.3),
                )
            )
    return rows


def test_longer_odds_alone_do_not_raise_risk():
    rng = np.random.default_rng(5)
    rows = _population(rng, 40)
    mine = [r for r in rows if r["player"] == 0]
    twin = []
    for r in mine:  # the same bets and outcomes at three times the odds
        r2 = dict(r, player=40)
        if r["payout"] > r["stake"]:  # a win pays more
            r2["payout"] = r["stake"] * (r["payout"] / r["stake"] * 3)
        twin.append(r2)
    t = features_of(rows + twin)
    ref = scoring.build_reference(t.values)
    s = scoring.score(t.values, ref, scoring.Cutoffs(0.8, 0.6, 0.4))
    assert s.components["market_drift"][40] == pytest.approx(s.components["market_drift"][0])
    assert s.components["temporal_risk"][40] == pytest.approx(s.components["temporal_risk"][0])
    assert s.composite[40] <= s.composite[0] + 1e-12


def test_the_night_risk_curve_peaks_in_the_middle_range():
    curve = F.night_risk_curve(np.array([0.0, 0.2, 0.38, 0.5, 0.68, 0.94, 1.0]))
    assert curve.tolist() == pytest.approx([0.0, 0.2 / 0.38, 1.0, 1.0, 1.0, 0.4, 0.4])


def test_group_median_matches_numpy_per_group():
    rng = np.random.default_rng(1)
    values = rng.normal(size=200)
    group = rng.integers(0, 7, size=200)
    med = F.group_median(values, group, 8)
    for g in range(7):
        assert med[g] == pytest.approx(np.median(values[group == g]))
    assert np.isnan(med[7])

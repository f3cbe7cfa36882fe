"""The synthetic generator: reproducible, a label per player, and cohorts that show the
published patterns they are meant to (measured with the feature functions)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from edgelab.sentinel import features, simulate

END = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sim() -> simulate.Simulation:
    return simulate.simulate(1200, 21, end=END)


@pytest.fixture(scope="module")
def table(sim: simulate.Simulation) -> features.FeatureTable:
    return features.compute_features(*simulate.to_logs(sim))


def _mean(table: features.FeatureTable, sim: simulate.Simulation, name: str, cohort: str) -> float:
    cohorts = np.array([p.cohort for p in sim.players])
    values = table.values[name] if name in table.values else table.aux[name]
    return float(np.nanmean(values[cohorts == cohort]))


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not():
    a = simulate.simulate(30, 5, end=END)
    b = simulate.simulate(30, 5, end=END)
    c = simulate.simulate(30, 6, end=END)
    assert np.array_equal(a.placed, b.placed) and np.array_equal(a.stake_minor, b.stake_minor)
    assert [p.player_id for p in a.players] == [p.player_id for p in b.players]
    assert not np.array_equal(a.placed[:50], c.placed[:50])


def test_every_player_has_a_cohort_and_a_label(sim: simulate.Simulation):
    shares = {name: share for name, share, _ in simulate.COHORTS}
    risky = {name for name, _, label in simulate.COHORTS if label}
    counts: dict[str, int] = {}
    for p in sim.players:
        counts[p.cohort] = counts.get(p.cohort, 0) + 1
        assert p.label == (p.cohort in risky)
        assert p.player_id.startswith("PLR_") and len(p.player_id.split("_")[2]) == 2
    for name, share in shares.items():
        assert counts[name] / len(sim.players) == pytest.approx(share, abs=0.03)


def test_the_log_is_consistent(sim: simulate.Simulation):
    end = END.timestamp()
    assert np.all(sim.placed <= end)
    settled = ~np.isnan(sim.settled)
    assert np.all(sim.settled[settled] >= sim.placed[settled])
    assert np.all(sim.status[~settled] == "open")
    won = sim.status == "won"
    assert np.all(sim.payout_minor[won] >= sim.stake_minor[won])
    assert np.all(sim.payout_minor[sim.status == "lost"] == 0)
    assert np.all(sim.stake_minor > 0) and np.all(sim.odds > 1)
    assert set(np.unique(sim.tx_kind)) <= {"deposit", "withdrawal", "withdrawal_reversal"}


def test_cohorts_show_their_published_patterns(sim, table):
    # escalators: rising stakes, variable, more live betting than recreational players [1][10]
    assert _mean(table, sim, "be_stake_trajectory", "escalator") > _mean(
        table, sim, "be_stake_trajectory", "recreational"
    )
    assert _mean(table, sim, "md_live_share", "escalator") > _mean(
        table, sim, "md_live_share", "recreational"
    )
    # chasers: faster after losses, deposits after losses, more reversals [15-17]
    for name in ("lc_rebet_speedup", "lc_deposits_after_loss", "lc_withdrawal_reversals"):
        assert _mean(table, sim, name, "chaser") > _mean(table, sim, name, "recreational"), name
    # closers: stakes up in the last days on their own baseline [4]
    assert _mean(table, sim, "be_recent_vs_baseline", "closer") > _mean(
        table, sim, "be_recent_vs_baseline", "recreational"
    )
    # heavy but stable: more bets per day than recreational players, no trend of their own
    assert _mean(table, sim, "be_intensity", "heavy_stable") > _mean(
        table, sim, "be_intensity", "recreational"
    )
    # night workers play almost only at night
    assert _mean(table, sim, "night_share", "night_worker") > 0.9

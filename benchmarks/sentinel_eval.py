"""How well Sentinel's composite recovers the synthetic generator's labels, held out by player.

    .venv/bin/python benchmarks/sentinel_eval.py [--players 10000] [--seed 2026]

The players are split 50/50 at random (by player, never by row). Everything fitted is fitted
on the training half only: the population reference (feature quantiles) and the Platt scaling
that turns the composite into a probability for the calibration figures. The test half is
scored against the training reference, as a new player is scored against the last full run.

Figures: AUROC of the composite and of each component; precision and recall at the alert rate
(players the default cut-offs put in HIGH or CRITICAL) and in the top 5 %; calibration (Brier
score and a reliability table of the Platt-scaled composite); per cohort, the share alerted and
the AUROC against all label-0 players. The literature reaches an AUROC of about 0.75 on
behavioural data (SENTINEL.md §3): a figure near 1.0 would mean the generator is too easy.
Prints figures; never fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, precision_score, recall_score, roc_auc_score

from edgelab.core.settings import Settings
from edgelab.sentinel import features, scoring, simulate

END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--players", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    cutoffs = scoring.Cutoffs(
        defaults.sentinel_cutoff_critical,
        defaults.sentinel_cutoff_high,
        defaults.sentinel_cutoff_medium,
    )
    t0 = time.perf_counter()
    sim = simulate.simulate(args.players, args.seed, end=END)
    bets, txs, players = simulate.to_logs(sim)
    table = features.compute_features(bets, txs, players)
    t1 = time.perf_counter()
    y = sim.labels
    cohorts = np.array([p.cohort for p in sim.players])
    rng = np.random.default_rng(args.seed + 1)
    train = np.zeros(len(y), dtype=bool)
    train[rng.permutation(len(y))[: len(y) // 2]] = True
    test = ~train & np.isfinite(table.as_of)
    train &= np.isfinite(table.as_of)
    reference = scoring.build_reference({k: v[train] for k, v in table.values.items()})
    scored = scoring.score(table.values, reference, cutoffs)
    s, yt = scored.composite[test], y[test]
    print(
        f"Sentinel evaluation: {args.players:,} simulated players ({y.mean():.1%} labelled at "
        f"risk), {len(sim.placed):,} bets, seed {args.seed}; split by player: "
        f"{train.sum():,} train / {test.sum():,} test ({t1 - t0:.1f} s to simulate and featurise)"
    )
    print(f"\nAUROC, composite (test): {roc_auc_score(yt, s):.3f}   (literature ~0.75)")
    for comp, values in scored.components.items():
        v = values[test]
        ok = np.isfinite(v)
        if ok.sum() > 10 and len(set(yt[ok])) == 2:
            label = "gamalyze (behavioural)" if comp == "behavioural" else comp
            auc = roc_auc_score(yt[ok], v[ok])
            print(f"  {label:<24} AUROC {auc:.3f}  present for {ok.mean():.0%}")

    cats = scored.categories[test]
    alert = np.isin(cats, ["HIGH", "CRITICAL"])
    print(
        "\ncategories (test):",
        ", ".join(
            f"{c} {np.mean(cats == c):.1%}"
            for c in scoring.categorize(np.array([1.0, 0.52, 0.4, 0.0]), cutoffs)
        ),
    )
    print(
        f"alert rate (HIGH + CRITICAL) {alert.mean():.1%}: precision "
        f"{precision_score(yt, alert, zero_division=0):.3f}, recall {recall_score(yt, alert):.3f} "
        f"(base rate {yt.mean():.3f})"
    )
    top = s >= np.quantile(s, 0.95)
    print(
        f"top 5 %: precision {precision_score(yt, top, zero_division=0):.3f}, "
        f"recall {recall_score(yt, top):.3f}"
    )
    medium_up = np.isin(cats, ["MEDIUM", "HIGH", "CRITICAL"])
    precision = precision_score(yt, medium_up, zero_division=0)
    print(
        f"MEDIUM and above {medium_up.mean():.1%}: precision {precision:.3f}, "
        f"recall {recall_score(yt, medium_up):.3f}"
    )

    platt = LogisticRegression().fit(scored.composite[train].reshape(-1, 1), y[train])
    prob = platt.predict_proba(s.reshape(-1, 1))[:, 1]
    print(
        f"\ncalibration (Platt scaling fitted on train): Brier {brier_score_loss(yt, prob):.4f} "
        f"(base-rate forecast {brier_score_loss(yt, np.full(len(yt), y[train].mean())):.4f})"
    )
    observed, predicted = calibration_curve(yt, prob, n_bins=8, strategy="quantile")
    print("  predicted  observed")
    for p_hat, o in zip(predicted, observed, strict=True):
        print(f"  {p_hat:9.3f}  {o:8.3f}")
    print(
        f"  raw composite: mean {s.mean():.3f}; Brier of the composite as if a probability "
        f"{brier_score_loss(yt, s):.4f} (it is a rank, not a probability)"
    )

    print("\nper cohort (test): n, label, mean composite, alerted (HIGH+), AUROC v label-0 players")
    negatives = ~yt
    for name, _, label in simulate.COHORTS:
        m = cohorts[test] == name
        if not m.any():
            continue
        line = f"  {name:<14} {m.sum():5d}  {int(label)}  {s[m].mean():.3f}  {alert[m].mean():6.1%}"
        if label:
            both = m | negatives
            line += f"  {roc_auc_score(yt[both], s[both]):.3f}"
        print(line)


if __name__ == "__main__":
    main()

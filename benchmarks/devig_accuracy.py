"""How well each de-vig method's probabilities predict real NBA results.

Closing moneylines of the shipped Kaggle file (2007-08 .. 2018-19), both sides present: Brier
score and log loss (scikit-learn) of the home team's de-vigged probability against whether the
home team won. Lower is better. This is the measurement behind the default
`EDGELAB_DEVIG_METHOD=multiplicative`. Run: python benchmarks/devig_accuracy.py
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss

from edgelab.betting.markets.devig import METHODS, american_to_decimal, devig
from edgelab.betting.odds.nba_csv import parse_nba_csv
from edgelab.core.settings import data_dir


def main() -> None:
    parsed = parse_nba_csv(data_dir() / "nba" / "kaggle" / "nba_2008-2019.csv")
    games = [
        g
        for g in parsed.games
        if g.ml_home_close is not None
        and g.ml_away_close is not None
        and g.home_score is not None
        and g.away_score is not None
    ]
    odds = np.column_stack(
        [
            american_to_decimal([g.ml_home_close for g in games]),
            american_to_decimal([g.ml_away_close for g in games]),
        ]
    )
    won = np.array([1 if (g.home_score or 0) > (g.away_score or 0) else 0 for g in games])
    print(f"{len(games)} games with both closing moneylines; home won {won.mean():.1%}")
    print(f"mean overround {float((1 / odds).sum(axis=1).mean() - 1):.2%}")
    print(f"{'method':<16}{'Brier':>10}{'log loss':>11}")
    results = []
    for method in METHODS:
        p_home = devig(odds, method).probabilities[:, 0]
        results.append((method, brier_score_loss(won, p_home), log_loss(won, p_home)))
    for method, brier, ll in sorted(results, key=lambda r: r[1]):
        print(f"{method:<16}{brier:>10.5f}{ll:>11.5f}")


if __name__ == "__main__":
    main()

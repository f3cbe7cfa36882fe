"""Move and game accuracy with Lichess's published formulas (pure maths over stored evaluations).

Sources: lila `WinPercent.scala`, `AccuracyPercent.scala`, `tree/Advice.scala` (see the team's
CHESS.md). Evaluations are from White's point of view: centipawns, or a mate distance (`mate`
> 0: White mates). For Win% the centipawns are capped at +-1000 and a mate counts as +-1000.

- Win% = 50 + 50 * (2 / (1 + exp(-0.00368208 * cp)) - 1).
- Move accuracy = 103.1668100711649 * exp(-0.04354415386753951 * drop) - 3.166924740191411
  + 1 (Lichess's uncertainty bonus), clamped to 0..100; 100 when Win% did not drop.
- Game accuracy per colour: (volatility-weighted mean + harmonic mean of the move accuracies)/2;
  the weights are the standard deviations of Win% in windows of plies/10 (2..8) positions,
  clamped to 0.5..12.
- Classification by the drop in winning chances (-1..+1) from the mover's side:
  inaccuracy >= 0.10, mistake >= 0.20, blunder >= 0.30 (5 / 10 / 15 Win% points), with Lichess's
  mate rules: a mate created against the mover is a blunder unless the position was already
  below -700 cp (mistake) or -999 cp (inaccuracy); a forced mate lost is a blunder unless the
  new eval stays above +700 cp (mistake) or +999 cp (inaccuracy).
- Centipawn loss: the mover's eval drop, both capped at +-1000, never negative.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

CP_CEILING = 1000
INITIAL_CP = 15
MULTIPLIER = -0.00368208
INACCURACY, MISTAKE, BLUNDER = 0.10, 0.20, 0.30  # winning-chance drops (-1..+1 scale)


@dataclass(frozen=True, slots=True)
class Eval:
    """One position's evaluation from White's side: `cp`, or `mate` in N (sign = who mates)."""

    cp: int | None = None
    mate: int | None = None

    def capped_cp(self) -> int:
        if self.mate is not None:
            return CP_CEILING if self.mate > 0 else -CP_CEILING
        return max(-CP_CEILING, min(CP_CEILING, self.cp or 0))

    def raw_cp(self) -> float:
        if self.mate is not None:
            return float(CP_CEILING if self.mate > 0 else -CP_CEILING)
        return float(self.cp or 0)

    def pov(self, white: bool) -> Eval:
        if white:
            return self
        return Eval(
            None if self.cp is None else -self.cp, None if self.mate is None else -self.mate
        )


def winning_chances(cp: float) -> float:
    return 2 / (1 + math.exp(MULTIPLIER * cp)) - 1


def win_percent(cp: float) -> float:
    """Win% of the side `cp` is for (cp capped at +-1000)."""
    capped = max(-CP_CEILING, min(CP_CEILING, cp))
    return 50 + 50 * winning_chances(capped)


def move_accuracy(win_before: float, win_after: float) -> float:
    """Accuracy of one move from the mover's Win% before and after it."""
    if win_after >= win_before:
        return 100.0
    drop = win_before - win_after
    raw = 103.1668100711649 * math.exp(-0.04354415386753951 * drop) - 3.166924740191411
    return max(0.0, min(100.0, raw + 1))


def centipawn_loss(before: Eval, after: Eval, white: bool) -> int:
    return max(0, before.pov(white).capped_cp() - after.pov(white).capped_cp())


def classify(before: Eval, after: Eval, white: bool) -> str | None:
    """`inaccuracy`, `mistake`, `blunder` or None for the move from `before` to `after`."""
    b, a = before.pov(white), after.pov(white)
    if a.mate is not None and a.mate < 0 and (b.mate is None or b.mate > 0):
        cp = b.raw_cp() if b.mate is None else float(CP_CEILING)
        if cp < -999:
            return "inaccuracy"
        if cp < -700:
            return "mistake"
        return "blunder"
    if b.mate is not None and b.mate > 0 and (a.mate is None or a.mate < 0):
        cp = a.raw_cp()
        if cp > 999:
            return "inaccuracy"
        if cp > 700:
            return "mistake"
        return "blunder"
    if b.mate is not None or a.mate is not None:  # a slower mate, or still getting mated
        return None
    drop = winning_chances(b.raw_cp()) - winning_chances(a.raw_cp())
    if drop >= BLUNDER:
        return "blunder"
    if drop >= MISTAKE:
        return "mistake"
    if drop >= INACCURACY:
        return "inaccuracy"
    return None


def _harmonic(values: Sequence[float]) -> float:
    return len(values) / sum(1 / max(1.0, v) for v in values)


def game_accuracy(evals: Sequence[Eval]) -> dict[str, float | None]:
    """Per colour, from the evaluations of every position after each ply (White's side); the
    initial position is prepended at +15 cp as Lichess does."""
    wins = [win_percent(INITIAL_CP)] + [win_percent(e.capped_cp()) for e in evals]
    moves = len(wins) - 1
    if moves < 1:
        return {"white": None, "black": None}
    size = max(2, min(8, moves // 10))
    size_cap = min(size, len(wins))
    windows = [wins[:size]] * max(0, size_cap - 2) + [
        wins[i : i + size] for i in range(0, len(wins) - size + 1)
    ]
    weights = [max(0.5, min(12.0, statistics.pstdev(w))) for w in windows]
    per: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for i in range(moves):
        white = i % 2 == 0
        prev, nxt = wins[i], wins[i + 1]
        acc = move_accuracy(prev, nxt) if white else move_accuracy(100 - prev, 100 - nxt)
        per[white].append((acc, weights[i] if i < len(weights) else weights[-1]))
    out: dict[str, float | None] = {}
    for white, pairs in per.items():
        if not pairs:
            out["white" if white else "black"] = None
            continue
        weighted = sum(a * w for a, w in pairs) / sum(w for _, w in pairs)
        harmonic = _harmonic([a for a, _ in pairs])
        out["white" if white else "black"] = round((weighted + harmonic) / 2, 2)
    return out

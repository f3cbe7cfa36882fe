"""Small hand-made bet logs for the feature tests: one dict per bet, times in minutes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgelab.sentinel.features import (
    KIND_CODES,
    STATUS_CODES,
    BetArrays,
    FeatureTable,
    PlayerInputs,
    TxArrays,
    compute_features,
)

# a Monday noon UTC, in winter (New York is UTC-5)
T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC).timestamp()
MIN = 60.0
HOUR = 3600.0
DAY = 86_400.0


def bet(
    player: int,
    placed_min: float,
    *,
    settled_min: float | None = None,
    status: str = "lost",
    stake: float = 1000.0,
    odds: float = 2.0,
    market: int = 0,
    live: bool = False,
) -> dict[str, Any]:
    if status != "open" and settled_min is None:
        settled_min = placed_min + 1
    payout = {"won": stake * odds, "void": stake, "lost": 0.0, "open": 0.0}[status]
    return {
        "player": player,
        "placed": T0 + placed_min * MIN,
        "settled": np.nan if settled_min is None else T0 + settled_min * MIN,
        "market": market,
        "live": live,
        "stake": stake,
        "payout": payout,
        "status": STATUS_CODES[status],
    }


def tx(player: int, at_min: float, kind: str = "deposit", approved: bool = True) -> dict[str, Any]:
    return {
        "player": player,
        "at": T0 + at_min * MIN,
        "kind": KIND_CODES[kind],
        "approved": approved,
        "amount": 5000.0,
    }


def arrays(
    bets: Sequence[dict[str, Any]], txs: Sequence[dict[str, Any]] = ()
) -> tuple[BetArrays, TxArrays]:
    b = BetArrays(
        player=np.array([r["player"] for r in bets], dtype=np.int64),
        placed=np.array([r["placed"] for r in bets], dtype=np.float64),
        settled=np.array([r["settled"] for r in bets], dtype=np.float64),
        market=np.array([r["market"] for r in bets], dtype=np.int64),
        live=np.array([r["live"] for r in bets], dtype=bool),
        stake=np.array([r["stake"] for r in bets], dtype=np.float64),
        payout=np.array([r["payout"] for r in bets], dtype=np.float64),
        status=np.array([r["status"] for r in bets], dtype=np.int8),
    )
    t = TxArrays(
        player=np.array([r["player"] for r in txs], dtype=np.int64),
        at=np.array([r["at"] for r in txs], dtype=np.float64),
        kind=np.array([r["kind"] for r in txs], dtype=np.int8),
        approved=np.array([r["approved"] for r in txs], dtype=bool),
        amount=np.array([r["amount"] for r in txs], dtype=np.float64),
    )
    return b, t


def features_of(
    bets: Sequence[dict[str, Any]],
    txs: Sequence[dict[str, Any]] = (),
    *,
    n: int | None = None,
    zones: Sequence[str] | None = None,
    as_of: Sequence[float] | None = None,
    gamalyze: Sequence[float] | None = None,
) -> FeatureTable:
    players = n if n is not None else 1 + max([r["player"] for r in [*bets, *txs]], default=0)
    b, t = arrays(bets, txs)
    return compute_features(
        b,
        t,
        PlayerInputs(
            n=players,
            time_zones=list(zones or ["America/New_York"] * players),
            as_of=None if as_of is None else np.array(as_of, dtype=np.float64),
            gamalyze=None if gamalyze is None else np.array(gamalyze, dtype=np.float64),
        ),
    )

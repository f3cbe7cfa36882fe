"""Synthetic bet logs with a label per player, for the demo, tests and benchmarks (pure, seeded).

No openly licensed bet-level sports-betting log exists (SENTINEL §6), so this generator follows
the published patterns instead. What it assumes, cohort by cohort (shares of players):

- `recreational` (62 %, label 0): bets on a minority of days, a few bets of a few dollars,
  evening play (§1.2 [2]).
- `heavy_stable` (14 %, label 0): frequent, intensive and large but steady: heavy on one axis
  is not harm (§1.2 [2]).
- `night_worker` (3 %, label 0): recreational, but >= 94 % of play at night, which carries less
  risk than 38-68 % (§1.4 [19]).
- `chaser` (8 %, label 1): bets faster after losses, returns after losing days, deposits after
  losses, reverses withdrawals, has more deposits declined (§1.3 [15-19]).
- `escalator` (9 %, label 1): frequent, intensive, variable and rising stakes, more live
  betting, night play in the 38-68 % range (§1.2 [1][3][10][11], §1.4 [19]).
- `closer` (4 %, label 1): ordinary, then in the last 14 days rising stakes and losses with
  *shorter* odds, more live betting and new markets (§1.2 [4]).

Honest overlap, so the labels are as hard to recover as real ones (the literature reaches an
AUROC of about 0.75 on behavioural data, SENTINEL §3):
- each at-risk player expresses their cohort's markers with a strength drawn from 0.15-1, and
  20 % barely at all (the label is a weak proxy: many harmed people look ordinary [19][21]);
- 12 % of recreational players chase a little, 6 % play at night in the risky range, and the
  heavy-stable cohort looks intense on frequency, stake and live share;
- a preference for long odds is drawn independently of the label (longer odds are not risk).

Mechanics: each day a player is active with their frequency; an active day has 1 + Poisson
sessions starting at a local hour drawn from an evening or a night distribution; a session has
1 + Poisson bets. A live bet settles 2-30 min after it is placed and the next bet waits for it;
a pre-match bet settles 1.5-6 h later. P(win) = 0.95 / odds (a 5 % margin); 1 % of bets are
void. A balance is kept: a stake larger than it triggers a deposit just before the bet
(depletion then redeposit [15]); wins above a threshold may be withdrawn at the session's end.
Times are generated in each player's local time zone (its offset at the middle of the window)
and returned in UTC; bets not settled by `end` are open. US zones only (the US market).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from edgelab.sentinel.features import (
    KIND_CODES,
    STATUS_CODES,
    BetArrays,
    PlayerInputs,
    TxArrays,
)

SPORTS = (
    "basketball",
    "american_football",
    "baseball",
    "ice_hockey",
    "soccer",
    "tennis",
    "mma",
    "golf",
    "table_tennis",
    "esports",
)
FRINGE_SPORTS = ("table_tennis", "esports", "golf", "mma")  # where drifting bettors go
MARKET_TYPES = ("moneyline", "spread", "total", "prop", "parlay")
ZONES = (
    ("America/New_York", 0.45, ("NJ", "NY", "PA", "VA", "MI", "OH")),
    ("America/Chicago", 0.25, ("IL", "TN", "IA", "IN")),
    ("America/Denver", 0.10, ("CO", "WY")),
    ("America/Los_Angeles", 0.20, ("NV", "WA", "OR")),
)
COHORTS = (
    ("recreational", 0.62, False),
    ("heavy_stable", 0.14, False),
    ("night_worker", 0.03, False),
    ("chaser", 0.08, True),
    ("escalator", 0.09, True),
    ("closer", 0.04, True),
)
CLOSING_DAYS = 14
BET_COLUMNS = ("pl", "pt", "st", "sp", "mk", "lv", "sk", "po", "od")
MARGIN = 0.95


@dataclass
class SimPlayer:
    player_id: str
    cohort: str
    label: bool
    time_zone: str
    gamalyze: float | None


@dataclass
class Simulation:
    players: list[SimPlayer]
    # bets (UTC epoch seconds; NaN settled = open), codes index SPORTS and MARKET_TYPES
    bet_player: NDArray[np.int64]
    placed: NDArray[np.float64]
    settled: NDArray[np.float64]
    sport: NDArray[np.int64]
    market_type: NDArray[np.int64]
    is_live: NDArray[np.bool_]
    stake_minor: NDArray[np.int64]
    payout_minor: NDArray[np.int64]  # 0 while open
    odds: NDArray[np.float64]
    status: NDArray[np.str_]  # won | lost | void | open
    # transactions
    tx_player: NDArray[np.int64]
    tx_at: NDArray[np.float64]
    tx_kind: NDArray[np.str_]
    tx_status: NDArray[np.str_]
    tx_amount_minor: NDArray[np.int64]

    @property
    def labels(self) -> NDArray[np.bool_]:
        return np.array([p.label for p in self.players], dtype=bool)


@dataclass
class _Params:
    p_active: float
    sessions: float  # extra sessions per active day (Poisson mean)
    bets: float  # extra bets per session (Poisson mean)
    stake: float  # median stake, minor units
    stake_sigma: float
    trend: float  # log-stake change per day
    live: float
    night: float  # share of sessions starting at night
    think: float  # mean minutes between bets in a session
    chase: float  # think-time factor after a loss (< 1 = faster)
    chase_deposit: float  # P(deposit soon after a losing live bet)
    return_boost: float  # factor on tomorrow's activity after a losing day
    reverse: float  # P(a withdrawal is reversed)
    decline: float  # P(a deposit attempt is declined)
    long_odds: float  # player's odds preference (independent of label)
    sports: list[int]
    markets: list[int]
    closing: float  # strength of the end-of-window pattern (closer cohort)


def _params(cohort: str, rng: np.random.Generator) -> _Params:
    risky = cohort in ("chaser", "escalator", "closer")
    e = 0.05 if risky and rng.random() < 0.20 else float(rng.uniform(0.15, 1.0))
    if not risky:
        e = 0.0
    n_sports = 1 + rng.poisson(0.8 if cohort != "heavy_stable" else 1.8)
    p = _Params(
        p_active=float(rng.beta(2, 8)),
        sessions=0.2,
        bets=float(rng.gamma(2.0, 0.8)),
        stake=float(np.exp(rng.normal(math.log(1000), 0.8))),
        stake_sigma=0.4,
        trend=float(rng.normal(0, 0.002)),
        live=float(rng.beta(2, 6)),
        night=float(rng.beta(1, 18)),
        think=float(rng.uniform(4, 12)),
        chase=1.0,
        chase_deposit=0.0,
        return_boost=1.0,
        reverse=0.02,
        decline=0.02,
        long_odds=float(rng.normal(0, 0.25)),
        sports=[int(s) for s in rng.choice(8, size=min(n_sports, 8), replace=False)],
        markets=[int(m) for m in rng.choice(5, size=1 + rng.poisson(1.0) % 5, replace=False)],
        closing=0.0,
    )
    if cohort == "recreational":
        if rng.random() < 0.12:
            p.chase, p.return_boost = float(rng.uniform(0.5, 0.85)), 1.3
        if rng.random() < 0.06:
            p.night = float(rng.uniform(0.3, 0.6))
    elif cohort == "heavy_stable":
        p.p_active = float(rng.beta(6, 4))
        p.sessions, p.bets = 0.6, float(rng.gamma(4.0, 1.0))
        p.stake = float(np.exp(rng.normal(math.log(4000), 0.8)))
        p.live = float(rng.beta(3, 4))
        p.night = float(rng.beta(1.5, 12))
    elif cohort == "night_worker":
        p.night = float(rng.uniform(0.94, 1.0))
    elif cohort == "chaser":
        p.p_active = float(rng.beta(3, 6))
        p.chase = 1.0 - 0.7 * e
        p.chase_deposit = 0.4 * e
        p.return_boost = 1.0 + 1.5 * e
        p.reverse = 0.02 + 0.3 * e
        p.decline = 0.02 + 0.08 * e
        p.live = min(0.9, p.live + 0.2 * e)
        p.stake_sigma = 0.4 + 0.2 * e
    elif cohort == "escalator":
        p.p_active = float(rng.beta(3, 5)) * (1 + 0.4 * e)
        p.bets *= 1 + 1.0 * e
        p.stake_sigma = 0.4 + 0.5 * e
        p.trend = math.log(1 + 3 * e) / 90
        p.live = min(0.9, p.live + 0.25 * e)
        p.night = p.night + (0.45 - p.night) * e * float(rng.uniform(0.3, 1))
        p.sessions = 0.2 + 0.4 * e
    elif cohort == "closer":
        p.closing = e
        p.chase = 1.0 - 0.3 * e
    return p


def _local_offset(zone: str, end: dt.datetime, days: int) -> float:
    mid = end - dt.timedelta(days=days / 2)
    off = mid.astimezone(ZoneInfo(zone)).utcoffset()
    return off.total_seconds() if off is not None else 0.0


def simulate(
    n_players: int, seed: int, *, end: dt.datetime, days: int = 90, id_base: int = 10_000
) -> Simulation:
    """`n_players` players over the `days` days before `end` (aware), reproducible from `seed`.

    Player ids are `PLR_<id_base + i>_<state>`; the state follows the time zone drawn.
    """
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    rng = np.random.default_rng(seed)
    end_ts = end.timestamp()
    start_ts = end_ts - days * 86_400.0
    names = [c[0] for c in COHORTS]
    shares = np.array([c[1] for c in COHORTS])
    risky_of = {c[0]: c[2] for c in COHORTS}
    zone_p = np.array([z[1] for z in ZONES])
    cols: dict[str, list[float]] = {
        k: [] for k in ("pl", "pt", "st", "sp", "mk", "lv", "sk", "po", "od")
    }
    status: list[str] = []
    tx: dict[str, list[float]] = {k: [] for k in ("pl", "at", "am")}
    tx_kind: list[str] = []
    tx_status: list[str] = []
    players: list[SimPlayer] = []

    for i in range(n_players):
        cohort = names[int(rng.choice(len(names), p=shares))]
        zi = int(rng.choice(len(ZONES), p=zone_p))
        zone, _, states = ZONES[zi]
        state = states[int(rng.integers(len(states)))]
        label = risky_of[cohort]
        gamalyze = None
        if rng.random() < 0.3:
            gamalyze = round(float(rng.beta(4, 3) if label else rng.beta(2.5, 4)), 3)
        players.append(SimPlayer(f"PLR_{id_base + i}_{state}", cohort, label, zone, gamalyze))
        p = _params(cohort, rng)
        offset = _local_offset(zone, end, days)
        # local midnight of day 0, in UTC seconds
        day0 = math.floor((start_ts + offset) / 86_400.0) * 86_400.0 - offset
        balance = 0.0
        deposit_size = p.stake * float(rng.uniform(3, 10))
        losing_yesterday = False

        def add_tx(at: float, amount: float, kind: str, ok: bool, i: int = i) -> None:
            tx["pl"].append(i)
            tx["at"].append(at)
            tx["am"].append(round(amount))
            tx_kind.append(kind)
            tx_status.append("approved" if ok else "declined")

        def deposit(at: float, amount: float, p: _Params = p) -> None:
            while rng.random() < p.decline:
                add_tx(at, amount, "deposit", False)
                at += float(rng.uniform(30, 300))
            add_tx(at, amount, "deposit", True)

        for d in range(days):
            closing = p.closing if d >= days - CLOSING_DAYS else 0.0
            act = p.p_active * (1 + 1.5 * closing)
            if losing_yesterday:
                act *= p.return_boost
            if rng.random() >= min(act, 0.97):
                losing_yesterday = False
                continue
            day_net = 0.0
            for _ in range(1 + rng.poisson(p.sessions + closing)):
                night = rng.random() < p.night
                hour = rng.uniform(0, 6) if night else (rng.normal(20.0, 2.5) % 24)
                t = day0 + d * 86_400.0 + hour * 3600.0
                lost_last = False
                for _b in range(1 + rng.poisson(p.bets * (1 + closing))):
                    if t > end_ts:
                        break
                    live = rng.random() < min(0.95, p.live + 0.3 * closing)
                    if closing and rng.random() < 0.5 * closing:
                        sport = SPORTS.index(FRINGE_SPORTS[int(rng.integers(4))])
                    else:
                        sport = p.sports[int(rng.integers(len(p.sports)))]
                    market = p.markets[int(rng.integers(len(p.markets)))]
                    log_odds = rng.normal(math.log(1.9 if not live else 2.1), 0.3) + p.long_odds
                    odds = max(1.05, math.exp(log_odds - 0.35 * closing))
                    trend = (
                        p.trend * d
                        + math.log(1 + 2.5 * closing) * (d - (days - CLOSING_DAYS)) / CLOSING_DAYS
                    )
                    stake = p.stake * math.exp(trend + rng.normal(0, p.stake_sigma))
                    stake = float(max(100, round(stake, -2) if stake > 1000 else round(stake)))
                    if balance < stake:
                        deposit(t - float(rng.uniform(60, 300)), max(deposit_size, stake))
                        balance += max(deposit_size, stake)
                    balance -= stake
                    u = rng.random()
                    st = "void" if u < 0.01 else ("won" if rng.random() < MARGIN / odds else "lost")
                    payout = stake * odds if st == "won" else (stake if st == "void" else 0.0)
                    payout = float(math.floor(payout))
                    delay = rng.uniform(120, 1800) if live else rng.uniform(5400, 21600)
                    settled = t + delay
                    is_open = settled > end_ts
                    row = (
                        i,
                        t,
                        math.nan if is_open else settled,
                        sport,
                        market,
                        live,
                        stake,
                        0.0 if is_open else payout,
                        round(odds, 3),
                    )
                    for key, value in zip(BET_COLUMNS, row, strict=True):
                        cols[key].append(value)
                    status.append("open" if is_open else st)
                    if not is_open:
                        balance += payout
                        day_net += stake - payout
                    lost_last = st == "lost"
                    think = rng.exponential(p.think * (p.chase if lost_last and live else 1.0))
                    if live:
                        if lost_last and rng.random() < p.chase_deposit and settled < end_ts:
                            amount = max(deposit_size * 0.5, stake)
                            deposit(settled + float(rng.uniform(120, 1500)), amount)
                            balance += amount
                        t = settled + think * 60.0
                    else:
                        t += think * 60.0
                if balance > 4 * deposit_size and rng.random() < 0.5 and t < end_ts:
                    amount = round(balance * 0.6)
                    add_tx(t + 600, amount, "withdrawal", True)
                    balance -= amount
                    back = t + 600 + float(rng.uniform(3600, 86_400))
                    if rng.random() < p.reverse and back < end_ts:
                        add_tx(back, amount, "withdrawal_reversal", True)
                        balance += amount
            losing_yesterday = day_net > 0

    tx_at = np.array(tx["at"], dtype=np.float64)
    keep = tx_at <= end_ts
    return Simulation(
        players=players,
        bet_player=np.array(cols["pl"], dtype=np.int64),
        placed=np.array(cols["pt"], dtype=np.float64),
        settled=np.array(cols["st"], dtype=np.float64),
        sport=np.array(cols["sp"], dtype=np.int64),
        market_type=np.array(cols["mk"], dtype=np.int64),
        is_live=np.array(cols["lv"], dtype=bool),
        stake_minor=np.array(cols["sk"], dtype=np.int64),
        payout_minor=np.array(cols["po"], dtype=np.int64),
        odds=np.array(cols["od"], dtype=np.float64),
        status=np.array(status, dtype=str),
        tx_player=np.array(tx["pl"], dtype=np.int64)[keep],
        tx_at=tx_at[keep],
        tx_kind=np.array(tx_kind, dtype=str)[keep],
        tx_status=np.array(tx_status, dtype=str)[keep],
        tx_amount_minor=np.array(tx["am"], dtype=np.int64)[keep],
    )


def to_logs(sim: Simulation) -> tuple[BetArrays, TxArrays, PlayerInputs]:
    """The simulation as the feature functions' input, without a database (evaluation)."""
    market = sim.sport * len(MARKET_TYPES) + sim.market_type
    bets = BetArrays(
        player=sim.bet_player,
        placed=sim.placed,
        settled=sim.settled,
        market=market,
        live=sim.is_live,
        stake=sim.stake_minor.astype(np.float64),
        payout=sim.payout_minor.astype(np.float64),
        status=np.array([STATUS_CODES[s] for s in sim.status], dtype=np.int8),
    )
    txs = TxArrays(
        player=sim.tx_player,
        at=sim.tx_at,
        kind=np.array([KIND_CODES[k] for k in sim.tx_kind], dtype=np.int8),
        approved=sim.tx_status == "approved",
        amount=sim.tx_amount_minor.astype(np.float64),
    )
    gamalyze = np.array(
        [np.nan if p.gamalyze is None else p.gamalyze for p in sim.players], dtype=np.float64
    )
    players = PlayerInputs(
        n=len(sim.players), time_zones=[p.time_zone for p in sim.players], gamalyze=gamalyze
    )
    return bets, txs, players

"""Risk features over players' bet and transaction logs: pure NumPy, no I/O, many players at once.

Every feature is traceable to a marker in the team's research notes (`SENTINEL.md`, cited as
§section and [source number]). Each is oriented so that larger means riskier, and each compares
the player with their own history where the notes say so (recent 7 days v the 83 days before).
Turning a raw value into 0-1 relative to the population is `scoring.py`'s job.

One module although over 400 lines, because it is the SENTINEL.md feature set read as a whole:
one short function per family of markers, all reading the same private prepared tables
(`_Prepared`) through the same private group helpers (`_count`, `_sum`, `_ratio`, `_shrink`).

Conventions:
- Times are float seconds since the Unix epoch (UTC). A player's window is the 90 days ending at
  their `as_of` (their latest activity: a dormant player's score describes their last active
  period); "recent" is its last 7 days, "baseline" the rest.
- Local time comes from each player's IANA time zone, offset looked up per UTC hour, so
  daylight-saving changes land on the right hour.
- A feature is NaN when it is undefined for the player (no bets, no transactions, nothing to
  compare with): scoring leaves it out and re-weights, instead of reading "no data" as "safe".
- Small samples are shrunk toward "no difference": a contrast measured on n pairs is multiplied
  by n / (n + k), so two lucky observations do not make a chaser.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

OPEN, WON, LOST, VOID = 0, 1, 2, 3
STATUS_CODES = {"open": OPEN, "won": WON, "lost": LOST, "void": VOID}
DEPOSIT, WITHDRAWAL, REVERSAL = 0, 1, 2
KIND_CODES = {"deposit": DEPOSIT, "withdrawal": WITHDRAWAL, "withdrawal_reversal": REVERSAL}

DAY = 86_400.0
WINDOW_DAYS = 90
RECENT_DAYS = 7
SESSION_GAP_SECONDS = 30 * 60  # bets closer than this share a session (SENTINEL §5)
REBET_MAX_SECONDS = 2 * 3600  # re-bets later than this are "returning", not "speeding up"
DEPOSIT_AFTER_LOSS_SECONDS = 3600  # SENTINEL §5: deposits within 60 min after a loss
NIGHT_START_HOUR, NIGHT_END_HOUR = 0, 6  # 00:00-06:00 local (SENTINEL §5, [19])
BINGE_MIN_MINUTES = 120.0
BINGE_OWN_MEDIAN_FACTOR = 3.0
SHRINK_PAIRS = 3.0
SHRINK_DAYS = 5.0
_KEY = 10**10  # player * _KEY + seconds: one sortable int64 per (player, time)
_DAY_KEY = 100_000  # player * _DAY_KEY + local day number


@dataclass
class BetArrays:
    """Bets of many players, one array per column (any order; sorted on use)."""

    player: IntArray  # 0..n_players-1
    placed: FloatArray
    settled: FloatArray  # NaN while open
    market: IntArray  # one code per (sport, market type)
    live: BoolArray
    stake: FloatArray  # minor units
    payout: FloatArray  # minor units, stake included; 0 while open
    status: NDArray[np.int8]  # OPEN, WON, LOST, VOID

    def __len__(self) -> int:
        return len(self.player)

    def take(self, idx: NDArray[np.intp] | BoolArray) -> BetArrays:
        return BetArrays(
            self.player[idx],
            self.placed[idx],
            self.settled[idx],
            self.market[idx],
            self.live[idx],
            self.stake[idx],
            self.payout[idx],
            self.status[idx],
        )

    @classmethod
    def empty(cls) -> BetArrays:
        f = np.zeros(0)
        i = np.zeros(0, dtype=np.int64)
        return cls(i, f, f, i, np.zeros(0, bool), f, f, np.zeros(0, np.int8))


@dataclass
class TxArrays:
    """Account transactions of many players."""

    player: IntArray
    at: FloatArray
    kind: NDArray[np.int8]  # DEPOSIT, WITHDRAWAL, REVERSAL
    approved: BoolArray
    amount: FloatArray  # minor units

    def __len__(self) -> int:
        return len(self.player)

    def take(self, idx: NDArray[np.intp] | BoolArray) -> TxArrays:
        return TxArrays(
            self.player[idx], self.at[idx], self.kind[idx], self.approved[idx], self.amount[idx]
        )

    @classmethod
    def empty(cls) -> TxArrays:
        i = np.zeros(0, dtype=np.int64)
        return cls(i, np.zeros(0), np.zeros(0, np.int8), np.zeros(0, bool), np.zeros(0))


@dataclass
class PlayerInputs:
    """Per-player inputs besides the logs; arrays of length `n`."""

    n: int
    time_zones: Sequence[str]  # IANA names
    as_of: FloatArray | None = None  # default: each player's latest activity
    gamalyze: FloatArray | None = None  # external self-assessment 0-1, NaN = none
    limit_increases: FloatArray | None = None  # limits raised/removed lately, NaN = none
    prior_timeouts: FloatArray | None = None  # time-outs taken lately, NaN = none


@dataclass
class FeatureTable:
    """Raw feature values (NaN = undefined) and auxiliary figures used in explanations."""

    values: dict[str, FloatArray]
    aux: dict[str, FloatArray] = field(default_factory=dict)
    as_of: FloatArray = field(default_factory=lambda: np.zeros(0))


# --- helpers ----------------------------------------------------------------------------------


def _count(idx: IntArray, n: int, where: BoolArray | None = None) -> FloatArray:
    if where is not None:
        idx = idx[where]
    return np.bincount(idx, minlength=n).astype(np.float64)


def _sum(idx: IntArray, w: FloatArray, n: int, where: BoolArray | None = None) -> FloatArray:
    if where is not None:
        idx, w = idx[where], w[where]
    return np.asarray(np.bincount(idx, weights=w, minlength=n), dtype=np.float64)


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def _shrink(contrast: FloatArray, n: FloatArray, k: float) -> FloatArray:
    """Pull a contrast measured on n observations toward 0 (no difference)."""
    return contrast * n / (n + k)


def utc_offsets(at: FloatArray, player: IntArray, time_zones: Sequence[str]) -> FloatArray:
    """Seconds to add to each UTC time for the player's local wall clock (DST-aware per hour)."""
    out = np.zeros(len(at))
    if len(at) == 0:
        return out
    names, zone_code = np.unique(np.asarray(list(time_zones), dtype=str), return_inverse=True)
    code_of = zone_code[player]
    for code, name in enumerate(names):
        mask = code_of == code
        if not mask.any():
            continue
        zone = ZoneInfo(str(name))
        hours = np.floor(at[mask] / 3600.0).astype(np.int64)
        uniq, inv = np.unique(hours, return_inverse=True)
        offs = np.array([_offset(zone, int(h) * 3600) for h in uniq])
        out[mask] = offs[inv]
    return out


def _offset(zone: ZoneInfo, ts: int) -> float:
    off = dt.datetime.fromtimestamp(ts, zone).utcoffset()
    return off.total_seconds() if off is not None else 0.0


def latest_activity(bets: BetArrays, txs: TxArrays, n: int) -> FloatArray:
    """Each player's latest placed, settled or transaction time (NaN with no activity)."""
    out = np.full(n, -np.inf)
    np.maximum.at(out, bets.player, bets.placed)
    settled = ~np.isnan(bets.settled)
    np.maximum.at(out, bets.player[settled], bets.settled[settled])
    np.maximum.at(out, txs.player, txs.at)
    out[np.isinf(out)] = np.nan
    return out


def group_median(values: FloatArray, group: IntArray, n: int) -> FloatArray:
    """Median of `values` within each group 0..n-1 (NaN for empty groups)."""
    out = np.full(n, np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, group))
    v, g = values[order], group[order]
    counts = np.bincount(g, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = (v[lo] + v[hi]) / 2.0
    return out


@dataclass
class _Prepared:
    """Window-filtered, sorted logs with the derived tables every feature family uses."""

    n: int
    as_of: FloatArray
    bets: BetArrays
    txs: TxArrays
    bet_recent: BoolArray
    tx_local_day: IntArray
    bet_local_day: IntArray
    bet_local_hour: FloatArray
    as_of_day: IntArray  # local day number of each player's as_of
    # daily table (one row per player and local day with bets), sorted by player then day
    day_player: IntArray
    day_number: IntArray
    day_stake: FloatArray
    day_net: FloatArray  # stake - payout of settled bets: > 0 is a losing day
    bet_days: FloatArray  # per player
    any_days: FloatArray  # per player: days with a bet or a transaction
    # sessions
    sess_player: IntArray
    sess_minutes: FloatArray
    sess_recent: BoolArray


def _prepare(bets: BetArrays, txs: TxArrays, players: PlayerInputs) -> _Prepared:
    n = players.n
    as_of = players.as_of if players.as_of is not None else latest_activity(bets, txs, n)
    start = as_of - WINDOW_DAYS * DAY
    in_b = (bets.placed > start[bets.player]) & (bets.placed <= as_of[bets.player])
    bets = bets.take(in_b)
    order = np.lexsort((bets.placed, bets.player))
    bets = bets.take(order)
    in_t = (txs.at > start[txs.player]) & (txs.at <= as_of[txs.player])
    txs = txs.take(in_t)
    txs = txs.take(np.lexsort((txs.at, txs.player)))

    recent = bets.placed > (as_of - RECENT_DAYS * DAY)[bets.player]
    b_off = utc_offsets(bets.placed, bets.player, players.time_zones)
    t_off = utc_offsets(txs.at, txs.player, players.time_zones)
    b_local = bets.placed + b_off
    b_day = np.floor(b_local / DAY).astype(np.int64)
    t_day = np.floor((txs.at + t_off) / DAY).astype(np.int64)
    hour = (b_local % DAY) / 3600.0
    known = np.nan_to_num(as_of)
    as_of_off = utc_offsets(known, np.arange(n, dtype=np.int64), players.time_zones)
    as_of_day = np.floor((known + as_of_off) / DAY).astype(np.int64)

    settled = (bets.status == WON) | (bets.status == LOST) | (bets.status == VOID)
    net = np.where(settled, bets.stake - bets.payout, 0.0)
    dkey = bets.player * _DAY_KEY + b_day
    ukeys, inv = np.unique(dkey, return_inverse=True)
    day_player = ukeys // _DAY_KEY
    day_stake = _sum(inv, bets.stake, len(ukeys))
    day_net = _sum(inv, net, len(ukeys))
    bet_days = _count(day_player, n)
    all_keys = np.unique(np.concatenate((ukeys, txs.player * _DAY_KEY + t_day)))
    any_days = _count(all_keys // _DAY_KEY, n)

    m = len(bets)
    new = np.ones(m, dtype=bool)
    if m > 1:
        new[1:] = (bets.player[1:] != bets.player[:-1]) | (
            np.diff(bets.placed) > SESSION_GAP_SECONDS
        )
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [m - 1])) if m else first
    return _Prepared(
        n=n,
        as_of=as_of,
        bets=bets,
        txs=txs,
        bet_recent=recent,
        tx_local_day=t_day,
        bet_local_day=b_day,
        bet_local_hour=hour,
        as_of_day=as_of_day,
        day_player=day_player,
        day_number=ukeys % _DAY_KEY,
        day_stake=day_stake,
        day_net=day_net,
        bet_days=bet_days,
        any_days=any_days,
        sess_player=bets.player[first],
        sess_minutes=(bets.placed[last] - bets.placed[first]) / 60.0,
        sess_recent=recent[first],
    )


# --- feature families -------------------------------------------------------------------------


def loss_chase_features(p: _Prepared) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Loss chasing (SENTINEL §1.3 and §5; DSM-5 criterion 6 [16]; UKGC category d/g [36]).

    - `lc_rebet_speedup`: mean log-minutes to the next bet after a winning settlement minus
      after a losing one (> 0: faster after losses). The cleanest within-session chasing marker:
      speed of play rises after losses even where stakes do not [17]. Shrunk by pairs.
    - `lc_return_after_losing_day`: P(betting again the next local day | losing day) minus
      P(... | winning day): DSM-style "returns another day to get even" [16]. Shrunk by days.
    - `lc_deposits_after_loss`: deposit attempts within 60 min after a losing settlement, per
      active betting day: financial chasing [15][18][19].
    - `lc_withdrawal_reversals`: approved reversed withdrawals, putting winnings back [20][36].
    - `lc_declined_deposit_share`: declined / attempted deposits; low weight on its own [19].
    - `lc_stake_after_loss`: log of mean next stake after a loss over after a win; reported but
      weighted lightly, since win-chasing (bigger stakes after wins) is common [17].
    """
    n, b, t = p.n, p.bets, p.txs
    keys = b.player * _KEY + np.floor(b.placed).astype(np.int64)
    decided = np.flatnonzero((b.status == WON) | (b.status == LOST))
    s_time = b.settled[decided]
    s_key = b.player[decided] * _KEY + np.ceil(s_time).astype(np.int64)
    nxt = np.searchsorted(keys, s_key, side="left")
    ok = nxt < len(b)
    nxt_c = np.minimum(nxt, max(len(b) - 1, 0))
    if len(b):
        ok &= b.player[nxt_c] == b.player[decided]
        gap = b.placed[nxt_c] - s_time
        ok &= (gap >= 0) & (gap <= REBET_MAX_SECONDS)
    else:
        gap = np.zeros(0)
    who = b.player[decided]
    lost = b.status[decided] == LOST
    log_gap = np.log1p(np.maximum(gap, 0) / 60.0)
    w_ok, l_ok = ok & ~lost, ok & lost
    n_win, n_loss = _count(who, n, w_ok), _count(who, n, l_ok)
    speedup = _ratio(_sum(who, log_gap, n, w_ok), n_win) - _ratio(
        _sum(who, log_gap, n, l_ok), n_loss
    )
    speedup = _shrink(speedup, np.minimum(n_win, n_loss), SHRINK_PAIRS)
    next_stake = b.stake[nxt_c] if len(b) else np.zeros(0)
    stake_ratio = np.log(
        _ratio(_sum(who, next_stake, n, l_ok), n_loss)
        / _ratio(_sum(who, next_stake, n, w_ok), n_win)
    )
    stake_ratio = _shrink(stake_ratio, np.minimum(n_win, n_loss), SHRINK_PAIRS)

    # the next local day, for days that have one inside the window
    dp, dn, net = p.day_player, p.day_number, p.day_net
    observable = dn < p.as_of_day[dp]  # the next day is inside the window
    has_next = np.zeros(len(dp), dtype=bool)
    if len(dp) > 1:
        has_next[:-1] = (dp[1:] == dp[:-1]) & (dn[1:] == dn[:-1] + 1)
    losing, winning = observable & (net > 0), observable & (net < 0)
    n_ld, n_wd = _count(dp, n, losing), _count(dp, n, winning)
    ret = _ratio(_count(dp, n, losing & has_next), n_ld) - _ratio(
        _count(dp, n, winning & has_next), n_wd
    )
    ret = _shrink(ret, np.minimum(n_ld, n_wd), SHRINK_PAIRS)

    lost_idx = np.flatnonzero(b.status == LOST)
    loss_keys = b.player[lost_idx] * _KEY + np.floor(b.settled[lost_idx]).astype(np.int64)
    lorder = np.argsort(loss_keys, kind="stable")
    loss_keys = loss_keys[lorder]
    loss_time = b.settled[lost_idx][lorder]
    loss_player = b.player[lost_idx][lorder]
    dep = t.kind == DEPOSIT
    dkeys = t.player * _KEY + np.floor(t.at).astype(np.int64)
    j = np.searchsorted(loss_keys, dkeys, side="right") - 1
    jc = np.maximum(j, 0)
    after_loss = dep & (j >= 0)
    if len(loss_keys):
        after_loss &= (loss_player[jc] == t.player) & (
            t.at - loss_time[jc] <= DEPOSIT_AFTER_LOSS_SECONDS
        )
    else:
        after_loss &= False
    has_tx = _count(t.player, n) > 0
    has_bets = p.bet_days > 0
    dep_after = _ratio(_count(t.player, n, after_loss), p.bet_days)
    dep_after[~has_tx & has_bets] = np.nan  # no transaction feed: unknown, not zero
    reversals = np.where(has_tx, _count(t.player, n, (t.kind == REVERSAL) & t.approved), np.nan)
    attempts = _count(t.player, n, dep)
    declined = _ratio(_count(t.player, n, dep & ~t.approved), attempts)
    values = {
        "lc_rebet_speedup": speedup,
        "lc_return_after_losing_day": ret,
        "lc_deposits_after_loss": dep_after,
        "lc_withdrawal_reversals": reversals,
        "lc_declined_deposit_share": declined,
        "lc_stake_after_loss": stake_ratio,
    }
    aux = {
        "rebet_minutes_after_win": np.expm1(_ratio(_sum(who, log_gap, n, w_ok), n_win)),
        "rebet_minutes_after_loss": np.expm1(_ratio(_sum(who, log_gap, n, l_ok), n_loss)),
        "deposits_after_loss": _count(t.player, n, after_loss),
    }
    return values, aux


def escalation_features(p: _Prepared) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Bet escalation and intensity (SENTINEL §1.1-1.2, §5; [1][2][3][4][13][14][35]).

    - `be_stake_trajectory`: slope of log daily amount wagered against day, per 30 days (the
      bwin "trajectory"; rising = escalation [1][4]). Needs 3 betting days; shrunk by days.
    - `be_recent_vs_baseline`: log(mean stake per bet in the last 7 days / in the 83 days
      before): change relative to the player's own history (UKGC category b [36]).
    - `be_stake_variability`: coefficient of variation of the daily amount wagered ("variability"
      [1]; the top input at PlayNow was the variance of money bet per session [13]).
    - `be_intensity`: bets per betting day ("intensity" [1][2]; cash wagers per active day [14]).
    - `be_frequency`: betting days / days in the window (at least 7), ("frequency" [1][2]).
    - `be_net_loss_per_day`: net loss per betting day, minor units (customer spend, UKGC a;
      net-loss escalation before closure [4]).
    - `be_deposits_per_day`: approved deposits per active day [14][35].
    """
    n, b, t = p.n, p.bets, p.txs
    dp = p.day_player
    x = p.day_number.astype(np.float64)
    x = x - np.floor(p.as_of / DAY)[dp] if len(dp) else x
    y = np.log(np.maximum(p.day_stake, 1.0))
    k = _count(dp, n)
    sx, sy = _sum(dp, x, n), _sum(dp, y, n)
    sxy, sxx = _sum(dp, x * y, n), _sum(dp, x * x, n)
    den = k * sxx - sx * sx
    slope = _ratio(k * sxy - sx * sy, np.where(k >= 3, den, 0.0)) * 30.0
    slope = _shrink(slope, k, SHRINK_DAYS)

    recent, base = p.bet_recent, ~p.bet_recent
    mean_recent = _ratio(_sum(b.player, b.stake, n, recent), _count(b.player, n, recent))
    mean_base = _ratio(_sum(b.player, b.stake, n, base), _count(b.player, n, base))
    rvb = np.log(mean_recent / mean_base)

    s1, s2 = _sum(dp, p.day_stake, n), _sum(dp, p.day_stake**2, n)
    mean_day = _ratio(s1, k)
    var_day = np.maximum(_ratio(s2, k) - mean_day**2, 0.0)
    cv = np.where(k >= 2, np.sqrt(var_day) / np.where(mean_day > 0, mean_day, np.nan), np.nan)

    n_bets = _count(b.player, n)
    first = np.full(n, np.inf)
    np.minimum.at(first, b.player, b.placed)
    np.minimum.at(first, t.player, t.at)
    span_days = np.clip((p.as_of - first) / DAY + 1.0, RECENT_DAYS, WINDOW_DAYS)
    freq = _ratio(p.bet_days, np.where(p.bet_days > 0, span_days, 0.0))
    decided = (b.status == WON) | (b.status == LOST) | (b.status == VOID)
    net = _sum(b.player, b.stake - b.payout, n, decided)
    has_tx = _count(t.player, n) > 0
    dep_ok = (t.kind == DEPOSIT) & t.approved
    deposits_day = np.where(has_tx, _ratio(_count(t.player, n, dep_ok), p.any_days), np.nan)
    values = {
        "be_stake_trajectory": slope,
        "be_recent_vs_baseline": rvb,
        "be_stake_variability": cv,
        "be_intensity": _ratio(n_bets, p.bet_days),
        "be_frequency": freq,
        "be_net_loss_per_day": _ratio(net, p.bet_days),
        "be_deposits_per_day": deposits_day,
    }
    aux = {
        "mean_stake_recent": mean_recent,
        "mean_stake_baseline": mean_base,
        "bets": n_bets,
        "betting_days": p.bet_days,
        "net_loss": np.where(p.bet_days > 0, net, np.nan),
        "deposits_approved": _count(t.player, n, dep_ok),
    }
    return values, aux


def market_drift_features(p: _Prepared) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Market drift (SENTINEL §1.2 and §5; [4][10][11][12]). Odds are deliberately absent:
    problem closers chose *shorter* odds [4], so longer odds alone are not risk.

    - `md_live_share`: share of live (in-play) bets; RG-flagged bettors' fixed-odds : live mix
      was about 1 : 1 against 2.6 : 1 for controls [10][11].
    - `md_live_shift`: live share in the last 7 days minus before (change v own history).
    - `md_breadth`: distinct sport-and-market kinds bet on: breadth of involvement was a
      stronger correlate of problems than depth [12].
    - `md_new_markets`: share of the last 7 days' bets on kinds never bet before in the window
      ("first-time markets", product switching, UKGC category d [36]).
    """
    n, b = p.n, p.bets
    recent, base = p.bet_recent, ~p.bet_recent
    live = b.live.astype(np.float64)
    n_all, n_rec, n_base = (
        _count(b.player, n),
        _count(b.player, n, recent),
        _count(b.player, n, base),
    )
    share = _ratio(_sum(b.player, live, n), n_all)
    shift = _ratio(_sum(b.player, live, n, recent), n_rec) - _ratio(
        _sum(b.player, live, n, base), n_base
    )
    m = int(b.market.max()) + 1 if len(b) else 1
    pair = b.player * m + b.market
    uniq = np.unique(pair)
    breadth = np.where(n_all > 0, _count(uniq // m, n), np.nan)
    base_pairs = np.unique(pair[base])
    new = recent & ~np.isin(pair, base_pairs)
    new_share = np.where(n_base > 0, _ratio(_count(b.player, n, new), n_rec), np.nan)
    return (
        {
            "md_live_share": share,
            "md_live_shift": shift,
            "md_breadth": breadth,
            "md_new_markets": new_share,
        },
        {"live_share_recent": _ratio(_sum(b.player, live, n, recent), n_rec)},
    )


def night_risk_curve(share: FloatArray) -> FloatArray:
    """Risk of a night-play share, after BetBuddy's feature risk curve [19]: rising to its peak
    at 38-68 % of play at night, lower again for the >= 94 % who are stable night workers."""
    s = np.asarray(share, dtype=np.float64)
    return np.interp(s, [0.0, 0.38, 0.68, 0.94, 1.0], [0.0, 1.0, 1.0, 0.4, 0.4])


def temporal_features(p: _Prepared) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Temporal risk (SENTINEL §4 category c and §5; [19][36][38]).

    - `tr_night_play`: `night_risk_curve` of the share of bets placed 00:00-06:00 local time
      (overnight gamblers must not be less protected; a higher share were problem gamblers [38]).
    - `tr_session_minutes`: mean session length, a session being bets less than 30 min apart.
    - `tr_binge_share`: share of sessions longer than max(2 h, 3 x the player's own median).
    - `tr_consecutive_days`: longest run of consecutive local days with bets.
    - `tr_session_growth`: log of mean session length in the last 7 days over before ("session
      length increasing", UKGC category c [36]).
    """
    n, b = p.n, p.bets
    h = p.bet_local_hour
    night = (h >= NIGHT_START_HOUR) & (h < NIGHT_END_HOUR)
    n_all = _count(b.player, n)
    night_share = _ratio(_count(b.player, n, night), n_all)
    sp, sm = p.sess_player, p.sess_minutes
    n_sess = _count(sp, n)
    mean_len = _ratio(_sum(sp, sm, n), n_sess)
    median = group_median(sm, sp, n)
    threshold = np.maximum(BINGE_MIN_MINUTES, BINGE_OWN_MEDIAN_FACTOR * np.nan_to_num(median))
    binge = _ratio(_count(sp, n, sm > threshold[sp]) if len(sp) else np.zeros(n), n_sess)
    rec = p.sess_recent
    growth = np.log1p(_ratio(_sum(sp, sm, n, rec), _count(sp, n, rec))) - np.log1p(
        _ratio(_sum(sp, sm, n, ~rec), _count(sp, n, ~rec))
    )
    dp, dn = p.day_player, p.day_number
    longest = np.zeros(n)
    if len(dp):
        brk = np.ones(len(dp), dtype=bool)
        brk[1:] = (dp[1:] != dp[:-1]) | (dn[1:] != dn[:-1] + 1)
        run = np.cumsum(brk) - 1
        run_len = np.bincount(run).astype(np.float64)
        np.maximum.at(longest, dp[brk], run_len)
    longest[p.bet_days == 0] = np.nan
    return (
        {
            "tr_night_play": np.where(n_all > 0, night_risk_curve(night_share), np.nan),
            "tr_session_minutes": mean_len,
            "tr_binge_share": binge,
            "tr_consecutive_days": longest,
            "tr_session_growth": growth,
        },
        {"night_share": night_share, "sessions": n_sess},
    )


def behavioural_features(players: PlayerInputs) -> dict[str, FloatArray]:
    """Behavioural assessment (SENTINEL §2 and §5; UKGC category f [36]; [20][21][27]).

    - `ba_gamalyze`: an external self-assessment score 0-1 (a Gamalyze-type test [27]); used as
      it is, not ranked against the population.
    - `ba_limit_increases`: deposit, loss, wager or session limits raised or removed in the
      lookback window (operators report them: `POST /sentinel/limit-changes`). SENTINEL §4
      category f, "changing/removing deposit limits" [36], and §5's behavioural assessment
      ("limit increases/removals" [20][21]; Kindred's PS-EDS counts "removal of RG limits");
      tightening a limit is protective and does not count.
    - `ba_prior_timeouts`: time-outs the analysts set in the window (cancelled ones excluded):
      "repeated time-outs", SENTINEL §4 category f [36].
    Counts come from `betlog.arrays.load_behaviour`; NaN (no marker shown) leaves the feature
    out and the composite re-weights, so players without these markers score as before.
    """
    nan = np.full(players.n, np.nan)
    return {
        "ba_gamalyze": nan if players.gamalyze is None else players.gamalyze.astype(np.float64),
        "ba_limit_increases": nan if players.limit_increases is None else players.limit_increases,
        "ba_prior_timeouts": nan if players.prior_timeouts is None else players.prior_timeouts,
    }


def compute_features(bets: BetArrays, txs: TxArrays, players: PlayerInputs) -> FeatureTable:
    """Every feature for every player, in one pass of vectorised group operations."""
    p = _prepare(bets, txs, players)
    values: dict[str, FloatArray] = {}
    aux: dict[str, FloatArray] = {}
    for family in (
        loss_chase_features,
        escalation_features,
        market_drift_features,
        temporal_features,
    ):
        v, a = family(p)
        values.update(v)
        aux.update(a)
    values.update(behavioural_features(players))
    for name, arr in values.items():
        values[name] = np.where(np.isfinite(arr), arr, np.nan)
    return FeatureTable(values=values, aux=aux, as_of=p.as_of)

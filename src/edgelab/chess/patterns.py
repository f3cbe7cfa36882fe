"""Pattern analysis of one player's games (pure: parsed games in, a JSON-ready dict out).

Every result is from the player's side. Every figure carries its sample size: a result group is
`{games, wins, draws, losses, score}` (score = points per game in %, a draw half a point);
averages carry `games` (or `n`) beside them. Games the player is not in, and chess variants
(Chess.com `rules` other than `chess`), are skipped and counted in `skipped`.

Definitions where the sources leave a choice:
- time class: Chess.com's, else from the time control (base + 40 x increment; see `games`);
- hour and weekday: of the game's start, converted from UTC to `tz`; games whose time of day is
  unknown count under `unknown` in `by_hour` (their weekday still counts when the date is known);
- tilt: the result of the player's next game when it started within `TILT_GAP` of the previous
  one's start (same session), split by the previous result; accuracy likewise when Chess.com
  provides it;
  (pairs where either start's time of day is unknown are left out, not guessed);
- streaks: over all analysed games in start order; `current` is the run the last game ends;
- opponent rating bands: opponent minus player rating in 100-point bands, open at +-300;
- the player: names match whatever their order, case and punctuation ("Carlsen, Magnus" is
  "Magnus Carlsen"), as over-the-board databases write them; `player_name` is the spelling
  seen most often;
- terminations: the `Termination` text (Chess.com's sentences, Lichess's "Time forfeit"), else
  the final position (mate, stalemate, bare kings); a decisive Lichess "Normal" game that did
  not end in mate was resigned; with no `Termination` at all it is `unknown`;
- `coverage`: how many analysed games carry each field a file may lack (time of day, Elo, time
  control, termination): the figures built on a field cover only those games.

Over 400 lines on purpose: one pass over the games fills every figure, and the definitions
above are easier to check side by side than spread over modules.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from edgelab.chess.games import GameRecord, has_time_of_day
from edgelab.chess.openings import name_opening

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TILT_GAP = dt.timedelta(hours=1)
OPENINGS_PER_COLOUR = 30
LENGTH_BUCKETS = ((1, 20), (21, 40), (41, 60), (61, 80), (81, 10_000))
BAND_EDGES = (-300, -200, -100, 0, 100, 200, 300)
WIN_REASONS = {
    "resign": "resignation",
    "on time": "time_forfeit",
    "time forfeit": "time_forfeit",  # Lichess
    "checkmate": "checkmate",
    "abandon": "abandoned",
}
DRAW_REASONS = (
    ("timeout vs insufficient", "timeout_vs_insufficient"),
    ("time forfeit", "timeout_vs_insufficient"),  # Lichess: flagged, but the other cannot win
    ("insufficient", "insufficient_material"),
    ("repetition", "repetition"),
    ("agreement", "agreement"),
    ("stalemate", "stalemate"),
    ("50", "fifty_move"),
)
CODE_REASONS = {  # Chess.com per-side result codes
    "resigned": "resignation",
    "timeout": "time_forfeit",
    "checkmated": "checkmate",
    "abandoned": "abandoned",
    "agreed": "agreement",
    "repetition": "repetition",
    "stalemate": "stalemate",
    "insufficient": "insufficient_material",
    "50move": "fifty_move",
    "timevsinsufficient": "timeout_vs_insufficient",
}


COVERAGE_FIELDS = (
    "date",
    "time_of_day",
    "player_elo",
    "opponent_elo",
    "time_control",
    "termination",
)


class Wdl:
    __slots__ = ("draws", "losses", "wins")

    def __init__(self) -> None:
        self.wins = self.draws = self.losses = 0

    def add(self, outcome: str) -> None:
        if outcome == "win":
            self.wins += 1
        elif outcome == "loss":
            self.losses += 1
        else:
            self.draws += 1

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    def out(self) -> dict[str, Any]:
        n = self.games
        score = round(100 * (self.wins + 0.5 * self.draws) / n, 1) if n else None
        return {
            "games": n,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "score": score,
        }


def _groups(groups: dict[str, Wdl]) -> dict[str, dict[str, Any]]:
    return {k: v.out() for k, v in sorted(groups.items(), key=lambda kv: -kv[1].games)}


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def outcome_for(game: GameRecord, white: bool) -> str:
    """win / draw / loss from the given side ("draw" also for an unfinished `*`)."""
    if game.result == "1-0":
        return "win" if white else "loss"
    if game.result == "0-1":
        return "loss" if white else "win"
    code = game.white_code if white else game.black_code
    if code == "win":
        return "win"
    return "draw"


def termination_of(game: GameRecord, white: bool, outcome: str) -> str:
    """How the game ended, in one word per kind (see CODE_REASONS); `other` when unknown."""
    codes = (game.white_code, game.black_code)
    if any(codes):
        if outcome == "win":
            loser = codes[1] if white else codes[0]
            return CODE_REASONS.get(loser or "", "other")
        own = codes[0] if white else codes[1]
        return CODE_REASONS.get(own or "", "other")
    text = game.termination.lower()
    if outcome == "draw":
        for needle, reason in DRAW_REASONS:
            if needle in text:
                return reason
        if game.final_state in ("stalemate", "insufficient_material"):
            return game.final_state
        return "other" if text else "unknown"
    for needle, reason in WIN_REASONS.items():
        if needle in text:
            return reason
    if game.final_state == "checkmate":
        return "checkmate"
    if text == "normal":  # Lichess: a decisive game that was not mated was resigned
        return "resignation"
    return "other" if text else "unknown"


@functools.lru_cache(maxsize=4096)
def name_key(name: str) -> str:
    """A player's name for matching: its words case-folded and sorted, so "Carlsen, Magnus",
    "Magnus Carlsen" and "carlsen,magnus" are one player; "" for an unknown name (`?`)."""
    return " ".join(sorted(w for w in re.split(r"[\s,.]+", name.casefold()) if w))


def _band(diff: int) -> str:
    if diff < BAND_EDGES[0]:
        return f"< {BAND_EDGES[0]}"
    if diff >= BAND_EDGES[-1]:
        return f">= +{BAND_EDGES[-1]}"
    for lo, hi in itertools.pairwise(BAND_EDGES):
        if lo <= diff < hi:
            return f"{lo:+d} to {hi - 1:+d}"
    raise AssertionError("unreachable")


def name_counts(games: Iterable[GameRecord]) -> Counter[str]:
    """Games per player (by `name_key`), unknown names left out."""
    counts: Counter[str] = Counter()
    for g in games:
        for name in {name_key(g.white), name_key(g.black)}:
            if name:
                counts[name] += 1
    return counts


def infer_player(games: Iterable[GameRecord]) -> str | None:
    """The name that appears in the most games (a player's own export), as a `name_key`."""
    counts = name_counts(games)
    return counts.most_common(1)[0][0] if counts else None


def _length_bucket(moves: int) -> str:
    for lo, hi in LENGTH_BUCKETS:
        if lo <= moves <= hi:
            return f"{lo}-{hi}" if hi < 10_000 else f"{lo}+"
    return "0"


def analyze(
    games: Sequence[GameRecord], player: str | None = None, *, tz: str = "UTC"
) -> dict[str, Any]:
    """The pattern analysis of `player`'s games (inferred when None). `tz` is an IANA zone."""
    zone = ZoneInfo(tz)
    name = name_key(player) if player else infer_player(games) or ""
    mine: list[tuple[GameRecord, bool]] = []
    skipped = {"not_a_player": 0, "variant": 0}
    spellings: Counter[str] = Counter()
    for g in games:
        if g.rules != "chess":
            skipped["variant"] += 1
            continue
        if name and name_key(g.white) == name:
            mine.append((g, True))
            spellings[g.white] += 1
        elif name and name_key(g.black) == name:
            mine.append((g, False))
            spellings[g.black] += 1
        else:
            skipped["not_a_player"] += 1
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    mine.sort(key=lambda gw: gw[0].start or epoch)

    overall = Wdl()
    by_color = {"white": Wdl(), "black": Wdl()}
    openings: dict[str, dict[tuple[str, str], Wdl]] = {"white": {}, "black": {}}
    opening_source: Counter[str] = Counter()
    by_class: dict[str, Wdl] = defaultdict(Wdl)
    by_tc: dict[str, Wdl] = defaultdict(Wdl)
    by_hour: dict[str, Wdl] = defaultdict(Wdl)
    by_weekday: dict[str, Wdl] = defaultdict(Wdl)
    term: dict[str, Counter[str]] = {"wins": Counter(), "draws": Counter(), "losses": Counter()}
    ratings: dict[str, list[tuple[dt.datetime | None, int]]] = defaultdict(list)
    lengths: dict[str, list[int]] = {"win": [], "draw": [], "loss": []}
    by_length: dict[str, Wdl] = defaultdict(Wdl)
    bands: dict[str, Wdl] = defaultdict(Wdl)
    band_unknown = 0
    acc_mine: list[float] = []
    acc_opp: list[float] = []
    acc_by_result: dict[str, list[float]] = {"win": [], "draw": [], "loss": []}
    acc_by_color: dict[str, list[float]] = {"white": [], "black": []}
    sequence: list[tuple[str, dt.datetime | None, float | None]] = []
    coverage: Counter[str] = Counter()

    for g, white in mine:
        outcome = outcome_for(g, white)
        colour = "white" if white else "black"
        overall.add(outcome)
        by_color[colour].add(outcome)
        op = name_opening(
            g.moves,
            eco=g.eco,
            eco_url=g.eco_url,
            standard_start=not g.initial_fen,
            walked=g.opening if g.walked else False,
        )
        opening_source[op.source] += 1
        openings[colour].setdefault((op.eco, op.name), Wdl()).add(outcome)
        by_class[g.time_class or "unknown"].add(outcome)
        by_tc[g.time_control].add(outcome)
        timed = g.start is not None and (has_time_of_day(g.headers) if g.headers else True)
        if g.start is not None:
            local = g.start.astimezone(zone)
            by_hour[f"{local.hour:02d}" if timed else "unknown"].add(outcome)
            by_weekday[WEEKDAYS[(local if timed else g.start).weekday()]].add(outcome)
        else:
            by_hour["unknown"].add(outcome)
            by_weekday["unknown"].add(outcome)
        term[outcome + "s" if outcome != "loss" else "losses"][
            termination_of(g, white, outcome)
        ] += 1
        own_elo, opp_elo = (g.white_elo, g.black_elo) if white else (g.black_elo, g.white_elo)
        if own_elo is not None:
            ratings[g.time_class or "unknown"].append((g.start, own_elo))
        if own_elo is not None and opp_elo is not None:
            bands[_band(opp_elo - own_elo)].add(outcome)
        else:
            band_unknown += 1
        moves = (g.plies + 1) // 2
        lengths[outcome].append(moves)
        by_length[_length_bucket(moves)].add(outcome)
        own_acc, opp_acc = (
            (g.accuracy_white, g.accuracy_black) if white else (g.accuracy_black, g.accuracy_white)
        )
        if own_acc is not None:
            acc_mine.append(own_acc)
            acc_by_result[outcome].append(own_acc)
            acc_by_color[colour].append(own_acc)
        if opp_acc is not None:
            acc_opp.append(opp_acc)
        sequence.append((outcome, g.start if timed else None, own_acc))
        coverage["date"] += g.start is not None
        coverage["time_of_day"] += timed
        coverage["player_elo"] += own_elo is not None
        coverage["opponent_elo"] += opp_elo is not None
        coverage["time_control"] += g.time_class is not None
        coverage["termination"] += bool(g.termination or g.white_code or g.final_state)

    starts = [g.start for g, _ in mine if g.start is not None]
    all_lengths = [m for values in lengths.values() for m in values]
    return {
        "player": name or None,
        "player_name": spellings.most_common(1)[0][0] if spellings else None,
        "games_analyzed": overall.games,
        "coverage": {
            "games": overall.games,
            **{k: coverage[k] for k in COVERAGE_FIELDS},
        },
        "skipped": skipped,
        "tz": tz,
        "period": {
            "first": min(starts).isoformat() if starts else None,
            "last": max(starts).isoformat() if starts else None,
        },
        "overall": overall.out(),
        "by_color": {c: w.out() for c, w in by_color.items()},
        "by_opening": {
            colour: [
                {"eco": eco, "name": nm, **w.out()}
                for (eco, nm), w in sorted(groups.items(), key=lambda kv: -kv[1].games)[
                    :OPENINGS_PER_COLOUR
                ]
            ]
            for colour, groups in openings.items()
        },
        "openings_distinct": {c: len(groups) for c, groups in openings.items()},
        "opening_named_by": dict(opening_source),
        "by_time_class": _groups(by_class),
        "by_time_control": _groups(by_tc),
        "by_hour": {k: by_hour[k].out() for k in sorted(by_hour)},
        "by_weekday": {d: by_weekday[d].out() for d in (*WEEKDAYS, "unknown") if d in by_weekday},
        "terminations": {k: dict(c.most_common()) for k, c in term.items()},
        "rating_trend": _rating_trend(ratings),
        "streaks": _streaks([o for o, _, _ in sequence]),
        "tilt": _tilt(sequence),
        "game_length": {
            "games": len(all_lengths),
            "mean_moves": _mean(all_lengths),
            "median_moves": statistics.median(all_lengths) if all_lengths else None,
            "min_moves": min(all_lengths) if all_lengths else None,
            "max_moves": max(all_lengths) if all_lengths else None,
            "mean_moves_by_result": {
                k: {"games": len(v), "mean_moves": _mean(v)} for k, v in lengths.items()
            },
            "by_moves": {
                k: by_length[k].out()
                for k in (f"{lo}-{hi}" if hi < 10_000 else f"{lo}+" for lo, hi in LENGTH_BUCKETS)
                if k in by_length
            },
        },
        "opponent_rating": {
            "bands": {k: bands[k].out() for k in _band_order() if k in bands},
            "unknown": band_unknown,
        },
        "accuracy": {
            "games": len(acc_mine),
            "mean": _mean(acc_mine),
            "median": round(statistics.median(acc_mine), 2) if acc_mine else None,
            "opponent_mean": _mean(acc_opp),
            "opponent_games": len(acc_opp),
            "by_result": {k: {"games": len(v), "mean": _mean(v)} for k, v in acc_by_result.items()},
            "by_color": {k: {"games": len(v), "mean": _mean(v)} for k, v in acc_by_color.items()},
        },
    }


def _band_order() -> list[str]:
    return [_band(BAND_EDGES[0] - 1)] + [_band(e) for e in BAND_EDGES]


def _rating_trend(
    ratings: dict[str, list[tuple[dt.datetime | None, int]]],
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cls, points in sorted(ratings.items(), key=lambda kv: -len(kv[1])):
        values = [r for _, r in points]
        monthly: dict[str, tuple[int, int]] = {}
        for when, r in points:
            if when is not None:
                key = when.strftime("%Y-%m")
                monthly[key] = (r, monthly.get(key, (0, 0))[1] + 1)
        out[cls] = {
            "games": len(values),
            "first": values[0],
            "last": values[-1],
            "change": values[-1] - values[0],
            "min": min(values),
            "max": max(values),
            "monthly": [
                {"month": m, "rating": r, "games": n} for m, (r, n) in sorted(monthly.items())
            ],
        }
    return out


def _streaks(outcomes: Sequence[str]) -> dict[str, Any]:
    best = {"win": 0, "loss": 0, "unbeaten": 0, "winless": 0}
    run = dict.fromkeys(best, 0)
    for o in outcomes:
        run["win"] = run["win"] + 1 if o == "win" else 0
        run["loss"] = run["loss"] + 1 if o == "loss" else 0
        run["unbeaten"] = run["unbeaten"] + 1 if o != "loss" else 0
        run["winless"] = run["winless"] + 1 if o != "win" else 0
        for k in best:
            best[k] = max(best[k], run[k])
    current: dict[str, Any] = {"result": None, "length": 0}
    if outcomes:
        last = outcomes[-1]
        length = 0
        for o in reversed(outcomes):
            if o != last:
                break
            length += 1
        current = {"result": last, "length": length}
    return {
        "games": len(outcomes),
        "longest_win": best["win"],
        "longest_loss": best["loss"],
        "longest_unbeaten": best["unbeaten"],
        "longest_winless": best["winless"],
        "current": current,
    }


def _tilt(sequence: Sequence[tuple[str, dt.datetime | None, float | None]]) -> dict[str, Any]:
    after: dict[str, Wdl] = {"win": Wdl(), "draw": Wdl(), "loss": Wdl()}
    acc: dict[str, list[float]] = {"win": [], "draw": [], "loss": []}
    for (prev, prev_start, _), (cur, cur_start, cur_acc) in itertools.pairwise(sequence):
        if prev_start is None or cur_start is None or cur_start - prev_start > TILT_GAP:
            continue  # not the same session, or not known to be
        after[prev].add(cur)
        if cur_acc is not None:
            acc[prev].append(cur_acc)
    out: dict[str, Any] = {
        f"after_{k}": {**w.out(), "accuracy": {"games": len(acc[k]), "mean": _mean(acc[k])}}
        for k, w in after.items()
    }
    win_score, loss_score = out["after_win"]["score"], out["after_loss"]["score"]
    out["session_gap_minutes"] = int(TILT_GAP.total_seconds() // 60)
    out["score_drop_after_loss"] = (
        round(win_score - loss_score, 1)
        if win_score is not None and loss_score is not None
        else None
    )
    return out

"""The verdict of a season's (or the pooled) evaluation in sentences: pure, no I/O.

Spreads and totals at the default rule against the close and line shopping; the moneyline
forecasts, p_true against the morning consensus on the same markets and against the close only
on the games all three share (`MIN_SAME_GAMES` or more: the shipped 2022-23 moneylines have a
closing price until mid-January and morning prices from late January, so they share a handful);
the in-sample and single-book caveats first.
"""

from __future__ import annotations

from typing import Any

MIN_SAME_GAMES = 50  # fewer shared games than this: the close is not compared with p_true
SINGLE_BOOK_NOTE = (
    "One book quotes these markets before tip-off (or none does, closing lines only): the "
    "consensus is that book's line, so no bet has value against it and the bet sections are "
    "empty. The forecasts are still scored."
)


def _fmt_ci(low: float | None, high: float | None, digits: int = 2) -> str:
    if low is None or high is None:
        return "n/a"
    return f"{low:+.{digits}f}..{high:+.{digits}f}"


def season_label(
    season: int | None, left_out: list[int] | None = None, pooled: list[int] | None = None
) -> str:
    """`2022-23`; pooled: `every season`, or without the in-sample ones `every season but
    2021-22` (or the pooled seasons named, when they are three or fewer)."""
    if season is not None:
        return f"{season - 1}-{season % 100:02d}"
    if not left_out:
        return "every season"
    if pooled is not None and not pooled:
        return "no out-of-sample season"
    if pooled and len(pooled) <= 3:
        return ", ".join(season_label(s) for s in pooled)
    return "every season but " + ", ".join(season_label(s) for s in left_out)


def _span(seasons: list[int]) -> str:
    if not seasons:
        return "none"
    if len(seasons) <= 3:
        return ", ".join(map(season_label, seasons))
    return f"{len(seasons)} seasons, {season_label(seasons[0])} .. {season_label(seasons[-1])}"


def _moneyline_brier(label: str, ml: dict[str, Any]) -> str:
    """p_true against the consensus on their shared markets, and against the close only on the
    games all three share (at least `MIN_SAME_GAMES` of them)."""
    same, close = ml["same_games"], ml["close"]
    text = (
        f"{label}, moneyline Brier on the same {ml['p_true']['n']} games: p_true "
        f"{ml['p_true']['brier']:.4f}, morning consensus {ml['consensus']['brier']:.4f}"
    )
    if same["n"] >= MIN_SAME_GAMES:
        return text + (
            f"; on the {same['n']} of them with a closing price: p_true "
            f"{same['p_true']['brier']:.4f}, consensus {same['consensus']['brier']:.4f}, the "
            f"close {same['close']['brier']:.4f}."
        )
    elsewhere = f"; the close is scored on {close['n']} other games" if close["n"] else ""
    return text + (
        f"; the close cannot be compared: only {same['n']} of these games have a closing price "
        f"(fewer than {MIN_SAME_GAMES}{elsewhere})."
    )


def summary(doc: dict[str, Any]) -> list[str]:
    """The verdict in sentences: spreads and totals at the default rule, the moneyline
    forecasts, and the baselines."""
    label = season_label(doc["season"], doc["left_out"], doc["seasons"])
    lines = []
    if doc["in_sample"]:
        lines.append(
            f"{label} is in sample: the value model's parameters and default thresholds were "
            "fitted on it (see the notes); it is left out of the pooled figures."
        )
    elif doc["left_out"]:
        tuned = ", ".join(map(season_label, doc["left_out"]))
        lines.append(
            f"Out-of-sample seasons only ({_span(doc['seasons'])}): {tuned}, which the value "
            "model was tuned on, is left out of these pooled figures and reported on its own."
        )
    if not doc["seasons"]:
        lines.append("No out-of-sample season has been evaluated.")
    if doc["single_book"] and doc["seasons"]:
        lines.append(f"{label}: " + SINGLE_BOOK_NOTE)
    lines_doc = doc["markets"].get("spread+total")
    if lines_doc and lines_doc["bets"]["default"]["n"]:
        b = lines_doc["bets"]["default"]
        shop = lines_doc["baselines"]["line_shopping"]
        ci = _fmt_ci(b["clv_ci_low"], b["clv_ci_high"])
        lines.append(
            f"{label}, spreads and totals at the default rule: {b['n']} bets, CLV "
            f"{b['clv']:+.2f} points incl. price (95% CI {ci}), {b['beat_close']:.0%} beat the "
            f"close; line shopping {shop['n']} bets"
            + (f", CLV {shop['clv']:+.2f}" if shop["clv"] is not None else "")
            + "."
        )
    ml = doc["markets"].get("moneyline")
    if ml and ml["p_true"]["n"]:
        lines.append(_moneyline_brier(label, ml))
        b = ml["bets"]["default"]
        if b["n"]:
            clv = (
                "n/a"
                if b["clv"] is None
                else f"{b['clv'] * 100:+.2f} points of probability (n={b['n_clv']})"
            )
            lines.append(f"{label}, moneylines at the default rule: {b['n']} bets, CLV {clv}.")
    return lines

"""The reliability diagram as a PNG: the model's curve, the market's, the diagonal, and counts.

matplotlib is imported on the first plot, not with the app (start-up time counts), and drawn
through the object-oriented API on the Agg backend (no pyplot global state, safe in a thread).
"""

from __future__ import annotations

import io
import math
from typing import Any

MODEL_COLOR = "#1b7f5f"
MARKET_COLOR = "#d9661c"
MARKET_NAMES = {"close": "the de-vigged close", "consensus": "the morning consensus"}


def _title(doc: dict[str, Any]) -> str:
    what = doc["market_type"] or "all market types"
    season = doc["season"]
    when = f"season {season - 1}-{season % 100:02d}" if season else "every season"
    return (
        f"Reliability: {doc['probability']} vs {MARKET_NAMES[doc['market_forecast']]}\n"
        f"{what}, {when}"
    )


def reliability_png(doc: dict[str, Any]) -> bytes:
    """Render a `/evaluation/calibration` document (see `evaluation_report.calibration`)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 8.0), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], ls="--", color="0.55", lw=1, label="perfectly calibrated")
    curves = (
        ("market", MARKET_COLOR, "s", MARKET_NAMES[doc["market_forecast"]]),
        ("model", MODEL_COLOR, "o", f"model: {doc['probability']}"),
    )
    biggest = max([b["count"] for key, *_ in curves for b in doc[key]["bins"]] or [1])
    width = 1.0 / doc["n_bins"]
    for offset, (key, color, marker, name) in zip((0.25, -0.25), curves, strict=True):
        curve = doc[key]
        bins = curve["bins"]
        if not bins:
            continue
        xs = [b["mean_predicted"] for b in bins]
        ys = [b["observed_rate"] for b in bins]
        counts = [b["count"] for b in bins]
        label = (
            f"{name}: Brier {curve['brier']:.4f}, log loss {curve['log_loss']:.4f}, "
            f"ECE {curve['ece']:.4f} (n={curve['n']:,})"
        )
        top.plot(xs, ys, color=color, lw=1.6, label=label)
        sizes = [25 + 250 * math.sqrt(c / biggest) for c in counts]
        top.scatter(xs, ys, s=sizes, color=color, marker=marker, edgecolor="white", zorder=3)
        if key == "model":
            for x, y, c in zip(xs, ys, counts, strict=True):
                top.annotate(
                    f"{c:,}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(7, -11),
                    fontsize=7,
                    color=color,
                )
        centres = [(b["bin"] + 0.5 + offset) * width for b in bins]
        bottom.bar(centres, counts, width=width * 0.45, color=color, alpha=0.85, label=key)
    if not doc["model"]["bins"]:
        top.text(0.5, 0.55, "no settled markets here", ha="center", fontsize=12, color="0.3")
    top.set(xlim=(0, 1), ylim=(-0.02, 1.02), ylabel="observed frequency")
    top.set_title(_title(doc), fontsize=11)
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8, frameon=True)
    bottom.set(
        xlabel=f"predicted probability ({doc['n_bins']} equal bins)", ylabel="markets per bin"
    )
    bottom.grid(alpha=0.3, axis="y")
    if doc["model"]["bins"]:
        bottom.legend(loc="upper left", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()

"""Chart widget configurations for TradingView Lightweight Charts (v5), as plain data.

The front end passes `chart_options` to `createChart(el, ...)`, then for each entry of
`series` calls `chart.addSeries(<type>Series, options)` and `setData` with what `data_url`
answers. Probabilities are prices in 0..1: the price format's `minMove` is the market's tick
size (0.01 on most Polymarket markets, 0.001 on some) and `precision` its decimals. Times are
UTC (Lightweight Charts has no time zones). The TradingView *Advanced Chart* embed widget only
draws TradingView's own symbols, so it cannot show Polymarket data: no config is given for it.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

THEMES: dict[str, dict[str, str]] = {
    "dark": {
        "background": "#131722",
        "text": "#d1d4dc",
        "grid": "#2a2e39",
        "border": "#485c7b",
        "up": "#26a69a",
        "down": "#ef5350",
    },
    "light": {
        "background": "#ffffff",
        "text": "#191919",
        "grid": "#e1ecf2",
        "border": "#d6dcde",
        "up": "#26a69a",
        "down": "#ef5350",
    },
}
# one colour per outcome, in outcome order (Yes/first outcome blue, No/second orange, ...)
SERIES_COLOURS = ("#2962ff", "#ff6d00", "#00897b", "#ab47bc", "#fdd835", "#8d6e63")
SERIES_TYPES = ("line", "area", "candlestick")


def price_format(tick_size: float | None) -> dict[str, Any]:
    tick = tick_size if tick_size is not None and 0 < tick_size < 1 else 0.01
    precision = max(0, min(6, math.ceil(-math.log10(tick) - 1e-9)))
    return {"type": "price", "precision": precision, "minMove": tick}


def chart_options(theme: str) -> dict[str, Any]:
    colours = THEMES[theme]
    return {
        "autoSize": True,
        "layout": {
            "background": {"type": "solid", "color": colours["background"]},
            "textColor": colours["text"],
        },
        "grid": {
            "vertLines": {"color": colours["grid"]},
            "horzLines": {"color": colours["grid"]},
        },
        "rightPriceScale": {
            "borderColor": colours["border"],
            "scaleMargins": {"top": 0.1, "bottom": 0.1},
        },
        "timeScale": {
            "borderColor": colours["border"],
            "timeVisible": True,
            "secondsVisible": False,
        },
        "crosshair": {"mode": 0},
        "localization": {"locale": "en-US"},
    }


def series_options(series_type: str, index: int, theme: str, tick: float | None) -> dict[str, Any]:
    colours = THEMES[theme]
    colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
    fmt = price_format(tick)
    if series_type == "candlestick":
        return {
            "upColor": colours["up"],
            "downColor": colours["down"],
            "borderVisible": False,
            "wickUpColor": colours["up"],
            "wickDownColor": colours["down"],
            "priceFormat": fmt,
        }
    if series_type == "area":
        return {
            "lineColor": colour,
            "topColor": colour + "66",
            "bottomColor": colour + "05",
            "lineWidth": 2,
            "priceFormat": fmt,
        }
    return {"color": colour, "lineWidth": 2, "priceFormat": fmt}


def widget_config(
    *,
    market: dict[str, Any] | None,
    outcomes: list[dict[str, Any]],
    series_type: str,
    theme: str,
    interval: str,
    base_path: str = "/predictions/markets",
) -> dict[str, Any]:
    """The whole config; `market` None gives the generic probability chart (no series)."""
    tick = market.get("tick_size") if market else None
    lwc_type = {"line": "Line", "area": "Area", "candlestick": "Candlestick"}[series_type]
    fmt = "candles" if series_type == "candlestick" else "line"
    shown = outcomes[:1] if series_type == "candlestick" else outcomes
    series = []
    for i, outcome in enumerate(shown):
        name = outcome["name"]
        url = (
            f"{base_path}/{quote(market['id'], safe='')}/history?outcome={quote(name, safe='')}"
            f"&interval={interval}&format={fmt}"
            if market
            else None
        )
        series.append(
            {
                "type": lwc_type,
                "title": name,
                "outcome": name,
                "token_id": outcome.get("token_id"),
                "data_url": url,
                "options": {"title": name, **series_options(series_type, i, theme, tick)},
            }
        )
    return {
        "library": "lightweight-charts",
        "library_version": "5",
        "market_id": market["id"] if market else None,
        "title": market["question"] if market else "Probability",
        "theme": theme,
        "series_type": lwc_type,
        "price_format": price_format(tick),
        "value_range": {"min": 0.0, "max": 1.0},
        "time": {"unit": "unix_seconds", "timezone": "UTC"},
        "chart_options": chart_options(theme),
        "series": series,
        "notes": [
            "Times are UNIX seconds in UTC; shift them for local display (Lightweight Charts "
            "has no time zones).",
            "Values are probabilities in 0..1 (the outcome's price in USDC per share).",
        ],
    }

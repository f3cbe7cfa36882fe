"""Prediction-market rows shaped into the API's answers (no I/O: plain functions over rows).

Used by the router for answers made per request and by the service for answers it caches as
bytes (the list and the price history), so both read the same way.
"""

from __future__ import annotations

import orjson

from edgelab.predictions import schemas
from edgelab.predictions.history import Series
from edgelab.predictions.models import PredictionIngestRun, PredictionMarket, PredictionOutcome


def outcome_prices(rows: list[PredictionOutcome]) -> list[schemas.OutcomePrice]:
    return [schemas.OutcomePrice(name=o.name, token_id=o.token_id, price=o.price) for o in rows]


def market_summary(m: PredictionMarket, outcomes: list[PredictionOutcome]) -> schemas.MarketSummary:
    return schemas.MarketSummary(
        id=m.id,
        condition_id=m.condition_id,
        slug=m.slug,
        question=m.question,
        event_title=m.event_title,
        tags=list(m.tags or []),
        active=m.active,
        closed=m.closed,
        end_date=m.end_date,
        volume=m.volume,
        volume_24h=m.volume_24h,
        liquidity=m.liquidity,
        best_bid=m.best_bid,
        best_ask=m.best_ask,
        spread=m.spread,
        price_change_24h=m.price_change_24h,
        resolution_status=m.resolution_status,
        outcomes=outcome_prices(outcomes),
        recorded=m.recorded_at is not None,
        recorded_at=m.recorded_at,
        recording=m.recording,
    )


def ingest_info(run: PredictionIngestRun | None) -> schemas.IngestInfo | None:
    if run is None:
        return None
    return schemas.IngestInfo(
        run_id=run.id,
        finished_at=run.finished_at,
        ok=run.ok,
        fetched=run.fetched,
        written=run.written,
        errors=run.errors[:5],
    )


def resolution(m: PredictionMarket) -> schemas.Resolution:
    if m.resolved_outcome:
        status = "resolved"
    elif m.closed:
        status = "closed"
    else:
        status = "open"
    return schemas.Resolution(
        status=status, uma_status=m.resolution_status, outcome=m.resolved_outcome
    )


def market_detail(m: PredictionMarket, outcomes: list[PredictionOutcome]) -> schemas.MarketDetail:
    base = f"/predictions/markets/{m.id}"
    return schemas.MarketDetail(
        **market_summary(m, outcomes).model_dump(),
        description=m.description,
        category=m.category,
        event_id=m.event_id,
        event_slug=m.event_slug,
        archived=m.archived,
        start_date=m.start_date,
        game_start_time=m.game_start_time,
        last_trade_price=m.last_trade_price,
        tick_size=m.tick_size,
        resolution=resolution(m),
        updated_at=m.upstream_updated_at,
        fetched_at=m.fetched_at,
        links={
            "history": f"{base}/history",
            "news": f"{base}/news",
            "chart_config": f"/charts/config?market_id={m.id}",
            "polymarket": f"https://polymarket.com/market/{m.slug}" if m.slug else "",
        },
    )


def history_json(market: PredictionMarket, series: Series, *, fmt: str, interval: str) -> bytes:
    """`schemas.History` as JSON bytes, written by orjson (the answer is cached as bytes)."""
    return orjson.dumps(
        {
            "market_id": market.id,
            "outcome": series.outcome.name,
            "token_id": series.outcome.token_id,
            "format": fmt,
            "series_type": "Candlestick" if fmt == "candles" else "Line",
            "interval": interval,
            "fidelity": series.fidelity,
            "data": series.data,
            "points": len(series.data),
            "source": series.source,
            "stale": series.stale,
            "recorded": market.recorded_at is not None,
            "recorded_at": market.recorded_at,
            "notes": series.notes,
        }
    )

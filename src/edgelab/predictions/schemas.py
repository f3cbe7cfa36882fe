"""Request and response models of the prediction-markets API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

SortKey = Literal["volume", "volume_24h", "liquidity", "price_change_24h", "end_date"]
SortOrder = Literal["asc", "desc"]
Interval = Literal["1h", "6h", "1d", "1w", "1m", "max", "all"]
HistoryFormat = Literal["line", "candles"]
SeriesType = Literal["line", "area", "candlestick"]
Theme = Literal["dark", "light"]
Probability = Field(ge=0, le=1)


class OutcomePrice(BaseModel):
    name: str
    token_id: str = Field(description="The CLOB token id (what price endpoints take).")
    price: float | None = Field(None, ge=0, le=1, description="Last price, 0..1.")


class MarketSummary(BaseModel):
    id: str = Field(description="Polymarket's (Gamma) market id; slugs are accepted too.")
    condition_id: str | None
    slug: str | None
    question: str
    event_title: str | None
    tags: list[str]
    active: bool | None
    closed: bool | None
    end_date: dt.datetime | None
    volume: float | None = Field(description="All-time volume, USDC.")
    volume_24h: float | None
    liquidity: float | None
    best_bid: float | None = Field(ge=0, le=1)
    best_ask: float | None = Field(ge=0, le=1)
    spread: float | None
    price_change_24h: float | None
    resolution_status: str | None
    outcomes: list[OutcomePrice]
    recorded: bool = Field(
        description="True when this market comes from a shipped recording of Polymarket's "
        "answers (not live): its prices are as of `recorded_at`."
    )
    recorded_at: dt.datetime | None = Field(description="When the recording was made.")
    recording: str | None = Field(description="Which recording (see `edgelab/data/polymarket`).")


class IngestInfo(BaseModel):
    run_id: int
    finished_at: dt.datetime | None
    ok: bool
    fetched: int
    written: int
    errors: list[Any]


class Backend(BaseModel):
    """Where the markets listed come from."""

    name: Literal["polymarket", "recording", "none"] = Field(
        description="`polymarket`: live markets are stored (ingested); `recording`: only "
        "recorded ones (Polymarket never reached: the offline default); `none`: no data."
    )
    live_markets: int = Field(ge=0)
    recorded_markets: int = Field(ge=0)
    recorded_at: dt.datetime | None = Field(description="The newest recording's date.")
    reachable: bool | None = Field(
        description="Whether the latest live ingest reached Polymarket (null: none ran)."
    )


class MarketList(BaseModel):
    items: list[MarketSummary]
    total: int = Field(ge=0)
    limit: int
    offset: int
    sort: SortKey
    order: SortOrder
    last_ingest: IngestInfo | None
    backend: Backend
    notes: list[str]


class Resolution(BaseModel):
    status: Literal["open", "closed", "resolved"]
    uma_status: str | None = Field(description="UMA's resolution status as Polymarket reports.")
    outcome: str | None = Field(description="The winning outcome once resolved (price ~1).")


class MarketDetail(MarketSummary):
    description: str | None
    category: str | None
    event_id: str | None
    event_slug: str | None
    archived: bool | None
    start_date: dt.datetime | None
    game_start_time: dt.datetime | None
    last_trade_price: float | None
    tick_size: float | None
    resolution: Resolution
    updated_at: dt.datetime | None = Field(description="Polymarket's own update time.")
    fetched_at: dt.datetime
    links: dict[str, str]


class LinePoint(BaseModel):
    time: int = Field(description="UNIX seconds, UTC.")
    value: float = Probability


class Candle(BaseModel):
    time: int = Field(description="UNIX seconds, UTC: the bucket's start.")
    open: float = Probability
    high: float = Probability
    low: float = Probability
    close: float = Probability


class History(BaseModel):
    market_id: str
    outcome: str
    token_id: str
    format: HistoryFormat
    series_type: Literal["Line", "Candlestick"]
    interval: Interval
    fidelity: int = Field(description="Bucket length in minutes.")
    data: list[LinePoint] | list[Candle] = Field(
        description="Lightweight Charts data: strictly ascending, unique `time`."
    )
    points: int
    source: Literal["stored", "clob"] = Field(
        description="`clob`: the CLOB was asked for the part of the window not stored yet."
    )
    stale: bool = Field(description="True when Polymarket failed and stored data answer.")
    recorded: bool = Field(description="A recorded market: its window ends with the recording.")
    recorded_at: dt.datetime | None
    notes: list[str]


class Article(BaseModel):
    title: str
    url: str
    source: str | None
    source_id: str | None
    author: str | None
    description: str | None
    image_url: str | None
    published_at: str | None


class News(BaseModel):
    market_id: str
    query: str | None
    articles: list[Article]
    total_results: int
    stale: bool
    fetched_at: dt.datetime | None
    budget: dict[str, int]
    notes: list[str]


class ChartConfig(BaseModel):
    library: str
    library_version: str
    market_id: str | None
    title: str
    theme: Theme
    series_type: str
    price_format: dict[str, Any]
    value_range: dict[str, float]
    time: dict[str, str]
    chart_options: dict[str, Any]
    series: list[dict[str, Any]]
    notes: list[str]


class ValueRow(BaseModel):
    polymarket_market_id: str
    question: str
    game_id: str
    game_date: dt.date
    home_team: str
    away_team: str
    team: str = Field(description="The side this row prices (our 3-letter code).")
    side: Literal["home", "away"]
    sportsbook_market_id: str
    polymarket_price: float = Probability
    sportsbook_probability: float = Probability
    difference: float = Field(description="polymarket_price - sportsbook_probability.")
    fee: float = Field(description="Polymarket's fee on this buy, in probability points.")
    edge_after_fees: float
    direction: Literal["buy_on_polymarket", "bet_at_sportsbook"]


class ValueList(BaseModel):
    items: list[ValueRow]
    threshold: float
    fee_rate: float
    matched_games: int
    notes: list[str]

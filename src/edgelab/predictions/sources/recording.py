"""Reading recordings of Polymarket's answers: verbatim Gamma `/markets` pages and CLOB
`/prices-history` series flattened to CSV (the shipped ones: `edgelab/data/polymarket/`).

No I/O but reading the given files; values are taken as recorded, never adjusted.

* A Gamma page (`.json`, or `.json.gz`) is a JSON array of market objects, parsed by the same
  `parse_market` as a live answer. Its recording time is its latest `updatedAt` (a page does
  not carry the time it was fetched; the shipped README dates them the same way).
* A CLOB price file (`.csv[.gz]` with `token_id`, `outcome`, `timestamp`, `price`) holds whole
  price paths (`interval=max`): each outcome's points, and the markets they belong to, named
  from the file's `market_id`, `question` and `outcome` columns. A market file (`.csv[.gz]`
  with `clob_token_ids`: Gamma's fields flattened) given beside it adds slug, condition id,
  description, volume, liquidity and state. Its recording time is its latest `timestamp`.
  A market file alone holds no outcome names or prices, so it adds nothing by itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from edgelab.predictions.sources.polymarket_parse import (
    GammaMarket,
    GammaOutcome,
    json_list,
    number,
    parse_market,
    text,
)

SUFFIXES = (".json", ".json.gz", ".csv", ".csv.gz")


class RecordingError(ValueError):
    """A file that is not a recording this module reads (the message says which and why)."""


@dataclass
class Recording:
    """One recorded answer set: its markets, and for CLOB files each outcome's price path."""

    name: str  # the file's name without its suffixes, e.g. gamma_markets_2026-02-07T2057Z
    kind: str  # gamma | clob
    recorded_at: dt.datetime
    markets: list[GammaMarket]
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # token -> path
    dropped: int = 0  # rows without an id, question, token or usable price


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".json", ".csv"):
        name = name.removesuffix(suffix)
    return name


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def files_in(paths: Iterable[Path]) -> list[Path]:
    """The recording files among `paths`, a folder standing for the files under it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and p.name.endswith(SUFFIXES)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise RecordingError(f"{path}: no such file or folder")
    return found


def _gamma_page(path: Path) -> Recording:
    try:
        rows = orjson.loads(_read_text(path))
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"{path}: not JSON ({exc})") from None
    if not isinstance(rows, list):
        raise RecordingError(f"{path}: not a Gamma /markets page (a JSON array of markets)")
    markets, dropped = [], 0
    for row in rows:
        market = parse_market(row)
        if market is None:
            dropped += 1
        else:
            markets.append(market)
    times = [m.updated_at for m in markets if m.updated_at is not None]
    if not times:
        raise RecordingError(f"{path}: no market with an updatedAt to date the recording by")
    return Recording(_stem(path), "gamma", max(times), markets, dropped=dropped)


def _utc(value: str) -> dt.datetime | None:
    """The CSV's `YYYY-MM-DD HH:MM:SS` (UTC) or ISO 8601 with an offset."""
    raw = value.strip().replace(" ", "T", 1)
    if not raw:
        return None
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _flag(value: str | None) -> bool | None:
    lowered = (value or "").strip().lower()
    return {"true": True, "false": False}.get(lowered)


def _rows(path: Path) -> tuple[list[str], Iterator[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    return list(reader.fieldnames or []), reader


def _clob_prices(path: Path, rows: Iterator[dict[str, str]], extra: dict[str, Any]) -> Recording:
    """Markets and price paths from a flattened prices-history file; `extra` are the market
    file's rows by market id (fields the price file lacks)."""
    points: dict[str, list[tuple[int, float]]] = {}
    names: dict[str, dict[str, str]] = {}  # market -> token -> outcome name
    questions: dict[str, str] = {}
    dropped = 0
    for row in rows:
        mid, token = text(row.get("market_id")), text(row.get("token_id"))
        when, price = _utc(row.get("timestamp") or ""), number(row.get("price"))
        name = text(row.get("outcome"))
        if not (mid and token and when and name) or price is None or not 0 <= price <= 1:
            dropped += 1
            continue
        points.setdefault(token, []).append((int(when.timestamp()), price))
        names.setdefault(mid, {})[token] = name
        if question := text(row.get("question")):
            questions.setdefault(mid, question)
    if not points:
        raise RecordingError(f"{path}: no usable price point")
    for path_points in points.values():
        path_points.sort()
    recorded_at = dt.datetime.fromtimestamp(max(p[-1][0] for p in points.values()), dt.UTC)
    markets = []
    for mid, tokens in names.items():
        info = extra.get(mid, {})
        question = questions.get(mid) or text(info.get("question"))
        if question is None:
            dropped += 1
            continue
        # the outcomes in the market file's clobTokenIds order (Gamma's), else as first seen
        order = [str(t) for t in json_list(info.get("clob_token_ids")) or [] if str(t) in tokens]
        order += [t for t in tokens if t not in order]
        market = GammaMarket(
            id=mid,
            question=question,
            condition_id=text(info.get("condition_id")),
            slug=text(info.get("slug")),
            description=text(info.get("description")),
            active=_flag(info.get("active")),
            closed=_flag(info.get("closed")),
            start_date=_utc(info.get("created_at") or ""),
            end_date=_utc(info.get("end_date") or ""),
            volume=number(info.get("volume")),
            liquidity=number(info.get("liquidity")),
            outcomes=[GammaOutcome(t, tokens[t], points[t][-1][1]) for t in order],
        )
        if market.closed:  # the rule `parse_market` applies to Gamma's closed markets
            winners = [o.name for o in market.outcomes if o.price is not None and o.price >= 0.99]
            market.resolved_outcome = winners[0] if len(winners) == 1 else None
        markets.append(market)
    return Recording(_stem(path), "clob", recorded_at, markets, points, dropped)


def read(paths: Iterable[Path]) -> list[Recording]:
    """Every recording in `paths` (files or folders), oldest first, so that reading them in
    order leaves each market as last recorded. Raises `RecordingError` on a file it cannot
    read as one."""
    files = files_in(paths)
    if not files:
        raise RecordingError("no recording files (.json, .csv, optionally .gz) in the paths given")
    recordings: list[Recording] = []
    market_files: dict[str, Any] = {}
    price_files: list[tuple[Path, Iterator[dict[str, str]]]] = []
    for path in files:
        if path.name.endswith((".json", ".json.gz")):
            recordings.append(_gamma_page(path))
            continue
        columns, rows = _rows(path)
        if {"token_id", "timestamp", "price", "outcome"} <= set(columns):
            price_files.append((path, rows))
        elif {"market_id", "question", "clob_token_ids"} <= set(columns):
            market_files.update({r["market_id"]: r for r in rows if r.get("market_id")})
        else:
            raise RecordingError(
                f"{path}: neither a CLOB price file (token_id, outcome, timestamp, price) nor "
                "a market file (market_id, question, clob_token_ids)"
            )
    recordings.extend(_clob_prices(path, rows, market_files) for path, rows in price_files)
    return sorted(recordings, key=lambda r: r.recorded_at)

"""Evaluation answers, served from the stored report (`jobs`): milliseconds, never a computation.

Each request reads the data's fingerprint (a few aggregate queries) and the newest ready
report. The report's document and forecast arrays are loaded once per report and process
(`ReportMemo`), and each answer's bytes are cached under the report's id and the query; the
`report` block (is it stale, is a recompute queued) and `online` (the live A/B test) are
spliced in per request. When the data changed since the report, the report is still served,
marked stale, and a recompute is requested in a unit of work of its own (its job sent after
that commit, whatever the answer). Before any report exists the answer is 503
`evaluation_pending` (the job is enqueued).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting import errors
from edgelab.betting.evaluation import schemas
from edgelab.betting.evaluation.jobs import (
    ENGINE_VERSION,
    DataFingerprint,
    current_fingerprint,
    request_report,
    unpack,
)
from edgelab.betting.evaluation.models import EvaluationReport
from edgelab.core.db import cached_read
from edgelab.core.errors import AppError, NotFoundError
from edgelab.core.jobs import session_unit_of_work
from edgelab.core.resources import Resources

CACHE_PREFIX = "evaluation:"
CACHE_TTL = 3600.0  # seconds; keys carry the report's id, so an answer never outlives it
PNG_CACHE_TTL = 60.0  # plots are ~80 kB: kept briefly, so many variants cannot fill the cache
ONLINE_CACHE_TTL = 10.0  # seconds; the live A/B figures change with every bet and exposure
RETRY_AFTER_SECONDS = 30


class EvaluationPendingError(AppError):
    """503: no report exists yet; the job computing the first one has been queued."""

    code = errors.EVALUATION_PENDING


@dataclass
class LoadedReport:
    id: int
    fingerprint: str
    document: dict[str, Any]
    blob: bytes
    _arrays: dict[str, Any] | None = None

    @property
    def arrays(self) -> dict[str, Any]:
        if self._arrays is None:
            self._arrays = unpack(self.blob)
        return self._arrays


class ReportMemo:
    """The last reports this process served, parsed once each (a report never changes)."""

    def __init__(self, max_entries: int = 2) -> None:
        self._items: OrderedDict[tuple[int, str], LoadedReport] = OrderedDict()
        self._max = max_entries
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession, report_id: int, fingerprint: str) -> LoadedReport:
        key = (report_id, fingerprint)  # an id alone could come back after a database reset
        if key in self._items:
            return self._items[key]
        async with self._lock:
            if key not in self._items:
                row = (
                    await session.execute(
                        select(
                            EvaluationReport.fingerprint,
                            EvaluationReport.document,
                            EvaluationReport.arrays,
                        ).where(EvaluationReport.id == report_id)
                    )
                ).one()
                self._items[key] = LoadedReport(report_id, row[0], row[1], row[2])
                while len(self._items) > self._max:
                    self._items.popitem(last=False)
            return self._items[key]


@dataclass
class Served:
    report: LoadedReport
    info: dict[str, Any]  # `schemas.ReportInfo`


async def _request_recompute(resources: Resources, fp: DataFingerprint) -> str:
    """Ask for the current data's report in a unit of work of its own, committed (and its job
    sent) whatever the request answers next."""
    async with session_unit_of_work(resources.jobs, resources.sessionmaker) as session:
        return await request_report(session, fp)


async def _served(resources: Resources, season: int | None) -> Served:
    async with resources.sessionmaker() as session:
        fp = await current_fingerprint(session, resources.settings)
        latest = (
            await session.execute(
                select(
                    EvaluationReport.id,
                    EvaluationReport.fingerprint,
                    EvaluationReport.finished_at,
                    EvaluationReport.seconds,
                    EvaluationReport.seasons,
                )
                .where(EvaluationReport.status == "ready")
                .order_by(EvaluationReport.finished_at.desc(), EvaluationReport.id.desc())
                .limit(1)
            )
        ).one_or_none()
        loaded = None
        if latest is not None:
            memo = resources.setdefault(ReportMemo, ReportMemo)
            loaded = await memo.get(session, int(latest.id), str(latest.fingerprint))
            if loaded.document.get("engine") != ENGINE_VERSION:  # another engine's shape
                latest = loaded = None
    if not fp.seasons:
        raise NotFoundError(
            "No season can be evaluated: import results and odds first "
            "(`edgelab import nba-shipped`, `edgelab import odds-api ...`).",
            code=errors.NO_EVALUATION_DATA,
        )
    stale = latest is None or latest.fingerprint != fp.digest
    recompute = await _request_recompute(resources, fp) if stale else None
    if latest is None or loaded is None:
        raise EvaluationPendingError(
            "The evaluation is being computed for the first time (about half a minute on the "
            "shipped seasons); retry shortly.",
            code=errors.EVALUATION_PENDING,
            details={"status": recompute},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    seasons = [int(s) for s in latest.seasons]
    if season is not None and season not in seasons:
        raise NotFoundError(
            f"Season {season} cannot be evaluated: seasons are named by their ending year and "
            f"the report has {seasons[0]}..{seasons[-1]}"
            + (" (a newer report is being computed)." if stale else "."),
            code=errors.SEASON_NOT_FOUND,
            details={"seasons": seasons},
        )
    info = {
        "data_fingerprint": latest.fingerprint,
        "current_fingerprint": fp.digest,
        "computed_at": latest.finished_at.isoformat() if latest.finished_at else None,
        "compute_seconds": latest.seconds,
        "stale": stale,
        "recompute": recompute,
    }
    return Served(loaded, schemas.ReportInfo.model_validate(info).model_dump(mode="json"))


def _splice(body: bytes, **parts: bytes) -> bytes:
    """Add top-level keys to a cached JSON object without parsing it."""
    extra = b"".join(b',"' + k.encode() + b'":' + v for k, v in parts.items())
    return b"".join((memoryview(body)[:-1], extra, b"}"))


def compare_document(
    doc: dict[str, Any], season: int | None, market_type: str | None
) -> dict[str, Any]:
    sd = doc["by_season"]["all" if season is None else str(season)]
    markets = sd["markets"]
    if market_type is not None:
        markets = {k: v for k, v in markets.items() if k == market_type}
    return {
        "season": season,
        "seasons": sd["seasons"],
        "in_sample": sd["in_sample"],
        "in_sample_seasons": doc["in_sample_seasons"],
        "market_type": market_type,
        "single_book": sd["single_book"],
        "books_max": sd["books_max"],
        "summary": sd["summary"],
        "markets": markets,
        "rules": doc["rules"],
        "baselines": doc["baselines"],
        "season_rows": doc["season_rows"] if season is None else [],
        "devig_method": doc["devig_method"],
        "sharp_books": doc["sharp_books"],
        "model_version": doc["engine"],
        "data_fingerprint": doc["data_fingerprint"],
        "bootstrap": doc["bootstrap"],
        "notes": doc["notes"],
    }


async def compare_json(
    resources: Resources,
    *,
    season: int | None,
    market_type: schemas.EvaluatedMarketType | None,
) -> bytes:
    """`schemas.CompareResponse` as JSON (see the module docstring)."""
    settings, cache, sessions = resources.settings, resources.cache, resources.sessionmaker
    served = await _served(resources, season)
    report_key = f"{served.report.id}-{served.report.fingerprint}"
    key = f"{CACHE_PREFIX}compare:{report_key}:{season}:{market_type}"

    async def fill() -> bytes:
        doc = compare_document(served.report.document, season, market_type)
        response = schemas.CompareResponse.model_validate(doc)
        return response.model_dump_json(exclude={"online", "report"}).encode()

    async def online(s: AsyncSession) -> bytes:
        from edgelab.betting.ab.service import online_report

        report = await online_report(
            s,
            experiment=settings.ab_experiment,
            days=settings.ab_attribution_days,
            split_b=settings.ab_split_b,
            force_arm=settings.ab_force_arm,
        )
        return schemas.OnlineComparison.model_validate(report).model_dump_json().encode()

    body = await cache.get_or_fill(key, CACHE_TTL, fill)
    online_key = f"{CACHE_PREFIX}online:{settings.ab_experiment}"
    live = await cached_read(cache, sessions, online_key, ONLINE_CACHE_TTL, online)
    return _splice(body, report=json.dumps(served.info).encode(), online=live)


async def calibration_answer(
    resources: Resources,
    *,
    algorithm: schemas.Algorithm,
    market_type: schemas.EvaluatedMarketType | None,
    season: int | None,
    line: schemas.LineKind,
    bins: int,
    fmt: Literal["json", "png"],
) -> bytes:
    """The reliability curve of p_true beside the close (`line` close) or the consensus at the
    bet moment (`line` open) as `schemas.CalibrationResponse` JSON, or (`fmt` png) its plot."""
    served = await _served(resources, season)
    loaded = served.report
    key = (
        f"{CACHE_PREFIX}calibration:{loaded.id}-{loaded.fingerprint}:{algorithm}:{market_type}:"
        f"{season}:{line}:"
        f"{bins}:{fmt}"
    )

    async def fill() -> bytes:
        from edgelab.betting.evaluation.report import calibration
        from edgelab.betting.evaluation.report.summary import season_label

        market = "close" if line == "close" else "consensus"
        left_out = loaded.document["in_sample_seasons"]
        model, market_scores = calibration(
            loaded.arrays,
            season=season,
            market_type=market_type,
            market=market,
            n_bins=bins,
            left_out=left_out,
        )
        notes = [
            "Both algorithms rank by the same probability, p_true (the consensus, blended with "
            "the rating model only by the weight it earned walk-forward); they differ in how "
            "they treat its uncertainty.",
            "Spreads and totals: P(home covers) or P(over) at the closing line, pushes left out.",
        ]
        if season is None and left_out:
            notes.append(
                "Every season pooled but "
                + ", ".join(map(season_label, left_out))
                + ", which the value model was tuned on (ask for it by season)."
            )
        elif season in left_out:
            notes.append("In sample: the value model was tuned on this season.")
        if model.n == 0:
            notes.append("No settled markets here with both forecasts.")
        doc = {
            "algorithm": algorithm,
            "probability": "p_true",
            "market_forecast": market,
            "season": season,
            "market_type": market_type,
            "line": line,
            "devig_method": loaded.document["devig_method"],
            "n_bins": bins,
            "model_version": loaded.document["engine"],
            "model": model.to_dict(),
            "market": market_scores.to_dict(),
            "notes": notes,
            "report": served.info,
        }
        body = schemas.CalibrationResponse.model_validate(doc)
        if fmt == "json":
            return body.model_dump_json(exclude={"report"}).encode()
        from edgelab.betting.evaluation.plots import reliability_png

        return await asyncio.to_thread(reliability_png, body.model_dump())

    data = await resources.cache.get_or_fill(
        key, PNG_CACHE_TTL if fmt == "png" else CACHE_TTL, fill
    )
    if fmt == "png":
        return data
    return _splice(data, report=json.dumps(served.info).encode())

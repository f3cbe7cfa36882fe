"""The A/B test of value-score algorithms A and B: attribution of bets and the online report.

A tracked bet goes to its user's latest non-forced exposure of the same market in this
experiment at or before `placed_at`, when that is at most `EDGELAB_AB_ATTRIBUTION_DAYS` old;
computed at query time, so exposures flushed late still count. Arms are `assignment`, the
exposure log `exposures`.

`betting.markets` imported this module whole (`ab.<name>`) before it was split, so the names it
uses stay importable from here: `__all__` lists them with this module's own (the client-id
constants and cookie, `OPENAPI_PARAMETERS`, `assign`, `header_client_id`, `subject_digest`, the
packed-body pair from `assignment`; `ExposureBuffer` from `exposures`). New code imports them
from where they are defined.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.ab.assignment import (
    CLIENT_ID_COOKIE,
    CLIENT_ID_HEADER,
    OPENAPI_PARAMETERS,
    Arm,
    assign,
    client_id_cookie,
    finish_markets_body,
    header_client_id,
    pack_markets_body,
    subject_digest,
)
from edgelab.betting.ab.exposures import ExposureBuffer
from edgelab.betting.ab.models import AbExposure
from edgelab.betting.bets.models import UserBet

__all__ = [  # this module's names and those kept for `betting.markets` (module docstring)
    "CLIENT_ID_COOKIE",
    "CLIENT_ID_HEADER",
    "OPENAPI_PARAMETERS",
    "AttributedBet",
    "Attribution",
    "ExposureBuffer",
    "assign",
    "attribute_bets",
    "attributed_bets",
    "bet_attribution",
    "client_id_cookie",
    "finish_markets_body",
    "header_client_id",
    "online_report",
    "online_stats",
    "pack_markets_body",
    "subject_digest",
]

SETTLED = ("won", "lost", "push")
BOOTSTRAP_RESAMPLES = 2000


# ---- attribution -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    bet_id: str
    arm: Arm
    rank: int
    shown_at: dt.datetime


@dataclass(frozen=True)
class AttributedBet:
    bet_id: str
    user_id: str
    arm: Arm
    status: str
    stake_minor: int
    payout_minor: int | None
    clv: float | None


def _latest_prior_exposure(experiment: str, *bet_filters: Any) -> Any:
    """Each bet's latest non-forced exposure of its market at or before it was placed (the
    window's lower bound is checked on that one row: if the latest is too old, all are)."""
    e = AbExposure
    rn = (
        func.row_number()
        .over(partition_by=UserBet.id, order_by=(e.shown_at.desc(), e.id.desc()))
        .label("rn")
    )
    ranked = (
        select(
            UserBet.id.label("bet_id"),
            UserBet.placed_at,
            e.arm,
            e.rank,
            e.shown_at,
            rn,
        )
        .join(
            e,
            and_(
                e.user_id == UserBet.user_id,
                e.outcome_id == UserBet.outcome_id,
                e.experiment == experiment,
                e.forced.is_(False),
                e.shown_at <= UserBet.placed_at,
            ),
        )
        .where(*bet_filters)
        .subquery()
    )
    return select(ranked).where(ranked.c.rn == 1)


async def attribute_bets(
    session: AsyncSession, experiment: str, days: float, *bet_filters: Any
) -> dict[str, Attribution]:
    """Bet id -> its attribution, for the bets matching `bet_filters` (unattributed: absent)."""
    window = dt.timedelta(days=days)
    rows = (await session.execute(_latest_prior_exposure(experiment, *bet_filters))).all()
    return {
        r.bet_id: Attribution(r.bet_id, r.arm, r.rank, r.shown_at)
        for r in rows
        if r.shown_at >= r.placed_at - window
    }


async def bet_attribution(
    session: AsyncSession, bet_id: str, experiment: str, days: float
) -> Attribution | None:
    found = await attribute_bets(session, experiment, days, UserBet.id == bet_id)
    return found.get(bet_id)


async def attributed_bets(
    session: AsyncSession, experiment: str, days: float
) -> list[AttributedBet]:
    found = await attribute_bets(session, experiment, days)
    if not found:
        return []
    bets = (await session.execute(select(UserBet).where(UserBet.id.in_(list(found))))).scalars()
    return [
        AttributedBet(
            b.id, b.user_id, found[b.id].arm, b.status, b.stake_minor, b.payout_minor, b.clv
        )
        for b in bets
    ]


# ---- the online report -------------------------------------------------------------------------


async def online_report(
    session: AsyncSession, *, experiment: str, days: float, split_b: float, force_arm: Arm | None
) -> dict[str, Any]:
    """The arms as users met them: reach, attributed bets, their CLV and ROI, B - A."""
    e = AbExposure
    reach = {
        r.arm: (int(r.users), int(r.exposures))
        for r in await session.execute(
            select(
                e.arm,
                func.count(func.distinct(e.subject)).label("users"),
                func.count().label("exposures"),
            )
            .where(e.experiment == experiment, e.forced.is_(False))
            .group_by(e.arm)
        )
    }
    bets = await attributed_bets(session, experiment, days)
    stats = await asyncio.to_thread(online_stats, bets)
    return {
        "experiment": experiment,
        "split_b": split_b,
        "force_arm": force_arm,
        "attribution_days": days,
        "arms": {
            arm: {
                "users": reach.get(arm, (0, 0))[0],
                "exposures": reach.get(arm, (0, 0))[1],
                **stats["arms"][arm],
            }
            for arm in ("a", "b")
        },
        "b_minus_a": stats["b_minus_a"],
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "unit": "user", "level": 0.95},
        "notes": [
            "Online samples are small: until an interval excludes 0, the arms' difference is "
            "consistent with luck. CLV settles much sooner than ROI.",
            "A bet counts for the arm of its user's latest exposure of that market at or "
            f"before it was placed, within {days:g} days; requests with an explicit "
            "`algorithm` count for no arm. Intervals resample users (their bets together).",
            "CLV and ROI are the values stored at settlement (per bet), not recomputed.",
        ],
    }


METRICS = ("mean_clv", "roi", "hit_rate")


def online_stats(bets: Iterable[AttributedBet]) -> dict[str, Any]:
    """Per arm: counts, mean CLV, ROI (profit / staked) and hit rate (won / decided) over
    settled bets, with 95% percentile intervals from a bootstrap over users; and B - A from
    the arms' independent draws."""
    import numpy as np

    from edgelab.betting.evaluation.metrics import bootstrap_cluster_sums, percentile_interval

    by_arm: dict[str, list[AttributedBet]] = {"a": [], "b": []}
    for b in bets:
        by_arm[b.arm].append(b)
    arms: dict[str, dict[str, Any]] = {}
    draws: dict[str, Any] = {}
    points: dict[str, Any] = {}
    for seed, (arm, arm_bets) in enumerate(by_arm.items(), start=1):
        settled = [b for b in arm_bets if b.status in SETTLED]
        users = sorted({b.user_id for b in settled})
        index = {u: i for i, u in enumerate(users)}
        num = np.zeros((3, len(users)))
        den = np.zeros((3, len(users)))
        for b in settled:
            i = index[b.user_id]
            if b.clv is not None:
                num[0, i] += b.clv
                den[0, i] += 1
            num[1, i] += (b.payout_minor or 0) - b.stake_minor
            den[1, i] += b.stake_minor
            if b.status != "push":
                num[2, i] += b.status == "won"
                den[2, i] += 1
        pts, drw = bootstrap_cluster_sums(num, den, n_boot=BOOTSTRAP_RESAMPLES, seed=seed)
        points[arm], draws[arm] = pts, drw
        row: dict[str, Any] = {"attributed_bets": len(arm_bets), "settled_bets": len(settled)}
        for k, metric in enumerate(METRICS):
            value = float(pts[k]) if np.isfinite(pts[k]) else None
            row[metric] = value
            if metric != "hit_rate":
                ci = percentile_interval(drw[:, k])
                row[f"{metric}_ci"] = None if ci.low is None else [ci.low, ci.high]
        arms[arm] = row
    diffs = []
    for k, metric in enumerate(METRICS):
        diff = points["b"][k] - points["a"][k]
        ci = percentile_interval(draws["b"][:, k] - draws["a"][:, k])
        diffs.append(
            {
                "metric": metric,
                "a": arms["a"][metric],
                "b": arms["b"][metric],
                "difference": float(diff) if np.isfinite(diff) else None,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "significant": ci.low is not None
                and ci.high is not None
                and (ci.low > 0 or ci.high < 0),
            }
        )
    return {"arms": arms, "b_minus_a": diffs}

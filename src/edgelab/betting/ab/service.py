"""The A/B test of value-score algorithms A and B: arms, exposures, attribution, online report.

Arms. A client's arm is a pure function of (experiment, subject): the first 8 bytes of
``sha256(experiment + ":" + subject)`` read as a uniform number u in [0, 1); u < split_b is arm
B, else A. Deterministic and sticky with no storage; renaming the experiment
(`EDGELAB_AB_EXPERIMENT`) reshuffles everyone; `EDGELAB_AB_FORCE_ARM` puts everyone in one arm.
The subject is `u:<user id>` for a signed-in caller, else `c:<client id>` from the
`X-Client-ID` header (8-64 of [A-Za-z0-9_-], else 422) or the `edgelab_cid` cookie; a caller
with neither gets a new id in that cookie, so a browser keeps its arm.

Exposures. `/markets` logs the rows a caller saw (the page, at most its first 50) with their
1-based rank in the whole ranking. The request only appends one tuple to `ExposureBuffer`
(O(1), no await); a background task writes the rows every `EDGELAB_AB_EXPOSURE_FLUSH_SECONDS`
in one multi-row INSERT on its own session, and once more at shutdown. While the database
fails, rows wait in memory up to `EDGELAB_AB_EXPOSURE_BUFFER_MAX_ROWS`, then the oldest are
dropped (a warning and `edgelab_ab_exposures_dropped_total`). Not logged: a caller's first
request when it brought no identity (a fresh id per request, as a cookie-less client makes,
would count every request as a new user). Logged with `forced=true`: requests with an explicit
`algorithm=` (the client chose what it saw); they count in no arm and attribute no bet.

Attribution, at query time (exposures flushed late still count): a tracked bet goes to its
user's latest non-forced exposure of the same market in this experiment at or before
`placed_at`, when that is at most `EDGELAB_AB_ATTRIBUTION_DAYS` old.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fastapi.exceptions import RequestValidationError
from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting.ab.models import AbExposure
from edgelab.betting.bets.models import UserBet
from edgelab.core import clock

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

Arm = Literal["a", "b"]
log = logging.getLogger("edgelab.ab")

CLIENT_ID_HEADER = "X-Client-ID"
CLIENT_ID_COOKIE = "edgelab_cid"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
COOKIE_MAX_AGE_SECONDS = 365 * 86_400
MAX_LOGGED_ROWS = 50  # per request: the first rows of the page
SETTLED = ("won", "lost", "push")
BOOTSTRAP_RESAMPLES = 2000
DROP_WARNING_EVERY_SECONDS = 60.0
SHUTDOWN_FLUSH_TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 60.0
FLUSH_CHUNK_ROWS = 2000  # rows per executemany: bounds how long one chunk holds the loop
_SEP = b"\t"  # between the slate date and the ids in a packed body's first line

SessionsProvider = Callable[[], Awaitable[async_sessionmaker[AsyncSession]]]


# ---- arms ------------------------------------------------------------------------------------


def arm_of(experiment: str, subject: str, split_b: float) -> Arm:
    """The subject's arm: sha256's first 8 bytes as u in [0, 1); u < split_b is B."""
    digest = hashlib.sha256(f"{experiment}:{subject}".encode()).digest()
    return "b" if int.from_bytes(digest[:8], "big") / 2.0**64 < split_b else "a"


def subject_digest(subject: str) -> str:
    """What the log stores: the subject key hashed (a client id works like a bearer value)."""
    return hashlib.sha256(subject.encode()).hexdigest()


OPENAPI_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": CLIENT_ID_HEADER,
        "in": "header",
        "required": False,
        "description": "Anonymous client id for the A/B arm (signed-in callers: the user id).",
        "schema": {"type": "string", "pattern": CLIENT_ID_PATTERN},
    },
    {
        "name": CLIENT_ID_COOKIE,
        "in": "cookie",
        "required": False,
        "description": "The client id `/markets` sets when neither it nor the header came.",
        "schema": {"type": "string"},
    },
]


def header_client_id(value: str | None) -> str | None:
    """The `X-Client-ID` header, or the same 422 `validation_error` a declared parameter gives."""
    if value is None or _CLIENT_ID.match(value):
        return value
    raise RequestValidationError(
        [
            {
                "type": "string_pattern_mismatch",
                "loc": ("header", CLIENT_ID_HEADER),
                "msg": f"String should match pattern '{CLIENT_ID_PATTERN}'",
                "input": value,
                "ctx": {"pattern": CLIENT_ID_PATTERN},
            }
        ]
    )


@dataclass(frozen=True, slots=True)
class Assignment:
    arm: Arm
    subject: str  # u:<user id> or c:<client id>
    user_id: str | None
    new_client_id: str | None  # made for this request: set it as the cookie
    logged: bool  # False on a first request without identity


def assign(
    *,
    experiment: str,
    split_b: float,
    force_arm: Arm | None,
    user_id: str | None,
    header_client_id: str | None,
    cookie_client_id: str | None,
) -> Assignment:
    """The caller's arm. The header is validated by the route (422); a malformed cookie is
    treated as absent and replaced, since a browser cannot be asked to fix it."""
    new_id = None
    if user_id is not None:
        subject = f"u:{user_id}"
    elif header_client_id is not None:
        subject = f"c:{header_client_id}"
    elif cookie_client_id is not None and _CLIENT_ID.match(cookie_client_id):
        subject = f"c:{cookie_client_id}"
    else:
        new_id = secrets.token_urlsafe(16)  # 22 characters of [A-Za-z0-9_-]
        subject = f"c:{new_id}"
    arm = force_arm or arm_of(experiment, subject, split_b)
    return Assignment(arm, subject, user_id, new_id, logged=new_id is None)


def client_id_cookie(client_id: str, *, secure: bool) -> tuple[bytes, bytes]:
    """The `Set-Cookie` header for a client id (our own ids: [A-Za-z0-9_-], nothing to quote)."""
    value = (
        f"{CLIENT_ID_COOKIE}={client_id}; Max-Age={COOKIE_MAX_AGE_SECONDS}; Path=/; HttpOnly; "
        f"SameSite=Lax{'; Secure' if secure else ''}"
    )
    return b"set-cookie", value.encode("latin-1")


# ---- packed /markets bodies --------------------------------------------------------------------


def pack_markets_body(slate_date: dt.date | None, market_ids: Sequence[str], body: bytes) -> bytes:
    """What the `/markets` cache holds: a first line with the slate date and the page's first
    market ids (so every request, cache hits included, can log its exposures without parsing
    JSON), then the JSON body without its closing brace (`finish_markets_body` adds the
    caller's arm)."""
    ids = _SEP.join(i.encode() for i in market_ids[:MAX_LOGGED_ROWS])
    date = slate_date.isoformat().encode() if slate_date else b"-"
    assert body.endswith(b"}")
    return b"".join((date, _SEP, ids, b"\n", body[:-1]))


_SUFFIXES: dict[tuple[str, str], bytes] = {}


def finish_markets_body(packed: bytes, arm: Arm, experiment: str) -> tuple[bytes, bytes]:
    """(the response body with `arm` and `experiment` added, the exposure line): one copy."""
    suffix = _SUFFIXES.get((arm, experiment))
    if suffix is None:
        extra = f',"arm":"{arm}","experiment":{json.dumps(experiment)}}}'
        suffix = _SUFFIXES[(arm, experiment)] = extra.encode()
    nl = packed.index(b"\n")
    return b"".join((memoryview(packed)[nl + 1 :], suffix)), packed[:nl]


# ---- the exposure buffer -----------------------------------------------------------------------

# (exposure line, offset, experiment, subject digest, user id, arm, algorithm, forced, shown at,
#  request id)
Shown = tuple[bytes, int, str, str, str | None, str, str, bool, dt.datetime, str | None]


def _line_rows(line: bytes) -> int:
    return line.count(_SEP)


EXPOSURE_COLUMNS = (
    "experiment",
    "subject",
    "user_id",
    "arm",
    "algorithm",
    "forced",
    "outcome_id",
    "rank",
    "slate_date",
    "shown_at",
    "request_id",
)
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's SQLite DATETIME stores (naive UTC)


def exposure_rows(shown: Shown, *, sqlite: bool = False) -> list[tuple[Any, ...]]:
    """The rows of one request, as driver parameters in `EXPOSURE_COLUMNS` order. SQLite gets
    text dates and datetimes exactly as `UTCDateTime` stores them (compared with `placed_at`)."""
    line, offset, experiment, subject, user_id, arm, algorithm, forced, shown_at, rid = shown
    date_raw, *ids = line.split(_SEP)
    slate_date: Any = None if date_raw == b"-" else dt.date.fromisoformat(date_raw.decode())
    when: Any = shown_at.astimezone(dt.UTC)
    flag: Any = forced
    if sqlite:
        slate_date = slate_date.isoformat() if slate_date is not None else None
        when, flag = when.strftime(_SQLITE_DATETIME), int(forced)
    head = (experiment, subject, user_id, arm, algorithm, flag)
    return [
        (*head, market_id.decode(), offset + i + 1, slate_date, when, rid)
        for i, market_id in enumerate(ids)
        if market_id
    ]


def _insert_sql(paramstyle: str) -> str | None:
    """One INSERT for the driver's executemany, or None for a style not handled here."""
    n = len(EXPOSURE_COLUMNS)
    marks = {
        "qmark": ["?"] * n,
        "numeric_dollar": [f"${i}" for i in range(1, n + 1)],
        "format": ["%s"] * n,
    }.get(paramstyle)
    if marks is None:
        return None
    return (
        f"INSERT INTO {AbExposure.__tablename__} ({', '.join(EXPOSURE_COLUMNS)}) "
        f"VALUES ({', '.join(marks)})"
    )


class ExposureBuffer:
    """Exposures waiting to be written; `append` never awaits and never blocks a request."""

    def __init__(self, max_rows: int, registry: CollectorRegistry | None = None) -> None:
        self.max_rows = max_rows
        self._pending: deque[tuple[Shown, int]] = deque()
        self._rows = 0
        self.dropped = 0
        self.failures = 0  # consecutive failed flushes
        self._next_warning = 0.0
        self._task: asyncio.Task[None] | None = None
        self._sessions: SessionsProvider | None = None
        self._dropped_metric: Any = None
        if registry is not None:
            from prometheus_client import Counter

            self._dropped_metric = Counter(
                "edgelab_ab_exposures_dropped",
                "A/B exposure rows dropped because the buffer was full (database down).",
                registry=registry,
            )

    def __len__(self) -> int:
        """Rows waiting."""
        return self._rows

    def append(self, shown: Shown) -> None:
        rows = _line_rows(shown[0])
        if rows == 0:
            return
        self._pending.append((shown, rows))
        self._rows += rows
        if self._rows > self.max_rows:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        dropped = 0
        while self._rows > self.max_rows and self._pending:
            _, rows = self._pending.popleft()
            self._rows -= rows
            dropped += rows
        self.dropped += dropped
        if self._dropped_metric is not None:
            self._dropped_metric.inc(dropped)
        now = clock.monotonic()
        if now >= self._next_warning:
            self._next_warning = now + DROP_WARNING_EVERY_SECONDS
            log.warning(
                "A/B exposure buffer full (%d rows): dropped the oldest (%d so far)",
                self.max_rows,
                self.dropped,
            )

    def forget_user(self, user_id: str) -> None:
        """Account deletion: exposures of this user not yet written are never written."""
        kept = deque(p for p in self._pending if p[0][4] != user_id)
        self._pending, self._rows = kept, sum(rows for _, rows in kept)

    async def flush(self, sessions: async_sessionmaker[AsyncSession] | None = None) -> int:
        """Write everything waiting in one multi-row INSERT; returns the rows written. On a
        failure the rows go back to the front of the queue (the oldest dropped past the cap)
        and 0 is returned: the caller is a background loop, it must not die."""
        if not self._pending:
            return 0
        if sessions is None:
            if self._sessions is None:
                raise RuntimeError("ExposureBuffer.flush: not started and no sessionmaker given")
            sessions = await self._sessions()
        batch, self._pending, self._rows = self._pending, deque(), 0
        written = 0
        try:
            async with sessions() as session:
                written = await self._insert(session, batch)
                await session.commit()
        except Exception as exc:
            self.failures += 1
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            kept = sum(n for _, n in batch)
            log.warning("A/B exposures not written (%d rows kept for retry): %s", kept, reason)
            self._pending.extendleft(reversed(batch))
            self._rows += kept
            if self._rows > self.max_rows:
                self._drop_oldest()
            return 0
        self.failures = 0
        return written

    @staticmethod
    async def _insert(session: AsyncSession, batch: deque[tuple[Shown, int]]) -> int:
        """One INSERT run by the driver's executemany over prepared tuples, in one transaction.

        Not `session.execute(insert(...), dicts)`: SQLAlchemy's per-row parameter processing
        runs on the event loop and cost ~17 us a row (measured, 100k rows: 1.7 s of blocked
        loop); building tuples here is ~0.5 us a row and the driver's loop runs off the event
        loop (aiosqlite's thread, asyncpg's pipelined executemany).
        """
        conn = await session.connection()
        dialect = conn.dialect
        sql = _insert_sql(dialect.paramstyle)
        sqlite = dialect.name == "sqlite"
        written = 0
        chunk: list[tuple[Any, ...]] = []
        for i, (shown, _) in enumerate(batch, start=1):
            chunk += exposure_rows(shown, sqlite=sqlite)
            if len(chunk) >= FLUSH_CHUNK_ROWS or i == len(batch):
                if not chunk:
                    continue
                if sql is None:  # another driver: the portable (slower) way
                    dicts = [dict(zip(EXPOSURE_COLUMNS, r, strict=True)) for r in chunk]
                    await session.execute(insert(AbExposure), dicts)
                else:  # chunks: the event loop runs requests between them
                    await conn.exec_driver_sql(sql, chunk)
                written, chunk = written + len(chunk), []
        return written

    def start(self, sessions: SessionsProvider, interval: float | None) -> None:
        """Flush every `interval` seconds in the background (None: only on `flush`/`stop`)."""
        self._sessions = sessions
        if interval is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(interval))

    async def _run(self, interval: float) -> None:
        while True:  # back off while the database fails: each retry costs a batch's work
            await asyncio.sleep(min(interval * 2 ** min(self.failures, 6), MAX_BACKOFF_SECONDS))
            try:
                await self.flush()
            except Exception:  # never let the loop die; flush already keeps the rows
                log.exception("A/B exposure flush failed")

    async def stop(self) -> None:
        """Stop the loop and write what is left (bounded: shutdown must not hang)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sessions is not None and self._pending:
            try:
                await asyncio.wait_for(self.flush(), SHUTDOWN_FLUSH_TIMEOUT_SECONDS)
            except Exception:
                log.exception("A/B exposures lost at shutdown (%d rows)", self._rows)


async def delete_user_exposures(session: AsyncSession, user_id: str) -> int:
    """Account deletion: the user's exposure log goes with them; returns how many rows."""
    result = await session.execute(delete(AbExposure).where(AbExposure.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


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

"""Bet-history imports: upload -> preview (re-mappable) -> confirm, which writes the bets.

The file is kept in `bet_imports` (text, at most EDGELAB_BET_IMPORT_MAX_BYTES) for
EDGELAB_BET_IMPORT_TTL_SECONDS; every preview and the confirm re-read it with the stored
mapping, so what confirm writes is exactly what the last preview showed, less rows another
upload imported meanwhile. Nothing reaches `user_bets` before confirm. Confirm inserts with
ON CONFLICT DO NOTHING on the per-user `import_key`: a row imported before (this file again,
or an overlapping export) is a duplicate, counted and not written, also when two confirms race.
Imported bets are historical and settled by the file (`source = "import"`, no market of ours,
no closing line: nothing honest to measure CLV against). They are not copied into Sentinel's
bet log: that log's tracker bets are our NBA markets, and an import's sport is free text.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import active_user
from edgelab.betting.bets.models import BetImport, UserBet
from edgelab.betting.imports import errors
from edgelab.betting.imports.csvfile import (
    REQUIRED_ROLES,
    Table,
    TooManyRowsError,
    UnreadableCsvError,
    read_table,
    suggest_mapping,
)
from edgelab.betting.imports.fields import date_order_of
from edgelab.betting.imports.rows import Options, RowVerdict, evaluate
from edgelab.core.auth import Principal
from edgelab.core.clock import utcnow
from edgelab.core.errors import AppError, ConflictError, InvalidInputError, NotFoundError
from edgelab.core.settings import Settings

FIRST_ROWS = 20
MAX_SKIPPED_LISTED = 1000
SAMPLES = 3
KEY_CHUNK = 500


class ImportGoneError(AppError):
    status_code = 410
    code = errors.BET_IMPORT_EXPIRED


class ImportTooLargeError(AppError):
    status_code = 413
    code = errors.BET_IMPORT_TOO_LARGE


class ImportUnreadableError(AppError):
    status_code = 415
    code = errors.BET_IMPORT_UNREADABLE


@dataclass
class _Evaluated:
    row: BetImport
    table: Table
    mapping: dict[str, str | None]
    options: Options
    verdicts: list[RowVerdict]
    kinds: list[str]  # take | skip | duplicate, per verdict


def _table(row: BetImport, settings: Settings) -> Table:
    return read_table(row.content.encode("utf-8"), max_rows=max(settings.bet_import_max_rows, 1))


def _options(row: BetImport) -> Options:
    o = row.options
    return Options(
        date_order=o.get("date_order"), time_zone=o["time_zone"], currency=o.get("currency", "USD")
    )


async def _stored_keys(session: AsyncSession, user_id: str, keys: list[str]) -> dict[str, str]:
    """import_key -> import_id of the user's bets already stored with these keys."""
    found: dict[str, str] = {}
    for i in range(0, len(keys), KEY_CHUNK):
        rows = await session.execute(
            select(UserBet.import_key, UserBet.import_id).where(
                UserBet.user_id == user_id, UserBet.import_key.in_(keys[i : i + KEY_CHUNK])
            )
        )
        found.update({k: imp or "" for k, imp in rows.all() if k is not None})
    return found


async def _evaluate(session: AsyncSession, settings: Settings, row: BetImport) -> _Evaluated:
    table = _table(row, settings)
    options = _options(row)
    verdicts = evaluate(table, row.mapping, options, utcnow())
    keys = [v.bet.import_key for v in verdicts if v.bet is not None]
    stored = await _stored_keys(session, row.user_id, keys)
    kinds = []
    for v in verdicts:
        if v.bet is None:
            kinds.append("skip")
        elif v.bet.import_key in stored and stored[v.bet.import_key] != row.id:
            kinds.append("duplicate")
        else:
            kinds.append("take")
    return _Evaluated(row, table, row.mapping, options, verdicts, kinds)


def _row_out(v: RowVerdict, kind: str) -> dict[str, Any]:
    b = v.bet
    return {
        "line": v.line,
        "verdict": kind,
        "reasons": v.reasons,
        "cells": v.cells,
        "bet": None
        if b is None
        else {
            "placed_at": b.placed_at,
            "sport": b.sport,
            "event": b.event,
            "market_type": b.market_type,
            "market": b.market_text,
            "selection": b.selection,
            "line": b.line,
            "odds_decimal": b.odds_decimal,
            "stake_minor": b.stake_minor,
            "currency": b.currency,
            "result": b.result,
            "status": b.status,
            "payout_minor": b.payout_minor,
            "bookmaker": b.book,
        },
    }


def _view(ev: _Evaluated) -> dict[str, Any]:
    row, table = ev.row, ev.table
    suggested = suggest_mapping(table.columns)
    columns = []
    for i, name in enumerate(table.columns):
        samples = [c[i].strip() for _, c in table.rows if i < len(c) and c[i].strip()][:SAMPLES]
        columns.append(
            {
                "name": name,
                "role": ev.mapping.get(name),
                "suggested": suggested.get(name),
                "samples": samples,
            }
        )
    mapped = {r for r in ev.mapping.values() if r}
    date_col = next((c for c, r in ev.mapping.items() if r == "date"), None)
    order = ev.options.date_order
    if order is None:
        i = table.columns.index(date_col) if date_col else -1
        order = date_order_of([c[i] for _, c in table.rows if 0 <= i < len(c)])
    skipped = [_row_out(v, k) for v, k in zip(ev.verdicts, ev.kinds, strict=True) if k == "skip"]
    return {
        "id": row.id,
        "filename": row.filename,
        "status": row.status,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "encoding": row.encoding,
        "delimiter": row.delimiter,
        "columns": columns,
        "missing_roles": [r for r in REQUIRED_ROLES if r not in mapped],
        "date_order": order,
        "time_zone": ev.options.time_zone,
        "currency": ev.options.currency,
        "counts": {
            "rows": len(ev.verdicts),
            "take": ev.kinds.count("take"),
            "skip": ev.kinds.count("skip"),
            "duplicate": ev.kinds.count("duplicate"),
        },
        "first_rows": [
            _row_out(v, k) for v, k in list(zip(ev.verdicts, ev.kinds, strict=True))[:FIRST_ROWS]
        ],
        "skipped": skipped[:MAX_SKIPPED_LISTED],
        "skipped_truncated": len(skipped) > MAX_SKIPPED_LISTED,
        "result": row.result,
    }


async def create_import(
    session: AsyncSession, settings: Settings, principal: Principal, filename: str, data: bytes
) -> dict[str, Any]:
    """Read an uploaded CSV, suggest its mapping and store it for preview (no bets written)."""
    if len(data) > settings.bet_import_max_bytes:
        raise ImportTooLargeError(
            f"The file is over {settings.bet_import_max_bytes} bytes.",
            details={"max_bytes": settings.bet_import_max_bytes},
        )
    try:
        table = read_table(data, max_rows=settings.bet_import_max_rows)
    except TooManyRowsError as exc:
        raise ImportTooLargeError(
            f"The file has more than {exc.max_rows} rows.", details={"max_rows": exc.max_rows}
        ) from exc
    except UnreadableCsvError as exc:
        raise ImportUnreadableError(
            f"This is not a readable CSV: {exc}.", details={"reason": str(exc)}
        ) from exc
    now = utcnow()
    await session.execute(delete(BetImport).where(BetImport.expires_at < now))
    user = await active_user(session, principal.id)
    text = data.decode(table.encoding if table.encoding != "utf-8" else "utf-8-sig")
    row = BetImport(
        id=f"imp_{secrets.token_hex(12)}",
        user_id=principal.id,
        filename=(filename or "bets.csv")[:200],
        content=text,
        encoding=table.encoding,
        delimiter=table.delimiter,
        mapping=suggest_mapping(table.columns),
        options={"date_order": None, "time_zone": user.time_zone, "currency": "USD"},
        status="preview",
        data_rows=len(table.rows),
        result=None,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.bet_import_ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return _view(await _evaluate(session, settings, row))


async def _load(
    session: AsyncSession, principal: Principal, import_id: str, *, lock: bool = False
) -> BetImport:
    stmt = select(BetImport).where(BetImport.id == import_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None or row.user_id != principal.id:  # another user's import: not found
        raise NotFoundError(
            f"No bet-history import with id '{import_id}'.", code=errors.BET_IMPORT_NOT_FOUND
        )
    if row.expires_at <= utcnow():
        raise ImportGoneError(
            "This import's preview has expired: upload the file again.",
            details={"expired_at": row.expires_at.isoformat()},
        )
    return row


async def get_import(
    session: AsyncSession, settings: Settings, principal: Principal, import_id: str
) -> dict[str, Any]:
    return _view(await _evaluate(session, settings, await _load(session, principal, import_id)))


async def remap(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    import_id: str,
    columns: dict[str, str | None],
    options: dict[str, Any],
) -> dict[str, Any]:
    """Change column roles (`columns`) and options (non-null `options` values); answers the
    re-validated preview. A column the file lacks, or a role given to two columns, is 400."""
    row = await _load(session, principal, import_id, lock=True)
    if row.status != "preview":
        raise ConflictError(
            "This import is confirmed: its mapping can no longer change.",
            code=errors.BET_IMPORT_CONFIRMED,
        )
    table = _table(row, settings)
    unknown = sorted(set(columns) - set(table.columns))
    if unknown:
        raise InvalidInputError(
            f"The file has no column {unknown[0]!r}.",
            code=errors.BET_IMPORT_BAD_MAPPING,
            details={"unknown_columns": unknown, "columns": table.columns},
        )
    mapping = {**row.mapping, **columns}
    by_role: dict[str, list[str]] = {}
    for name in table.columns:
        role = mapping.get(name)
        if role:
            by_role.setdefault(role, []).append(name)
    twice = {role: names for role, names in by_role.items() if len(names) > 1}
    if twice:
        role, names = sorted(twice.items())[0]
        raise InvalidInputError(
            f"Columns {', '.join(map(repr, names))} are all mapped to {role}: pick one.",
            code=errors.BET_IMPORT_BAD_MAPPING,
            details={"roles_twice": twice},
        )
    row.mapping = {name: mapping.get(name) for name in table.columns}
    row.options = {**row.options, **{k: v for k, v in options.items() if v is not None}}
    if "date_order" in options and options["date_order"] is None:
        row.options["date_order"] = None  # back to detection
    await session.flush()
    return _view(await _evaluate(session, settings, row))


async def confirm(
    session: AsyncSession, settings: Settings, principal: Principal, import_id: str
) -> dict[str, Any]:
    """Write the rows the preview takes; a confirmed import answers its stored result again."""
    row = await _load(session, principal, import_id, lock=True)
    if row.status == "confirmed":
        return _view(await _evaluate(session, settings, row))
    ev = await _evaluate(session, settings, row)
    view = _view(ev)
    if view["missing_roles"]:
        raise InvalidInputError(
            "Map a column to each of: " + ", ".join(view["missing_roles"]) + ".",
            code=errors.BET_IMPORT_INCOMPLETE_MAPPING,
            details={"missing": view["missing_roles"]},
        )
    now = utcnow()
    values = [
        {
            "id": f"bet_{secrets.token_hex(12)}",
            "user_id": principal.id,
            "external_id": None,
            "outcome_id": None,
            "game_id": None,
            "market_type": b.market_type,
            "side": b.side,
            "line": b.line,
            "odds_decimal": b.odds_decimal,
            "stake_minor": b.stake_minor,
            "currency": b.currency,
            "bookmaker": b.book,
            "placed_at": b.placed_at,
            "status": b.status,
            "payout_minor": b.payout_minor,
            "settled_at": now,
            "created_at": now,
            "source": "import",
            "import_id": row.id,
            "import_key": b.import_key,
            "sport": b.sport,
            "event": b.event,
            "market_text": b.market_text,
            "selection": b.selection,
            "result": b.result,
        }
        for v, kind in zip(ev.verdicts, ev.kinds, strict=True)
        if kind == "take" and (b := v.bet) is not None
    ]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    imported = 0
    for i in range(0, len(values), KEY_CHUNK):
        stmt = (
            insert(UserBet)
            .values(values[i : i + KEY_CHUNK])
            .on_conflict_do_nothing(index_elements=["user_id", "import_key"])
            .returning(UserBet.id)
        )
        imported += len((await session.execute(stmt)).all())
    counts = view["counts"]
    row.status = "confirmed"
    row.confirmed_at = now
    row.result = {
        "imported": imported,
        "skipped": counts["skip"],
        "duplicates": counts["duplicate"] + (len(values) - imported),  # lost a race: stored
        "confirmed_at": now.isoformat(),
    }
    await session.flush()
    return _view(await _evaluate(session, settings, row))

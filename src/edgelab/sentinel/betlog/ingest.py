"""The ways bet logs come in, all through one validation and one idempotent write.

- the operator bulk API (`POST /sentinel/bets`, `POST /sentinel/transactions`,
  `POST /sentinel/limit-changes`),
- CSV files in the same layout (`edgelab sentinel import-bets`),
- the shipped real payments file (`edgelab sentinel import-payments`),
- the synthetic generator (`edgelab sentinel simulate`).

A batch is all-or-nothing: every row is validated first and one bad row rejects the batch with
every bad row listed (422 `validation_error`, `details` = row index, field and problem). Rows
are idempotent on `(source, external_id)`: INSERT ... ON CONFLICT DO NOTHING, and a row that was
already stored is counted as a duplicate and changes nothing (not even its player's activity).
Within one request the same external id twice is a duplicate when the rows are identical and an
error when they differ.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import utcnow
from edgelab.core.error_codes import VALIDATION_ERROR
from edgelab.core.errors import AppError
from edgelab.sentinel.models import SentinelBet, SentinelLimitChange, SentinelTransaction
from edgelab.sentinel.schemas import (
    MALFORMED_CSV,
    MAX_ROWS,
    BetRow,
    IngestResult,
    LimitChangeRow,
    TransactionRow,
)
from edgelab.sentinel.service import bump_activity, dialect_insert, ensure_players

Row = TypeVar("Row", BetRow, TransactionRow, LimitChangeRow)
WHAT = {
    SentinelBet: "bets",
    SentinelTransaction: "transactions",
    SentinelLimitChange: "limit_changes",
}
MAX_ERRORS_LISTED = 200
PAYMENT_KINDS = {"LOYALTYCARDDEBIT": "deposit", "LOYALTYCARDCREDIT": "withdrawal"}
PAYMENT_STATUSES = {"APPROVED": "approved", "DECLINED": "declined"}
Progress = Callable[[int, int], None]


class RowsInvalidError(AppError):
    """One or more rows of a batch are invalid: nothing was written."""

    status_code = 422
    code = VALIDATION_ERROR


def _row_errors(index: int, exc: ValidationError, prefix: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "row": index,
            "loc": [*prefix, str(index), *(str(p) for p in err.get("loc", ()))],
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _raise_rows(errors: list[dict[str, Any]], what: str) -> None:
    rows = sorted({e["row"] for e in errors})
    shown = ", ".join(str(r) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
    raise RowsInvalidError(
        f"Invalid {what} rows: {shown} ({len(rows)} in all); nothing was written.",
        details=errors[:MAX_ERRORS_LISTED],
    )


def validate_rows(
    model: type[Row], raw: Sequence[dict[str, Any]], *, what: str, first_index: int = 0
) -> list[Row]:
    """Every row validated, or RowsInvalidError listing each bad row (index from first_index).

    Lax, unlike the JSON API: CSV cells are text (`"1500"`, `"true"`) and the simulator's and
    payments file's values Python objects; the API's JSON must carry its numbers and flags as
    JSON numbers and booleans (the row models' strict fields)."""
    out: list[Row] = []
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(raw, start=first_index):
        try:
            out.append(model.model_validate(item, strict=False))
        except ValidationError as exc:
            errors.extend(_row_errors(i, exc, [what]))
    if errors:
        _raise_rows(errors, what[:-1] if what.endswith("s") else what)
    return out


def _dedupe(rows: Sequence[Row], what: str) -> tuple[list[Row], int]:
    """Drop repeats of an external id inside the batch (identical: duplicate; different: error)."""
    seen: dict[str, tuple[int, BaseModel]] = {}
    unique: list[Row] = []
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        first = seen.get(row.external_id)
        if first is None:
            seen[row.external_id] = (i, row)
            unique.append(row)
        elif first[1] != row:
            errors.append(
                {
                    "row": i,
                    "loc": [what, str(i), "external_id"],
                    "message": f"external_id repeats row {first[0]} with different values",
                    "type": "duplicate_external_id",
                }
            )
    if errors:
        _raise_rows(errors, what[:-1])
    return unique, len(rows) - len(unique)


async def _write(
    session: AsyncSession,
    table: Any,
    rows: Sequence[Row],
    values: Callable[[Row, int], dict[str, Any]],
    source: str,
) -> IngestResult:
    unique, _ = _dedupe(rows, WHAT[table])
    pks, players_created = await ensure_players(session, (r.player_id for r in unique), source)
    created_ids: set[str] = set()
    insert = dialect_insert(session)
    stamp = utcnow()
    core = table.__table__
    stmt = (
        insert(core)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(core.c.external_id)
    )
    params = [
        {**values(r, pks[r.player_id]), "source": source, "created_at": stamp} for r in unique
    ]
    if params:  # one executemany: SQLAlchemy batches the VALUES and gathers RETURNING rows
        created_ids.update(x for (x,) in (await session.execute(stmt, params)))
    touched = {pks[r.player_id] for r in unique if r.external_id in created_ids}
    await bump_activity(session, touched)
    return IngestResult(
        received=len(rows),
        created=len(created_ids),
        duplicates=len(rows) - len(created_ids),
        players_created=players_created,
    )


def market_code(sport: str, market_type: str) -> int:
    """A stable integer per (sport, market type): 31 bits of CRC-32 (collisions among a few
    thousand kinds of market are negligible, and would only merge two kinds for breadth)."""
    return zlib.crc32(f"{sport}|{market_type}".encode()) & 0x7FFFFFFF


def _bet_values(r: BetRow, pk: int) -> dict[str, Any]:
    return {
        "external_id": r.external_id,
        "player_pk": pk,
        "placed_at": r.placed_at,
        "settled_at": r.settled_at,
        "sport": r.sport,
        "market_type": r.market_type,
        "market_code": market_code(r.sport, r.market_type),
        "is_live": r.is_live,
        "stake_minor": r.stake_minor,
        "payout_minor": r.payout_minor,
        "currency": r.currency,
        "odds_decimal": r.odds_decimal,
        "status": r.status,
    }


def _tx_values(r: TransactionRow, pk: int) -> dict[str, Any]:
    return {
        "external_id": r.external_id,
        "player_pk": pk,
        "occurred_at": r.occurred_at,
        "kind": r.kind,
        "status": r.status,
        "amount_minor": r.amount_minor,
        "currency": r.currency,
    }


async def ingest_bets(
    session: AsyncSession, rows: Sequence[BetRow], *, source: str = "operator"
) -> IngestResult:
    """Store validated bets (at most 10,000 per call); duplicates change nothing."""
    if len(rows) > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} rows per batch")
    return await _write(session, SentinelBet, rows, _bet_values, source)


async def ingest_transactions(
    session: AsyncSession, rows: Sequence[TransactionRow], *, source: str = "operator"
) -> IngestResult:
    if len(rows) > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} rows per batch")
    return await _write(session, SentinelTransaction, rows, _tx_values, source)


def _limit_values(r: LimitChangeRow, pk: int) -> dict[str, Any]:
    return {
        "external_id": r.external_id,
        "player_pk": pk,
        "occurred_at": r.occurred_at,
        "limit_type": r.limit_type,
        "change": r.change,
        "amount_minor": r.amount_minor,
        "currency": r.currency,
    }


async def ingest_limit_changes(
    session: AsyncSession, rows: Sequence[LimitChangeRow], *, source: str = "operator"
) -> IngestResult:
    """Store validated limit changes; a new one marks its player for rescoring (limit
    increases are a behavioural input), a duplicate changes nothing."""
    if len(rows) > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} rows per batch")
    return await _write(session, SentinelLimitChange, rows, _limit_values, source)


def add_results(a: IngestResult, b: IngestResult) -> IngestResult:
    return IngestResult(
        received=a.received + b.received,
        created=a.created + b.created,
        duplicates=a.duplicates + b.duplicates,
        players_created=a.players_created + b.players_created,
    )


EMPTY = IngestResult(received=0, created=0, duplicates=0, players_created=0)


# --- CSV --------------------------------------------------------------------------------------


class MalformedCsvError(AppError):
    status_code = 422
    code = MALFORMED_CSV


def parse_bets_csv(text: str) -> list[dict[str, Any]]:
    """Rows of a bets CSV in the bulk layout (a header with the JSON field names); empty cells
    are missing values. Columns are checked here, values by `validate_rows`."""
    reader = csv.DictReader(io.StringIO(text))
    expected = set(BetRow.model_fields)
    header = set(reader.fieldnames or [])
    if not header:
        raise MalformedCsvError("The CSV file is empty.")
    missing = sorted(expected - header - {"settled_at", "payout_minor"})
    extra = sorted(header - expected)
    if missing or extra:
        raise MalformedCsvError(
            "The CSV header does not match the bulk layout"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unknown: {', '.join(extra)}" if extra else "")
            + ".",
            details={"expected": sorted(expected)},
        )
    rows = []
    for record in reader:
        if None in record:
            raise MalformedCsvError(f"Line {reader.line_num} has more cells than the header.")
        rows.append({k: v for k, v in record.items() if v not in ("", None)})
    return rows


async def import_bets_csv(
    session: AsyncSession, text: str, *, source: str = "operator", progress: Progress | None = None
) -> IngestResult:
    """A whole CSV, validated first (row numbers = data rows from 0), then written in batches."""
    rows = validate_rows(BetRow, parse_bets_csv(text), what="bets")
    result = EMPTY
    for start in range(0, len(rows), MAX_ROWS):
        result = add_results(
            result, await ingest_bets(session, rows[start : start + MAX_ROWS], source=source)
        )
        if progress:
            progress(min(start + MAX_ROWS, len(rows)), len(rows))
    return result


# --- the real payments file -------------------------------------------------------------------


def payment_player_id(account: str) -> str:
    """`customer1607` -> `PLR_1607_US` (the seed's id pattern; the state is not in the data)."""
    number = account.removeprefix("customer")
    if not number.isdigit() or len(number) > 6:
        raise ValueError(f"unexpected account identifier {account!r}")
    return f"PLR_{int(number):04d}_US"


def read_payments(path: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The file's level-2 deposits and withdrawals as bulk transaction rows, and what was
    skipped (see the data README: level-1 wallet fundings, NA statuses)."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    with opener(path, "rt", newline="") as f:  # type: ignore[operator]
        reader = csv.DictReader(f)
        for line, rec in enumerate(reader, start=1):
            kind = PAYMENT_KINDS.get(rec["TransactionType"])
            status = PAYMENT_STATUSES.get(rec["Status"])
            if kind is None or status is None:
                why = rec["TransactionType"] if kind is None else f"status {rec['Status']}"
                skipped[why] = skipped.get(why, 0) + 1
                continue
            rows.append(
                {
                    "external_id": f"dib-{line}",
                    "player_id": payment_player_id(rec["AccountIdentifier"]),
                    "occurred_at": rec["ReqTimeUTC"],
                    "kind": kind,
                    "status": status,
                    "amount_minor": round(float(rec["TransactionAmount"]) * 100),
                    "currency": "USD",
                }
            )
    return rows, skipped


async def import_payments(
    session: AsyncSession, path: Path, *, progress: Progress | None = None
) -> dict[str, Any]:
    raw, skipped = read_payments(path)
    result = EMPTY
    for start in range(0, len(raw), MAX_ROWS):
        part = validate_rows(
            TransactionRow, raw[start : start + MAX_ROWS], what="transactions", first_index=start
        )
        result = add_results(
            result, await ingest_transactions(session, part, source="payments_dib")
        )
        if progress:
            progress(min(start + MAX_ROWS, len(raw)), len(raw))
    return {**result.model_dump(), "skipped": skipped}

"""What an upload's bytes are: the content checks of `POST /uploads`, with no I/O.

An avatar must be PNG, JPEG or WebP by its magic bytes (no SVG: it can carry script). A bet
history must be UTF-8 text (a BOM is fine) without NUL bytes that parses as CSV with a header of
at least two named columns and at least one data row. Anything else is 415
`unsupported_upload_type`, whose details say what was detected, so a client can tell "this is a
PDF" from "this CSV has no data rows".
"""

from __future__ import annotations

import csv
import io
from typing import Literal, NoReturn

from edgelab.accounts import errors
from edgelab.core.errors import AppError

UploadKind = Literal["bet_history", "avatar"]
CSV_CONTENT_TYPE = "text/csv"
AVATAR_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
SNIFF_BYTES = 8192  # magic numbers sit in the first few hundred bytes


class UnsupportedUploadTypeError(AppError):
    status_code = 415
    code = errors.UNSUPPORTED_UPLOAD_TYPE


def _guess(data: bytes) -> str | None:
    import filetype  # lazy: only uploads need it

    guess = filetype.guess(data[:SNIFF_BYTES])
    return str(guess.mime) if guess is not None else None


def _detected_binary(data: bytes) -> str:
    return _guess(data) or "binary data"


def _unsupported(kind: UploadKind, detected: str, reason: str) -> UnsupportedUploadTypeError:
    wanted = "a UTF-8 CSV file" if kind == "bet_history" else "a PNG, JPEG or WebP image"
    return UnsupportedUploadTypeError(
        f"This is not {wanted}: {reason}.",
        details={"kind": kind, "detected": detected, "reason": reason},
    )


def sniff_csv(data: bytes) -> str:
    """`text/csv` for a usable bet history, else 415 saying what the bytes look like."""
    if b"\x00" in data:
        _refuse_binary(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _refuse_binary(data)
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        raise _unsupported("bet_history", "text", f"malformed CSV ({exc})") from exc
    if not rows:
        raise _unsupported("bet_history", "text", "no rows")
    named = [cell for cell in rows[0] if cell.strip()]
    if len(rows[0]) < 2 or len(named) < 2:
        raise _unsupported("bet_history", "text", "the header needs at least two named columns")
    if not any(any(cell.strip() for cell in row) for row in rows[1:]):
        raise _unsupported("bet_history", "text/csv", "a header but no data rows")
    return CSV_CONTENT_TYPE


def _refuse_binary(data: bytes) -> NoReturn:
    detected = _detected_binary(data)
    reason = "binary data" if b"\x00" in data else "not UTF-8 text"
    raise _unsupported("bet_history", detected, reason)


def sniff_avatar(data: bytes) -> str:
    """The image's content type by its magic bytes (PNG, JPEG, WebP), else 415."""
    mime = _guess(data)
    if mime is not None and mime in AVATAR_TYPES:
        return mime
    if mime is None:
        try:
            data.decode("utf-8-sig")
            mime = "text"
        except UnicodeDecodeError:
            mime = "binary data"
    raise _unsupported("avatar", mime, f"detected {mime}")


def sniff(kind: UploadKind, data: bytes) -> str:
    return sniff_avatar(data) if kind == "avatar" else sniff_csv(data)

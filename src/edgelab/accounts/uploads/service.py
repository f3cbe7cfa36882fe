"""Uploads: bet-history CSVs and avatars, checked by their bytes, served by signed links.

* **Content, not names.** The declared filename and content type are never read. A file is read
  in chunks and refused as soon as it passes its kind's limit (413 `upload_too_large`), then
  checked by its bytes (`uploads_content`: 415 `unsupported_upload_type`).
* **File first, then row.** The file is written before its row is flushed in the request's unit
  of work; if that rolls back the file is an orphan, and the cleanup job removes files without a
  row once they are older than `ORPHAN_GRACE` (so uploads in flight are safe). Deleting removes
  the row, then the file; a file whose removal failed is an orphan too.
* **Signed links.** `/files/{id}?expires=<unix>&signature=<hex>` needs no credentials: the
  signature is HMAC-SHA256 over the id and expiry, keyed by a key derived from the JWT secret for
  this purpose only, so a link works for one file until it expires (403 `invalid_signature`,
  410 `download_link_expired`) and rotating the JWT secret revokes every link.
* **Ownership.** Every read and write is scoped to the caller: another user's upload is 404,
  exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts import errors
from edgelab.accounts.tokens import new_id
from edgelab.accounts.uploads.content import AVATAR_TYPES, UploadKind, sniff
from edgelab.accounts.uploads.models import Upload
from edgelab.core.clock import utcnow
from edgelab.core.errors import AppError, NotFoundError, UpstreamError
from edgelab.core.jobs import enqueue
from edgelab.core.settings import Settings
from edgelab.core.storage.store import BlobNotFoundError, BlobReader, BlobStore, make_upload_store

if TYPE_CHECKING:
    from edgelab.core.jobs import Jobs

log = logging.getLogger("edgelab.uploads")

READ_CHUNK_BYTES = 64 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and the `kind` field
ORPHAN_GRACE = dt.timedelta(hours=1)
CLEANUP_EVERY_SECONDS = 3600.0
CLEANUP_BATCH = 500
_SIGNING_PURPOSE = b"edgelab/uploads/download-link/v1"
REMOVE_FILES_TASK = "accounts.remove_upload_files"  # files of rows deleted by a committed unit


class UploadTooLargeError(AppError):
    status_code = 413
    code = errors.UPLOAD_TOO_LARGE


class EmptyUploadError(AppError):
    status_code = 422
    code = errors.EMPTY_UPLOAD


class InvalidSignatureError(AppError):
    status_code = 403
    code = errors.INVALID_SIGNATURE


class DownloadLinkExpiredError(AppError):
    status_code = 410
    code = errors.DOWNLOAD_LINK_EXPIRED


class ByteSource(Protocol):
    """What an upload is read from (FastAPI's `UploadFile` is one)."""

    async def read(self, size: int = -1, /) -> bytes: ...


def limit_for(settings: Settings, kind: UploadKind) -> int:
    return settings.upload_max_avatar_bytes if kind == "avatar" else settings.upload_max_csv_bytes


def body_cap(settings: Settings) -> int:
    """The most a request body to `POST /uploads` may hold before the kind is even known."""
    largest = max(settings.upload_max_csv_bytes, settings.upload_max_avatar_bytes)
    return largest + MULTIPART_OVERHEAD_BYTES


def too_large(limit: int, kind: str | None = None) -> UploadTooLargeError:
    what = {"avatar": "An avatar", "bet_history": "A bet history"}.get(kind or "", "An upload")
    return UploadTooLargeError(
        f"{what} may be at most {limit} bytes.", details={"kind": kind, "limit_bytes": limit}
    )


# ---------------------------------------------------------------- reading


async def read_limited(source: ByteSource, limit: int, kind: UploadKind) -> bytes:
    """The whole upload, or 413 as soon as more than `limit` bytes have been read."""
    parts: list[bytes] = []
    total = 0
    while chunk := await source.read(READ_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise too_large(limit, kind)
        parts.append(chunk)
    return b"".join(parts)


# ---------------------------------------------------------------- use cases


def _visible(now: dt.datetime) -> ColumnElement[bool]:
    return or_(Upload.expires_at.is_(None), Upload.expires_at > now)


async def save_upload(
    session: AsyncSession,
    settings: Settings,
    store: BlobStore,
    user_id: str,
    kind: UploadKind,
    source: ByteSource,
    *,
    now: dt.datetime | None = None,
) -> Upload:
    """Check, store and record one upload; a new avatar replaces (and deletes) the old ones."""
    now = now or utcnow()
    data = await read_limited(source, limit_for(settings, kind), kind)
    if not data:
        raise EmptyUploadError("The file is empty.", details={"kind": kind})
    content_type = sniff(kind, data)
    upload_id = new_id("upl")
    extension = AVATAR_TYPES.get(content_type, ".csv")
    key = await store.put(f"{user_id}/{upload_id}{extension}", data, content_type)
    replaced: list[Upload] = []
    if kind == "avatar":
        stmt = select(Upload).where(Upload.user_id == user_id, Upload.kind == "avatar")
        replaced = list((await session.execute(stmt)).scalars())
    retention = dt.timedelta(days=settings.upload_retention_days)
    upload = Upload(
        id=upload_id,
        user_id=user_id,
        kind=kind,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
        created_at=now,
        expires_at=now + retention if kind == "bet_history" else None,
    )
    session.add(upload)
    for old in replaced:
        await session.delete(old)
    await session.flush()
    await _remove_files(store, [old.storage_key for old in replaced])
    return upload


async def list_uploads(
    session: AsyncSession,
    user_id: str,
    *,
    limit: int = 50,
    offset: int = 0,
    now: dt.datetime | None = None,
) -> list[Upload]:
    """The caller's live uploads, newest first."""
    stmt = (
        select(Upload)
        .where(Upload.user_id == user_id, _visible(now or utcnow()))
        .order_by(Upload.created_at.desc(), Upload.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(stmt)).scalars())


def _not_found(upload_id: str) -> NotFoundError:
    return NotFoundError(f"No upload with id {upload_id!r}.", code=errors.UPLOAD_NOT_FOUND)


async def get_upload(
    session: AsyncSession, user_id: str, upload_id: str, *, now: dt.datetime | None = None
) -> Upload:
    """The caller's upload; someone else's, an expired one and a missing one are all 404."""
    stmt = select(Upload).where(
        Upload.id == upload_id, Upload.user_id == user_id, _visible(now or utcnow())
    )
    upload = (await session.execute(stmt)).scalar_one_or_none()
    if upload is None:
        raise _not_found(upload_id)
    return upload


async def delete_upload(
    session: AsyncSession, store: BlobStore, user_id: str, upload_id: str
) -> None:
    upload = await get_upload(session, user_id, upload_id)
    await session.delete(upload)
    await session.flush()
    await _remove_files(store, [upload.storage_key])


async def delete_user_uploads(session: AsyncSession, user_id: str) -> int:
    """Remove every upload of a user (account deletion); returns how many rows went.

    Rows go in the caller's unit of work; the files only once it has committed
    (`accounts.remove_upload_files`, enqueued here): a deletion that rolls back keeps the
    user's files with their rows. A file whose removal fails (or whose job is lost) is left
    to the cleanup job as an orphan.
    """
    stmt = select(Upload).where(Upload.user_id == user_id)
    uploads = list((await session.execute(stmt)).scalars())
    for upload in uploads:
        await session.delete(upload)
    await session.flush()
    if uploads:
        enqueue(REMOVE_FILES_TASK, keys=[upload.storage_key for upload in uploads])
    return len(uploads)


async def _remove_files(store: BlobStore, keys: list[str]) -> None:
    """Best effort: the rows are already gone, so a file left behind is a swept orphan."""
    if not keys:
        return
    try:
        await store.delete(keys)
    except (UpstreamError, OSError) as exc:
        log.warning("could not remove %d upload files; the cleanup job will: %s", len(keys), exc)


# ---------------------------------------------------------------- signed download links


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: dt.datetime


def _signing_key(settings: Settings) -> bytes:
    secret = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(secret, _SIGNING_PURPOSE, hashlib.sha256).digest()


def sign_download(settings: Settings, upload_id: str, expires: int) -> str:
    message = f"{len(upload_id)}:{upload_id}:{expires}".encode()
    return hmac.new(_signing_key(settings), message, hashlib.sha256).hexdigest()


def download_link(
    settings: Settings, upload: Upload, *, now: dt.datetime | None = None
) -> DownloadLink:
    """A link valid for `EDGELAB_UPLOAD_URL_TTL_SECONDS`, never past the upload's own expiry."""
    until = (now or utcnow()) + dt.timedelta(seconds=settings.upload_url_ttl_seconds)
    if upload.expires_at is not None:
        until = min(until, upload.expires_at)
    expires = int(until.timestamp())
    signature = sign_download(settings, upload.id, expires)
    query = urlencode({"expires": expires, "signature": signature})
    url = f"{settings.app_base_url.rstrip('/')}/files/{upload.id}?{query}"
    return DownloadLink(url, dt.datetime.fromtimestamp(expires, dt.UTC))


def verify_download(
    settings: Settings,
    upload_id: str,
    expires: int,
    signature: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """403 for a link we did not sign (any changed part), then 410 for one past its time."""
    expected = sign_download(settings, upload_id, expires).encode()
    if not hmac.compare_digest(expected, signature.strip().lower().encode()):
        raise InvalidSignatureError("This download link is not valid.")
    if expires <= (now or utcnow()).timestamp():
        raise DownloadLinkExpiredError(
            "This download link has expired; ask for a new one.", details={"expires": expires}
        )


async def open_download(
    session: AsyncSession, store: BlobStore, upload_id: str, *, now: dt.datetime | None = None
) -> tuple[Upload, BlobReader]:
    """The upload behind a verified link and its opened file (404 when either is gone)."""
    stmt = select(Upload).where(Upload.id == upload_id, _visible(now or utcnow()))
    upload = (await session.execute(stmt)).scalar_one_or_none()
    if upload is None:
        raise _not_found(upload_id)
    try:
        reader = await store.open(upload.storage_key)
    except BlobNotFoundError as exc:
        log.warning("upload %s has a row but no file in the %s store", upload.id, store.name)
        raise NotFoundError(
            f"The file of upload {upload_id!r} is gone.", code=errors.UPLOAD_FILE_MISSING
        ) from exc
    return upload, reader


# ---------------------------------------------------------------- cleanup


@dataclass(frozen=True)
class CleanupReport:
    expired: int  # rows (and their files) past their expiry or the retention setting
    orphans: int  # files without a row, older than the grace period

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def cleanup_uploads(
    session: AsyncSession,
    settings: Settings,
    store: BlobStore,
    *,
    now: dt.datetime | None = None,
    grace: dt.timedelta = ORPHAN_GRACE,
) -> CleanupReport:
    """Remove expired uploads (rows and files) and orphaned files; idempotent.

    A bet history also expires once it is older than `EDGELAB_UPLOAD_RETENTION_DAYS`, so a
    shortened retention applies to files already stored. Files go before their rows: if the
    job fails in between, the rows are still expired and the next run finishes the work.
    """
    now = now or utcnow()
    retention_cutoff = now - dt.timedelta(days=settings.upload_retention_days)
    expired_rule = or_(
        Upload.expires_at <= now,
        and_(Upload.kind == "bet_history", Upload.created_at <= retention_cutoff),
    )
    expired = 0
    while True:
        stmt = select(Upload).where(expired_rule).order_by(Upload.id).limit(CLEANUP_BATCH)
        rows = list((await session.execute(stmt)).scalars())
        if not rows:
            break
        await store.delete([row.storage_key for row in rows])
        for row in rows:
            await session.delete(row)
        await session.flush()
        expired += len(rows)

    cutoff = now - grace
    candidates = [blob.key async for blob in store.list() if blob.modified_at <= cutoff]
    orphans: list[str] = []
    for start in range(0, len(candidates), CLEANUP_BATCH):
        chunk = candidates[start : start + CLEANUP_BATCH]
        known_stmt = select(Upload.storage_key).where(Upload.storage_key.in_(chunk))
        known = set((await session.execute(known_stmt)).scalars())
        orphans.extend(key for key in chunk if key not in known)
    if orphans:
        await store.delete(orphans)
    report = CleanupReport(expired=expired, orphans=len(orphans))
    if expired or orphans:
        log.info("upload cleanup (%s store): %s", store.name, report.as_dict())
    return report


def register_upload_jobs(jobs: Jobs, settings: Settings) -> None:
    """`accounts.cleanup_uploads`, hourly. Each run opens its own store client and closes it."""

    @jobs.task("accounts.cleanup_uploads")
    async def cleanup(session: AsyncSession) -> dict[str, int]:
        store = make_upload_store(settings)
        try:
            return (await cleanup_uploads(session, settings, store)).as_dict()
        finally:
            await store.aclose()

    jobs.schedule("accounts.cleanup_uploads", every_seconds=CLEANUP_EVERY_SECONDS)

    @jobs.task(REMOVE_FILES_TASK)
    async def remove_files(keys: list[str]) -> int:
        store = make_upload_store(settings)
        try:
            await _remove_files(store, keys)
        finally:
            await store.aclose()
        return len(keys)

"""Where uploaded bytes live: a local directory (default) or a private Vercel Blob store.

Both stores speak one small protocol, so the uploads service never knows which it has:

* ``put(pathname, data, content_type)`` writes a file and answers its *storage key* (a path
  relative to the upload directory, or the blob URL), which the caller keeps in its row;
* ``open(key)`` answers a :class:`BlobReader` streaming the bytes, or raises
  :class:`BlobNotFoundError`; the upstream request is made before it returns, so a failure
  becomes an error response, never a half-sent file;
* ``delete(keys)`` removes files, a missing one being no error (deletes are retried);
* ``list()`` yields every stored file with its age, for the orphan sweep.

The Vercel Blob client lives in `vercel_blob` and is imported only when that store is chosen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from edgelab.core import error_codes as codes
from edgelab.core.errors import AppError
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.uploads")

CHUNK_BYTES = 64 * 1024


class BlobNotFoundError(LookupError):
    """The store has no file under this key."""


class StorageUnavailableError(AppError):
    """The local upload directory cannot be written or read (full disk, permissions)."""

    status_code = 503
    code = codes.UPLOAD_STORAGE_UNAVAILABLE


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int | None
    modified_at: dt.datetime  # UTC; files younger than the sweep's grace period are left alone


class BlobReader:
    """An opened file: iterate ``chunks()`` once, then ``aclose()`` (safe to call twice)."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        size: int | None,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self._chunks = chunks
        self.size = size
        self._close = close
        self._closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._close()


class BlobStore(Protocol):
    name: str

    async def put(self, pathname: str, data: bytes, content_type: str) -> str: ...

    async def open(self, key: str) -> BlobReader: ...

    async def delete(self, keys: Sequence[str]) -> None: ...

    def list(self) -> AsyncIterator[StoredBlob]: ...

    async def aclose(self) -> None: ...


def make_upload_store(settings: Settings) -> BlobStore:
    """The store `EDGELAB_UPLOAD_STORE` names; refuses Vercel Blob without a token at start-up."""
    if settings.upload_store == "vercel_blob":
        token = settings.vercel_blob_token
        if token is None or not token.get_secret_value().strip():
            raise ValueError("EDGELAB_UPLOAD_STORE=vercel_blob needs EDGELAB_VERCEL_BLOB_TOKEN")
        from edgelab.core.storage.vercel_blob import VercelBlobStore

        return VercelBlobStore(
            settings, token=token.get_secret_value(), base_url=settings.vercel_blob_url
        )
    return LocalStore(settings.upload_dir)


# ---------------------------------------------------------------- local directory


class LocalStore:
    """Files under one directory, created on the first write (start-up touches no disk).

    Writes go to a hidden temporary file renamed into place, so a reader never sees half a
    file; a temporary file left by a crash has no row and is swept like any orphan.
    """

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")  # keys are ours, but never let one leave the directory
        if "\\" in key or "\x00" in key or any(part in ("", ".", "..") for part in parts):
            raise BlobNotFoundError(key)
        return self.root.joinpath(*parts)

    async def put(self, pathname: str, data: bytes, content_type: str) -> str:
        path = self._path(pathname)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
            try:
                with temporary.open("wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            log.exception("upload directory %s is not writable", self.root)
            raise StorageUnavailableError(
                "Uploads cannot be stored right now.", details={"error": type(exc).__name__}
            ) from exc
        return pathname

    async def open(self, key: str) -> BlobReader:
        path = self._path(key)

        def open_file() -> tuple[BinaryIO, int]:
            handle = path.open("rb")
            return handle, os.fstat(handle.fileno()).st_size

        try:
            handle, size = await asyncio.to_thread(open_file)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFoundError(key) from exc
        except OSError as exc:
            log.exception("upload file %s cannot be read", path)
            raise StorageUnavailableError(
                "This file cannot be read right now.", details={"error": type(exc).__name__}
            ) from exc

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk

        async def close() -> None:
            await asyncio.to_thread(handle.close)

        return BlobReader(chunks(), size=size, close=close)

    async def delete(self, keys: Sequence[str]) -> None:
        paths = [self._path(key) for key in keys]

        def remove() -> None:
            for path in paths:
                path.unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def list(self) -> AsyncIterator[StoredBlob]:
        def walk() -> list[StoredBlob]:
            found: list[StoredBlob] = []
            if not self.root.is_dir():
                return found
            for directory, _dirs, files in os.walk(self.root):
                for name in files:
                    path = Path(directory, name)
                    try:
                        stat = path.stat()
                    except FileNotFoundError:  # removed while we walked
                        continue
                    modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
                    key = path.relative_to(self.root).as_posix()
                    found.append(StoredBlob(key, stat.st_size, modified))
            return found

        for blob in await asyncio.to_thread(walk):
            yield blob

    async def aclose(self) -> None:
        return None

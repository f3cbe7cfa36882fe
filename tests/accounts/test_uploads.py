"""Uploads end to end on the local store: content checks, limits, signed links, ownership, cleanup.

Limits are shrunk (4 KiB CSVs, 2 KiB avatars) so that the refusals are cheap to provoke; the
upload directory is the test's own temporary directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.accounts.uploads import service as uploads
from edgelab.accounts.uploads.models import Upload
from edgelab.app import create_app
from edgelab.core.auth import issue_access_token
from edgelab.core.jobs import unit_of_work_jobs
from edgelab.core.settings import Settings
from edgelab.core.storage.store import LocalStore, StorageUnavailableError
from tests.fixtures.app import resources
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSV_LIMIT = 4096
AVATAR_LIMIT = 2048
BET_HISTORY = (
    b"placed_at,market,odds,stake\n"
    b"2019-04-10T19:00:00Z,nba-2019-04-10-bos-was-spread-home,1.91,25.00\n"
    b"2019-04-10T19:05:00Z,nba-2019-04-10-mia-bkn-total-over,2.05,10.00\n"
)


def png_bytes() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = b"RIFF" + struct.pack("<I", 26) + b"WEBPVP8L" + struct.pack("<I", 14) + bytes(14)


@pytest.fixture
async def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        db_url,
        upload_dir=tmp_path / "uploads",
        upload_max_csv_bytes=CSV_LIMIT,
        upload_max_avatar_bytes=AVATAR_LIMIT,
        app_base_url="http://testserver",
    )


@pytest.fixture
def store(settings: Settings) -> LocalStore:
    return LocalStore(settings.upload_dir)


class Source:
    """An in-memory upload for the service functions."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    async def read(self, size: int = -1, /) -> bytes:
        return self._buffer.read(size)


@dataclass(frozen=True)
class Caller:
    id: str
    token: str


async def signed_in(session: AsyncSession, settings: Settings, address: str) -> Caller:
    user = await create_user(session, address)
    await session.commit()  # kept when a refused request rolls back to this point
    return Caller(user.id, issue_access_token(settings, user.id))


def auth(caller: Caller) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller.token}"}


async def post_upload(
    client: httpx.AsyncClient,
    user: Caller,
    kind: str,
    data: bytes,
    *,
    filename: str = "upload.bin",
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await client.post(
        "/uploads",
        headers=auth(user),
        data={"kind": kind},
        files={"file": (filename, data, content_type)},
    )


def stored_files(settings: Settings) -> list[str]:
    root = settings.upload_dir
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def upload_rows(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Upload))).scalar_one())


# ---------------------------------------------------------------- accepted


async def test_a_bet_history_csv_is_stored_and_downloadable_by_its_signed_link(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await signed_in(session, settings, "csv@example.com")
    r = await post_upload(client, user, "bet_history", BET_HISTORY, filename="bets.xlsx")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("upl_") and body["kind"] == "bet_history"
    assert body["content_type"] == "text/csv"  # detected; the declared name and type are ignored
    assert body["size_bytes"] == len(BET_HISTORY)
    assert body["sha256"] == hashlib.sha256(BET_HISTORY).hexdigest()
    created = dt.datetime.fromisoformat(body["created_at"])
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert expires - created == dt.timedelta(days=settings.upload_retention_days)
    link_expires = dt.datetime.fromisoformat(body["download_url_expires_at"])
    ttl = (link_expires - created).total_seconds()
    assert settings.upload_url_ttl_seconds - 2 <= ttl <= settings.upload_url_ttl_seconds

    (path,) = stored_files(settings)
    assert path == f"{user.id}/{body['id']}.csv"
    assert (settings.upload_dir / path).read_bytes() == BET_HISTORY

    download = await client.get(body["download_url"])  # no credentials
    assert download.status_code == 200
    assert download.content == BET_HISTORY
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"] == f'attachment; filename="{body["id"]}.csv"'
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["etag"] == f'"{body["sha256"]}"'


@pytest.mark.parametrize(
    ("data", "mime", "extension"),
    [
        (png_bytes(), "image/png", ".png"),
        (JPEG, "image/jpeg", ".jpg"),
        (WEBP, "image/webp", ".webp"),
    ],
    ids=["png", "jpeg", "webp"],
)
async def test_an_avatar_is_accepted_by_its_magic_bytes(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    data: bytes,
    mime: str,
    extension: str,
) -> None:
    user = await signed_in(session, settings, f"avatar-{extension[1:]}@example.com")
    r = await post_upload(client, user, "avatar", data, filename="me.csv", content_type="text/csv")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["content_type"] == mime and body["expires_at"] is None
    download = await client.get(body["download_url"])
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == mime
    assert download.headers["content-disposition"] == f'inline; filename="{body["id"]}{extension}"'


async def test_extra_form_fields_are_ignored(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """The schema allows other fields beside `kind` and `file` (no additionalProperties): they
    are accepted and ignored, whatever their names and values."""
    user = await signed_in(session, settings, "extras@example.com")
    r = await client.post(
        "/uploads",
        headers=auth(user),
        data={"kind": "avatar", "0..0": '{"k": 1.5}', "ARí{": "{}", "note": ""},
        files={"file": ("me.png", png_bytes(), "image/png")},
    )
    assert r.status_code == 201, r.text
    form = (await client.get("/openapi.json")).json()["components"]["schemas"]
    body = next(v for k, v in form.items() if k.endswith("create_upload"))
    assert body.get("additionalProperties", True) is not False


async def test_a_utf8_bom_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await signed_in(session, settings, "bom@example.com")
    r = await post_upload(client, user, "bet_history", b"\xef\xbb\xbf" + BET_HISTORY)
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------- refused by content


async def test_a_png_named_csv_is_refused_as_a_bet_history(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await signed_in(session, settings, "png-as-csv@example.com")
    r = await post_upload(
        client, user, "bet_history", png_bytes(), filename="bets.csv", content_type="text/csv"
    )
    assert r.status_code == 415
    error = r.json()["error"]
    assert error["code"] == "unsupported_upload_type"
    assert error["details"]["detected"] == "image/png"
    assert stored_files(settings) == [] and await upload_rows(session) == 0


async def test_a_csv_named_png_is_refused_as_an_avatar(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await signed_in(session, settings, "csv-as-png@example.com")
    r = await post_upload(
        client, user, "avatar", BET_HISTORY, filename="me.png", content_type="image/png"
    )
    assert r.status_code == 415
    error = r.json()["error"]
    assert error["code"] == "unsupported_upload_type" and error["details"]["detected"] == "text"
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    ("data", "kind", "detected"),
    [
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "avatar", "image/gif"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "bet_history", "application/pdf"),
        ("stake,odds\n10,1.9\ncaf\u00e9,2\n".encode("latin-1"), "bet_history", "binary data"),
        (b"stake,odds\n10,\x001.9\n", "bet_history", "binary data"),
        (b"stake,odds\n", "bet_history", "text/csv"),
        (b"only_one_column\n1\n2\n", "bet_history", "text"),
        (b'stake,odds\n"10,1.9\n', "bet_history", "text"),
    ],
    ids=["gif-avatar", "pdf", "latin-1", "nul-byte", "header-only", "one-column", "bad-quote"],
)
async def test_content_that_is_not_what_the_kind_needs_is_refused(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    data: bytes,
    kind: str,
    detected: str,
) -> None:
    user = await signed_in(session, settings, "wrong-content@example.com")
    r = await post_upload(client, user, kind, data, filename="x.csv", content_type="text/csv")
    assert r.status_code == 415, r.text
    assert r.json()["error"]["details"]["detected"] == detected


async def test_an_empty_or_missing_file_is_a_validation_error(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await signed_in(session, settings, "empty@example.com")
    empty = await post_upload(client, user, "bet_history", b"")
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_upload"
    missing = await client.post("/uploads", headers=auth(user), data={"kind": "avatar"})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "validation_error"
    bad_kind = await post_upload(client, user, "selfie", png_bytes())
    assert bad_kind.status_code == 422


async def test_uploading_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/uploads", data={"kind": "avatar"}, files={"file": ("a.png", png_bytes(), "image/png")}
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


# ---------------------------------------------------------------- size limits


@pytest.mark.parametrize(("kind", "limit"), [("avatar", AVATAR_LIMIT), ("bet_history", CSV_LIMIT)])
async def test_a_file_over_its_kinds_limit_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, kind: str, limit: int
) -> None:
    user = await signed_in(session, settings, f"big-{kind}@example.com")
    head = png_bytes() if kind == "avatar" else BET_HISTORY
    exact = head + b"0" * (limit - len(head))
    assert (await post_upload(client, user, kind, exact)).status_code == 201  # the limit itself
    r = await post_upload(client, user, kind, exact + b"0")
    assert r.status_code == 413
    error = r.json()["error"]
    assert error["code"] == "upload_too_large" and error["details"]["limit_bytes"] == limit
    assert len(stored_files(settings)) == 1 and await upload_rows(session) == 1


def _multipart(
    kind: str, chunks: list[bytes], pulled: list[int]
) -> tuple[str, AsyncIterator[bytes]]:
    boundary = "edgelab-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for chunk in chunks:
            pulled.append(len(chunk))
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", body()


async def test_an_oversized_body_is_cut_off_while_it_arrives(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await signed_in(session, settings, "stream@example.com")
    chunks = [BET_HISTORY] + [b"1,2,3,4\n" * 128] * 199  # ~200 KiB, far over the cap
    pulled: list[int] = []
    content_type, body = _multipart("bet_history", chunks, pulled)
    r = await client.post(
        "/uploads",
        headers={**auth(user), "Content-Type": content_type},
        content=body,
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"
    cap = uploads.body_cap(settings)
    assert sum(pulled) <= cap + 1024 < sum(len(c) for c in chunks)  # stopped at the cap
    assert stored_files(settings) == []


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await signed_in(session, settings, "declared@example.com")
    pulled: list[int] = []
    content_type, body = _multipart("bet_history", [BET_HISTORY], pulled)
    declared = str(uploads.body_cap(settings) + 1)
    r = await client.post(
        "/uploads",
        headers={**auth(user), "Content-Type": content_type, "Content-Length": declared},
        content=body,
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"
    assert pulled == []


# ---------------------------------------------------------------- signed links


async def _uploaded(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, address: str
) -> tuple[Caller, dict[str, str]]:
    user = await signed_in(session, settings, address)
    r = await post_upload(client, user, "bet_history", BET_HISTORY)
    assert r.status_code == 201, r.text
    return user, r.json()


async def test_a_tampered_link_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    _, body = await _uploaded(client, session, settings, "tamper@example.com")
    _, other = await _uploaded(client, session, settings, "tamper2@example.com")
    parts = urlsplit(body["download_url"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    flipped = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
    attempts = [
        {**query, "signature": flipped},
        {**query, "expires": str(int(query["expires"]) + 3600)},  # a longer life
        {**query, "signature": "not-hex-at-all"},
    ]
    for params in attempts:
        r = await client.get(parts.path, params=params)
        assert r.status_code == 403, params
        assert r.json()["error"]["code"] == "invalid_signature"
    r = await client.get(f"/files/{other['id']}", params=query)  # A's signature, B's file
    assert r.status_code == 403
    assert (await client.get(body["download_url"])).status_code == 200  # the real one works


async def test_an_expired_link_is_gone(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    _, body = await _uploaded(client, session, settings, "expired@example.com")
    past = int(dt.datetime.now(dt.UTC).timestamp()) - 5
    signature = uploads.sign_download(settings, body["id"], past)
    r = await client.get(f"/files/{body['id']}", params={"expires": past, "signature": signature})
    assert r.status_code == 410 and r.json()["error"]["code"] == "download_link_expired"


async def test_links_signed_with_another_secret_do_not_verify(settings: Settings) -> None:
    other = settings.model_copy(update={"jwt_secret": settings.jwt_secret.__class__("x" * 40)})
    future = int(dt.datetime.now(dt.UTC).timestamp()) + 60
    signature = uploads.sign_download(other, "upl_1", future)
    with pytest.raises(uploads.InvalidSignatureError):
        uploads.verify_download(settings, "upl_1", future, signature)
    uploads.verify_download(other, "upl_1", future, signature)  # its own secret accepts it


# ---------------------------------------------------------------- ownership


async def test_another_user_cannot_see_or_delete_an_upload(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    alice, body = await _uploaded(client, session, settings, "alice@example.com")
    bob = await signed_in(session, settings, "bob@example.com")

    for method in ("GET", "DELETE"):
        r = await client.request(method, f"/uploads/{body['id']}", headers=auth(bob))
        assert r.status_code == 404, method
        assert r.json()["error"]["code"] == "upload_not_found"
    unknown = await client.get("/uploads/upl_doesnotexist", headers=auth(bob))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "upload_not_found")
    assert (await client.get("/uploads", headers=auth(bob))).json() == {"items": []}

    mine = await client.get("/uploads", headers=auth(alice))
    assert [item["id"] for item in mine.json()["items"]] == [body["id"]]
    assert len(stored_files(settings)) == 1  # Bob's DELETE removed nothing


async def test_the_owner_lists_newest_first_reads_and_deletes(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user, first = await _uploaded(client, session, settings, "owner@example.com")
    second = (await post_upload(client, user, "avatar", png_bytes())).json()
    listing = (await client.get("/uploads", headers=auth(user))).json()["items"]
    assert [item["id"] for item in listing] == [second["id"], first["id"]]
    one = await client.get(f"/uploads/{first['id']}", headers=auth(user))
    assert one.status_code == 200 and one.json()["sha256"] == first["sha256"]
    assert one.json()["download_url"].startswith(f"http://testserver/files/{first['id']}?")

    r = await client.delete(f"/uploads/{first['id']}", headers=auth(user))
    assert r.status_code == 204
    assert (await client.get(f"/uploads/{first['id']}", headers=auth(user))).status_code == 404
    assert (await client.get(first["download_url"])).status_code == 404
    assert stored_files(settings) == [f"{user.id}/{second['id']}.png"]


async def test_a_new_avatar_replaces_the_old_one(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await signed_in(session, settings, "face@example.com")
    old = (await post_upload(client, user, "avatar", png_bytes())).json()
    new = (await post_upload(client, user, "avatar", JPEG)).json()
    items = (await client.get("/uploads", headers=auth(user))).json()["items"]
    assert [(i["id"], i["content_type"]) for i in items] == [(new["id"], "image/jpeg")]
    assert stored_files(settings) == [f"{user.id}/{new['id']}.jpg"]
    assert (await client.get(old["download_url"])).status_code == 404


# ---------------------------------------------------------------- cleanup


def _age(path: Path, hours: float) -> None:
    stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)).timestamp()
    os.utime(path, (stamp, stamp))


async def test_cleanup_removes_expired_uploads_and_old_orphans_only(
    session: AsyncSession, settings: Settings, store: LocalStore
) -> None:
    user = await create_user(session, "sweep@example.com")
    now = dt.datetime.now(dt.UTC)
    long_ago = now - dt.timedelta(days=settings.upload_retention_days + 1)
    expired = await uploads.save_upload(
        session, settings, store, user.id, "bet_history", Source(BET_HISTORY), now=long_ago
    )
    kept = await uploads.save_upload(
        session, settings, store, user.id, "bet_history", Source(BET_HISTORY)
    )
    avatar = await uploads.save_upload(
        session, settings, store, user.id, "avatar", Source(png_bytes()), now=long_ago
    )
    root = settings.upload_dir
    for upload in (expired, kept, avatar):
        _age(root / upload.storage_key, 3)  # old files: only their rows keep them
    old_orphan = root / user.id / "upl_orphan.csv"
    old_orphan.write_bytes(BET_HISTORY)
    _age(old_orphan, 2)
    leftover = root / user.id / ".upl_crashed.csv.abc.tmp"
    leftover.write_bytes(b"half")
    _age(leftover, 2)
    in_flight = root / user.id / "upl_in_flight.csv"
    in_flight.write_bytes(BET_HISTORY)  # written a moment ago; its row may be on its way

    report = await uploads.cleanup_uploads(session, settings, store, now=now)

    assert report.as_dict() == {"expired": 1, "orphans": 2}
    assert await session.get(Upload, expired.id) is None
    assert await session.get(Upload, kept.id) is not None
    assert await session.get(Upload, avatar.id) is not None  # avatars never expire
    assert sorted(stored_files(settings)) == sorted(
        [kept.storage_key, avatar.storage_key, f"{user.id}/upl_in_flight.csv"]
    )
    again = await uploads.cleanup_uploads(session, settings, store, now=now)
    assert again.as_dict() == {"expired": 0, "orphans": 0}


async def test_a_shortened_retention_applies_to_stored_files(
    session: AsyncSession, settings: Settings, store: LocalStore
) -> None:
    user = await create_user(session, "retention@example.com")
    now = dt.datetime.now(dt.UTC)
    upload = await uploads.save_upload(
        session,
        settings,
        store,
        user.id,
        "bet_history",
        Source(BET_HISTORY),
        now=now - dt.timedelta(days=10),
    )
    assert (await uploads.cleanup_uploads(session, settings, store, now=now)).expired == 0
    shorter = settings.model_copy(update={"upload_retention_days": 7})
    assert (await uploads.cleanup_uploads(session, shorter, store, now=now)).expired == 1
    assert await session.get(Upload, upload.id) is None and stored_files(settings) == []


async def test_deleting_a_users_uploads_removes_rows_and_files(
    session: AsyncSession, settings: Settings, store: LocalStore
) -> None:
    leaving = await create_user(session, "leaving@example.com")
    staying = await create_user(session, "staying@example.com")
    for user in (leaving, staying):
        await uploads.save_upload(
            session, settings, store, user.id, "bet_history", Source(BET_HISTORY)
        )
    await uploads.save_upload(session, settings, store, leaving.id, "avatar", Source(png_bytes()))

    sent: list[tuple[str, dict]] = []

    class Jobs:  # records what the deletion sends after its commit
        def prepare(self, name: str, payload: dict) -> dict:
            return payload

        async def send(self, name: str, /, **payload: object) -> str:
            sent.append((name, payload))
            return name

    async with unit_of_work_jobs(Jobs()) as buffer:  # type: ignore[arg-type]
        assert await uploads.delete_user_uploads(session, leaving.id) == 2
        assert await uploads.list_uploads(session, leaving.id) == []
        assert len(await uploads.list_uploads(session, staying.id)) == 1
        assert len(stored_files(settings)) == 3  # files wait for the commit
        await session.commit()
        await buffer.flush()
    ((name, payload),) = sent
    assert name == uploads.REMOVE_FILES_TASK and len(payload["keys"]) == 2
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        jobs = resources(app).jobs
        await jobs.send(name, **payload)
        await jobs.drain()
    assert [p.split("/")[0] for p in stored_files(settings)] == [staying.id]


async def test_the_hourly_job_is_registered_and_sweeps_orphans(settings: Settings) -> None:
    root = settings.upload_dir
    (root / "usr_gone").mkdir(parents=True)
    orphan, fresh = root / "usr_gone" / "upl_old.csv", root / "usr_gone" / "upl_new.csv"
    for path in (orphan, fresh):
        path.write_bytes(BET_HISTORY)
    _age(orphan, 2)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        jobs = resources(app).jobs
        await jobs.send("accounts.cleanup_uploads")
        await jobs.drain()
    assert not orphan.exists() and fresh.exists()


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json", b'{"kind": "avatar", "file": "aGVsbG8="}', 422),
        ("multipart/form-data", b"--x\r\n\r\n", 400),  # no boundary parameter
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="kind"\r\n\r\navatar\r\n'
            b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nnot a file\r\n--x--\r\n',
            422,
        ),
        ("multipart/form-data; boundary=x", b"--x\r\ngarbage without headers", 400),
    ],
    ids=["json", "no-boundary", "file-as-text-field", "truncated"],
)
async def test_malformed_bodies_are_client_errors_in_the_envelope(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    content_type: str,
    body: bytes,
    status: int,
) -> None:
    user = await signed_in(session, settings, "malformed@example.com")
    r = await client.post(
        "/uploads", headers={**auth(user), "Content-Type": content_type}, content=body
    )
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "request_id"}


async def test_an_unwritable_upload_directory_is_a_503_not_a_crash(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_bytes(b"")
    with pytest.raises(StorageUnavailableError) as info:
        await LocalStore(not_a_directory).put("usr_1/upl_1.csv", BET_HISTORY, "text/csv")
    assert (info.value.status_code, info.value.code) == (503, "upload_storage_unavailable")

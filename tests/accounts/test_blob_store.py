"""The Vercel Blob store against a local fake speaking the SDK's wire protocol, and the uploads
API running on it.

Every call crosses a real socket (uvicorn on 127.0.0.1). Retries wait 0 s unless a
`Retry-After` asks for more; timeouts are 0.3 s so a slow answer is cheap to provoke.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.accounts.uploads import service as uploads
from edgelab.core.auth import issue_access_token
from edgelab.core.errors import UpstreamError
from edgelab.core.settings import Settings
from edgelab.core.storage.store import BlobNotFoundError, make_upload_store
from edgelab.core.storage.vercel_blob import BLOB_PREFIX, VercelBlobStore
from tests.accounts.fake_blob import PAYLOADS, VALID_TOKEN, FakeBlob, serve
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHARED = Path("/work/shared/reference/payloads/vercel_blob")
CSV = b"placed_at,stake,odds\n2019-04-10T19:00:00Z,25.00,1.91\n"


def client_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"http_timeout_seconds": 0.3, "http_max_retries": 2, **overrides}
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeBlob, str]]:
    fake = FakeBlob()
    with serve(fake.app, name="fake Vercel Blob") as base_url:
        yield fake, base_url


@pytest.fixture
def fake(server: tuple[FakeBlob, str]) -> FakeBlob:
    server[0].reset()
    return server[0]


@pytest.fixture
def api_url(server: tuple[FakeBlob, str], fake: FakeBlob) -> str:
    return f"{server[1]}/api/blob"


def make_store(api_url: str, *, settings: Settings | None = None, **kwargs: Any) -> VercelBlobStore:
    return VercelBlobStore(
        settings or client_settings(),
        token=kwargs.pop("token", VALID_TOKEN),
        base_url=api_url,
        retry_initial_wait=0,
        **kwargs,
    )


@pytest.fixture
async def store(api_url: str) -> AsyncIterator[VercelBlobStore]:
    blob_store = make_store(api_url)
    yield blob_store
    await blob_store.aclose()


async def read_all(store: VercelBlobStore, key: str) -> bytes:
    reader = await store.open(key)
    return b"".join([chunk async for chunk in reader.chunks()])


async def upstream_error(call: Any) -> UpstreamError:
    with pytest.raises(UpstreamError) as info:
        await call
    return info.value


# ---------------------------------------------------------------- the protocol


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not on this machine")
async def test_embedded_payloads_match_the_shared_reference() -> None:
    assert sorted(os.listdir(SHARED)) == sorted(f"{name}.json" for name in PAYLOADS)
    for name, payload in PAYLOADS.items():
        assert json.loads((SHARED / f"{name}.json").read_text()) == payload, name


async def test_put_follows_the_sdk_protocol_and_answers_the_blob_url(
    store: VercelBlobStore, fake: FakeBlob, api_url: str
) -> None:
    key = await store.put("usr_1/upl_1.csv", CSV, "text/csv")

    recorded = PAYLOADS["put_request_response"]["request"]["headers"]
    (put,) = fake.api_calls("PUT")
    assert put.path == "/api/blob/" and put.query == {"pathname": f"{BLOB_PREFIX}usr_1/upl_1.csv"}
    assert put.headers["authorization"] == recorded["authorization"]
    assert put.headers["x-api-version"] == recorded["x-api-version"]
    assert put.headers["x-add-random-suffix"] == recorded["x-add-random-suffix"]
    assert put.headers["x-vercel-blob-access"] == "private"  # personal data: never public
    assert put.headers["x-content-type"] == "text/csv"
    assert put.headers["x-allow-overwrite"] == "1"  # a retried put must not fail on itself
    assert put.headers["user-agent"].startswith("edgelab/")
    assert put.body == CSV
    assert key == f"{api_url.removesuffix('/api/blob')}/blobs/{BLOB_PREFIX}usr_1/upl_1.csv"


async def test_get_streams_a_private_blob_with_the_token(
    store: VercelBlobStore, fake: FakeBlob
) -> None:
    key = await store.put("usr_1/upl_2.csv", CSV, "text/csv")
    reader = await store.open(key)
    assert reader.size == len(CSV)
    assert b"".join([chunk async for chunk in reader.chunks()]) == CSV
    get = fake.requests[-1]
    assert get.method == "GET" and get.path.startswith("/blobs/")
    assert get.headers["authorization"] == f"Bearer {VALID_TOKEN}"


async def test_delete_posts_the_urls_and_the_blob_is_gone(
    store: VercelBlobStore, fake: FakeBlob
) -> None:
    first = await store.put("usr_1/a.csv", CSV, "text/csv")
    second = await store.put("usr_1/b.csv", CSV, "text/csv")
    await store.delete([first, second])

    (call,) = fake.api_calls("POST")
    assert call.path == "/api/blob/delete"
    assert json.loads(call.body) == {"urls": [first, second]}
    assert call.headers["content-type"] == "application/json"
    assert fake.blobs == {}
    with pytest.raises(BlobNotFoundError):
        await store.open(first)
    await store.delete([first])  # deleting what is gone is not an error


async def test_list_follows_the_cursor_through_every_page(api_url: str, fake: FakeBlob) -> None:
    store = make_store(api_url, page_size=2)
    try:
        keys = [await store.put(f"usr_1/{i}.csv", CSV, "text/csv") for i in range(5)]
        listed = [blob async for blob in store.list()]
    finally:
        await store.aclose()
    assert sorted(blob.key for blob in listed) == sorted(keys)
    assert all(blob.size == len(CSV) for blob in listed)
    age = dt.datetime.now(dt.UTC) - listed[0].modified_at
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)
    calls = [c for c in fake.api_calls("GET")]
    assert [c.query.get("cursor") for c in calls] == [None, "2", "4"]
    assert all(c.query["prefix"] == BLOB_PREFIX and c.query["limit"] == "2" for c in calls)


async def test_the_vercel_store_needs_a_token() -> None:
    with pytest.raises(ValueError, match="EDGELAB_VERCEL_BLOB_TOKEN"):
        make_upload_store(client_settings(upload_store="vercel_blob"))
    store = make_upload_store(client_settings(upload_store="vercel_blob", vercel_blob_token="t"))
    assert store.name == "vercel_blob"


# ---------------------------------------------------------------- errors


async def test_rate_limited_with_a_long_retry_after_is_answered_at_once(
    store: VercelBlobStore, fake: FakeBlob
) -> None:
    body = {"error": {"code": "rate_limited", "message": "Too many requests"}}
    fake.plan(status=429, body=body, headers={"retry-after": "42"}, times=5)
    error = await upstream_error(store.put("usr_1/x.csv", CSV, "text/csv"))
    assert (error.status_code, error.code) == (503, "vercel_blob_rate_limited")
    assert error.retry_after == 42 and error.headers["Retry-After"] == "42"
    assert len(fake.requests) == 1  # not waited out inside the user's request


async def test_a_short_rate_limit_is_retried(store: VercelBlobStore, fake: FakeBlob) -> None:
    body = {"error": {"code": "rate_limited"}}
    fake.plan(status=429, body=body, headers={"retry-after": "0"})
    key = await store.put("usr_1/x.csv", CSV, "text/csv")
    assert fake.statuses == [429, 200] and key.endswith("/x.csv")
    attempts = [r.headers["x-api-blob-request-attempt"] for r in fake.requests]
    ids = {r.headers["x-api-blob-request-id"] for r in fake.requests}
    assert attempts == ["0", "1"] and len(ids) == 1


async def test_server_errors_are_retried_then_reported_unavailable(
    store: VercelBlobStore, fake: FakeBlob
) -> None:
    fake.plan(status=503, body={"error": {"code": "service_unavailable"}}, times=3)
    error = await upstream_error(store.put("usr_1/x.csv", CSV, "text/csv"))
    assert (error.status_code, error.code) == (503, "vercel_blob_unavailable")
    assert fake.statuses == [503, 503, 503]  # 1 try + EDGELAB_HTTP_MAX_RETRIES (2)
    fake.plan(status=500, body="<html>oops</html>")
    await store.put("usr_1/x.csv", CSV, "text/csv")  # one 500, then fine
    assert fake.statuses[-2:] == [500, 200]


async def test_a_slow_answer_times_out_as_unavailable(
    store: VercelBlobStore, fake: FakeBlob
) -> None:
    fake.plan(delay=1.0, times=3)
    error = await upstream_error(store.put("usr_1/x.csv", CSV, "text/csv"))
    assert (error.status_code, error.code) == (503, "vercel_blob_unavailable")
    assert "timed out" in error.message and error.details["attempts"] == 3


async def test_a_wrong_token_is_forbidden_and_never_echoed(api_url: str, fake: FakeBlob) -> None:
    wrong = "vercel_blob_rw_wrongStore_secret0123456789"
    store = make_store(api_url, token=wrong)
    try:
        error = await upstream_error(store.put("usr_1/x.csv", CSV, "text/csv"))
    finally:
        await store.aclose()
    assert (error.status_code, error.code) == (502, "vercel_blob_forbidden")
    assert error.details["upstream_code"] == "forbidden"
    assert wrong not in error.message and wrong not in json.dumps(error.details)


@pytest.mark.parametrize(
    ("status", "payload", "code"),
    [
        (403, PAYLOADS["errors"]["store_suspended_403"], "vercel_blob_forbidden"),
        (400, {"error": {"code": "file_too_large", "message": "too big"}}, "vercel_blob_rejected"),
        (200, "<html>not json</html>", "vercel_blob_bad_response"),
        (200, {"pathname": "no-url.csv"}, "vercel_blob_bad_response"),
    ],
    ids=["store-suspended", "file-too-large", "html-200", "no-url"],
)
async def test_refusals_and_garbled_answers_map_to_502(
    store: VercelBlobStore, fake: FakeBlob, status: int, payload: Any, code: str
) -> None:
    fake.plan(status=status, body=payload)
    error = await upstream_error(store.put("usr_1/x.csv", CSV, "text/csv"))
    assert (error.status_code, error.code) == (502, code)
    assert len(fake.requests) == 1  # a refusal is not retried


async def test_a_missing_blob_is_not_found(store: VercelBlobStore, fake: FakeBlob) -> None:
    key = await store.put("usr_1/x.csv", CSV, "text/csv")
    fake.blobs.clear()
    with pytest.raises(BlobNotFoundError):
        await store.open(key)
    fake.plan(status=404, body=PAYLOADS["errors"]["not_found_404"])
    await store.delete([key])  # a 404 on delete is what we wanted anyway


# ---------------------------------------------------------------- the API on Vercel Blob


@pytest.fixture
async def settings(db_url: str, api_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        db_url,
        upload_store="vercel_blob",
        vercel_blob_url=api_url,
        vercel_blob_token=VALID_TOKEN,
        upload_dir=tmp_path / "unused",
        app_base_url="http://testserver",
        http_timeout_seconds=0.3,
        http_max_retries=1,
    )


async def test_uploads_round_trip_through_vercel_blob(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, fake: FakeBlob
) -> None:
    user = await create_user(session, "blob@example.com")
    await session.commit()
    headers = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    r = await client.post(
        "/uploads",
        headers=headers,
        data={"kind": "bet_history"},
        files={"file": ("bets.csv", CSV, "text/csv")},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert list(fake.blobs) == [f"{BLOB_PREFIX}{user.id}/{body['id']}.csv"]
    assert "blob" not in body["download_url"]  # clients only ever see our signed link

    download = await client.get(body["download_url"])
    assert download.status_code == 200 and download.content == CSV
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-length"] == str(len(CSV))

    assert (await client.delete(f"/uploads/{body['id']}", headers=headers)).status_code == 204
    assert fake.blobs == {}
    assert not settings.upload_dir.exists()  # nothing went to the local directory


async def test_an_unavailable_store_is_a_503_and_records_nothing(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, fake: FakeBlob
) -> None:
    user = await create_user(session, "blob-down@example.com")
    await session.commit()
    headers = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    fake.plan(status=503, body={"error": {"code": "service_unavailable"}}, times=2)
    r = await client.post(
        "/uploads",
        headers=headers,
        data={"kind": "bet_history"},
        files={"file": ("bets.csv", CSV, "text/csv")},
    )
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "vercel_blob_unavailable"
    assert (await client.get("/uploads", headers=headers)).json() == {"items": []}


async def test_cleanup_sweeps_orphan_blobs(
    session: AsyncSession, settings: Settings, fake: FakeBlob
) -> None:
    user = await create_user(session, "blob-sweep@example.com")
    store = make_upload_store(settings)
    try:
        kept = await uploads.save_upload(
            session, settings, store, user.id, "bet_history", _Source(CSV)
        )
        orphan = await store.put(f"{user.id}/upl_orphan.csv", CSV, "text/csv")
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)  # both blobs are old by then
        report = await uploads.cleanup_uploads(session, settings, store, now=later)
    finally:
        await store.aclose()
    assert report.as_dict() == {"expired": 0, "orphans": 1}
    assert list(fake.blobs) == [f"{BLOB_PREFIX}{user.id}/{kept.id}.csv"]
    assert orphan.endswith("upl_orphan.csv")


class _Source:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, size: int = -1, /) -> bytes:
        data, self._data = self._data, b""
        return data

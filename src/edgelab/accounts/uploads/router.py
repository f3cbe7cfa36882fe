"""HTTP layer of uploads: `POST/GET/DELETE /uploads` for the owner, `GET /files/{id}` by link."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.types import Message

from edgelab.accounts.uploads import service as uploads
from edgelab.accounts.uploads.content import AVATAR_TYPES, CSV_CONTENT_TYPE, UploadKind
from edgelab.accounts.uploads.models import Upload
from edgelab.accounts.uploads.schemas import UploadList, UploadOut
from edgelab.core.auth import CurrentUser
from edgelab.core.db import SessionDep
from edgelab.core.deps import BlobStoreDep, SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import rate_limit
from edgelab.core.resources import resources_of
from edgelab.core.settings import Settings

router = APIRouter(tags=["accounts"])
UploadId = Annotated[str, Path(min_length=1, max_length=64)]
MAX_EXPIRES = 10**11  # far beyond any link we sign; keeps the query number sane


UploadStoreDep = BlobStoreDep


class _BodyOverCap(Exception):
    """Raised from `receive` to stop reading a request body past the upload cap."""


class CappedUploadRoute(APIRoute):
    """Refuses a body over the upload cap while it arrives, before it is parsed or spooled.

    FastAPI reads a multipart form before any dependency runs, so this is the only place to
    stop early: a declared `Content-Length` over the cap is refused before a byte is read, and
    an undeclared (chunked) body is cut off at the cap. The cap is the larger of the two kinds'
    limits plus room for the multipart framing; each kind's own limit is checked afterwards,
    while the file is read in chunks.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def capped(request: Request) -> Response:
            settings = resources_of(request).settings
            cap = uploads.body_cap(settings)
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise uploads.too_large(cap)
            received = 0
            over = False

            async def receive() -> Message:
                nonlocal received, over
                message = await request.receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > cap:
                        over = True
                        raise _BodyOverCap
                return message

            try:
                return await handler(Request(request.scope, receive))
            except HTTPException as exc:  # FastAPI turns a failed body read into a 400
                if over:
                    raise uploads.too_large(cap) from exc
                raise

        return capped


def _out(settings: Settings, upload: Upload) -> UploadOut:
    link = uploads.download_link(settings, upload)
    return UploadOut(
        id=upload.id,
        kind=upload.kind,  # type: ignore[arg-type]  # only the two kinds are ever written
        content_type=upload.content_type,
        size_bytes=upload.size_bytes,
        sha256=upload.sha256,
        created_at=upload.created_at,
        expires_at=upload.expires_at,
        download_url=link.url,
        download_url_expires_at=link.expires_at,
    )


async def create_upload(
    principal: CurrentUser,
    _limited: Annotated[None, Depends(rate_limit("POST /uploads", policy_limit="uploads"))],
    file: Annotated[UploadFile, File(description="The file; its name and type are ignored.")],
    kind: Annotated[UploadKind, Form(description="bet_history (CSV) or avatar.")],
    session: SessionDep,
    settings: SettingsDep,
    store: UploadStoreDep,
) -> UploadOut:
    """Upload a bet-history CSV or an avatar (PNG, JPEG, WebP), checked by content.

    A new avatar replaces the previous one. The answer carries a signed download link.
    """
    upload = await uploads.save_upload(session, settings, store, principal.id, kind, file)
    return _out(settings, upload)


router.add_api_route(
    "/uploads",
    create_upload,
    methods=["POST"],
    status_code=201,
    response_model=UploadOut,
    responses=error_responses(400, 401, 413, 415, 422, 429, 502, 503),
    route_class_override=CappedUploadRoute,
)


@router.get(
    "/uploads",
    dependencies=[Depends(rate_limit("GET /uploads"))],
    response_model=UploadList,
    responses=error_responses(401, 422, 429),
)
async def list_uploads(
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> UploadList:
    """The caller's uploads, newest first, each with a fresh signed link."""
    found = await uploads.list_uploads(session, principal.id, limit=limit, offset=offset)
    return UploadList(items=[_out(settings, upload) for upload in found])


@router.get(
    "/uploads/{upload_id}",
    dependencies=[Depends(rate_limit("GET /uploads/{id}"))],
    response_model=UploadOut,
    responses=error_responses(401, 404, 422, 429),
)
async def get_upload(
    upload_id: UploadId, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> UploadOut:
    """One of the caller's uploads with a fresh signed link (404 for anyone else's)."""
    return _out(settings, await uploads.get_upload(session, principal.id, upload_id))


@router.delete(
    "/uploads/{upload_id}",
    dependencies=[Depends(rate_limit("DELETE /uploads/{id}"))],
    status_code=204,
    responses=error_responses(401, 404, 422, 429),
)
async def delete_upload(
    upload_id: UploadId, principal: CurrentUser, session: SessionDep, store: UploadStoreDep
) -> Response:
    await uploads.delete_upload(session, store, principal.id, upload_id)
    return Response(status_code=204)


_FILE_CONTENT = {
    mime: {"schema": {"type": "string", "format": "binary"}}
    for mime in (CSV_CONTENT_TYPE, *AVATAR_TYPES)
}


@router.get(
    "/files/{upload_id}",
    # the link is the credential: counted per client IP, whatever Authorization says
    dependencies=[Depends(rate_limit("GET /files/{id}", per_user=False))],
    response_class=Response,
    responses={
        200: {"description": "The file's bytes.", "content": _FILE_CONTENT},
        **error_responses(403, 404, 410, 422, 429, 502, 503),
    },
)
async def download_upload_file(
    upload_id: UploadId,
    expires: Annotated[int, Query(ge=0, le=MAX_EXPIRES, description="Unix seconds.")],
    signature: Annotated[str, Query(min_length=1, max_length=128)],
    session: SessionDep,
    settings: SettingsDep,
    store: UploadStoreDep,
) -> Response:
    """The bytes behind a signed link; no credentials needed (the link is the credential)."""
    uploads.verify_download(settings, upload_id, expires, signature)
    upload, reader = await uploads.open_download(session, store, upload_id)
    extension = AVATAR_TYPES.get(upload.content_type, ".csv")
    disposition = "inline" if upload.kind == "avatar" else "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{upload.id}{extension}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
        "ETag": f'"{upload.sha256}"',
    }
    if reader.size is not None:
        headers["Content-Length"] = str(reader.size)
    return StreamingResponse(
        reader.chunks(),
        media_type=upload.content_type,
        headers=headers,
        background=BackgroundTask(reader.aclose),
    )

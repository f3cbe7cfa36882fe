"""HTTP layer of the bet-history import (`/me/bets/imports`): upload, preview, re-map, confirm.

Signed-in users or API keys with the write scope (reads with any key), refused during a
Sentinel time-out like `POST /me/bets`. The upload counts against the uploads' rate limit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, UploadFile

from edgelab.betting.imports import errors
from edgelab.betting.imports import service as imports
from edgelab.betting.imports.schemas import ImportOut, MappingIn
from edgelab.core.auth import CurrentUser, UnrestrictedUser
from edgelab.core.db import SessionDep
from edgelab.core.deps import SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import rate_limit

router = APIRouter(tags=["bets"])
ImportIdPath = Annotated[str, Path(min_length=1, max_length=40)]
READ_CHUNK = 64 * 1024


@router.post(
    "/me/bets/imports",
    status_code=201,
    dependencies=[Depends(rate_limit("POST /me/bets/imports", policy_limit="uploads"))],
    response_model=ImportOut,
    responses=error_responses(
        400,  # `bad_request`: a multipart body that cannot be parsed
        401,
        403,
        errors.BET_IMPORT_TOO_LARGE,
        errors.BET_IMPORT_UNREADABLE,
        413,
        422,
        429,
    ),
)
async def create_bet_import(
    principal: UnrestrictedUser,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The bet-history CSV.")],
) -> ImportOut:
    """Upload a bet-history CSV: answers a preview (suggested column roles, a verdict per row
    with reasons). Nothing is written to your bets until `POST /me/bets/imports/{id}/confirm`."""
    cap = settings.bet_import_max_bytes
    data = bytearray()
    while len(data) <= cap:
        chunk = await file.read(READ_CHUNK)
        if not chunk:
            break
        data.extend(chunk)
    view = await imports.create_import(
        session, settings, principal, file.filename or "", bytes(data)
    )
    return ImportOut.model_validate(view)


@router.get(
    "/me/bets/imports/{import_id}",
    dependencies=[Depends(rate_limit("GET /me/bets/imports/{id}"))],
    response_model=ImportOut,
    responses=error_responses(
        401, errors.BET_IMPORT_NOT_FOUND, errors.BET_IMPORT_EXPIRED, 422, 429
    ),
)
async def get_bet_import(
    import_id: ImportIdPath, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ImportOut:
    """The preview (or, once confirmed, the result) of an import."""
    return ImportOut.model_validate(
        await imports.get_import(session, settings, principal, import_id)
    )


@router.post(
    "/me/bets/imports/{import_id}",
    dependencies=[Depends(rate_limit("POST /me/bets/imports/{id}"))],
    response_model=ImportOut,
    responses=error_responses(
        401,
        403,
        errors.BET_IMPORT_BAD_MAPPING,
        errors.BET_IMPORT_NOT_FOUND,
        errors.BET_IMPORT_CONFIRMED,
        errors.BET_IMPORT_EXPIRED,
        422,
        429,
    ),
)
async def remap_bet_import(
    import_id: ImportIdPath,
    body: MappingIn,
    principal: UnrestrictedUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ImportOut:
    """Change which column is which (and the date order, time zone or currency); answers the
    re-validated preview."""
    view = await imports.remap(
        session,
        settings,
        principal,
        import_id,
        dict(body.columns),
        body.model_dump(include={"date_order", "time_zone", "currency"}, exclude_unset=True),
    )
    return ImportOut.model_validate(view)


@router.post(
    "/me/bets/imports/{import_id}/confirm",
    dependencies=[Depends(rate_limit("POST /me/bets/imports/{id}/confirm"))],
    response_model=ImportOut,
    responses=error_responses(
        401,
        403,
        errors.BET_IMPORT_INCOMPLETE_MAPPING,
        errors.BET_IMPORT_NOT_FOUND,
        errors.BET_IMPORT_EXPIRED,
        422,
        429,
    ),
)
async def confirm_bet_import(
    import_id: ImportIdPath, principal: UnrestrictedUser, session: SessionDep, settings: SettingsDep
) -> ImportOut:
    """Import the rows the preview takes (`result`: imported, skipped, duplicates). Confirming
    again answers the same result and writes nothing."""
    return ImportOut.model_validate(await imports.confirm(session, settings, principal, import_id))

"""CSV import of an uploaded bet history (`POST /sentinel/imports`).

The file is one a user or analyst uploaded through `POST /uploads` (kind `bet_history`), read
back through the upload store. It goes through exactly what `edgelab sentinel import-bets`
does (`ingest.import_bets_csv`): the bulk layout, every row validated first, all-or-nothing
(422 listing the bad rows, nothing written), idempotent on `external_id` (source `operator`).
Analysts may import any live bet-history upload by id: the upload's owner is not checked,
since importing is an analyst's act on operator data; each import is audited.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts import service as accounts
from edgelab.accounts.uploads.service import open_download
from edgelab.core.auth import Principal
from edgelab.core.errors import InvalidInputError
from edgelab.core.storage.store import BlobStore
from edgelab.sentinel.betlog.ingest import MalformedCsvError, import_bets_csv
from edgelab.sentinel.schemas import NOT_A_BET_HISTORY, IngestResult


class BetImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(
        min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$", examples=["upl_..."]
    )


class BetImportResult(IngestResult):
    upload_id: str


async def import_upload(
    session: AsyncSession, store: BlobStore, principal: Principal, upload_id: str
) -> IngestResult:
    upload, reader = await open_download(session, store, upload_id)
    try:
        if upload.kind != "bet_history":
            raise InvalidInputError(
                f"Upload '{upload_id}' is a {upload.kind}, not a bet history.",
                code=NOT_A_BET_HISTORY,
            )
        data = b"".join([chunk async for chunk in reader.chunks()])
    finally:
        await reader.aclose()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedCsvError("The CSV file is not UTF-8 text.") from exc
    result = await import_bets_csv(session, text)
    await accounts.audit(
        session,
        "sentinel_bets_imported",
        user_id=principal.id,
        upload_id=upload_id,
        upload_owner=upload.user_id,
        received=result.received,
        created=result.created,
        duplicates=result.duplicates,
    )
    return result

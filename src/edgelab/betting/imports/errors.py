"""Error codes of the bet-history import (the catalogue: `edgelab.core.error_codes`)."""

from __future__ import annotations

from edgelab.core.error_codes import error_code

BET_IMPORT_NOT_FOUND = error_code(
    "bet_import_not_found", 404, "No bet-history import with this id for this user."
)
BET_IMPORT_EXPIRED = error_code(
    "bet_import_expired",
    410,
    "The import's preview is older than EDGELAB_BET_IMPORT_TTL_SECONDS: upload the file again.",
)
BET_IMPORT_TOO_LARGE = error_code(
    "bet_import_too_large",
    413,
    "The bet-history CSV is over EDGELAB_BET_IMPORT_MAX_BYTES or EDGELAB_BET_IMPORT_MAX_ROWS.",
)
BET_IMPORT_UNREADABLE = error_code(
    "bet_import_unreadable",
    415,
    "The file is not a readable CSV (binary, not text, no header of two or more columns, or no "
    "data rows); `details.reason` says which.",
)
BET_IMPORT_BAD_MAPPING = error_code(
    "bet_import_bad_mapping",
    400,
    "The column mapping names a column the file does not have, or gives one role to two "
    "columns; `details` says which.",
)
BET_IMPORT_INCOMPLETE_MAPPING = error_code(
    "bet_import_incomplete_mapping",
    400,
    "Confirm needs a column for each of date, odds, stake and result; `details.missing` lists "
    "the roles without one.",
)
BET_IMPORT_CONFIRMED = error_code(
    "bet_import_confirmed", 409, "The import is confirmed: its mapping can no longer change."
)

"""The dashboard's error codes (the catalogue: `edgelab.core.error_codes`)."""

from __future__ import annotations

from edgelab.core.error_codes import error_code

ASSET_NOT_INSTALLED = error_code(
    "asset_not_installed", 404, "A dashboard script that `make assets` has not installed."
)
CROSS_SITE_REQUEST = error_code(
    "cross_site_request", 403, "A dashboard form sent from another site (or origin)."
)

"""The accounts product's error codes: users, tokens, API keys, billing and uploads (the
catalogue: `edgelab.core.error_codes`)."""

from __future__ import annotations

from edgelab.core.error_codes import error_code

# --- users, sign-in, API keys -----------------------------------------------------------------

USER_EXISTS = error_code("user_exists", 409, "A user with this e-mail address exists.")
USER_NOT_FOUND = error_code("user_not_found", 404, "No such user (or the account is deleted).")
INVALID_SIGN_IN_LINK = error_code(
    "invalid_sign_in_link", 401, "The sign-in link is invalid, used or expired."
)
INVALID_REFRESH_TOKEN = error_code("invalid_refresh_token", 401, "Unknown refresh token.")
REFRESH_TOKEN_REUSED = error_code(
    "refresh_token_reused",
    401,
    "The refresh token was already used: its whole family is revoked, sign in again.",
)
REFRESH_TOKEN_EXPIRED = error_code(
    "refresh_token_expired", 401, "The refresh token has expired: sign in again."
)
API_KEY_NOT_FOUND = error_code("api_key_not_found", 404, "No API key with this id for this user.")

# --- billing (Paddle) -------------------------------------------------------------------------

BILLING_NOT_CONFIGURED = error_code(
    "billing_not_configured", 503, "Billing (checkout or Paddle webhooks) is not configured here."
)
ALREADY_SUBSCRIBED = error_code("already_subscribed", 409, "The user already has a subscription.")
INVALID_WEBHOOK_SIGNATURE = error_code(
    "invalid_webhook_signature", 401, "The Paddle-Signature of a webhook does not verify."
)
INVALID_WEBHOOK_PAYLOAD = error_code(
    "invalid_webhook_payload", 400, "A signed webhook body that is not a Paddle notification."
)

# --- uploads ----------------------------------------------------------------------------------

UPLOAD_NOT_FOUND = error_code(
    "upload_not_found", 404, "No upload with this id (or it has expired)."
)
UPLOAD_FILE_MISSING = error_code(
    "upload_file_missing", 404, "The upload is recorded but its file is gone from the store."
)
UPLOAD_TOO_LARGE = error_code("upload_too_large", 413, "The file is larger than its kind allows.")
EMPTY_UPLOAD = error_code("empty_upload", 422, "The uploaded file is empty.")
UNSUPPORTED_UPLOAD_TYPE = error_code(
    "unsupported_upload_type", 415, "The file's content is not a type its kind accepts."
)
INVALID_SIGNATURE = error_code(
    "invalid_signature", 403, "A download link that we did not sign (or that was changed)."
)
DOWNLOAD_LINK_EXPIRED = error_code("download_link_expired", 410, "The download link has expired.")

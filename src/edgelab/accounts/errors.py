"""The accounts product's error codes: users, tokens, API keys, billing and uploads (the
catalogue: `edgelab.core.error_codes`)."""

from __future__ import annotations

from edgelab.core.error_codes import (  # shared with Resend's webhooks (core.email.events)
    INVALID_WEBHOOK_PAYLOAD as INVALID_WEBHOOK_PAYLOAD,
)
from edgelab.core.error_codes import (
    INVALID_WEBHOOK_SIGNATURE as INVALID_WEBHOOK_SIGNATURE,
)
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
INVALID_EMAIL_CHANGE_LINK = error_code(
    "invalid_email_change_link",
    401,
    "The address-change link is invalid, used, superseded by a newer request, or expired.",
)
EMAIL_UNCHANGED = error_code("email_unchanged", 409, "The account already has this e-mail address.")
API_KEY_NOT_FOUND = error_code("api_key_not_found", 404, "No API key with this id for this user.")

# --- billing (Paddle) -------------------------------------------------------------------------

BILLING_NOT_CONFIGURED = error_code(
    "billing_not_configured",
    503,
    "Billing (checkout, Paddle webhooks or the Paddle API key for self-service) is not configured"
    " here.",
)
ALREADY_SUBSCRIBED = error_code("already_subscribed", 409, "The user already has a subscription.")

# self-service through Paddle's API (accounts.billing.selfservice, .paddle_api)
NO_SUBSCRIPTION = error_code(
    "no_subscription", 404, "The user has no Paddle subscription to manage."
)
SUBSCRIPTION_NOT_MANAGEABLE = error_code(
    "subscription_not_manageable",
    409,
    "The subscription's state does not allow this (e.g. it is canceled, not paused, or has no "
    "scheduled change); `details.status` says its state.",
)
UNKNOWN_PLAN = error_code(
    "unknown_plan", 400, "No plan by this name; `details.plans` lists the configured ones."
)
ALREADY_ON_PLAN = error_code("already_on_plan", 409, "The subscription is already on this plan.")
TRANSACTION_NOT_FOUND = error_code(
    "transaction_not_found", 404, "No Paddle transaction with this id for this user."
)
PADDLE_REFUSED = error_code(
    "paddle_refused",
    409,
    "Paddle refused the change in the subscription's current state; `details.paddle_code` says "
    "why (e.g. `subscription_locked_renewal`).",
)
PADDLE_NOT_FOUND = error_code(
    "paddle_not_found", 404, "Paddle has no such subscription, customer or transaction."
)
PADDLE_AUTH_FAILED = error_code(
    "paddle_auth_failed",
    502,
    "Paddle refused our API key (HTTP 403: missing, revoked, or for the other environment).",
)
PADDLE_BAD_REQUEST = error_code(
    "paddle_bad_request",
    502,
    "Paddle rejected our request as malformed; `details` carry its code and field errors.",
)
PADDLE_RATE_LIMITED = error_code(
    "paddle_rate_limited", 503, "Paddle is rate limiting our API calls; retry after Retry-After."
)
PADDLE_UNAVAILABLE = error_code(
    "paddle_unavailable", 503, "Paddle's API failed (5xx) or did not answer in time."
)
PADDLE_BAD_RESPONSE = error_code(
    "paddle_bad_response", 502, "Paddle's API answered something we cannot read."
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

"""The value-betting product's error codes (the catalogue: `edgelab.core.error_codes`)."""

from __future__ import annotations

from edgelab.core.error_codes import error_code

# --- markets and bets -------------------------------------------------------------------------

MARKET_NOT_FOUND = error_code(
    "market_not_found", 404, "No market with this id (a betting side, or a prediction market)."
)
MARKET_NOT_SCORED = error_code(
    "market_not_scored", 404, "The market exists but has not been scored yet (`edgelab score`)."
)
MODEL_NOT_FOUND = error_code("model_not_found", 404, "The score's model version is missing.")
BET_NOT_FOUND = error_code("bet_not_found", 404, "No tracked bet with this id for this user.")
PLACED_IN_FUTURE = error_code(
    "placed_in_future", 400, "A tracked bet's `placed_at` is in the future."
)
LINE_REQUIRED = error_code(
    "line_required", 400, "The market has no line in our data: send the line you took."
)

# --- alerts -----------------------------------------------------------------------------------

ALERT_RULE_NOT_FOUND = error_code(
    "alert_rule_not_found", 404, "No alert rule with this id for this user."
)
ALERT_RULE_LIMIT_REACHED = error_code(
    "alert_rule_limit_reached", 409, "The user has the most alert rules allowed."
)
INVALID_UNSUBSCRIBE_TOKEN = error_code(
    "invalid_unsubscribe_token", 403, "The alert e-mail's unsubscribe link is not valid."
)

# --- evaluation, trends, model updates --------------------------------------------------------

NO_EVALUATION_DATA = error_code(
    "no_evaluation_data", 404, "No season can be evaluated: import results (and odds) first."
)
NO_TREND_DATA = error_code("no_trend_data", 404, "No games to compute trends from.")
SEASON_NOT_FOUND = error_code(
    "season_not_found",
    404,
    "No season in the asked range; `details.seasons` lists those the data has.",
)
EVALUATION_PENDING = error_code(
    "evaluation_pending",
    503,
    "The evaluation report is being computed for the first time; retry after `Retry-After`.",
)
MODEL_JOB_NOT_FOUND = error_code("model_job_not_found", 404, "No model update job with this id.")
MODEL_UPDATE_RUNNING = error_code(
    "model_update_running", 409, "A model update is already queued or running."
)

# --- live odds (The Odds API) -----------------------------------------------------------------

ODDS_API_NOT_CONFIGURED = error_code(
    "odds_api_not_configured", 503, "Live odds are off: no EDGELAB_ODDS_API_KEY is set."
)
ODDS_EVENT_NOT_FOUND = error_code(
    "odds_event_not_found", 404, "The Odds API has no odds for this event (unknown, or over)."
)
ODDS_API_AUTH_FAILED = error_code("odds_api_auth_failed", 502, "The Odds API rejected the API key.")
ODDS_API_OUT_OF_CREDITS = error_code(
    "odds_api_out_of_credits",
    503,
    "The Odds API's monthly usage credits are spent (its 401 OUT_OF_USAGE_CREDITS); live odds "
    "pause until the next month.",
)
ODDS_API_RATE_LIMITED = error_code(
    "odds_api_rate_limited", 503, "The Odds API is rate limiting us, or the quota is spent."
)
ODDS_API_UNAVAILABLE = error_code(
    "odds_api_unavailable", 503, "The Odds API did not answer, or answered 5xx."
)
ODDS_API_BAD_REQUEST = error_code(
    "odds_api_bad_request", 502, "The Odds API refused the request we sent it."
)
ODDS_API_BAD_RESPONSE = error_code(
    "odds_api_bad_response", 502, "The Odds API answered something we cannot use."
)

"""The prediction-markets product's error codes (the catalogue: `edgelab.core.error_codes`;
`market_not_found`, shared with betting, is betting's)."""

from __future__ import annotations

from edgelab.core.error_codes import error_code

OUTCOME_NOT_FOUND = error_code(
    "outcome_not_found", 404, "The prediction market has no such (or no tradable) outcome."
)
POLYMARKET_NOT_FOUND = error_code(
    "polymarket_not_found", 404, "Polymarket has no such market or order book."
)

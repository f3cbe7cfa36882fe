"""The URL map: every product's routers with their prefixes, on one screen.

Routers declare paths relative to the prefix given here; `create_app` mounts `API_ROUTES` in
this order, then the dashboard under `/app/` and `/metrics`. A test checks that every API
route of the app comes from this map (nothing is mounted elsewhere).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from edgelab.accounts.billing.router import router as billing
from edgelab.accounts.router import router as accounts
from edgelab.accounts.uploads.router import router as uploads
from edgelab.betting.alerts.router import router as alerts
from edgelab.betting.bets.router import router as bets
from edgelab.betting.evaluation.router import router as evaluation
from edgelab.betting.imports.router import router as bet_imports
from edgelab.betting.live.router import router as live_loop
from edgelab.betting.markets.router import router as markets
from edgelab.betting.model.router import router as model
from edgelab.betting.trends.router import router as trends
from edgelab.chess.router import router as chess
from edgelab.core.email.webhooks import router as email_webhooks
from edgelab.health import router as health
from edgelab.predictions.router import router as predictions
from edgelab.sentinel.interventions.router import router as interventions
from edgelab.sentinel.router import router as sentinel

API_ROUTES: tuple[tuple[str, APIRouter], ...] = (
    ("", health),  # GET /health
    # value betting
    ("", markets),  # GET /markets, /markets/props, /bet/{id}, /bet/{id}/history
    ("", bets),  # /me/bets, /me/bets.csv, /me/bets/{id}, GET /me/performance
    ("", bet_imports),  # POST /me/bets/imports, /me/bets/imports/{id}[/confirm], GET .../{id}
    ("/alerts", alerts),  # /alerts/rules, /alerts/rules/{id}, GET /alerts, /alerts/unsubscribe
    ("/evaluation", evaluation),  # GET /evaluation/compare, /evaluation/calibration
    ("/model", model),  # POST /model/update, GET /model/jobs/{id}
    ("", trends),  # GET /trends
    ("/admin", live_loop),  # GET /admin/runs
    # accounts and billing
    ("", accounts),  # /auth/magic-link|verify|verify-email|refresh|logout, /me, /me/email,
    # /me/api-keys[/{id}]
    ("", billing),  # POST /billing/checkout, GET /billing/subscription, POST /webhooks/paddle
    ("", uploads),  # /uploads, /uploads/{id}, GET /files/{id}
    ("", email_webhooks),  # POST /webhooks/resend (delivery events: bounces suppress)
    # Sentinel
    ("", sentinel),  # /sentinel/bets|transactions|limit-changes|players|runs|imports, analyze
    ("/api/interventions", interventions),  # /api/interventions, /{id}, /{id}/cancel
    # prediction markets
    ("", predictions),  # /predictions/markets[/{id}[/history|/news]], /predictions/value
    # chess
    ("/api/analyze", chess),  # POST /api/analyze, /api/analyze/review, GET /api/analyze/{id}
)


def mount_api(app: FastAPI) -> None:
    for prefix, router in API_ROUTES:
        app.include_router(router, prefix=prefix)

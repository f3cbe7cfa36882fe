"""Per-caller rate limits on the routes that had none (issue 16): the calibration PNG, alerts,
billing, uploads, Sentinel's analysis (Claude explanations) and interventions.

Each route is called by a fresh caller until its limit, then once more: 429 `rate_limited` in the
envelope with `Retry-After`, whatever the route would have answered (many answer 4xx/503 here:
no report, no Paddle, unknown ids; those calls count too). Another caller still gets through.
Limits are small settings; Sentinel's default is checked to allow 100 a minute per API key.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_api_key, create_user
from edgelab.app import create_app
from edgelab.core.auth import Principal, issue_access_token
from edgelab.core.settings import Settings
from tests.fixtures.app import bind_to_session, client_at
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SMALL = {
    "rate_limit_anonymous": "2/minute",
    "rate_limit_free": "2/minute",
    "rate_limit_paid": "2/minute",
    "rate_limit_render": "1/minute",
    "rate_limit_billing": "1/minute",
    "rate_limit_uploads": "1/minute",
    "rate_limit_sentinel": "2/minute",
}
PLAYER = "PLR_1234_NJ"
_serial = itertools.count()


@dataclass
class Call:
    method: str
    path: str
    allowed: int  # calls that pass before the 429
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Limited:
    app: FastAPI
    settings: Settings
    session: AsyncSession

    async def caller(self, *, tier: str = "free", role: str = "user") -> dict[str, str]:
        user = await create_user(
            self.session, f"limits-{next(_serial)}@example.com", tier=tier, role=role
        )
        await self.session.commit()
        return {"Authorization": f"Bearer {issue_access_token(self.settings, user.id)}"}

    async def send(self, call: Call, headers: dict[str, str], ip: str) -> httpx.Response:
        async with client_at(self.app, ip) as client:
            return await client.request(call.method, call.path, headers=headers, **call.kwargs)

    async def check(self, call: Call, *, tier: str = "free", role: str = "user") -> None:
        """`call.allowed` calls pass the limit, the next is refused; another caller passes."""
        anonymous = tier == "anonymous"
        first = {} if anonymous else await self.caller(tier=tier, role=role)
        for n in range(call.allowed):
            passed = await self.send(call, first, "192.0.2.1")
            assert passed.status_code != 429, (call, n, passed.text)
            assert passed.headers["x-ratelimit-remaining"] == str(call.allowed - n - 1), call
        refused = await self.send(call, first, "192.0.2.1")
        assert refused.status_code == 429, (call, refused.text)
        assert refused.json()["error"]["code"] == "rate_limited", call
        assert int(refused.headers["retry-after"]) >= 1, call
        second = {} if anonymous else await self.caller(tier=tier, role=role)
        other = await self.send(call, second, "192.0.2.2" if anonymous else "192.0.2.1")
        assert other.status_code != 429, (call, "per caller", other.text)


@pytest.fixture
async def limited(db_url: str, session: AsyncSession) -> AsyncIterator[Limited]:
    settings = make_settings(db_url, **SMALL)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        bind_to_session(app, session)
        yield Limited(app, settings, session)


async def test_the_calibration_png_has_a_render_limit_on_top_of_the_tier_limit(
    limited: Limited,
) -> None:
    await limited.check(Call("GET", "/evaluation/calibration?format=png", 1), tier="paid")
    await limited.check(Call("GET", "/evaluation/calibration", 2), tier="paid")


async def test_alert_routes_are_limited_per_user(limited: Limited) -> None:
    rule = {"name": "limits", "min_value_score": 50}
    for call in (
        Call("POST", "/alerts/rules", 2, {"json": rule}),
        Call("GET", "/alerts/rules", 2),
        Call("GET", "/alerts/rules/rule_x", 2),
        Call("PATCH", "/alerts/rules/rule_x", 2, {"json": {"active": False}}),
        Call("DELETE", "/alerts/rules/rule_x", 2),
        Call("GET", "/alerts", 2),
    ):
        await limited.check(call, tier="paid")


async def test_billing_routes_are_limited_per_user_and_paddle_calls_share_one_budget(
    limited: Limited,
) -> None:
    for call in (
        Call("POST", "/billing/checkout", 2),
        Call("GET", "/billing/subscription", 2),
        Call("GET", "/billing/plans", 2),
        Call("POST", "/billing/cancel", 1, {"json": {"when": "end_of_period"}}),
        Call("POST", "/billing/resume", 1),
        Call("GET", "/billing/transactions", 1),
        Call("GET", "/billing/transactions/txn_abc/invoice", 1),
    ):
        await limited.check(call)
    caller = await limited.caller()
    first = await limited.send(Call("POST", "/billing/portal", 1), caller, "192.0.2.1")
    then = await limited.send(Call("POST", "/billing/pause", 1, {"json": {}}), caller, "192.0.2.1")
    assert first.status_code != 429 and then.status_code == 429  # one budget for Paddle calls


async def test_upload_routes_are_limited_per_user_and_file_links_per_ip(limited: Limited) -> None:
    csv = {
        "files": {"file": ("bets.csv", b"a,b\n1,2\n", "text/csv")},
        "data": {"kind": "bet_history"},
    }
    for call in (
        Call("POST", "/uploads", 1, csv),
        Call("GET", "/uploads", 2),
        Call("GET", "/uploads/upl_x", 2),
        Call("DELETE", "/uploads/upl_x", 2),
    ):
        await limited.check(call)
    await limited.check(Call("GET", "/files/upl_x?expires=1&signature=abc", 2), tier="anonymous")


async def test_sentinel_analysis_and_intervention_routes_are_limited_per_caller(
    limited: Limited,
) -> None:
    create = {"player_id": PLAYER, "intervention_type": "nudge", "reason": "a test of limits"}
    for call in (
        Call("POST", "/api/analytics/analyze-player", 2, {"json": {"player_id": PLAYER}}),
        Call("POST", "/api/interventions", 2, {"json": create}),
        Call("GET", "/api/interventions", 2),
        Call("GET", "/api/interventions/int_x", 2),
        Call("POST", "/api/interventions/int_x/cancel", 2),
    ):
        await limited.check(call, tier="paid", role="analyst")


async def test_an_operators_api_key_gets_100_requests_a_minute_whatever_the_tier_limit(
    db_url: str, session: AsyncSession
) -> None:
    """The seed contract: 100 requests a minute per API key on Sentinel's API. The tier's
    limit (10 here) does not apply there; EDGELAB_RATE_LIMIT_SENTINEL (default 120) does."""
    settings = make_settings(db_url, rate_limit_paid="10/minute")
    analyst = await create_user(session, "operator-key@example.com", role="analyst", tier="paid")
    principal = Principal(analyst.id, analyst.role, analyst.tier, "jwt")
    _, key = await create_api_key(session, principal, "operator")
    await session.commit()
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        bind_to_session(app, session)
        async with client_at(app, "192.0.2.9") as client:
            statuses = [
                (await client.get("/api/interventions", headers=auth)).status_code
                for _ in range(100)
            ]
            last = await client.get("/api/interventions?active=true", headers=auth)
            tier_limited = [(await client.get("/me", headers=auth)).status_code for _ in range(11)]
    assert statuses == [200] * 100
    assert last.headers["x-ratelimit-limit"] == "120"
    assert last.headers["x-ratelimit-remaining"] == "19"
    assert tier_limited[-1] == 429  # elsewhere the tier's limit still holds

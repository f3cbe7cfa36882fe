"""Rate limits: the same behaviour in process memory and in Redis, and through a small app.

Redis runs need `EDGELAB_TEST_REDIS_URL`; each test counts under its own namespace and clears
it afterwards, so concurrent runs on one server do not see each other's hits.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from limits.errors import StorageError
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from edgelab.core.auth import Principal, UnauthorizedError, issue_access_token
from edgelab.core.errors import RateLimitedError, install_error_handlers
from edgelab.core.ratelimit import (
    MemoryMovingWindow,
    RateDecision,
    RateLimiter,
    RateLimitHeadersMiddleware,
    RateLimitPolicy,
    client_ip,
    count_rejected_webhook,
    enforce,
    enforce_auth_limits,
    parse_limit,
    rate_limit,
    rate_limit_headers,
)
from edgelab.core.resources import Resources
from edgelab.core.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def _namespace() -> str:
    return f"edgelab:test:{uuid.uuid4().hex}"


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    made = RateLimiter(url, namespace=_namespace())
    try:
        yield made
    finally:
        await made.reset()
        await made.close()


async def test_limit_allows_n_then_refuses_with_retry_after(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("3/minute", "ip", "1.2.3.4", "GET /markets") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    refused = decisions[-1]
    assert 1 <= refused.retry_after <= 60
    assert refused.remaining == 0 and refused.limit == 3


async def test_remaining_counts_down_and_reset_is_within_the_window(limiter: RateLimiter) -> None:
    remaining = [(await limiter.hit("3/minute", "k")).remaining for _ in range(3)]
    assert remaining == [2, 1, 0]
    decision = await limiter.hit("5/minute", "other")
    assert time.time() < decision.reset_at <= time.time() + 60


async def test_separate_keys_are_independent(limiter: RateLimiter) -> None:
    assert (await limiter.hit("1/minute", "ip", "1.1.1.1", "GET /a")).allowed
    assert not (await limiter.hit("1/minute", "ip", "1.1.1.1", "GET /a")).allowed
    assert (await limiter.hit("1/minute", "ip", "2.2.2.2", "GET /a")).allowed
    assert (await limiter.hit("1/minute", "ip", "1.1.1.1", "GET /b")).allowed


async def test_key_parts_containing_slashes_do_not_collide(limiter: RateLimiter) -> None:
    assert (await limiter.hit("1/minute", "a/b", "c")).allowed
    assert (await limiter.hit("1/minute", "a", "b/c")).allowed


async def test_every_window_of_a_combined_limit_applies(limiter: RateLimiter) -> None:
    """The hourly window refuses although the minute one has room; retry waits for the hour."""
    allowed = [(await limiter.hit("5/minute;2/hour", "e")).allowed for _ in range(3)]
    assert allowed == [True, True, False]
    refused = await limiter.hit("5/minute;2/hour", "e")
    assert refused.limit == 2 and refused.retry_after > 60


async def test_reset_forgets_every_count(limiter: RateLimiter) -> None:
    await limiter.hit("1/minute", "k")
    assert not (await limiter.hit("1/minute", "k")).allowed
    await limiter.reset()
    assert (await limiter.hit("1/minute", "k")).allowed


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_window_frees_a_slot_exactly_when_the_oldest_hit_leaves_it() -> None:
    clock = Clock()
    window = MemoryMovingWindow(clock)
    item = parse_limit("2/minute")[0]
    assert await window.hit(item, "k")
    clock.now += 30
    assert await window.hit(item, "k")
    assert not await window.hit(item, "k")
    stats = await window.get_window_stats(item, "k")
    assert (stats.remaining, stats.reset_time) == (0, clock.now - 30 + 60)
    clock.now += 30  # the first hit is now exactly a minute old: out of the window
    assert await window.hit(item, "k")
    assert not await window.hit(item, "k")
    assert (await window.get_window_stats(item, "other")).remaining == 2


async def test_memory_window_forgets_keys_idle_for_a_whole_window() -> None:
    """Memory stays bounded by the keys active in the last window, not by every IP ever seen."""
    clock = Clock()
    window = MemoryMovingWindow(clock, sweep_seconds=60)
    minute, hour = parse_limit("5/minute")[0], parse_limit("5/hour")[0]
    for n in range(100):
        await window.hit(minute, "ip", str(n))
    await window.hit(hour, "ip", "slow")
    clock.now += 61
    await window.hit(minute, "ip", "new")  # the sweep runs on a hit, at most once a minute
    assert len(window._hits) == 2  # "new", and "slow" whose hour is not over
    assert (await window.get_window_stats(hour, "ip", "slow")).remaining == 4


async def test_unreachable_redis_lets_requests_through_unless_fail_closed() -> None:
    open_limiter = RateLimiter("redis://127.0.0.1:1/0", namespace=_namespace())
    closed = RateLimiter("redis://127.0.0.1:1/0", namespace=_namespace(), fail_open=False)
    try:
        assert open_limiter.backend == "redis"
        assert (await open_limiter.hit("1/minute", "k")).allowed
        with pytest.raises(StorageError):
            await closed.hit("1/minute", "k")
    finally:
        await open_limiter.close()
        await closed.close()


async def test_policy_defaults_and_tiers() -> None:
    policy = RateLimitPolicy()
    assert (policy.anonymous, policy.free, policy.paid) == ("60/minute", "120/minute", "600/minute")
    assert (policy.auth_per_ip, policy.auth_per_email_ip) == ("20/minute", "5/minute;20/hour")
    assert policy.auth_per_email == "20/minute;100/hour"  # looser than one requester's share
    assert parse_limit(policy.sentinel)[0].amount >= 100  # the seed: 100 a minute per API key
    assert policy.for_tier("paid") == "600/minute"
    assert policy.for_tier("free") == policy.for_tier("unknown") == policy.for_tier(None)


async def test_policy_refuses_a_malformed_limit_at_construction() -> None:
    with pytest.raises(ValueError):
        RateLimitPolicy(paid="600 a minute")
    with pytest.raises(ValueError):
        RateLimitPolicy(webhook_unsigned="lots")


async def test_policy_takes_every_limit_from_its_setting() -> None:
    settings = AUTH_SETTINGS.model_copy(
        update={"rate_limit_billing": "3/minute", "rate_limit_auth_per_email_ip": "1/minute"}
    )
    policy = RateLimitPolicy.from_settings(settings)
    assert (policy.billing, policy.auth_per_email_ip) == ("3/minute", "1/minute")
    assert policy.sentinel == settings.rate_limit_sentinel


async def test_an_unknown_named_limit_fails_when_the_route_is_declared() -> None:
    with pytest.raises(ValueError):
        rate_limit("GET /x", policy_limit="nope")
    with pytest.raises(ValueError):
        rate_limit("GET /x", limit="1/minute", policy_limit="billing")


async def test_headers_carry_retry_after_only_when_refused() -> None:
    now = time.time()
    allowed = rate_limit_headers(RateDecision(True, 60, 59, now + 30, 0))
    expected = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": "30"}
    assert allowed == expected
    refused = rate_limit_headers(RateDecision(False, 60, 0, now + 12.2, 13))
    assert refused["Retry-After"] == "13" and refused["X-RateLimit-Reset"] == "13"


async def test_enforce_raises_429_with_headers_only_on_refusal() -> None:
    enforce(RateDecision(True, 5, 4, time.time() + 60, 0), "GET /markets")
    with pytest.raises(RateLimitedError) as caught:
        enforce(RateDecision(False, 5, 0, time.time() + 9.5, 10), "GET /markets")
    error = caught.value
    assert error.code == "rate_limited" and error.status_code == 429
    assert "GET /markets" in error.message and error.retry_after == 10
    assert error.headers["Retry-After"] == "10" and error.headers["X-RateLimit-Limit"] == "5"


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


async def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    request = _request("203.0.113.9", "198.51.100.1")
    assert client_ip(request) == "203.0.113.9"
    assert client_ip(request, frozenset({"10.0.0.1"})) == "203.0.113.9"


async def test_forwarded_for_is_used_from_a_trusted_proxy() -> None:
    assert client_ip(_request("10.0.0.1", "198.51.100.1"), frozenset({"10.0.0.1"})) == (
        "198.51.100.1"
    )


async def test_forwarded_for_entries_a_client_wrote_itself_are_skipped() -> None:
    """Read right to left through trusted hops: the left 'spoof' came from the client."""
    request = _request("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2")
    assert client_ip(request, frozenset({"10.0.0.0/8"})) == "198.51.100.7"


class SignIn(BaseModel):
    email: str


AUTH_SETTINGS = Settings(
    _env_file=None,  # type: ignore[call-arg]
    env="test",
    jwt_secret="test-secret-for-the-suite-only-0123456789abcdef",
)
TIERS = {"u1": "free", "u2": "paid", "u3": "free"}  # the users the fake resolver knows


async def _resolve(_session: AsyncSession, kind: str, credential: str) -> Principal | None:
    """Stands in for accounts' resolver: users by id, no API keys."""
    tier = TIERS.get(credential) if kind == "user_id" else None
    return Principal(credential, "user", tier, "jwt") if tier else None


def _signed_in(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_access_token(AUTH_SETTINGS, user_id)}"}


def _make_app(limiter: RateLimiter | None, policy: RateLimitPolicy) -> FastAPI:
    """A tiny app with the real `core.auth` principal (real JWTs, a fake user table)."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RateLimitHeadersMiddleware)
    resources = Resources(
        settings=AUTH_SETTINGS, ratelimit_policy=policy, principal_resolver=_resolve
    )
    resources.ratelimiter = limiter
    # never connected: the fake resolver runs no SQL, and committing an unused session is free
    resources.sessionmaker = async_sessionmaker(create_async_engine("sqlite+aiosqlite://"))
    app.state.resources = resources

    @app.get("/markets", dependencies=[Depends(rate_limit("GET /markets"))])
    async def markets() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/token", dependencies=[Depends(rate_limit("POST /token", per_user=False))])
    async def token() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/billing", dependencies=[Depends(rate_limit("billing", policy_limit="billing"))])
    async def billing() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/webhook")
    async def webhook(request: Request) -> dict[str, str]:
        if request.headers.get("signature") != "good":
            await count_rejected_webhook(request, "test")
            raise UnauthorizedError("bad signature")
        return {"ok": "yes"}

    @app.post("/sign-in")
    async def sign_in(body: SignIn, request: Request) -> dict[str, str]:
        await enforce_auth_limits(request, body.email)
        return {"ok": "yes"}

    return app


SMALL = RateLimitPolicy(
    anonymous="2/minute",
    free="3/minute",
    paid="5/minute",
    auth_per_email="3/minute;4/hour",
    auth_per_email_ip="2/minute",
    auth_per_ip="4/minute",
    billing="1/minute",
    webhook_unsigned="2/minute",
)
ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
def make_client() -> ClientFactory:
    def make(app: FastAPI, ip: str = "192.0.2.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    return make


async def test_refused_request_answers_429_envelope_with_headers(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    async with make_client(_make_app(limiter, SMALL)) as client:
        for _ in range(2):
            assert (await client.get("/markets")).status_code == 200
        response = await client.get("/markets")
    assert response.status_code == 429
    body = response.json()
    assert body["error"]["code"] == "rate_limited" and "GET /markets" in body["error"]["message"]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-limit"] == "2"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert len(response.headers.get_list("x-ratelimit-limit")) == 1


async def test_successful_request_carries_ratelimit_headers(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    async with make_client(_make_app(limiter, SMALL)) as client:
        limited = await client.get("/markets")
        unlimited = await client.get("/health")
    assert limited.status_code == 200
    assert [limited.headers[h] for h in LIMIT_HEADERS[:2]] == ["2", "1"]
    assert 0 < int(limited.headers["x-ratelimit-reset"]) <= 60
    assert "retry-after" not in limited.headers
    assert not any(h in unlimited.headers for h in LIMIT_HEADERS)


async def _allowed_count(client: httpx.AsyncClient, headers: dict[str, str], tries: int) -> int:
    statuses = [(await client.get("/markets", headers=headers)).status_code for _ in range(tries)]
    return statuses.count(200)


async def test_signed_in_users_are_limited_per_user_at_their_tier(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    """The principal `core.auth` resolves from the bearer token picks the bucket and limit."""
    async with make_client(_make_app(limiter, SMALL)) as client:
        assert await _allowed_count(client, {}, 8) == 2
        assert await _allowed_count(client, _signed_in("u1"), 8) == 3
        assert await _allowed_count(client, _signed_in("u2"), 8) == 5
        assert await _allowed_count(client, _signed_in("u3"), 8) == 3  # same IP, own budget
        response = await client.get("/markets", headers=_signed_in("u2"))
    assert response.status_code == 429 and response.headers["x-ratelimit-limit"] == "5"


async def test_anonymous_callers_are_limited_per_ip(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    app = _make_app(limiter, SMALL)
    async with make_client(app, "192.0.2.1") as first, make_client(app, "192.0.2.2") as second:
        assert await _allowed_count(first, {}, 4) == 2
        assert await _allowed_count(second, {}, 4) == 2
        assert await _allowed_count(first, _signed_in("u1"), 4) == 3  # signed in: not the IP's


async def test_a_bad_credential_is_401_and_never_counted_as_anonymous(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    async with make_client(_make_app(limiter, SMALL)) as client:
        for headers in (_signed_in("nobody"), {"Authorization": "Bearer junk"}):
            response = await client.get("/markets", headers=headers)
            assert response.status_code == 401, response.text
            assert "x-ratelimit-limit" not in response.headers
        assert await _allowed_count(client, {}, 4) == 2  # the IP's budget is untouched


async def test_a_per_ip_limit_ignores_the_authorization_header(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    """Token endpoints: an expired or foreign bearer token neither 401s nor moves the bucket."""
    async with make_client(_make_app(limiter, SMALL)) as client:
        statuses = [
            (await client.post("/token", headers=headers)).status_code
            for headers in ({"Authorization": "Bearer junk"}, _signed_in("u2"), {})
        ]
    assert statuses == [200, 200, 429]


async def _sign_in(client: httpx.AsyncClient, email: str) -> int:
    return (await client.post("/sign-in", json={"email": email})).status_code


async def test_auth_limits_apply_per_email_and_ip_and_per_ip(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    app = _make_app(limiter, SMALL)
    async with make_client(app, "192.0.2.1") as first, make_client(app, "192.0.2.2") as second:
        # per (e-mail, IP), whatever the e-mail's case: 2 a minute
        assert [await _sign_in(first, e) for e in ("a@x.io", "A@x.io", "a@x.io")] == [200, 200, 429]
        # the same account from another address is not refused: that requester has its own share
        assert await _sign_in(second, "a@x.io") == 200
        # per IP: the first address has made 3 attempts of 4, whichever accounts they named
        assert [await _sign_in(first, e) for e in ("b@x.io", "c@x.io")] == [200, 429]
        assert await _sign_in(second, "c@x.io") == 200


async def test_one_requester_cannot_spend_an_addresss_shared_budget(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    """The requests one IP is refused do not count against the address's cap, so the owner
    still gets a link; only requesters from enough addresses together reach the cap."""
    app = _make_app(limiter, SMALL)
    async with (
        make_client(app, "198.51.100.66") as attacker,
        make_client(app, "192.0.2.10") as owner,
        make_client(app, "192.0.2.11") as third,
        make_client(app, "192.0.2.12") as fourth,
    ):
        statuses = [await _sign_in(attacker, "victim@x.io") for _ in range(4)]
        assert statuses == [200, 200, 429, 429]  # 4 of the IP's 4, 2 for the address
        assert await _sign_in(owner, "victim@x.io") == 200  # 3 of the address's 3 a minute
        assert await _sign_in(third, "victim@x.io") == 429  # the address's cap, from anywhere
        assert await _sign_in(fourth, "someone@x.io") == 200


async def test_a_named_limit_replaces_the_tier_limit(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    async with make_client(_make_app(limiter, SMALL)) as client:
        first = await client.get("/billing", headers=_signed_in("u2"))
        refused = await client.get("/billing", headers=_signed_in("u2"))
        other_user = await client.get("/billing", headers=_signed_in("u1"))
    assert first.status_code == 200 and first.headers["x-ratelimit-limit"] == "1"
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert other_user.status_code == 200


async def test_failed_webhook_signatures_are_limited_per_ip_and_signed_ones_never(
    limiter: RateLimiter, make_client: ClientFactory
) -> None:
    app = _make_app(limiter, SMALL)
    async with make_client(app, "203.0.113.5") as flood, make_client(app, "203.0.113.6") as other:
        bad = [(await flood.post("/webhook")).status_code for _ in range(3)]
        good = [
            (await flood.post("/webhook", headers={"signature": "good"})).status_code
            for _ in range(3)
        ]
        elsewhere = (await other.post("/webhook")).status_code
        refused = await flood.post("/webhook")
    assert bad == [401, 401, 429] and good == [200, 200, 200] and elsewhere == 401
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


async def test_app_without_a_limiter_is_not_limited(make_client: ClientFactory) -> None:
    async with make_client(_make_app(None, SMALL)) as client:
        assert await _allowed_count(client, {}, 5) == 5


async def test_limits_hold_across_two_app_instances_sharing_redis(
    redis_url: str, make_client: ClientFactory
) -> None:
    namespace = _namespace()
    one, two = (
        RateLimiter(redis_url, namespace=namespace),
        RateLimiter(redis_url, namespace=namespace),
    )
    try:
        async with (
            make_client(_make_app(one, SMALL)) as first,
            make_client(_make_app(two, SMALL)) as second,
        ):
            assert (await first.get("/markets")).status_code == 200
            response = await second.get("/markets")
            assert response.headers["x-ratelimit-remaining"] == "0"
            assert (await first.get("/markets")).status_code == 429
            assert (await second.get("/markets")).status_code == 429
    finally:
        await one.reset()
        await one.close()
        await two.close()

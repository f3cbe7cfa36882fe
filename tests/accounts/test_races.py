"""Check-then-act under concurrency, each side in its own session (PostgreSQL: real row locks,
READ COMMITTED): two presentations of one sign-in link or refresh token, two sign-ups of one
address, one bet sent twice with its external_id, two alert rules over the cap at once.

Both sides are held until each has run its first statement (the check: a gate), so the
interleaving a check-then-act loses on is forced, not hoped for. Where the fix makes the second
side wait for the first's lock at that very statement, the gate lets the first go on alone
after `Gate.patience` seconds (a bound on waiting, never asserted on).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts import sign_in
from edgelab.accounts.models import MagicLink, RefreshToken, User
from edgelab.accounts.service import create_user
from edgelab.accounts.tokens import hash_secret, new_secret
from edgelab.betting.alerts import service as alerts
from edgelab.betting.alerts.models import AlertRule
from edgelab.betting.alerts.schemas import AlertRuleCreate
from edgelab.betting.bets import service as bets
from edgelab.betting.bets.models import UserBet
from edgelab.betting.odds.models import Game, Market, Outcome
from edgelab.core import migrations
from edgelab.core.auth import Principal
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.errors import AppError
from edgelab.core.settings import Settings
from tests.fixtures.database import fresh_database, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def race_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A PostgreSQL database of its own: the sessions here commit for real."""
    url = fresh_database(request, "postgresql", tmp_path_factory.mktemp("races"), "races")
    settings = make_settings(url)
    migrations.upgrade(settings)
    return settings


@pytest.fixture
async def sessions(race_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(race_settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


class Gate:
    """Lets every party on once all have arrived, or whoever waited `patience` seconds (the
    other is then blocked on a lock the waiting one holds: the fix at work)."""

    def __init__(self, parties: int, patience: float = 30.0) -> None:
        self.parties, self.arrived, self.all_in = parties, 0, asyncio.Event()
        self.patience = patience

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.all_in.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_in.wait(), timeout=self.patience)


def hold_after_first_statement(session: AsyncSession, gate: Gate) -> None:
    """The session's first statement (the secret's lookup) waits at `gate` once answered."""
    execute = session.execute
    first = True

    async def gated(*args: Any, **kwargs: Any) -> Any:
        nonlocal first
        result = await execute(*args, **kwargs)
        if first:
            first = False
            await gate.arrive()
        return result

    session.execute = gated  # type: ignore[method-assign]


async def present_twice(
    sessions: async_sessionmaker[AsyncSession],
    present: Callable[[AsyncSession], Awaitable[object]],
    *,
    patience: float = 30.0,
) -> list[str]:
    """Run `present` in two sessions at once; each outcome is "ok" or the refusal's code."""
    gate = Gate(2, patience)

    async def one() -> str:
        async with sessions() as session:
            hold_after_first_statement(session, gate)
            try:
                await present(session)
            except AppError as exc:
                await session.rollback()
                return str(exc.code)
            await session.commit()
            return "ok"

    return sorted(await asyncio.gather(one(), one()))


async def test_two_concurrent_uses_of_one_sign_in_link_sign_in_once(sessions, race_settings):
    token = new_secret()
    async with sessions() as session:
        user = await create_user(session, "race-link@example.com")
        session.add(
            MagicLink(
                user_id=user.id,
                token_hash=hash_secret(token),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15),
            )
        )
        await session.commit()

    outcomes = await present_twice(
        sessions, lambda s: sign_in.verify_magic_link(s, race_settings, token, ip=None)
    )
    assert outcomes == ["invalid_sign_in_link", "ok"]
    async with sessions() as session:
        issued = await session.execute(select(RefreshToken).where(RefreshToken.user_id == user.id))
        assert len(issued.scalars().all()) == 1  # one session, not two


async def test_two_concurrent_rotations_of_one_refresh_token_are_a_reuse(sessions, race_settings):
    token = new_secret()
    async with sessions() as session:
        user = await create_user(session, "race-refresh@example.com")
        session.add(
            RefreshToken(
                user_id=user.id,
                family_id="fam_race",
                token_hash=hash_secret(token),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
            )
        )
        await session.commit()

    outcomes = await present_twice(
        sessions, lambda s: sign_in.rotate_refresh_token(s, race_settings, token, ip=None)
    )
    assert outcomes == ["ok", "refresh_token_reused"]


async def test_two_concurrent_sign_ups_of_one_address_make_one_account(sessions, race_settings):
    outcomes = await present_twice(sessions, lambda s: create_user(s, "race-new@example.com"))
    assert outcomes == ["ok", "user_exists"]  # a 409, not a 500 from the unique index
    # the sign-in route answers 202 either way: the loser's link goes to the winner's account
    outcomes = await present_twice(
        sessions,
        lambda s: sign_in.request_magic_link(s, race_settings, "race-link2@example.com", ip=None),
    )
    assert outcomes == ["ok", "ok"]
    async with sessions() as session:
        users = select(User.id).where(User.email == "race-link2@example.com")
        (user_id,) = (await session.execute(users)).scalars().all()
        links = select(func.count()).select_from(MagicLink).where(MagicLink.user_id == user_id)
        assert (await session.execute(links)).scalar_one() == 2


async def test_one_bet_sent_twice_at_once_with_its_external_id_is_stored_once(
    sessions, race_settings
):
    async with sessions() as session:
        user = await create_user(session, "race-bets@example.com", tier="paid")
        tip = dt.datetime(2030, 1, 2, 0, 30, tzinfo=dt.UTC)
        session.add(
            Game(
                id="race-game",
                season=2030,
                game_date=tip.date(),
                tip_time=tip,
                home_team="BOS",
                away_team="NYK",
            )
        )
        session.add(Market(id="race-game-ml", game_id="race-game", market_type="moneyline"))
        session.add(
            Outcome(id="race-game-ml-home", market_id="race-game-ml", side="home", label="BOS")
        )
        await session.commit()
    principal = Principal(user.id, "user", "paid", "jwt")
    new = bets.NewBet(
        market_id="race-game-ml-home",
        odds_decimal=1.91,
        stake_minor=2500,
        currency="USD",
        bookmaker=None,
        placed_at=dt.datetime.now(dt.UTC),
        line=None,
        external_id="slip-1",
    )
    outcomes = await present_twice(
        sessions, lambda s: bets.record_bet(s, race_settings, principal, new)
    )
    assert outcomes == ["ok", "ok"]  # the repeat answers with the stored bet (200), not a 500
    async with sessions() as session:
        stored = select(func.count()).select_from(UserBet).where(UserBet.user_id == user.id)
        assert (await session.execute(stored)).scalar_one() == 1


def _rule(name: str) -> dict[str, Any]:
    return AlertRuleCreate(name=name, min_value_score=50).model_dump()


async def test_two_rules_created_at_once_do_not_pass_the_cap(sessions, race_settings):
    async with sessions() as session:
        user = await create_user(session, "race-rules@example.com", tier="paid")
        for i in range(alerts.MAX_RULES_PER_USER - 1):
            await alerts.create_rule(session, user.id, _rule(f"r{i}"))
        await session.commit()
    outcomes = await present_twice(
        sessions,
        lambda s: alerts.create_rule(s, user.id, _rule("last")),
        patience=2.0,  # with the fix the second waits on the first's lock: it never arrives
    )
    assert outcomes == ["alert_rule_limit_reached", "ok"]
    async with sessions() as session:
        count = select(func.count()).select_from(AlertRule).where(AlertRule.user_id == user.id)
        assert (await session.execute(count)).scalar_one() == alerts.MAX_RULES_PER_USER

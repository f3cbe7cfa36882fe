"""Dashboard fixtures: page tests over ASGI (`web_client`, cookies as a browser sends them), and
a live server with the real data for Playwright driving Debian's Chromium.

Browser tests skip, saying why, only when Chromium or Playwright is absent; they never
download a browser. Screenshots go to `var/test-output/screenshots/` (EDGELAB_TEST_OUTPUT
overrides the folder).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.core.auth import issue_access_token
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.email.models import OutboxEmail
from edgelab.core.settings import Settings
from tests.fixtures.database import make_settings
from tests.fixtures.real_data import copy_of, real_sqlite_file  # noqa: F401 (fixture)
from tests.loopback import loopback_socket, serve, url_of

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("EDGELAB_TEST_OUTPUT", ROOT / "var" / "test-output")) / (
    "screenshots"
)


def dashboard_settings(database_url: str, **overrides: Any) -> Settings:
    """Test settings with the npm assets `make assets` installed (charts drawn when present)."""
    return make_settings(
        database_url,
        web_assets_dir=ROOT / "node_modules",
        paddle_webhook_secret="pdl_ntfset_web_secret_0123456789",
        paddle_price_id="pri_web",
        **overrides,
    )


async def _new_user(settings: Settings, email: str, tier: str, role: str) -> str:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await create_user(session, email, tier=tier, role=role)
            await session.commit()
            return user.id
    finally:
        await engine.dispose()


async def _latest_email(settings: Settings, to: str) -> str:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            row = (
                await session.scalars(
                    select(OutboxEmail)
                    .where(OutboxEmail.to_address == to)
                    .order_by(OutboxEmail.id.desc())
                )
            ).first()
            assert row is not None, f"no e-mail to {to} in the outbox"
            return str(row.text)
    finally:
        await engine.dispose()


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion on a thread of its own: Playwright's sync API keeps an
    event loop running on the test's thread, where `asyncio.run` is refused."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


@dataclass
class LiveDashboard:
    """The app on a loopback port with the real NBA data, a fake Chess.com and billing on."""

    url: str
    settings: Settings

    def user(self, email: str, *, tier: str = "free", role: str = "user") -> str:
        """A new committed user; returns their id."""
        return str(run_async(_new_user(self.settings, email, tier, role)))

    def token(self, user_id: str) -> str:
        return issue_access_token(self.settings, user_id)

    def magic_link(self, email: str) -> str:
        """The sign-in link from the newest e-mail to `email` in the outbox."""
        text = run_async(_latest_email(self.settings, email))
        found = re.search(r"https?://\S+/app/verify\?token=\S+", text)
        assert found, text
        return found.group(0)

    def run(self, coro_factory: Callable[[Settings], Any]) -> Any:
        """Run `await coro_factory(settings)` against the server's database (seeding)."""
        return run_async(coro_factory(self.settings))


@pytest.fixture(scope="session")
def live_dashboard(
    tmp_path_factory: pytest.TempPathFactory,
    real_sqlite_file: Path,
) -> Iterator[LiveDashboard]:
    from tests.chess.fake_chesscom import FakeChesscom

    with serve(FakeChesscom().app, name="fake Chess.com") as chesscom:
        sock = loopback_socket()
        settings = dashboard_settings(
            copy_of(real_sqlite_file, tmp_path_factory.mktemp("dashboard")),
            chesscom_url=f"{chesscom}/pub",  # the fake serves Chess.com's /pub/... paths
            app_base_url=url_of(sock),  # the e-mailed sign-in links point here
        )
        app = create_app(settings)
        with serve(app, name="dashboard", sock=sock, lifespan="on", start_seconds=30) as url:
            yield LiveDashboard(url, settings)


@pytest.fixture(scope="module")
def browser(live_dashboard: LiveDashboard) -> Iterator[Any]:
    """Debian's Chromium under Playwright; skips (with the reason) when either is missing.

    Per module, and after the live server on purpose: while Playwright's sync API runs it
    keeps an event loop running on this thread, where `asyncio.run` (the server's set-up, and
    every later async test) would be refused; closing it after the module frees the thread."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests skipped: /usr/bin/chromium is absent (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests skipped: playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser: Any, live_dashboard: LiveDashboard) -> Iterator[Callable[..., Any]]:
    """`open_page(user_id=None)` -> a new page in its own browser context, signed in as
    `user_id` (the session cookie the sign-in page would set) or anonymous."""
    contexts: list[Any] = []

    def make(user_id: str | None = None, *, width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        if user_id is not None:
            context.add_cookies(
                [
                    {
                        "name": "edgelab_access",
                        "value": live_dashboard.token(user_id),
                        "url": f"{live_dashboard.url}/app",
                        "httpOnly": True,
                        "sameSite": "Lax",
                    }
                ]
            )
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under the run's output; returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

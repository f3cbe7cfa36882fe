"""Fuzz every operation from outside, as a signed-in paid admin, with schemathesis's CLI.

Issue 16's target: schemathesis 4, `--checks all`, 100 examples an operation, as a signed-in
paid admin, finds no 5xx and no schema violation. This script sets up what a real deployment
has, so a 503 means a defect rather than a missing service:

- the app (`create_app`, served by uvicorn on a loopback port) on a SQLite copy of the shipped
  NBA data, imported and scored (`tests/fixtures/real_data.py`);
- local fakes of every outside service it calls, speaking the documented payloads: the Paddle
  API (`tests/accounts/fake_paddle.py`), Resend (`fake_resend.py`), Chess.com
  (`tests/chess/fake_chesscom.py`), Anthropic (`tests/sentinel/fake_anthropic.py`), Polymarket
  (`tests/predictions/fake_polymarket.py`) and NewsAPI is left unset (its documented offline
  default);
- a paid admin made the way production makes one: an admin user, then a signed
  `subscription.created` webhook posted to `/webhooks/paddle` (the only thing that sets the tier),
  and a long-lived access token for the `Authorization` header.

Two operations are left out because they end the fuzzer's own session: `DELETE /me` (the
account) and `POST /auth/logout`. The server counts every status it answers (an ASGI wrapper),
so "no 5xx" is read from the server, not from the fuzzer's report. Prints the counts, the
5xx by operation, and schemathesis's own summary; exits 0 whatever it finds (a benchmark).

    .venv/bin/python benchmarks/fuzz_api.py                      # 100 examples, ~25-40 min
    .venv/bin/python benchmarks/fuzz_api.py --max-examples 10    # a quick look
    .venv/bin/python benchmarks/fuzz_api.py --include-path /me/bets  # the rest: schemathesis
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.accounts import fake_paddle, fake_resend  # noqa: E402
from tests.chess.fake_chesscom import FakeChesscom  # noqa: E402
from tests.fixtures.database import make_settings  # noqa: E402
from tests.fixtures.real_data import load_real_data  # noqa: E402
from tests.loopback import serve  # noqa: E402
from tests.predictions.fake_polymarket import FakePolymarket  # noqa: E402
from tests.sentinel import fake_anthropic  # noqa: E402

from edgelab.accounts.billing.paddle import sign  # noqa: E402
from edgelab.accounts.service import create_user  # noqa: E402
from edgelab.app import create_app  # noqa: E402
from edgelab.core import migrations  # noqa: E402
from edgelab.core.auth import issue_access_token  # noqa: E402
from edgelab.core.db import create_engine, create_sessionmaker  # noqa: E402

PADDLE_SECRET = "pdl_ntfset_fuzz_secret_0123456789abcdef"
RESEND_SECRET = "whsec_ZnV6ei1yZXNlbmQtd2ViaG9vay1zZWNyZXQ="
MONTHLY, YEARLY = "pri_01gsz8x8sawmvhz1pv30nge1ke", "pri_01gsz8z1q1n00f12qt82y31smh"
LEFT_OUT = ("accounts-delete_me", "accounts-logout")


class StatusCounter:
    """ASGI wrapper: counts each response's status by (method, route path)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: collections.Counter[tuple[str, str, int]] = collections.Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                path = getattr(route, "path", None) or scope["path"]
                self.counts[(scope["method"], path, int(message["status"]))] += 1
            await send(message)

        await self.app(scope, receive, counting_send)


def _build(settings: Any) -> None:
    migrations.upgrade(settings)
    asyncio.run(load_real_data(settings))


async def _paid_admin(settings: Any, app_url: str, paddle: Any) -> str:
    """An admin user made paid by a signed `subscription.created` webhook; their bearer token."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await create_user(
                session, f"fuzz-{uuid.uuid4().hex[:8]}@example.com", role="admin"
            )
            await session.commit()
    finally:
        await engine.dispose()
    sub_id, ctm_id = f"sub_01{uuid.uuid4().hex}", f"ctm_01{uuid.uuid4().hex}"
    entity = paddle.add_subscription(sub_id, ctm_id, MONTHLY)
    for _i in range(3):
        paddle.add_transaction(f"txn_01{uuid.uuid4().hex}", ctm_id, sub_id)
    data = json.loads(json.dumps(entity))
    data["custom_data"] = {"user_id": user.id}
    data.pop("management_urls", None)
    body = json.dumps(
        {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "event_type": "subscription.created",
            "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "notification_id": f"ntf_{uuid.uuid4().hex}",
            "data": data,
        }
    ).encode()
    signature = sign(body, PADDLE_SECRET, int(time.time()))
    token = issue_access_token(settings, user.id)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=app_url, timeout=30) as client:
        r = await client.post(
            "/webhooks/paddle",
            content=body,
            headers={"Paddle-Signature": signature, "Content-Type": "application/json"},
        )
        r.raise_for_status()
        for _ in range(300):  # the webhook's job runs in the background
            me = (await client.get("/me", headers=headers)).json()
            if me.get("tier") == "paid":
                return token
            await asyncio.sleep(0.1)
    raise SystemExit("the signed subscription.created webhook did not make the admin paid")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", type=Path, help="reuse this SQLite file (built if absent)")
    args, passed_on = parser.parse_known_args()  # the rest goes to schemathesis run

    work = Path(tempfile.mkdtemp(prefix="edgelab-fuzz-"))
    db_path = args.db or work / "fuzz.db"
    with contextlib.ExitStack() as stack:
        paddle = fake_paddle.FakePaddle()
        paddle_url = stack.enter_context(serve(paddle.app, name="fake Paddle"))
        resend_url = stack.enter_context(serve(fake_resend.FakeResend().app, name="fake Resend"))
        chess_url = stack.enter_context(serve(FakeChesscom().app, name="fake Chess.com"))
        claude_url = stack.enter_context(
            serve(fake_anthropic.FakeAnthropic().app(), name="fake Anthropic")
        )
        poly = FakePolymarket()
        poly_url = stack.enter_context(serve(poly.app, name="fake Polymarket"))
        settings = make_settings(
            f"sqlite+aiosqlite:///{db_path}",
            env="test",
            access_token_ttl_seconds=86_400,
            paddle_webhook_secret=PADDLE_SECRET,
            paddle_api_key=fake_paddle.VALID_KEY,
            paddle_api_url=paddle_url,
            paddle_price_ids=f"monthly={MONTHLY},yearly={YEARLY}",
            paddle_client_token="test_0123456789abcdef",
            resend_api_key=fake_resend.VALID_KEY,
            resend_url=resend_url,
            resend_webhook_secret=RESEND_SECRET,
            chesscom_url=f"{chess_url}/pub",
            anthropic_api_key=fake_anthropic.VALID_KEY,
            anthropic_url=claude_url,
            polymarket_gamma_url=poly_url,
            polymarket_clob_url=poly_url,
            upload_dir=str(work / "uploads"),
        )
        if not db_path.exists():
            started = time.perf_counter()
            _build(settings)
            print(f"database: built {db_path} in {time.perf_counter() - started:.0f} s")
        counter = StatusCounter(create_app(settings))
        app_url = stack.enter_context(serve(counter, name="app", lifespan="on", start_seconds=60))
        token = asyncio.run(_paid_admin(settings, app_url, paddle))
        print(
            f"app: {app_url}; a paid admin's token; "
            "fakes: Paddle, Resend, Chess.com, Anthropic, Polymarket"
        )
        command = [
            str(ROOT / ".venv/bin/schemathesis"),
            "run",
            f"{app_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(args.max_examples),
            "--seed",
            str(args.seed),
            "--workers",
            str(args.workers),
            "-H",
            f"Authorization: Bearer {token}",
            "--suppress-health-check",
            "all",
        ]
        for operation_id in LEFT_OUT:
            command += ["--exclude-operation-id", operation_id]
        command += passed_on
        shown = [
            c if not c.startswith("Authorization") else "Authorization: Bearer ..." for c in command
        ]
        print("$", " ".join(shown), flush=True)
        started = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        elapsed = time.perf_counter() - started
        (work / "schemathesis.out").write_text(run.stdout + run.stderr)

    total = sum(counter.counts.values())
    by_class = collections.Counter(
        f"{status // 100}xx" for (_, _, status) in counter.counts.elements()
    )
    print(
        f"\nschemathesis exit {run.returncode} after {elapsed / 60:.1f} min; "
        f"its output: {work / 'schemathesis.out'}"
    )
    print(
        f"server answered {total:,} requests: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(by_class.items()))
    )
    fives = sorted((k, v) for k, v in counter.counts.items() if k[2] >= 500)
    print(f"5xx answers: {sum(v for _, v in fives)}")
    for (method, path, status), n in fives:
        print(f"  {status} {method} {path}: {n}")
    tail = run.stdout.strip().splitlines()
    start = next(
        (i for i, line in enumerate(tail) if "SUMMARY" in line or "FAILURES" in line),
        max(0, len(tail) - 60),
    )
    print("\n".join(tail[start:][-120:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

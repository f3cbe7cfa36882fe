"""`edgelab jobs worker`: a separate process runs the jobs an app sends through Redis.

The app runs with `EDGELAB_JOBS_WORKER_IN_PROCESS=false`, so nothing in the app process takes
its jobs: the Paddle event it records is processed only if the worker process does it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from edgelab.accounts.billing.paddle import sign
from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.webhooks import WebhookEvent
from tests.fixtures.app import resources
from tests.fixtures.database import make_settings

SECRET = "pdl_ntfset_worker_test_secret_012345"


def test_the_worker_refuses_to_start_without_redis(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "EDGELAB_REDIS_URL": "",
        "EDGELAB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/w.db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "edgelab.cli", "jobs", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "EDGELAB_REDIS_URL" in done.stderr


def test_the_scheduler_refuses_to_start_without_redis(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "EDGELAB_REDIS_URL": "",
        "EDGELAB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/s.db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "edgelab.cli", "jobs", "scheduler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "EDGELAB_REDIS_URL" in done.stderr


@pytest.mark.asyncio(loop_scope="session")
async def test_a_separate_worker_process_runs_the_apps_jobs_and_stops_on_sigterm(
    tmp_path: Path, redis_url: str
) -> None:
    queue = f"edgelab-worker-test-{uuid.uuid4().hex[:8]}"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
    settings = make_settings(
        database_url,
        redis_url=redis_url,
        jobs_queue=queue,
        jobs_worker_in_process=False,
        paddle_webhook_secret=SECRET,
        rate_limits_enabled=False,
    )
    await asyncio.to_thread(migrations.upgrade, settings)
    env = {
        **os.environ,
        "EDGELAB_DATABASE_URL": database_url,
        "EDGELAB_REDIS_URL": redis_url,
        "EDGELAB_JOBS_QUEUE": queue,
        "EDGELAB_PADDLE_WEBHOOK_SECRET": SECRET,
        "EDGELAB_ENV": "development",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edgelab.cli",
        "jobs",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        app = create_app(settings)
        document = {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "event_type": "address.created",
            "occurred_at": "2026-01-01T00:00:00Z",
            "notification_id": "ntf_1",
            "data": {"id": "add_1"},
        }
        body = json.dumps(document).encode()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.post(
                    "/webhooks/paddle",
                    content=body,
                    headers={
                        "Paddle-Signature": sign(
                            body, SECRET, int(dt.datetime.now(dt.UTC).timestamp())
                        )
                    },
                )
                assert r.status_code == 200 and r.json()["status"] == "accepted"
            await resources(app).jobs.drain(timeout=60)  # finished by the other process
            async with resources(app).sessionmaker() as s:
                event = (
                    await s.execute(
                        select(WebhookEvent).where(WebhookEvent.external_id == document["event_id"])
                    )
                ).scalar_one()
            assert event.status == "ignored" and event.attempts == 1
        worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), timeout=60)
        assert worker.returncode == 0, err.decode()
        assert "job worker stopped" in err.decode()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


async def test_a_shutdown_step_that_hangs_is_given_up_and_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A SIGTERM'd scheduler exits even if one of its shutdown steps never finishes: the step
    is cancelled at the deadline, named in a warning, and the later steps are not awaited."""
    from edgelab.cli import close_within

    done: list[str] = []
    hung = asyncio.Event()

    async def step(name: str) -> None:
        done.append(name)

    async def never() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            hung.set()
            raise

    with caplog.at_level("WARNING", logger="edgelab.jobs"):
        await close_within(0.2, ("first", step("first")), ("stuck", never()))
    await asyncio.wait_for(hung.wait(), 5)  # the hung step was cancelled
    assert done == ["first"]
    assert "shutdown step stuck still waiting" in caplog.text


async def test_shutdown_steps_run_in_order_and_a_failing_one_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from edgelab.cli import close_within

    done: list[str] = []

    async def step(name: str) -> None:
        done.append(name)

    async def broken() -> None:
        raise RuntimeError("closing twice")

    with caplog.at_level("WARNING", logger="edgelab.jobs"):
        await close_within(5, ("a", step("a")), ("b", broken()), ("c", step("c")))
    assert done == ["a", "c"]
    assert "shutdown step b failed" in caplog.text

"""Background jobs and interval schedules on taskiq: in-process by default, Redis workers in prod.

`Jobs(None)` uses taskiq's `InMemoryBroker`: a sent job runs as an asyncio task in this
process, through taskiq's real receiver (the same argument handling, result storage and error
capture a Redis worker applies), so the embedded default and the tests exercise the code that
runs in production; only the transport differs. `Jobs(redis_url)` uses taskiq-redis's
`RedisStreamBroker` (a consumer group: each job goes to one worker, is acknowledged once its
result is saved, and a worker that dies mid-job leaves it pending for another to reclaim after
`redeliver_after_seconds`, so tasks must be idempotent; a group Redis lost in a restart is
created again by the workers) with a `RedisAsyncResultBackend` storing JSON results for
`result_ttl_seconds`. Workers run `await jobs.run_worker()` (the CLI's job); the API process
only sends. The consumer group is created by whichever process starts first, senders included,
so jobs sent before any worker is up wait for one.

Tasks are registered on a `Jobs` made in the lifespan (no import-time broker): products keep
plain `async def` functions and register them, `jobs.task("sentinel.rescore")(rescore_user)`.
A task receives its payload as keyword arguments and runs in its own unit of work: with
`session_factory`, a task that declares `session` gets one, committed when it returns and
rolled back when it raises; either way the jobs it `enqueue()`s are sent only after it
succeeds (and its session committed). See `jobs_buffer` for the request side of the protocol.

With Redis and a session factory, jobs go through the job outbox (`outbox`, `relay`), so a
Redis outage loses none; schedules skip a firing whose lock they cannot take.

Over 400 lines: one class, whose registration, lifecycle, sending, schedules and worker share
its state (the broker, the pending ids, the lock client); the outbox and the schedule loop
already live in their own modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends
from taskiq.receiver import Receiver

from edgelab.core.jobs.buffer import (
    session_unit_of_work,
    unit_of_work_jobs,
)
from edgelab.core.jobs.payload import check_json, check_payload, check_task_name
from edgelab.core.jobs.relay import Relay, Staged
from edgelab.core.jobs.schedule import Claim, Schedule, always_claim, redis_claim, run_schedule
from edgelab.core.observability import Degradation

log = logging.getLogger("edgelab.jobs")
_current_job_id: ContextVar[str | None] = ContextVar("edgelab_job_id", default=None)


def current_job_id() -> str | None:
    """The id of the job this code runs in (the same when a job is delivered again after its
    worker died), None outside a job."""
    return _current_job_id.get()


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
STREAM_MAXLEN = 100_000  # approximate trim of the Redis stream; acknowledged entries stay in it
BROKER_SOCKET_TIMEOUT = 10.0  # seconds; above the worker's 2 s blocking read


@dataclass(frozen=True)
class _Task:
    func: Callable[..., Awaitable[Any]]
    payload_signature: inspect.Signature  # the function's, without `session`
    wants_session: bool


class Jobs:
    """Registry, sender, scheduler and (with Redis) worker of the app's background jobs.

    Single use: `startup()` once, `shutdown()` once.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        queue_name: str = "edgelab",
        session_factory: Callable[[], AsyncSession] | None = None,
        run_schedules: bool = True,
        result_ttl_seconds: int = 3600,
        redeliver_after_seconds: float = 600.0,
        degradation: Degradation | None = None,
        outbox: bool = True,
        relay_sweep_seconds: float = 30.0,
    ) -> None:
        self.backend: Literal["memory", "redis"] = "memory" if redis_url is None else "redis"
        self.degradation = degradation or Degradation()
        self.queue_name = queue_name
        self._redis_url = redis_url
        self._session_factory = session_factory
        self._run_schedules = run_schedules
        self._tasks: dict[str, _Task] = {}
        self._schedules: list[Schedule] = []
        self._schedule_loops: list[asyncio.Task[None]] = []
        self._pending: set[str] = set()  # ids this instance sent that have not finished
        self._workers: set[asyncio.Task[Any]] = set()
        self._stop_worker = asyncio.Event()
        self._lock_redis: Any = None
        self._state: Literal["new", "running", "closed"] = "new"
        self._memory: InMemoryBroker | None = None
        self.broker: AsyncBroker
        # with Redis and a database: jobs survive a broker outage in the job outbox (`relay`)
        self.relay: Relay | None = None
        if redis_url is None:
            self._memory = self.broker = InMemoryBroker(max_stored_results=1000)
        else:
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from taskiq.serializers import JSONSerializer
            from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

            self.degradation.watch("redis")
            if outbox and session_factory is not None:
                self.relay = Relay(
                    self._kick, session_factory, self.degradation, sweep_seconds=relay_sweep_seconds
                )
            # bounded waits, one immediate retry (redis-py's default retries for seconds)
            connection: dict[str, Any] = {
                "socket_timeout": BROKER_SOCKET_TIMEOUT,
                "socket_connect_timeout": 1.0,
                "retry": Retry(NoBackoff(), 1),
            }
            self.broker = RedisStreamBroker(
                redis_url,
                queue_name=queue_name,
                consumer_group_name=queue_name,
                maxlen=STREAM_MAXLEN,
                # one entry per read: on a graceful stop nothing read ahead is left pending
                xread_count=1,
                # an entry a worker took and never acknowledged (it died mid-job) is reclaimed
                # by a reading worker once idle this long
                idle_timeout=max(1, round(redeliver_after_seconds * 1000)),
                **connection,
            ).with_result_backend(
                RedisAsyncResultBackend(
                    redis_url,
                    result_ex_time=result_ttl_seconds,
                    serializer=JSONSerializer(),  # not pickle: nothing read from Redis runs code
                    prefix_str=f"{queue_name}:result",
                    **connection,
                )
            )

    # registration -------------------------------------------------------------------------

    def task(self, name: str) -> Callable[[F], F]:
        """Register an `async def` under `name` (`product.event`); returns it unchanged."""
        check_task_name(name)

        def register(func: F) -> F:
            registered = func  # returned as is; the check below would narrow `func`
            if not inspect.iscoroutinefunction(func):
                raise TypeError(f"job {name!r} must be an async def function")
            if name in self._tasks:
                raise ValueError(f"job {name!r} is already registered")
            signature = inspect.signature(func)
            wants_session = "session" in signature.parameters
            if wants_session and self._session_factory is None:
                raise TypeError(f"job {name!r} takes a session but Jobs has no session_factory")
            params = [p for p in signature.parameters.values() if p.name != "session"]
            self._tasks[name] = _Task(func, signature.replace(parameters=params), wants_session)
            self.broker.register_task(self._runner(name), task_name=name)
            return registered

        return register

    def prepare(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Check a job before it is buffered or sent; returns the payload to send (a copy)."""
        check_task_name(name)
        task = self._tasks.get(name)
        if task is None:
            raise LookupError(f"no job named {name!r} is registered")
        try:
            task.payload_signature.bind(**payload)
        except TypeError as exc:
            raise TypeError(f"payload does not fit job {name!r}: {exc}") from None
        return check_payload(payload)

    @property
    def schedule_count(self) -> int:
        return len(self._schedules)

    # lifecycle ----------------------------------------------------------------------------

    async def startup(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"Jobs is {self._state}; make a new one")
        for schedule in self._schedules:
            self.prepare(schedule.name, schedule.payload)
        try:
            await self.broker.startup()
        except Exception as exc:
            if self._memory is not None:
                raise
            # Redis down at start: serve anyway; jobs wait in the outbox, and the worker
            # creates the consumer group once Redis answers (`_recreate_group`)
            self.degradation.failed("redis", "jobs", exc)
        if self._redis_url is not None:
            from edgelab.core.cache import redis_client

            self._lock_redis = redis_client(self._redis_url)
        if self.relay is not None and not await self.relay.table_ready():
            self.relay = None  # a database without the migrations (some tests, a fresh file)
        self._state = "running"
        if self.relay is not None:
            self.relay.start()
        if self._run_schedules:
            for schedule in self._schedules:
                self._start_schedule(schedule)
        log.info(
            "jobs up: backend=%s queue=%s tasks=%d schedules=%d",
            self.backend,
            self.queue_name,
            len(self._tasks),
            len(self._schedules) if self._run_schedules else 0,
        )

    async def shutdown(self, *, grace_seconds: float = 10.0) -> None:
        """Stop schedules, let running jobs finish (up to `grace_seconds`), close connections."""
        if self._state != "running":
            self._state = "closed"
            return
        for loop in self._schedule_loops:
            loop.cancel()
        await asyncio.gather(*self._schedule_loops, return_exceptions=True)
        self._schedule_loops.clear()
        if self.relay is not None:
            await self.relay.stop()
        self._stop_worker.set()
        if self._workers:
            await asyncio.wait(self._workers, timeout=grace_seconds)
        if self._memory is not None:
            try:
                await self.drain(grace_seconds)
            except TimeoutError:
                log.warning("jobs shut down with %d still running", len(self._pending))
        self._state = "closed"
        await self.broker.shutdown()
        if self._lock_redis is not None:
            await self._lock_redis.aclose()

    # sending ------------------------------------------------------------------------------

    async def send(self, name: str, /, **payload: Any) -> str:
        """Send a job now, outside any unit of work; returns its task id."""
        checked = self.prepare(name, payload)
        return await self._kick(name, checked, uuid.uuid4().hex)

    async def _kick(self, name: str, checked: dict[str, Any], task_id: str) -> str:
        """Hand a checked payload to the broker under `task_id`; raises when that fails."""
        if self._state != "running":
            raise RuntimeError(f"cannot send {name!r}: Jobs is {self._state}, not running")
        decorated = self.broker.find_task(name)
        if decorated is None:  # only from the outbox: a row of a job this version dropped
            raise LookupError(f"no job named {name!r} is registered")
        self._pending.add(task_id)  # before the kick: in memory the job may finish inside it
        try:
            await decorated.kicker().with_task_id(task_id).kiq(**checked)
        except BaseException:
            self._pending.discard(task_id)
            raise
        return task_id

    # the job outbox (Redis): what `JobBuffer` calls when the broker may fail ---------------

    @property
    def uses_outbox(self) -> bool:
        return self.relay is not None

    def stage(self, session: AsyncSession, jobs: list[tuple[str, dict[str, Any]]]) -> Staged:
        assert self.relay is not None
        return self.relay.stage(session, jobs)

    async def dispatch(self, staged: Staged) -> list[str]:
        assert self.relay is not None
        return await self.relay.dispatch(staged)

    async def deliver(self, name: str, payload: dict[str, Any]) -> str | None:
        """Send a checked job after its unit of work; with the outbox, a job the broker refuses
        is kept there (None). Without one, a failed send is logged as lost (None)."""
        task_id = uuid.uuid4().hex
        if self.relay is not None:
            return await self.relay.deliver(name, payload, task_id)
        try:
            return await self._kick(name, payload, task_id)
        except Exception:
            log.exception("job %s lost after commit: could not send payload %r", name, payload)
            return None

    async def drain(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (the agreed API)
        """Wait until every job this instance sent has finished, follow-ups included.

        In memory that is every job of the process. With Redis a job is finished once its
        result is stored, by whichever worker ran it; with no worker running this times out.
        Raises `TimeoutError` after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self._memory is None and self._pending:
                backend = self.broker.result_backend
                for task_id in list(self._pending):
                    if await backend.is_result_ready(task_id):
                        self._pending.discard(task_id)
            if not self._pending:
                break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(self._pending)} jobs still running after {timeout}s")
            await asyncio.sleep(0.01 if self._memory is not None else 0.05)
        if self._memory is not None:
            await self._memory.wait_all()  # the receiver's bookkeeping after each job

    # schedules ----------------------------------------------------------------------------

    def schedule(
        self, name: str, /, *, every_seconds: float, offset_seconds: float = 0.0, **payload: Any
    ) -> None:
        """Send job `name` every `every_seconds`, `offset_seconds` after each slot boundary
        (see `schedule` for slots and the lock).

        May be declared before the task is registered: it is checked at `startup()`.
        """
        check_task_name(name)
        if not every_seconds > 0:
            raise ValueError(f"every_seconds must be > 0, got {every_seconds!r}")
        if not 0 <= offset_seconds < every_seconds:
            raise ValueError(f"offset_seconds must be in [0, every_seconds), got {offset_seconds}")
        schedule = Schedule(
            name, float(every_seconds), check_payload(payload), float(offset_seconds)
        )
        self._schedules.append(schedule)
        if self._state == "running":
            self.prepare(name, schedule.payload)
            if self._run_schedules:
                self._start_schedule(schedule)

    def _start_schedule(self, schedule: Schedule) -> None:
        if self._lock_redis is None:
            claim = always_claim()
        else:
            claim = self._claim_or_skip(
                redis_claim(self._lock_redis, self.queue_name, uuid.uuid4().hex)
            )

        async def fire(s: Schedule) -> None:
            await self.deliver(s.name, s.payload)

        loop = asyncio.create_task(run_schedule(schedule, claim, fire))
        self._schedule_loops.append(loop)

    def _claim_or_skip(self, claim: Claim) -> Claim:
        """A firing whose lock cannot be taken (Redis down) is skipped, and says so: firing
        without the lock could fire it on every instance."""

        async def claim_or_skip(schedule: Schedule, slot: int) -> bool:
            try:
                claimed = await claim(schedule, slot)
            except Exception as exc:
                self.degradation.failed("redis", "schedule", exc)
                log.warning(
                    "schedule %s skipped its firing (slot %d): cannot take its lock (%s)",
                    schedule.name,
                    slot,
                    exc,
                )
                return False
            self.degradation.succeeded("redis")
            return claimed

        return claim_or_skip

    # running ------------------------------------------------------------------------------

    async def run_worker(self, *, concurrency: int = 10) -> None:
        """Run jobs from the Redis queue until `shutdown()` or `stop_worker()`.

        On stop no new job is taken and running ones finish. Needs `startup()` first. The
        memory backend has no queue to consume: its jobs already run in the sending process.
        """
        if self._memory is not None:
            raise RuntimeError("the memory backend runs jobs in-process; there is no worker")
        if self._state != "running":
            raise RuntimeError("call startup() before run_worker()")
        current = asyncio.current_task()
        if current is not None:
            self._workers.add(current)
        try:
            with ThreadPoolExecutor(max_workers=1) as executor:
                while not self._stop_worker.is_set():
                    receiver = Receiver(
                        self.broker,
                        executor=executor,
                        run_startup=False,
                        max_async_tasks=concurrency,
                    )
                    try:
                        await receiver.listen(self._stop_worker)
                    except Exception as exc:
                        if not self.degradation.is_down("redis"):  # once an outage, not a second
                            log.exception("job worker lost the broker; listening again in 1 s")
                        self.degradation.failed("redis", "worker", exc)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._stop_worker.wait(), 1.0)
                        with contextlib.suppress(Exception):  # still down: the next try says
                            await self._recreate_group()
        finally:
            if current is not None:
                self._workers.discard(current)

    async def _recreate_group(self) -> None:
        """Create the consumer group again if Redis lost it (restarted without persistence):
        every read fails with NOGROUP until then. From the stream's start: whatever the new
        stream holds was sent since the loss and never delivered."""
        from redis.exceptions import ResponseError

        try:
            await self._lock_redis.xgroup_create(
                self.queue_name, self.queue_name, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):  # the group exists: nothing was lost
                return
            raise
        log.warning("job queue %s had no consumer group (Redis lost it); created", self.queue_name)

    def stop_worker(self) -> None:
        """Ask `run_worker` to finish its running jobs and return (e.g. on SIGTERM)."""
        self._stop_worker.set()

    def _runner(self, name: str) -> Callable[..., Awaitable[Any]]:
        """What taskiq runs for `name`: the task in its own unit of work."""
        task = self._tasks[name]

        async def run(_edgelab_context: Context = TaskiqDepends(), **payload: Any) -> Any:
            task_id = _edgelab_context.message.task_id
            token = _current_job_id.set(task_id)
            try:
                return await self._execute(task, payload)
            except Exception:
                log.exception(
                    "job %s [%s] failed; its writes and follow-ups dropped", name, task_id
                )
                raise
            finally:
                _current_job_id.reset(token)
                self._pending.discard(task_id)

        run.__name__ = run.__qualname__ = f"job_{name.replace('.', '_')}"
        return run

    async def _execute(self, task: _Task, payload: dict[str, Any]) -> Any:
        if task.wants_session:
            try:
                return await self._in_unit_of_work(task, payload)
            except Exception as exc:
                from edgelab.core.db import is_sqlite_busy

                if not is_sqlite_busy(exc):
                    raise
            # SQLite: another writer committed while the job read (its writes and follow-ups
            # were rolled back and dropped); run it once more on a fresh snapshot. Not holding
            # the write lock from the start: several jobs write through sessions of their own
            # (on the same engine), which would then wait on their own job's lock.
            log.info("job %s met SQLite's write lock; run once more", task.func.__name__)
            return await self._in_unit_of_work(task, payload)
        async with unit_of_work_jobs(self) as buffer:
            result = await task.func(**payload)
            check_json(result, "the job's return value")
            await buffer.flush()
        return result

    async def _in_unit_of_work(self, task: _Task, payload: dict[str, Any]) -> Any:
        assert self._session_factory is not None
        async with session_unit_of_work(self, self._session_factory) as session:
            result = await task.func(session=session, **payload)
            check_json(result, "the job's return value")
        return result

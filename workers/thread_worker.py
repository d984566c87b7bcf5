"""A Celery worker running in a thread of the current process (embedded mode and tests)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery.app.trace import trace_task_ret
from celery.concurrency.thread import TaskPool
from celery.worker import state as worker_state

from vecq.shared import keys
from vecq.shared.config.redis_client import connect
from vecq.shared.config.settings import Settings
from vecq.shared.engines import Writer
from vecq.shared.errors import VecqError
from vecq.workers.celery import create_app, start_reaper
from vecq.workers.context import WorkerContext
from vecq.workers.live import LiveLane
from vecq.workers.reaper import Reaper

log = logging.getLogger(__name__)


class AppThreadPool(TaskPool):  # type: ignore[misc]  # celery is untyped
    """Celery's thread pool, tracing tasks with *its own* app.

    Without the worker optimisations (which are process-global and allow one worker app per
    process), Celery looks tasks up on the thread's current app, which for pool threads is
    the process default app, not ours. Passing the app explicitly lets several embedded
    clients, each with its own worker and context, live in one process.
    """

    def on_apply(self, target: Any, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if target is trace_task_ret:
            kwargs = {**(kwargs or {}), "app": self.app}
        return super().on_apply(target, args, kwargs, **options)


REDIS_BROKERS = {"redis", "rediss", "redis+socket", "sentinel"}

# Celery's worker event loop is process-global: two in-process workers at once steal each
# other's connections. One runs at a time; a second start raises instead of hanging.
_running = threading.Lock()


class ThreadWorker:
    """Consumes vecq's queues in a background thread with Celery's thread pool."""

    def __init__(self, settings: Settings, engine: Writer | None = None) -> None:
        if not _running.acquire(blocking=False):
            raise VecqError(
                "an in-process vecq worker is already running in this process; close the "
                "other embedded Client first, or use Client(redis_url=..., worker=False) "
                "with a `vecq worker` process"
            )
        self.app = create_app(settings, engine)
        self._settings = settings
        self._reaper: Reaper | None = None
        self.lane: LiveLane | None = None
        self._controller = self.app.WorkController(
            pool_cls=AppThreadPool,
            concurrency=settings.effective_concurrency,
            queues=[keys.QUEUE_BULK],
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self._thread = threading.Thread(target=self._run, name="vecq-worker", daemon=True)

    @property
    def context(self) -> WorkerContext:
        """What this worker's tasks share: its Redis client, its Qdrant sink, its settings."""
        context: WorkerContext = self.app.vecq_context()
        return context

    @property
    def alive(self) -> bool:
        """False once the worker stopped by itself (or was stopped)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._controller.start()
        except Exception:  # pragma: no cover - logged, the producer's wait then stalls visibly
            log.exception("embedded worker stopped with an error")

    def start(self) -> ThreadWorker:
        """Start consuming (and sweeping for lost batches); returns at once."""
        self._thread.start()
        self._reaper = start_reaper(self.app, self._settings)
        self.lane = LiveLane(self.app).start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the batch in hand, stop consuming and join the thread."""
        try:
            # Every thread is told first and then awaited: each takes up to its own poll
            # time to notice, and one after another those add up.
            for part in (self.lane, self._reaper):
                if part is not None:
                    part.request_stop()
            if self._thread.is_alive():
                worker_state.should_stop = 0  # EX_OK: a warm shutdown
                self._wake_the_loop()
            if self.lane is not None:
                self.lane.stop()
            if self._reaper is not None:
                self._reaper.stop()
            if self._thread.is_alive():
                self._stop_from_its_own_thread(timeout)
            self.app.vecq_release()
            self.app.close()
        finally:
            worker_state.should_stop = None
            _running.release()

    def _stop_from_its_own_thread(self, timeout: float) -> None:
        """Ask the worker's event loop to shut down warmly, and wait for it.

        Celery's ``WorkController.stop`` called from another thread closes the event loop
        under the loop's feet (seen: "Unrecoverable error: RuntimeError('Set changed size
        during iteration')", "I/O operation on closed epoll object", an AttributeError when
        it was still starting). The loop checks Celery's shutdown flag on every turn, also
        before its first, and then stops itself in its own thread after the task in hand.
        The flag is process-wide: one in-process worker runs at a time (``_running``).
        """
        worker_state.should_stop = 0  # EX_OK: a warm shutdown
        self._wake_the_loop()
        self._thread.join(timeout)
        if self._thread.is_alive():  # pragma: no cover - a task outlived the timeout
            log.warning("the embedded worker did not stop within %.0f s; stopping it", timeout)
            self._controller.stop(in_sighandler=False)
            self._thread.join(timeout)

    def _wake_the_loop(self) -> None:
        """End the loop's wait on the broker now rather than at its 1 s BRPOP timeout.

        ``CLIENT UNBLOCK`` makes a blocked BRPOP return as if it had timed out, which a
        consumer simply repeats; so waking another worker on the same Redis costs it one
        extra command. Only when the broker is a Redis (vecq's own, as embedded).
        """
        broker = self._settings.broker_url
        if broker is not None and broker.split("://")[0] not in REDIS_BROKERS:
            return
        try:
            r = connect(self._settings)
            try:
                for client in r.client_list():
                    if client.get("cmd") in ("brpop", "blpop"):
                        r.client_unblock(int(client["id"]))
            finally:
                r.close()
        except (redis.RedisError, OSError, ValueError) as exc:
            log.debug("could not wake the embedded worker's loop: %s", exc)

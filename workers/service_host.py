"""The embedded service: one per data directory, shared by every vecq process on the machine.

``python -m vecq.workers.service_host --data-dir DIR`` (started detached by ``api/launcher.py``)
runs the embedded Redis (AOF on), the worker that owns the Edge shards, and a thread answering
engine calls (reads, index create and drop, bulk mode) from the processes attached to it.
It stops on ``vecq down`` (after the queued work is written; ``--now``: at once, the queue
kept in Redis for the next start), on SIGTERM or SIGINT (like ``--now``), or by itself once
it has had no queued work and no attached client for ``service_idle_timeout`` seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

import redis

from vecq.shared import keys
from vecq.shared.config.embedded_redis import EmbeddedRedis
from vecq.shared.config.redis_client import connect
from vecq.shared.config.settings import Settings
from vecq.shared.engines import Writer, open_engine
from vecq.shared.errors import VecqError
from vecq.shared.logs import configure as configure_logging
from vecq.shared.wire import service_protocol as wire
from vecq.workers.celery import in_broker, publisher
from vecq.workers.reaper import recover_sole_consumer
from vecq.workers.thread_worker import ThreadWorker

log = logging.getLogger("vecq.service")

# How often the service looks at its queue and its clients (seconds).
TICK = 0.5
# Least time between two starts of a worker that keeps stopping by itself (seconds).
WORKER_RESTART_SECONDS = 5.0
# The embedded Redis's append-only file logs every blob that passes through it, and Redis
# compacts it only past a size that grows with each restart. The service compacts it when
# nothing is queued and the file has outgrown the live data: above this size, and this
# many times the data (so the file stays near the size of what Redis holds).
AOF_COMPACT_BYTES = 64 * 1024 * 1024
AOF_COMPACT_RATIO = 4
# How often an idle service looks at its append-only file (seconds).
AOF_LOOK_SECONDS = 5.0


class EngineCalls:
    """A thread answering the engine calls of attached processes, pushed to
    :data:`keys.SERVICE_REQUESTS`: every method of the Engine protocol (see
    :func:`~vecq.shared.wire.service_protocol.engine_calls`), and a stop request."""

    def __init__(self, settings: Settings, engine: Writer, on_shutdown: Any) -> None:
        self._r = connect(settings)
        self._engine = engine
        self._where = f"Qdrant {settings.engine} at {settings.engine_location}"
        self._on_shutdown = on_shutdown
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecq-engine-calls", daemon=True)
        self.served = 0

    def start(self) -> EngineCalls:
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Stop after the call in hand, without waiting (:meth:`stop` waits)."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._r.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                taken = self._r.blpop([keys.SERVICE_REQUESTS], timeout=0.25)
            except (redis.RedisError, OSError) as exc:
                if not self._stopping.is_set():
                    log.warning("engine calls: Redis error %s; retrying", exc)
                    time.sleep(0.5)
                continue
            if taken is not None:
                self._serve(taken[1])  # type: ignore[arg-type]  # bytes replies

    def _serve(self, raw: bytes) -> None:
        try:
            op, reply_to, args = wire.parse_request(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("engine calls: unreadable request dropped: %s", exc)
            return
        try:
            answer = self._answer(op, wire.decode_args(op, args))
        except Exception as exc:  # every failure goes back to the caller, typed
            log.debug("engine call %s failed: %r", op, exc)
            answer = wire.failure(exc, self._where)
        pipe = self._r.pipeline()
        pipe.rpush(reply_to, answer)
        pipe.expire(reply_to, 60)
        pipe.execute()
        self.served += 1

    def _answer(self, op: str, args: dict[str, Any]) -> bytes:
        if op == wire.SHUTDOWN:
            self._on_shutdown(bool(args.get("now")))
            return wire.reply({"pid": os.getpid()})
        if op not in wire.engine_calls():
            raise ValueError(f"unknown engine call {op!r}")
        return wire.encode_result(op, getattr(self._engine, op)(**args))


class ServiceHost:
    """The embedded Redis, the worker and the engine calls of one data directory."""

    def __init__(self, settings: Settings) -> None:
        self.data_dir = settings.data_dir
        self._stop = threading.Event()
        self._drain = True
        # Takes vecq.lock, or raises.
        self._redis_server = EmbeddedRedis(settings.data_dir, settings.redis_server)
        socket_url = self._redis_server.redis_url
        self.settings = dataclasses.replace(
            settings, redis_url=socket_url, broker_url=self._redis_server.broker_url
        )
        self._r = connect(self.settings)
        self._engine: Writer | None = None
        self._worker: ThreadWorker | None = None
        self._worker_died_at = 0.0
        self._aof_looked_at = 0.0
        self._ready = False
        self._calls: EngineCalls | None = None

    def run(self, version: str) -> None:
        """Start everything, announce it in ``service.json``, and serve until told to stop."""
        settings = self.settings
        self._ready = False
        try:
            restored = restore_unacknowledged(settings)
            if restored:
                log.info("redelivering %d batch(es) a stopped worker had taken", restored)
            self._engine = open_engine(settings)
            self._worker = ThreadWorker(settings, self._engine)
            # Before the new worker takes anything: what the stopped one held or lost in
            # transit goes out now, not after its heartbeat lapses or the lost-batch wait.
            lost = recover_sole_consumer(
                self._r, publisher(self._worker.app), in_broker(self._worker.app)
            )
            if lost:
                log.info("published again %d batch(es) the stopped service had lost", lost)
            self._worker.start()
            _ = self._worker.context  # its heartbeat starts now: `vecq status` shows it at once
            self._ready = True
            self._calls = EngineCalls(settings, self._engine, self.request_stop).start()
            wire.ServiceState(
                pid=os.getpid(),
                version=version,
                started_at=time.time(),
                redis_url=str(settings.redis_url),
                broker_url=str(settings.broker_url),
                engine=settings.engine,
                engine_location=settings.engine_location,
                idle_timeout=settings.service_idle_timeout,
            ).write(self.data_dir)
            log.info(
                "vecq service %s ready: pid %d, data directory %s, Redis at %s",
                version,
                os.getpid(),
                self.data_dir,
                settings.redis_url,
            )
            self._serve()
        finally:
            self._shutdown()

    def request_stop(self, now: bool) -> None:
        """Stop after the queued work is written, or (``now``) after the batch in hand."""
        self._drain = self._drain and not now
        self._stop.set()
        log.info("stop requested (%s)", "now" if now else "after the queued work")

    def _serve(self) -> None:
        idle_since = time.monotonic()
        idle_timeout = self.settings.service_idle_timeout
        while True:
            self._stop.wait(TICK)
            self._keep_the_worker()
            work = queued_work(self._r)
            if self._stop.is_set():
                if not self._drain or work == 0:
                    return
                continue
            if work == 0:
                self._compact_when_outgrown()
            if work or attached_clients(self._r):
                idle_since = time.monotonic()
            elif idle_timeout > 0 and time.monotonic() - idle_since >= idle_timeout:
                log.info(
                    "idle for %.0f s with no client and no queued work: stopping", idle_timeout
                )
                return

    def _compact_when_outgrown(self) -> None:
        """Rewrite the append-only file (in the background, as Redis does) once it has
        outgrown the live data (see :data:`AOF_COMPACT_BYTES`); nothing is queued now."""
        now = time.monotonic()
        if now - self._aof_looked_at < AOF_LOOK_SECONDS:
            return
        self._aof_looked_at = now
        try:
            persisted = self._r.info("persistence")
            used = int(self._r.info("memory")["used_memory"])
            size = int(persisted.get("aof_current_size", 0))
            busy = int(persisted.get("aof_rewrite_in_progress", 0)) or int(
                persisted.get("aof_rewrite_scheduled", 0)
            )
            if not busy and size > max(AOF_COMPACT_BYTES, AOF_COMPACT_RATIO * used):
                self._r.bgrewriteaof()
                log.info(
                    "compacting the append-only file (%d MiB for %d MiB of data)",
                    size >> 20,
                    used >> 20,
                )
        except redis.RedisError as exc:  # a full disk, say: the next look tries again
            log.debug("could not look at the append-only file: %s", exc)

    def _keep_the_worker(self) -> None:
        """Start the worker again if it stopped by itself (Celery gives up on an error it
        cannot recover from, such as Redis refusing writes on a full disk): what it held
        goes back to the queue, and the service does not run on without a worker."""
        worker = self._worker
        if worker is None or worker.alive or self._stop.is_set():
            return
        if time.monotonic() - self._worker_died_at < WORKER_RESTART_SECONDS:
            return
        self._worker_died_at = time.monotonic()
        log.error("the worker stopped by itself; starting it again")
        try:
            worker.stop()
            restore_unacknowledged(self.settings)
            self._worker = ThreadWorker(self.settings, self._engine).start()
        except Exception as exc:  # Redis still refusing: try again at the next restart time
            log.error("the worker could not start again (%s); retrying", exc)

    def _shutdown(self) -> None:
        if self._calls is not None:
            self._calls.request_stop()  # noticed while the worker stops
        if self._worker is not None:
            self._worker.stop()
        if self._calls is not None:
            self._calls.stop()
        if self._engine is not None:
            self._engine.close()
        wire.remove_state(self.data_dir, os.getpid())
        # A start that failed (a full disk, say) leaves the Redis to the clients attached to
        # it: it holds their queued work, and the next start (theirs) takes it over.
        keep = not self._ready and self._clients_attached()
        self._r.close()
        if keep:
            log.info("the service did not start; its Redis stays up for the attached clients")
        else:
            self._redis_server.close()
        log.info("vecq service stopped")

    def _clients_attached(self) -> bool:
        """Whether attached clients use this Redis; when it cannot say (the Redis refusing,
        a full disk), yes: a Redis left running costs little, a queue lost costs the work."""
        try:
            return attached_clients(self._r) > 0
        except (redis.RedisError, OSError) as exc:
            log.warning("cannot tell whether clients are attached (%s): keeping the Redis", exc)
            return True


def queued_work(r: redis.Redis) -> int:
    """Batches waiting, taken and not yet acknowledged, or enqueued and not yet settled."""
    pipe = r.pipeline(transaction=False)
    pipe.llen(keys.QUEUE_BULK)
    pipe.llen(keys.QUEUE_LIVE)
    pipe.hlen("unacked")  # kombu's Redis transport: messages taken and not acknowledged
    pipe.zcard(keys.pending())
    return sum(int(n) for n in pipe.execute())


def attached_clients(r: redis.Redis) -> int:
    """Connections of attached processes (they name themselves :data:`wire.CLIENT_NAME`)."""
    return sum(1 for c in r.client_list() if c.get("name") == wire.CLIENT_NAME)


def restore_unacknowledged(settings: Settings) -> int:
    """Put back in their queues the messages a worker took and never acknowledged.

    Only the service consumes this Redis, and it has not started consuming yet, so every
    message kombu holds as unacknowledged belongs to a service that was stopped or killed.
    kombu itself would wait for the visibility timeout (an hour by default) before
    delivering them again; this uses kombu's own restore with a timeout of zero.
    """
    from kombu.connection import Connection

    from vecq.shared.config.celery_config import celery_config

    conf = celery_config(settings)
    options = {**conf["broker_transport_options"], "visibility_timeout": 0}
    with Connection(conf["broker_url"], transport_options=options) as conn:  # type: ignore[no-untyped-call]
        channel = conn.default_channel
        client = channel.client
        waiting = int(client.hlen(channel.unacked_key))
        if waiting:
            client.delete(channel.unacked_mutex_key)  # a lock the stopped worker may hold
            channel.qos.restore_visible(start=0, num=waiting + 100)
        return waiting


def main(argv: list[str] | None = None) -> int:
    """Run the service of ``--data-dir`` in the foreground (its starter detaches it)."""
    parser = argparse.ArgumentParser(prog="python -m vecq.workers.service_host")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--version", required=True, help="the vecq version that started it")
    args = parser.parse_args(argv)
    os.umask(0o077)  # the Redis's AOF, the Edge shards, logs: this user's alone
    settings = Settings.from_env(data_dir=args.data_dir)
    configure_logging(logging.INFO, settings.log_format)
    for chatty in ("celery.app.trace", "celery.worker.strategy"):  # two lines a batch
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        service = ServiceHost(settings)
    except VecqError as exc:  # the starter shows the last line of the log
        print(f"vecq service: {exc}", flush=True)
        return 1

    def on_signal(signum: int, frame: Any) -> None:
        service.request_stop(now=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.run(args.version)
    # Everything is stopped, flushed and closed (the Redis, the Edge shards, the state file):
    # end here rather than wait for Python to join Celery's idle threads and tear down every
    # module, which took half a second more before `vecq down` saw the process gone.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

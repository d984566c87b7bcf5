"""Prometheus metrics of a worker: what it wrote, retried and how long writes took.

Counters live in this process (Prometheus sums them over workers). ``vecq worker
--metrics-port`` serves them together with the deployment's queue, dead-letter and
in-flight gauges (:mod:`vecq.shared.state.stats`), read from Redis at each scrape. A prefork pool's
children write to files in ``PROMETHEUS_MULTIPROC_DIR``, which the parent then serves.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.registry import REGISTRY

from vecq.shared.state import stats

log = logging.getLogger(__name__)

VECTORS = Counter(
    "vecq_vectors_total", "Vectors settled by this worker, by outcome.", ["index", "outcome"]
)
BATCHES = Counter(
    "vecq_batches_total",
    "Batches settled by this worker: written, partial, failed, duplicate or rejected.",
    ["index", "outcome"],
)
RETRIES = Counter(
    "vecq_retries_total",
    "Transient errors retried: 'in_task' (tenacity, same delivery) or 'redelivery' (Celery).",
    ["level"],
)
# From one live request (a few ms) to a slow 2,048-point persisted write (seconds).
WRITE_SECONDS = Histogram(
    "vecq_write_seconds",
    "Time to write one batch (or one coalesced group of live batches) to Qdrant.",
    ["index"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


THROTTLED = Counter(
    "vecq_throttled_total",
    "Requests Qdrant refused for load (429 / RESOURCE_EXHAUSTED); the fleet's limit was cut.",
    ["index"],
)
PACE_WAIT = Counter(
    "vecq_pace_wait_seconds_total",
    "Seconds this worker waited before sending: for the write rate ('rate') or a slot ('slot').",
    ["index", "reason"],
)


def settled(index: str, outcome: str, written: int = 0, failed: int = 0) -> None:
    """Count one settled batch and its vectors."""
    BATCHES.labels(index, outcome).inc()
    if written:
        VECTORS.labels(index, "written").inc(written)
    if failed:
        VECTORS.labels(index, "failed").inc(failed)


@contextmanager
def timed_write(index: str) -> Iterator[None]:
    """Observe the block's duration in the write-latency histogram (failed writes too)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        WRITE_SECONDS.labels(index).observe(time.perf_counter() - start)


def serve(
    port: int, r: redis.Redis, app: Any, ready: threading.Event, addr: str = "0.0.0.0"
) -> None:
    """Serve ``/metrics``, ``/readyz`` (200 once ``ready`` is set, else 503) and ``/healthz``
    on ``port`` from a daemon thread."""
    registry: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    registry.register(stats.ClusterCollector(r, lambda: stats.queue_depths(app)))
    metrics_app = make_wsgi_app(registry)

    def route(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "/")
        if path in ("/readyz", "/healthz"):
            ok = path == "/healthz" or ready.is_set()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8")],
            )
            return [b"ok\n" if ok else b"starting or stopping\n"]
        return metrics_app(environ, start_response)

    server = make_server(addr, port, route, _ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="vecq-metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics, readiness on /readyz", addr, port)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would fill the log."""

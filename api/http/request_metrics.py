"""Prometheus metrics of the HTTP API, served at ``/metrics``.

Requests by route and status, their latency, vectors accepted per index, and the
deployment's gauges (queues, dead letters, in flight) read from Redis at each scrape. With
an in-process worker (``Client(worker=True)``) its counters are in the same registry and
appear too; the embedded service's worker runs in its own process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from vecq.shared.state import stats

if TYPE_CHECKING:
    from vecq.api.client import Client

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "vecq_http_requests_total", "HTTP requests by route and status.", ["route", "status"]
)
LATENCY = Histogram(
    "vecq_http_request_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ACCEPTED = Counter(
    "vecq_http_vectors_accepted_total", "Vectors enqueued through the API.", ["index"]
)


def accepted(index: str, n: int) -> None:
    """Count ``n`` vectors enqueued for ``index``."""
    ACCEPTED.labels(index).inc(n)


def install(app: FastAPI, client: Client) -> None:
    """Add the request-counting middleware and the ``/metrics`` route to ``app``."""
    cluster = CollectorRegistry(auto_describe=False)
    cluster.register(stats.ClusterCollector(client.redis, client.queue_depths))

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUESTS.labels(path, str(response.status_code)).inc()
        LATENCY.labels(path).observe(time.perf_counter() - start)
        return response

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        body = generate_latest(REGISTRY) + generate_latest(cluster)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

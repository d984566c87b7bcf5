"""Worker processes the fault tests and the soak start, kill and restart: ``vecq worker`` itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.engines import location
from tests.support.services import RedisServer

# Short enough that a dead worker's batch comes back within a test, and far longer than
# one of the tests' small batches takes even on a busy machine.
# Hands one task message to a worker's pipeline; answers its result ("deferred": it waits).
Deliver = Callable[[dict[str, Any]], str]

VISIBILITY_TIMEOUT = 12
TASK_TIME_LIMIT = 10


@dataclass
class Workers:
    """Starts ``vecq worker`` processes on one Redis, writing to ``engine`` under ``data_dir``."""

    redis: RedisServer
    data_dir: Path
    log_dir: Path
    engine: str = "edge"
    env_extra: dict[str, str | None] = field(default_factory=dict)
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def location(self) -> dict[str, str]:
        """The settings that put a client on the workers' engine files."""
        return location(self.engine, self.data_dir)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
        env.update(
            VECQ_REDIS_URL=self.redis.url,
            VECQ_BROKER_URL=self.redis.broker_url,
            **{f"VECQ_{k.upper()}": v for k, v in self.location.items()},
            VECQ_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
            VECQ_TASK_TIME_LIMIT=str(TASK_TIME_LIMIT),
            VECQ_RETRY_SECONDS="2",
            VECQ_TASK_RETRY_BACKOFF="0.5",
        )
        merged: dict[str, str | None] = {**env, **self.env_extra}
        return {k: v for k, v in merged.items() if v is not None}

    def with_defaults(self) -> Workers:
        """Workers started from now on run vecq's default timeouts, not the tests' short ones."""
        for name in (
            "VECQ_VISIBILITY_TIMEOUT",
            "VECQ_TASK_TIME_LIMIT",
            "VECQ_RETRY_SECONDS",
            "VECQ_TASK_RETRY_BACKOFF",
        ):
            self.env_extra[name] = None  # dropped by env(): vecq's default applies
        return self

    def slow_writes(self, index: str, seconds: float) -> Workers:
        """Workers started from now on take ``seconds`` longer over each write to ``index``."""
        self.env_extra.update(
            PYTHONPATH=str(Path(__file__).with_name("slow_writes")),
            VECQ_TEST_ROOT=str(Path(__file__).resolve().parents[2]),
            VECQ_TEST_SLOW_WRITE=f"{index}:{seconds}",
        )
        return self

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start one worker process (extra CLI arguments allowed)."""
        with open(self.log_dir / f"worker{len(self.running)}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vecq.api.cli", "worker", "-l", "INFO", *args],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running.append(proc)
        return proc

    def stop_all(self, *, kill: bool = False) -> None:
        """Stop every worker: SIGKILL, or SIGTERM (Celery's warm shutdown)."""
        for proc in self.running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        for proc in self.running:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def logs(self) -> str:
        """Everything the workers printed, for failure messages."""
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.log_dir.glob("*.log"))

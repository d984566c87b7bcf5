"""Producing tracked upserts and checking the result, shared by the fault tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.engines import stored_points
from tests.support.history import History, Report
from vecq import Client, Index, UpsertJob
from vecq.shared.errors import EnqueueInterrupted, UpsertError

DIM = 16


@dataclass
class Tracked:
    """Calls whose every effect is recorded, so a set check can judge the end state."""

    index: Index
    history: History = field(default_factory=History)
    pending: list[tuple[int, UpsertJob, np.ndarray]] = field(default_factory=list)
    interrupted: int = 0

    def upsert(self, ids: np.ndarray, metadata: bool = False) -> None:
        """Send one call with wait=False; vector[0] is the call number, identifying the version.

        With ``metadata``, each point carries ``{"t": call, "u": 0}``.
        """
        call = self.history.calls + 1
        meta = [{"t": call, "u": 0} for _ in range(ids.size)] if metadata else None
        self.history.sent(ids, np.full(ids.size, call, np.float32), meta)
        vectors = np.random.default_rng(call).standard_normal((ids.size, DIM), dtype=np.float32)
        vectors[:, 0] = call
        self._send(call, ids, lambda: self.index.upsert(ids, vectors, metadata=meta, wait=False))

    def delete(self, ids: np.ndarray) -> None:
        """Send one delete with wait=False."""
        call = self.history.deleted(ids)
        self._send(call, ids, lambda: self.index.delete(ids, wait=False))

    def update(self, ids: np.ndarray, patch: dict[str, Any]) -> None:
        """Send one metadata update of ``ids`` with the same keys, wait=False."""
        call = self.history.updated(ids, patch)
        updates = [{"id": i, "metadata": patch} for i in ids.tolist()]
        self._send(call, ids, lambda: self.index.update_metadata(updates, wait=False))

    def _send(self, call: int, ids: np.ndarray, send: Callable[[], UpsertJob]) -> None:
        try:
            job = send()
        except EnqueueInterrupted as exc:
            self.interrupted += 1
            if exc.job_id is not None and len(exc.enqueued_ids):
                job = self.index.session.job(exc.job_id)
                self.pending.append((call, job, np.asarray(exc.enqueued_ids)))
            return
        self.pending.append((call, job, ids))

    def settle_all(self, timeout: float = 120.0) -> None:
        """Wait for every job; acknowledge the ids each enqueued (every one must be applied).

        An update's ids not found are recorded as its report, for the check to judge.
        """
        deadline = time.monotonic() + timeout
        for call, job, ids in self.pending:
            try:
                job.wait(max(1.0, deadline - time.monotonic()))
            except UpsertError as exc:
                if job.op != "update":
                    raise
                self.history.reported_not_found(call, exc.failed_ids)
            self.history.acknowledge(call, ids)
        self.pending.clear()


def check_stored(engine: str, data_dir: Path, tracked: Tracked) -> Report:
    """Read the index with the engine's own API (vecq closed first) and run the set check."""
    return tracked.history.check(stored_points(engine, data_dir, tracked.index.info))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 50 ms; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def producer(redis_url: str, broker_url: str, **options: object) -> Client:
    """A producer-only client (workers run as separate processes), with small batches.

    Small batches keep every task far inside the fault tests' short time limit (Qdrant local
    mode on disk writes only about a thousand points a second).
    """
    options = {"batch_size": 256, **options}
    return Client(redis_url=redis_url, broker_url=broker_url, worker=False, **options)

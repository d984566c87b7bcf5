"""The background stage of an enqueue: encoding blobs a few batches ahead of their upload.

Gathering a batch's rows and checksumming its blob (NumPy and CRC-32C) release the GIL, and
so does the socket I/O of storing the previous blob, so the two overlap on two cores. A
short bounded queue keeps memory a few batches above the caller's input. Publishing stays
on the storing thread: a publisher thread measured no gain, and it let batches be stored
but not yet published when an enqueue was interrupted (the Redis OOM fault test).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from vecq.shared.points.validation import Points
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import pack

T = TypeVar("T")

# (shard, seq, rows, blob) of one encoded batch.
Encoded = tuple[int, int, npt.NDArray[np.intp], memoryview]

# How many encoded blobs may wait for the Redis write (each up to batch_max_bytes).
ENCODE_AHEAD = 3
# How often a blocked stage looks up to see whether it has been told to stop.
_POLL_SECONDS = 0.1


class _Stage(Generic[T]):
    """A daemon thread feeding or draining a bounded queue; its error is re-raised by the caller."""

    _DONE = object()

    def __init__(self, name: str, depth: int) -> None:
        self._queue: queue.Queue[object] = queue.Queue(depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._guarded, name=name, daemon=True)

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # re-raised in the calling thread
            self._error = exc
            self._stop.set()

    def _run(self) -> None:
        raise NotImplementedError

    def _put(self, item: object) -> bool:
        """Queue ``item`` unless the stage is stopped; False if it was."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def stop(self) -> None:
        """Stop at once (what is still queued is dropped) and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()


class Encoder(_Stage[Encoded]):
    """Encodes the planned batches into blobs, a few ahead of the thread storing them."""

    def __init__(
        self,
        points: Points,
        info: IndexInfo,
        batches: list[tuple[int, npt.NDArray[np.intp]]],
        first_seq: int,
        *,
        threaded: bool = True,
    ) -> None:
        super().__init__("vecq-encoder", ENCODE_AHEAD)
        self._points = points
        self._info = info
        self._batches = batches
        self._first_seq = first_seq
        self._threaded = threaded

    def __iter__(self) -> Iterator[Encoded]:
        if not self._threaded:  # a small call: a thread would cost more than it saves
            yield from self._encoded()
            return
        self._thread.start()
        while True:
            try:
                got = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._error is not None:
                    raise self._error from None
                continue
            if got is self._DONE:
                return
            yield got  # type: ignore[misc]  # the queue holds Encoded items and _DONE

    def _run(self) -> None:
        for encoded in self._encoded():
            if not self._put(encoded):
                return
        self._put(self._DONE)

    def _encoded(self) -> Iterator[Encoded]:
        p, info = self._points, self._info
        for offset, (shard, rows) in enumerate(self._batches):
            seq = self._first_seq + offset
            blob = pack(info.name, info.uid_bytes, shard, seq, p, rows, op=p.op)
            yield shard, seq, rows, memoryview(blob)

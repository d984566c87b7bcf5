"""What ``vecq ingest`` shows while it works: progress bars, and waiting for jobs to be written."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TYPE_CHECKING

from vecq.api.cli.exits import ExitStatus

if TYPE_CHECKING:
    from vecq.api.jobs import UpsertJob


def wait_written(
    jobs: list[UpsertJob],
    vectors: int,
    args: argparse.Namespace,
    started: float,
    *,
    empty: bool = False,
) -> tuple[ExitStatus, int]:
    """Wait for the jobs with a bar of records written; the exit status (OK written, FAILED,
    INTERRUPTED) and the records that failed. ``started`` is when the run began, for its
    end-to-end rate; ``empty``: the source held no records at all."""
    from vecq.shared.errors import UpsertError, VecqError

    failed = 0
    watch = WriteBar(jobs, vectors)
    try:
        for job in jobs:
            try:
                job.wait(args.timeout)
            except UpsertError as exc:
                failed += len(exc.failed_ids)
    except KeyboardInterrupt:
        watch.stop()
        print(
            "\nvecq ingest: stopped waiting; the data is enqueued and will be written",
            file=sys.stderr,
        )
        return ExitStatus.INTERRUPTED, failed
    except VecqError as exc:
        watch.stop()
        print(f"vecq ingest: {exc}", file=sys.stderr)
        return ExitStatus.FAILED, failed
    watch.stop()
    if failed:
        print(
            f"vecq ingest: {failed:,} vectors failed; see `vecq dlq list --index {args.index}`",
            file=sys.stderr,
        )
        return ExitStatus.FAILED, failed
    if vectors == 0 and not jobs:
        print(
            "nothing to write: the source holds no records"
            if empty
            else "nothing to write: every chunk was written by an earlier run"
        )
    else:
        elapsed = time.monotonic() - started
        print(
            f"written: {vectors:,} vectors in {elapsed:.1f} s "
            f"({vectors / max(elapsed, 1e-9):,.0f} vectors/s end to end)"
        )
    return ExitStatus.OK, failed


class WriteBar:
    """A bar of the records the jobs have settled, polled from their ledgers in a thread
    while the main thread waits on the jobs (which also notices a stalled queue)."""

    def __init__(self, jobs: list[UpsertJob], total: int) -> None:
        self._jobs = jobs
        self._done = threading.Event()
        self._bar = progress_bar(total, desc="written")
        self._shown = 0
        self._thread = threading.Thread(target=self._run, name="vecq-write-bar", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            stopping = self._done.wait(0.25)
            try:
                settled = sum(job.progress.settled for job in self._jobs)
            except Exception:  # a bar must never break the run: Redis errors
                settled = self._shown  # surface in the main thread's wait
            self._bar(settled - self._shown)
            self._shown = settled
            if stopping:
                return

    def stop(self) -> None:
        """Show the last count and end the bar."""
        self._done.set()
        self._thread.join()
        self._bar.close()


class Bar:
    """A tqdm bar on stderr (records/s, ETA when the total is known); nothing off a terminal.
    Call it with the records done since; close it (or leave its ``with`` block) before the
    next line is printed, so that line starts on a line of its own."""

    def __init__(self, total: int | None, initial: int = 0, desc: str = "enqueued") -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            initial=initial,
            unit="rec",
            unit_scale=True,
            file=sys.stderr,
            disable=None,
            desc=desc,
        )

    def __call__(self, done: int) -> None:
        self._bar.update(done)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int | None, initial: int = 0, desc: str = "enqueued") -> Bar:
    """A :class:`Bar`."""
    return Bar(total, initial, desc)

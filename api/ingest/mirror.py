"""Mirroring a source: after a run has fully succeeded, delete the ids the source no longer has.

``vecq ingest --mirror`` and a scheduled source with ``mode = "mirror"`` end with
:func:`delete_extras`: it reads the source's ids again (bounded memory, ``idsets``), lists
the index's ids, and deletes the difference. It runs only after every job of the run is
written without a failure, so a failed or interrupted run deletes nothing; running it
again after a crash deletes what is still extra, and nothing else.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vecq.api import defaults
from vecq.api.index import Index
from vecq.api.ingest.idsets import SourceIds
from vecq.api.ingest.sources import Source
from vecq.api.jobs import UpsertJob
from vecq.shared.errors import MirrorRefused, SourceError
from vecq.shared.points import ids as idrules

# Ids per delete call of a mirror run.
DELETE_CALL = 10_000


@dataclass
class MirrorReport:
    """What one mirror pass found and deleted."""

    source_ids: int = 0
    """Ids the source leaves in the index."""
    deleted: int = 0
    jobs: list[UpsertJob] = field(default_factory=list)


@dataclass
class MirrorPlan:
    """What a mirror pass would do now (``vecq ingest --dry-run --mirror``); nothing deleted."""

    source_ids: int
    stored: int
    extras: int
    """Ids the index holds that the source does not: what the pass would delete."""
    refusal: str | None = None
    """Why a pass would be refused (a guard), if it would be."""


def plan_extras(
    index: Index,
    sources: Sequence[Source],
    *,
    chunk_rows: int | None = None,
    max_delete_fraction: float = defaults.MAX_DELETE_FRACTION,
    allow_empty: bool = False,
) -> MirrorPlan:
    """Count what :func:`delete_extras` would delete, and whether a guard would refuse."""
    _no_stdin(sources)
    found = SourceIds.scan(sources, chunk_rows, index.info.width)
    try:
        stored = index.count()
        extras = sum(len(e) for e in found.extras(index.session.engine, index.info))
    finally:
        shutil.rmtree(found.directory, ignore_errors=True)
    plan = MirrorPlan(found.present, stored, extras)
    if found.present == 0 and not allow_empty:
        plan.refusal = "the source holds no records (--allow-empty-source to empty the index)"
    elif extras > _limit(found.present, stored, max_delete_fraction, allow_empty):
        plan.refusal = _too_many(extras, stored, max_delete_fraction)
    return plan


def _limit(present: int, stored: int, fraction: float, allow_empty: bool) -> int:
    """Most deletes a pass may make: a share of the index, or all of it when an empty source
    is allowed (emptying the index is then what was asked)."""
    return stored if present == 0 and allow_empty else int(fraction * stored)


def _too_many(extras: int, stored: int, fraction: float, name: str = "the index") -> str:
    share = f" ({extras / stored:.0%})" if stored else ""
    return (
        f"it would delete {extras:,} of the {stored:,} points of {name}{share}, more than "
        f"--max-delete-fraction {fraction:g} allows"
    )


def _no_stdin(sources: Sequence[Source]) -> None:
    if any(source.stdin for source in sources):
        raise SourceError(
            "mirroring reads the source a second time to find the ids it holds; standard "
            "input cannot be read twice: save it to a file and mirror that"
        )


def delete_extras(
    index: Index,
    sources: Sequence[Source],
    *,
    chunk_rows: int | None = None,
    wait: bool = True,
    timeout: float | None = None,
    on_delete: Callable[[int], None] | None = None,
    max_delete_fraction: float = defaults.MAX_DELETE_FRACTION,
    allow_empty: bool = False,
) -> MirrorReport:
    """Delete every id of the index that ``sources`` do not leave; return what was done.

    The source must be the index's only writer while this runs: a point another producer
    adds meanwhile is not in the source, and is deleted too. Two guards stop the pass before
    anything is deleted (:class:`~vecq.shared.errors.MirrorRefused`): a source with no records
    (unless ``allow_empty``), and more extras than ``max_delete_fraction`` of the points
    the index holds (the extras are gathered first, so at most that many ids are held).
    """
    _no_stdin(sources)
    found = SourceIds.scan(sources, chunk_rows, index.info.width)
    report = MirrorReport(source_ids=found.present)
    try:
        if found.present == 0 and not allow_empty:
            raise MirrorRefused(
                f"the source holds no records: mirroring it would delete every point of "
                f"{index.name!r}; nothing was deleted (an export that failed upstream looks "
                "exactly like this). Pass --allow-empty-source to empty the index on purpose"
            )
        stored = index.count()
        limit = _limit(found.present, stored, max_delete_fraction, allow_empty)
        extras: list[list[idrules.Id]] = []
        count = 0
        for extra in found.extras(index.session.engine, index.info):
            count += len(extra)
            if count <= limit:
                extras.append(extra)
            else:
                extras.clear()  # past the limit only the count is kept, to say how many
        if count > limit:
            too_many = _too_many(count, stored, max_delete_fraction, repr(index.name))
            raise MirrorRefused(
                f"{too_many}; nothing was deleted. Check the source, then raise "
                "--max-delete-fraction"
            )
        for extra in extras:
            for start in range(0, len(extra), DELETE_CALL):
                part = extra[start : start + DELETE_CALL]
                report.jobs.append(index.delete(part, wait=False))
                report.deleted += len(part)
                if on_delete is not None:
                    on_delete(len(part))
    finally:
        shutil.rmtree(found.directory, ignore_errors=True)
    if wait:
        for job in report.jobs:
            job.wait(timeout)
    return report

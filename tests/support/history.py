"""A Jepsen-style check: every call the producer was told succeeded, against what Qdrant holds.

The history records each call (upsert, delete, metadata update) per id, in call order, and
which ids each call acknowledged. The expected end state of an id is its acknowledged calls
applied in call order; the check compares it with the points an engine holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecq.shared import keys

Id = int | str


@dataclass
class Event:
    """One call's effect on one id."""

    call: int
    kind: str
    """``upsert``, ``delete`` or ``update``."""
    tag: float = 0.0
    """An upsert's vector, identified by its first component."""
    metadata: dict[str, Any] | None = None
    """An upsert's metadata, or an update's keys."""
    acked: bool = False


@dataclass
class Report:
    """Outcome of a check; ``ok`` when nothing is lost, stale, phantom, duplicated, resurrected
    or misreported."""

    checked: int = 0
    lost: list[Id] = field(default_factory=list)
    """Ids whose acknowledged calls leave a point that is not stored."""
    stale: list[Id] = field(default_factory=list)
    """Ids stored with an older vector or metadata than their acknowledged calls leave."""
    phantom: list[Id] = field(default_factory=list)
    """Ids stored that were never sent, or stored with a vector never sent for them."""
    duplicated: list[Id] = field(default_factory=list)
    """Ids the engine returned more than once."""
    resurrected: list[Id] = field(default_factory=list)
    """Ids stored although an acknowledged delete is their last word."""
    misreported: list[Id] = field(default_factory=list)
    """Ids an update reported not found while they existed, or the reverse (where the call
    order alone decides)."""

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.stale
            or self.phantom
            or self.duplicated
            or self.resurrected
            or self.misreported
        )

    def summary(self) -> str:
        kinds = ("lost", "stale", "phantom", "duplicated", "resurrected", "misreported")
        parts = [f"{name} {len(getattr(self, name))}" for name in kinds]
        firsts = {
            n: getattr(self, n)[:5] for n in ("lost", "stale", "resurrected") if getattr(self, n)
        }
        return f"checked {self.checked} ids: " + ", ".join(parts) + (f" {firsts}" if firsts else "")


@dataclass
class History:
    """Every call sent per id, in call order, and which ids each acknowledged."""

    events: dict[Id, list[Event]] = field(default_factory=dict)
    calls: int = 0
    not_found: dict[int, set[Id]] = field(default_factory=dict)
    """Per update call, the ids it reported not found."""

    def sent(
        self,
        ids: Sequence[Id] | np.ndarray,
        tags: Sequence[float] | np.ndarray,
        metadata: Sequence[dict[str, Any] | None] | None = None,
    ) -> int:
        """Record an upsert (not yet acknowledged); each vector is identified by its first value."""
        self.calls += 1
        metas = metadata or [None] * len(tags)
        for i, tag, meta in zip(_ids(ids), list(tags), metas, strict=True):
            self.events.setdefault(i, []).append(Event(self.calls, "upsert", float(tag), meta))
        return self.calls

    def deleted(self, ids: Sequence[Id] | np.ndarray) -> int:
        """Record a delete (not yet acknowledged)."""
        self.calls += 1
        for i in _ids(ids):
            self.events.setdefault(i, []).append(Event(self.calls, "delete"))
        return self.calls

    def updated(self, ids: Sequence[Id] | np.ndarray, patch: dict[str, Any]) -> int:
        """Record a metadata update of every id with the same keys (not yet acknowledged)."""
        self.calls += 1
        for i in _ids(ids):
            self.events.setdefault(i, []).append(Event(self.calls, "update", metadata=patch))
        return self.calls

    def acknowledge(self, call: int, ids: Sequence[Id] | np.ndarray) -> None:
        """Mark the given ids of ``call`` as acknowledged (applied, as far as vecq said)."""
        for i in _ids(ids):
            for event in self.events[i]:
                if event.call == call:
                    event.acked = True

    def reported_not_found(self, call: int, ids: Iterable[Id]) -> None:
        """Record the ids an update call's job listed as not found."""
        self.not_found.setdefault(call, set()).update(ids)

    def check(self, stored: Iterable[tuple[Any, list[float], Any]]) -> Report:
        """Compare what an engine holds, ``(id, vector, payload)`` per point, with the history."""
        report = Report()
        found: dict[Id, tuple[float, dict[str, Any]]] = {}
        for point_id, vector, payload in stored:
            payload = dict(payload or {})
            pid = payload.get(keys.PAYLOAD_ID, point_id)
            pid = pid if isinstance(pid, str) else int(pid)
            if pid in found:
                report.duplicated.append(pid)
            meta = {k: v for k, v in payload.items() if not k.startswith(keys.RESERVED_PREFIX)}
            found[pid] = (float(vector[0]), meta)
        for pid, events in self.events.items():
            report.checked += 1
            self._judge(pid, events, found.get(pid), report)
        report.phantom.extend(pid for pid in found if pid not in self.events)
        self._check_reports(report)
        return report

    def _judge(
        self, pid: Id, events: list[Event], got: tuple[float, dict[str, Any]] | None, report: Report
    ) -> None:
        present, tag, meta = fold(e for e in events if e.acked)
        if got is None:
            if present:
                report.lost.append(pid)
            return
        if not any(e.kind == "upsert" and e.tag == got[0] for e in events):
            report.phantom.append(pid)
        elif not present:
            deleted = any(e.kind == "delete" and e.acked for e in events)
            (report.resurrected if deleted else report.phantom).append(pid)
        elif (got[0], got[1]) != (tag, meta) and not _newer_unacked(events, got[0]):
            report.stale.append(pid)

    def _check_reports(self, report: Report) -> None:
        """Updates' not-found reports, where the call order decides them (no later call on
        the id: a later one may have written or deleted it before the update looked)."""
        for pid, events in self.events.items():
            for n, event in enumerate(events):
                if event.kind != "update" or not event.acked or event.call not in self.not_found:
                    continue
                if any(e.acked for e in events[n + 1 :]):
                    continue  # ambiguous: a later call may have come first
                existed, _, _ = fold(e for e in events[:n] if e.acked)
                if existed == (pid in self.not_found[event.call]):
                    report.misreported.append(pid)


def fold(events: Iterable[Event]) -> tuple[bool, float, dict[str, Any]]:
    """Apply calls in call order: (present, vector tag, metadata)."""
    present, tag, meta = False, 0.0, {}
    for e in sorted(events, key=lambda e: e.call):
        if e.kind == "upsert":
            present, tag, meta = True, e.tag, dict(e.metadata or {})
        elif e.kind == "delete":
            present, tag, meta = False, 0.0, {}
        elif present:
            for key, value in (e.metadata or {}).items():
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
    return present, tag, meta


def _newer_unacked(events: list[Event], tag: float) -> bool:
    """True if ``tag`` is the vector of an upsert newer than every acknowledged call but not
    itself acknowledged (its call was interrupted after enqueuing it)."""
    last = max((e.call for e in events if e.acked), default=0)
    return any(
        e.kind == "upsert" and e.tag == tag and not e.acked and e.call > last for e in events
    )


def _ids(ids: Sequence[Id] | np.ndarray) -> list[Id]:
    values = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    return [v if isinstance(v, str) else int(v) for v in values]

"""A Jepsen-style set check: what the producer was told, against what Qdrant holds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Report:
    """Outcome of a check; ``ok`` when nothing is lost, stale, phantom or duplicated."""

    checked: int = 0
    lost: list[int] = field(default_factory=list)
    """Acknowledged ids that are not stored."""
    stale: list[int] = field(default_factory=list)
    """Ids stored with a vector older than their latest acknowledged one."""
    phantom: list[int] = field(default_factory=list)
    """Ids stored that were never sent, or stored with a vector never sent for them."""
    duplicated: list[int] = field(default_factory=list)
    """Ids the engine returned more than once."""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.stale or self.phantom or self.duplicated)

    def summary(self) -> str:
        return (
            f"checked {self.checked} ids: lost {len(self.lost)}, stale {len(self.stale)}, "
            f"phantom {len(self.phantom)}, duplicated {len(self.duplicated)} "
            f"(first few: {self.lost[:5]} {self.stale[:5]} {self.phantom[:5]} "
            f"{self.duplicated[:5]})"
        )


@dataclass
class History:
    """Every version sent per id, in call order, and which were acknowledged."""

    # id -> [(call number, vector's first component, acknowledged)]
    versions: dict[int, list[tuple[int, float, bool]]] = field(default_factory=dict)
    calls: int = 0

    def sent(self, ids: np.ndarray, tags: np.ndarray) -> int:
        """Record a call (not yet acknowledged); each vector is identified by its first value."""
        self.calls += 1
        for i, tag in zip(ids.tolist(), tags.tolist(), strict=True):
            self.versions.setdefault(i, []).append((self.calls, float(tag), False))
        return self.calls

    def acknowledge(self, call: int, ids: np.ndarray) -> None:
        """Mark the given ids of ``call`` as acknowledged (written, as far as vecq said)."""
        for i in ids.tolist():
            self.versions[i] = [(c, t, a or c == call) for c, t, a in self.versions[i]]

    def check(self, stored: Iterable[tuple[Any, list[float], Any]]) -> Report:
        """Compare what an engine holds, ``(id, vector, payload)`` per point, with the history."""
        report = Report()
        found: dict[int, float] = {}
        for point_id, vector, _ in stored:
            pid = int(point_id)
            if pid in found:
                report.duplicated.append(pid)
            found[pid] = float(vector[0])
        for pid, versions in self.versions.items():
            report.checked += 1
            acked = [c for c, _, a in versions if a]
            tag = found.get(pid)
            if tag is None:
                if acked:
                    report.lost.append(pid)
                continue
            matches = [c for c, t, _ in versions if t == tag]
            if not matches:
                report.phantom.append(pid)
            elif acked and max(matches) < max(acked):
                report.stale.append(pid)
        report.phantom.extend(pid for pid in found if pid not in self.versions)
        return report

"""A Jepsen-style set check: what the producer was told, against what Qdrant holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared import keys
from shared.registry import IndexInfo
from shared.sharding import shard_of


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
    """Ids found in more than one collection, or outside their shard."""

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

    def check(self, qdrant: Any, info: IndexInfo) -> Report:
        """Compare every shard collection of the index with the history."""
        report = Report()
        found = _stored(qdrant, info, report)
        for pid, versions in self.versions.items():
            report.checked += 1
            acked = [c for c, _, a in versions if a]
            stored = found.get(pid)
            if stored is None:
                if acked:
                    report.lost.append(pid)
                continue
            matches = [c for c, t, _ in versions if t == stored]
            if not matches:
                report.phantom.append(pid)
            elif acked and max(matches) < max(acked):
                report.stale.append(pid)
        report.phantom.extend(pid for pid in found if pid not in self.versions)
        return report


def _stored(qdrant: Any, info: IndexInfo, report: Report) -> dict[int, float]:
    """id -> first vector component of every stored point; misplaced ids go to the report."""
    found: dict[int, float] = {}
    for shard in range(info.shards):
        name = keys.collection(info.name, shard)
        if not qdrant.collection_exists(name):
            continue
        offset = None
        while True:
            points, offset = qdrant.scroll(
                name, limit=1000, offset=offset, with_vectors=True, with_payload=False
            )
            for p in points:
                pid = int(p.id)
                if pid in found or int(shard_of(np.array([pid]), info.shards)[0]) != shard:
                    report.duplicated.append(pid)
                found[pid] = float(p.vector[0])
            if offset is None:
                break
    return found

"""A short run of the soak script: random worker kills while producing, then the set check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import soak
from tests.support.engines import ENGINES

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300), pytest.mark.engines(*ENGINES)]


def test_short_soak_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """20 s of upserts, deletes and updates with workers killed at random: nothing lost,
    stale, phantom, resurrected, misreported or duplicated."""
    status = soak(20, seed=7, universe=20_000, workdir=tmp_path, engine=engine, settle_timeout=200)
    report = capsys.readouterr().out
    assert (
        "lost 0  stale 0  phantom 0  resurrected 0  misreported 0  duplicated 0  dead-lettered 0"
    ) in report, report
    assert status == 0

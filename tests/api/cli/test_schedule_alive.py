"""`vecq schedule --alive`: beat's liveness probe reads one local file (no Redis, no config
printed), which a running scheduler touches."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vecq.api.cli import main
from vecq.api.cli.schedule import ALIVE_FILE, ALIVE_SECONDS


def test_alive_answers_from_the_file_beat_touches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing: 1; touched now: 0 and silent; older than ALIVE_SECONDS: 1."""
    for var in ("VECQ_REDIS_URL", "VECQ_BROKER_URL"):
        monkeypatch.setenv(var, "redis://127.0.0.1:1/0")  # never reached
    monkeypatch.setenv("VECQ_DATA_DIR", str(tmp_path))
    probe = ["schedule", "--config", str(tmp_path / "no-such.toml"), "--alive"]
    assert main(probe) == 1 and "not running" in capsys.readouterr().err
    beat = tmp_path / ALIVE_FILE
    beat.touch()
    assert main(probe) == 0
    assert capsys.readouterr() == ("", "")
    stale = time.time() - ALIVE_SECONDS - 5
    os.utime(beat, (stale, stale))
    assert main(probe) == 1 and "no beat for" in capsys.readouterr().err

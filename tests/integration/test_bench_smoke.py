"""Every benchmark runs end to end at a tiny size (speed is measured by `make bench`, not here).

These check that `make bench` keeps working, that each script prints its goal verdicts,
and that the numbers it reports are real: each run also checks its own results (all
points stored, the backfill still busy while latency is measured).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SMALL = {
    "producer": ["--n", "4000", "--dim", "64", "--rounds", "1"],
    "worker": ["--n", "3000", "--dim", "32", "--rounds", "1"],
    "worker-local": ["--n", "3000", "--dim", "32", "--rounds", "1", "--engine", "local"],
    "embedded": ["--n", "3000", "--dim", "32", "--rounds", "1"],
    "peer": ["--n", "3000", "--dim", "32", "--rounds", "1"],
    "memory": ["--n", "20000", "--dim", "32", "--backfill", "20000", "--window", "1"],
    "latency": ["--calls", "20", "--backfill", "60000", "--dim", "64", "--gap", "0"],
    "http": ["--n", "3000", "--dim", "32", "--rounds", "1", "--chunk", "1000", "--json-n", "500"],
    "mutations": ["--n", "2000", "--dim", "32", "--rounds", "1"],
    "objects": ["--n", "3000", "--dim", "8", "--rounds", "1", "--row-group", "1000"],
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", sorted(SMALL))
def test_benchmark_runs_and_reports_its_goals(name: str) -> None:
    """`python -m bench.<name>` at a small size exits 0 and prints the command and verdicts."""
    module = name.split("-")[0]
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *SMALL[name]],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"command: python -m bench.{module}" in done.stdout
    assert "goal" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(180)
def test_the_postgresql_benchmark_runs_on_the_test_database(postgres_url: str) -> None:
    """`python -m bench.postgres` against the tests' PostgreSQL (skipped where there is none)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.postgres",
            "--n",
            "2000",
            "--dim",
            "16",
            "--rounds",
            "1",
            "--url",
            postgres_url,
        ],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "command: python -m bench.postgres" in done.stdout and "goal >= 0.5" in done.stdout
    assert "Traceback" not in done.stderr

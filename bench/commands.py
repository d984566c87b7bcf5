"""Wall time of embedded ``vecq`` commands as a user runs them, idle and during an ingest.

    .venv/bin/python -m bench.commands --rounds 3
    .venv/bin/python -m bench.commands --rounds 3 --before /tmp/vecq-before   # side by side

Each command is a new ``python -m vecq.api.cli`` process with no VECQ_REDIS_URL and a fresh
data directory per round, so the embedded service answers. Measured per round:

- ``up, cold``: ``vecq up`` with no service running (it starts one);
- ``status``, ``index list``, ``index describe``, ``dlq list``, idle: the service up, nothing
  queued;
- the same four ``during ingest``: while a ``vecq ingest`` of --rows x 384 float32 from
  Parquet runs in another process (each command's median over the run);
- ``down, idle``: ``vecq down`` with nothing queued; the service log is then searched for
  WARNING and ERROR lines (a clean stop logs none).

The median over the rounds is printed with the load average before and after, as the goals
are for a quiet machine. ``--before`` runs the same rounds on an older checkout (through
``PYTHONPATH`` with this virtual environment), alternating with this one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent
DIM = 384
READS = (("status",), ("index", "list"), ("index", "describe", "b"), ("dlq", "list"))


def _env(checkout: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env["VECQ_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(checkout)
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vecq.api.cli", *args]


def _vecq(checkout: Path, data_dir: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        _command(*args), cwd=checkout, env=_env(checkout, data_dir), capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"vecq {' '.join(args)} failed in {checkout}: {done.stderr[-2000:]}")
    return elapsed


def _parquet(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.random.default_rng(7).standard_normal((rows, DIM), dtype=np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)
    pq.write_table(pa.table({"id": np.arange(rows), "vector": column}), path)


def _round(checkout: Path, folder: Path, source: Path) -> tuple[dict[str, float], list[str]]:
    data_dir, key = folder / "data", folder / "k.key"
    times: dict[str, float] = {"up, cold": _vecq(checkout, data_dir, "up")}
    create = ("index", "create", "b", "--dimension", str(DIM), "--key-file", str(key))
    _vecq(checkout, data_dir, *create)
    for read in READS:
        times[f"{' '.join(read[:2])}, idle"] = _vecq(checkout, data_dir, *read)
    ingest = subprocess.Popen(
        _command("ingest", str(source), "--index", "b", "--key-file", str(key)),
        cwd=checkout,
        env=_env(checkout, data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    busy: dict[str, list[float]] = {" ".join(r[:2]): [] for r in READS}
    time.sleep(1.0)  # the ingest's own start (its imports, its first chunk)
    while ingest.poll() is None:
        for read in READS:
            busy[" ".join(read[:2])].append(_vecq(checkout, data_dir, *read))
    if ingest.returncode != 0:
        raise SystemExit(
            f"the ingest failed: {ingest.stderr.read()[-2000:] if ingest.stderr else ''}"
        )
    for name, seen in busy.items():
        if seen:
            times[f"{name}, during ingest"] = statistics.median(seen)
    times["down, idle"] = _vecq(checkout, data_dir, "down")
    log = data_dir / "service.log"
    logged = log.read_text(errors="replace").splitlines() if log.exists() else []
    complaints = [line for line in logged if " WARNING " in line or " ERROR " in line]
    return times, complaints


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--before", type=Path, help="a checkout of older code to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the ingest")
    args = parser.parse_args(argv)
    ways = {"now": HERE} if args.before is None else {"before": args.before.resolve(), "now": HERE}
    runs: dict[str, list[dict[str, float]]] = {w: [] for w in ways}
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        source = Path(tmp) / "v.parquet"
        _parquet(source, args.rows)
        for r in range(args.rounds):
            for way, checkout in ways.items():
                folder = Path(tmp) / f"{way}{r}"
                folder.mkdir()
                times, complaints = _round(checkout, folder, source)
                runs[way].append(times)
                shown = ", ".join(f"{k} {v:.2f}s" for k, v in times.items())
                print(f"round {r + 1} {way}: {shown}", flush=True)
                for line in complaints:
                    print(f"  service log: {line}", flush=True)
    before = f" --before {args.before}" if args.before else ""
    print(f"command: python -m bench.commands --rounds {args.rounds} --rows {args.rows}{before}")
    print(f"load average (1, 5, 15 min): {load_before} before, {_load()} after")
    print(f"{'median wall time (s)':<30}" + "".join(f"{w:>9}" for w in ways))
    for name in runs["now"][0]:
        cells = []
        for way in ways:
            seen = [x[name] for x in runs[way] if name in x]
            cells.append(f"{statistics.median(seen):9.2f}" if seen else f"{'-':>9}")
        print(f"{name:<30}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())

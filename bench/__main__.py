"""``make bench``: every throughput measure at its default size, one after another.

    .venv/bin/python -m bench [producer worker embedded peer memory latency http mutations
                               hybrid postgres objects]

Each prints the command that reproduces it alone, its figures and each goal's verdict.
Results and their history are in bench/README.md. The soak (``python -m bench.soak``)
is separate: it tests correctness under kills, not speed.
"""

from __future__ import annotations

import importlib
import sys
import time

SUITE = (
    "producer",
    "worker",
    "embedded",
    "peer",
    "memory",
    "latency",
    "http",
    "mutations",
    "hybrid",
    "postgres",
    "objects",
)


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (default: all), each with its defaults."""
    names = (argv if argv is not None else sys.argv[1:]) or list(SUITE)
    unknown = set(names) - set(SUITE)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {SUITE}")
        return 2
    for name in names:
        print(f"\n== bench.{name} ==", flush=True)
        start = time.perf_counter()
        importlib.import_module(f"bench.{name}").main([])
        print(f"({time.perf_counter() - start:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

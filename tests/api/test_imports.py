"""Imports flow api -> shared <- workers: the producer never loads worker code to enqueue."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in done.stdout.split()}


def test_the_producer_library_and_cli_load_no_worker_code() -> None:
    """`import api` and building the CLI parser leave the workers package unloaded."""
    assert "workers" not in _loaded_after("import api, api.cli, api.deadletters; api.cli.main")


def test_shared_loads_only_numpy_redis_and_the_standard_library() -> None:
    """Every shared module imports without qdrant-client, celery, cryptography or workers.

    The one addition is ``crc32c``, the blob checksum (a small C extension with no
    dependencies of its own): zlib's CRC-32 cost half as much as the Redis write itself.
    """
    modules = ", ".join(
        f"shared.{m}"
        for m in ["celeryconf", "codec", "crypto", "errors", "keys", "ledger", "logs", "messages",
                  "qdrant", "registry", "serial", "settings", "sharding", "stats", "validation"]
    )  # fmt: skip
    baseline = _loaded_after("import numpy, redis")  # with whatever they load themselves
    added = _loaded_after(f"import numpy, redis, {modules}") - baseline
    assert added - set(sys.stdlib_module_names) - {"shared", "crc32c"} == set()

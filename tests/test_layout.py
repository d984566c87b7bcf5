"""The layout's import rule, ``api -> shared <- workers``: the producer never loads worker code.

Checked two ways: statically, every import statement of every module; and at run time, what
``import api``, the CLI and the commands that only read Redis actually load.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clients import broker_url

ROOT = Path(__file__).resolve().parents[1]
# The only api modules that may load worker code, and only inside a function: the embedded
# in-process worker, and the `vecq worker` command.
LAZY_WORKER_IMPORTS = {"api/client.py", "api/cli/worker.py"}


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in done.stdout.split()}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Every module ``path`` imports, and whether the import sits inside a function."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module, in_function))
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            visit(child, inside)

    visit(tree, False)
    return found


def _package_modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_producer_library_and_cli_load_no_worker_code() -> None:
    """`import api` and building the CLI parser leave the workers package unloaded."""
    assert "workers" not in _loaded_after("import api, api.cli, api.cli.dlq; api.cli.main")
    assert "workers" not in _loaded_after("import api.cli; api.cli.build_parser()")


def test_shared_loads_only_numpy_redis_and_the_standard_library() -> None:
    """Every shared module imports without qdrant-client, celery, cryptography or workers.

    The one addition is ``crc32c``, the blob checksum (a small C extension with no
    dependencies of its own): zlib's CRC-32 cost half as much as the Redis write itself.
    """
    names = [p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
             for p in _package_modules("shared") if p.name != "__init__.py"]  # fmt: skip
    assert "shared.ledger" in names and "shared.deadletters" in names
    baseline = _loaded_after("import numpy, redis")  # with whatever they load themselves
    added = _loaded_after(f"import numpy, redis, {', '.join(names)}") - baseline
    assert added - set(sys.stdlib_module_names) - {"shared", "crc32c"} == set()


def test_imports_flow_from_api_and_workers_into_shared_only() -> None:
    """shared imports neither api nor workers; workers never imports api; api imports workers
    only lazily, in the two places that run a worker."""
    wrong = []
    for package, forbidden in (("shared", {"api", "workers"}), ("workers", {"api"})):
        for path in _package_modules(package):
            wrong += [f"{path.relative_to(ROOT)} imports {m}" for m, _ in _imports(path)
                      if m.split(".")[0] in forbidden]  # fmt: skip
    for path in _package_modules("api"):
        where = path.relative_to(ROOT).as_posix()
        for module, lazy in _imports(path):
            if module.split(".")[0] == "workers" and not (lazy and where in LAZY_WORKER_IMPORTS):
                wrong.append(f"{where} imports {module}" + ("" if lazy else " at import time"))
    assert wrong == []


@pytest.mark.process
@pytest.mark.parametrize("command", [["dlq", "list"], ["status"]])
def test_commands_that_read_redis_load_no_worker_code(redis_url: str, command: list[str]) -> None:
    """`vecq dlq list` and `vecq status`, run for real, never import a workers module."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env.update(VECQ_REDIS_URL=redis_url, VECQ_BROKER_URL=broker_url(redis_url),
               VECQ_QDRANT_PATH=":memory:")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "api.cli", *command],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]  # fmt: skip
    assert "api.cli" in imported  # the import log is there to be read
    assert [m for m in imported if m.split(".")[0] == "workers"] == []

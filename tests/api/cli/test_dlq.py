"""`vecq dlq list | show | replay | purge` against a real pipeline with a rejecting Qdrant."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from tests.support.clients import broker_url
from tests.support.engines import ENGINES
from tests.support.qdrant_faults import FlakyEdge, FlakyQdrant
from vecq import Client, Index, UpsertError, UpsertJob
from vecq.api.cli import main
from vecq.shared import keys

pytestmark = [pytest.mark.integration, pytest.mark.engines(*ENGINES)]


@pytest.fixture
def cli(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """Run `vecq ...` against the test Redis; return (exit status, stdout)."""
    monkeypatch.setenv("VECQ_REDIS_URL", redis_url)
    monkeypatch.setenv("VECQ_BROKER_URL", broker_url(redis_url))
    monkeypatch.setenv("VECQ_QDRANT_PATH", ":memory:")

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        status = main(list(args))
        captured = capsys.readouterr()
        errors.append(captured.err)
        return status, captured.out

    errors: list[str] = []
    run.errors = errors  # type: ignore[attr-defined]

    return run


def _poisoned(index: Index, flaky: FlakyQdrant | FlakyEdge, bad: set[int]) -> None:
    flaky.poison = bad
    with pytest.raises(UpsertError):
        index.upsert(np.arange(10), np.full((10, 3), 2.0, np.float32))
    flaky.poison = set()


def test_list_show_and_replay(
    client: Client,
    make_index: Callable[..., Index],
    flaky: FlakyQdrant | FlakyEdge,
    cli: Callable[..., tuple[int, str]],
    engine: str,
) -> None:
    """list shows the entry, show names the rejected id and reason, replay writes it."""
    index = make_index()
    _poisoned(index, flaky, {5})
    status, out = cli("dlq", "list", "--index", index.name, "--json")
    (line,) = out.splitlines()
    entry = json.loads(line)
    assert status == 0 and entry["points"] == 1 and entry["replayable"]
    status, out = cli("dlq", "show", entry["id"])
    shown = json.loads(out)
    refusal = "400" if engine == "local" else "Vector dimension error"  # each engine's own
    assert shown["failures"][0]["ids"] == [5] and refusal in shown["failures"][0]["reason"]
    assert index.get([5]) == []
    status, out = cli("dlq", "replay", entry["id"])
    assert status == 0 and out.startswith(f"replayed {entry['id']} as job ")
    UpsertJob(client.redis, out.split()[-1], index.name, 1, 20).wait(20)
    assert [p["id"] for p in index.get([5])] == [5]
    assert cli("dlq", "list", "--index", index.name)[1] == ""


def test_purge_needs_confirmation_and_removes_the_kept_points(
    client: Client,
    make_index: Callable[..., Index],
    flaky: FlakyQdrant | FlakyEdge,
    cli: Callable[..., tuple[int, str]],
) -> None:
    """purge without --yes refuses; with it, the entry and its blob are gone."""
    index = make_index()
    _poisoned(index, flaky, {1, 2})
    listed = len(cli("dlq", "list", "--index", index.name)[1].splitlines())
    assert listed >= 1
    assert cli("dlq", "purge", "--all", "--index", index.name)[0] == 2
    status, out = cli("dlq", "purge", "--all", "--index", index.name, "--yes")
    assert (status, out.strip()) == (0, f"purged {listed} dead letter(s)")
    assert cli("dlq", "list", "--index", index.name)[1] == ""
    assert not list(client.redis.scan_iter(match=keys.dlq_blob(index.name, 0)[:-1] + "*"))


def test_unknown_entry_is_a_clear_error(
    client: Client, cli: Callable[..., tuple[int, str]]
) -> None:
    """show of an id that is not there exits 1 with a message on stderr."""
    assert cli("dlq", "show", "1-1")[0] == 1
    assert "no dead letter '1-1'" in cli.errors[-1]  # type: ignore[attr-defined]

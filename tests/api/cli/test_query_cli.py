"""``vecq query``'s own errors: the vector, filter and key it is given, checked before it
connects (the search itself is tested in tests/api/test_query.py and, through the embedded
service, in tests/integration/test_embedded.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from vecq.api.cli import main
from vecq.api.cli import query as query_cli


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("VECQ_INDEX_KEY", raising=False)
    path = tmp_path / "k.key"
    path.write_text("ab" * 32)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vector", "[1, 2"], "--vector is not JSON"),
        (["--vector", "[1]", "--filter", "{lang: en}"], "--filter is not JSON"),
        (["--prefetch", "nope"], "--prefetch is not JSON"),
        (["--vector", "@/no/such/file.json"], "No such file"),
    ],
)
def test_a_bad_argument_exits_2_saying_which(
    args: list[str], message: str, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "idx", "--key-file", str(key_file), *args]) == 2
    assert message in capsys.readouterr().err


def test_no_key_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VECQ_INDEX_KEY", raising=False)
    assert main(["query", "idx", "--vector", "[1]"]) == 2
    assert "no index key" in capsys.readouterr().err


def test_a_vector_comes_from_json_a_npy_file_or_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    np.save(tmp_path / "q.npy", np.array([0.5, 1.5], dtype=np.float32))
    (tmp_path / "q.json").write_text('{"indices": [3], "values": [0.5]}')
    assert query_cli._vector("[1, 2]") == [1, 2]
    assert query_cli._vector(f"@{tmp_path / 'q.npy'}").tolist() == [0.5, 1.5]
    assert query_cli._vector(f"@{tmp_path / 'q.json'}") == {"indices": [3], "values": [0.5]}
    monkeypatch.setattr("sys.stdin", io.StringIO("[[1, 0], [0, 1]]"))
    assert query_cli._vector("-") == [[1, 0], [0, 1]]
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match=r"not a \.npy file"):
        query_cli._vector(f"@{tmp_path / 'bad.npy'}")


def test_results_print_one_line_each() -> None:
    line = query_cli._line({"id": "doc-1", "score": 0.98765432, "metadata": {"b": 1, "a": 2}})
    assert line == '0.987654  id=\'doc-1\'  {"a": 2, "b": 1}'

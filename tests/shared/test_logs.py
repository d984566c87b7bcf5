"""Structured logs: bound ids on every line, text or JSON, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from vecq.shared import logs


def _emit(fmt: logs.Format, message: str, *args: object, **ids: object) -> str:
    stream = io.StringIO()
    logger = logging.getLogger(f"vecq.test.{fmt}")
    logger.propagate = False
    handler = logs.handler(fmt, stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with logs.scope(**ids):
            logger.info(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().strip()


def test_json_lines_carry_the_bound_ids() -> None:
    """A JSON line has ts, level, logger, msg and every bound id, with its type."""
    entry = json.loads(_emit("json", "wrote %d points", 5, job="j1", index="p", shard=3, batch=42))
    assert entry["msg"] == "wrote 5 points" and entry["level"] == "INFO"
    assert (entry["job"], entry["index"], entry["shard"], entry["batch"]) == ("j1", "p", 3, 42)
    assert entry["ts"].endswith("Z")


def test_text_lines_show_ids_as_key_value_pairs() -> None:
    """A text line ends with job=... index=... shard=... batch=... in that order."""
    line = _emit("text", "wrote", batch=42, index="p", job="j1", shard=3)
    assert line.endswith("INFO vecq.test.text wrote job=j1 index=p shard=3 batch=42")


def test_scopes_do_not_leak() -> None:
    """Ids bound inside a scope are gone after it, and other threads never see them."""
    seen: list[dict[str, object]] = []
    with logs.scope(job="outer"):
        logs.bind(shard=1)
        worker = threading.Thread(target=lambda: seen.append(logs.bound()))
        worker.start()
        worker.join()
        with logs.scope(job="inner"):
            assert logs.bound() == {"job": "inner", "shard": 1}
        assert logs.bound() == {"job": "outer", "shard": 1}
    assert logs.bound() == {}
    assert seen == [{}]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_a_line(fmt: logs.Format) -> None:
    """Passwords in URLs, API keys and bearer tokens are replaced by *** in both formats."""
    line = _emit(
        fmt, "failed: redis://user:hunter2@h:6379/0 api-key: qk-123 Authorization: Bearer tok.abc"
    )
    for secret in ("hunter2", "qk-123", "tok.abc"):
        assert secret not in line
    assert "redis://user:***@h:6379/0" in line


def test_unknown_format_is_refused() -> None:
    """Only text and json exist."""
    with pytest.raises(ValueError, match="text"):
        logs.handler("xml")  # type: ignore[arg-type]

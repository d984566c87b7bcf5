"""The Celery task around process_batch: an unexpected error requeues, never drops, a batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from vecq import Client, Index
from vecq.shared.state import ledger
from vecq.workers import pipeline

pytestmark = pytest.mark.integration


def test_unexpected_error_puts_the_batch_back(
    client: Client, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug-like error on the first delivery requeues the message; the second one writes it."""
    real = ledger.delivered
    failures = [RuntimeError("boom")]

    def delivered(*args: Any) -> tuple[int, float]:
        if failures:
            raise failures.pop()
        return real(*args)

    monkeypatch.setattr(pipeline.ledger, "delivered", delivered)
    index = make_index()
    index.upsert(np.arange(5), np.ones((5, 3), np.float32), timeout=30)
    assert failures == [] and index.count() == 5

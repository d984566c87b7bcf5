"""Fixtures of the library's tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.named import SCHEMA, SPARSE
from vecq import Client, Index


@pytest.fixture
def hybrid(client: Client, key: bytes) -> Callable[..., Index]:
    """Makes indexes of named dense, multi and sparse vectors (``tests/support/named.py``)."""

    def make(**options: Any) -> Index:
        spec = {"vectors": SCHEMA, "sparse_vectors": SPARSE, **options}
        return client.create_index(f"h-{uuid.uuid4().hex[:10]}", key, shards=2, **spec)

    return make

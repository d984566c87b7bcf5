"""JSON metadata: what is accepted and how it is stored, and every limit with its message."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from vecq.shared.errors import InvalidVectorError
from vecq.shared.points import metadata


def test_json_values_are_normalised_for_qdrant() -> None:
    """None, lists, nested dicts, tuples, NumPy scalars and datetimes become plain JSON."""
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    got = metadata.check(
        {
            "a": None,
            "b": [1, "x", {"c": (2, 3)}],
            "n": np.float32(0.5),
            "i": np.int64(3),
            "t": when,
            "east": dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "naive": dt.datetime(2026, 1, 2),
            "d": dt.date(2026, 1, 2),
            "flag": np.bool_(True),
        },
        0,
        1,
    )
    assert got == {
        "a": None,
        "b": [1, "x", {"c": [2, 3]}],
        "n": 0.5,
        "i": 3,
        "t": "2026-01-02T03:04:05Z",
        "east": "2026-01-02T03:04:05Z",  # one form: UTC, whatever the zone given
        "naive": "2026-01-02T00:00:00Z",
        "d": "2026-01-02",
        "flag": True,
    }


@pytest.mark.parametrize(
    ("meta", "fragment"),
    [
        ({"a": {"b": {"_vecq_x": 1}}}, "metadata['a']['b'] key '_vecq_x' is reserved"),
        ({"a": [[[[[[[[[0]]]]]]]]]}, "nests deeper than 8 levels"),
        ({"s": "x" * 70_000}, "above the limit of 65,536"),
        ({"a": [1, float("nan")]}, "metadata['a'][1] is nan"),
        ({"a": {3: 1}}, "metadata['a'] key 3 is not a string"),
        ({"a": {1, 2}}, "metadata['a'] has a set"),
        ({"a": 2**63}, "does not fit in int64"),
    ],
)
def test_each_limit_names_the_path(meta: object, fragment: str) -> None:
    """Reserved keys at any depth, nesting, size, non-finite numbers, odd types: named."""
    with pytest.raises(InvalidVectorError, match=fragment.replace("[", r"\[")) as caught:
        metadata.check(meta, 2, "doc")
    assert caught.value.row == 2 and str(caught.value).startswith("row 2 (id 'doc')")

"""vecq's version, from its package metadata (imports nothing else of vecq)."""

from __future__ import annotations


def version() -> str:
    """The installed vecq's version; an embedded service must run the same one as its users."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("vecq")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout never installed
        return "unknown (not installed)"

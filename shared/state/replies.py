"""Reading Redis replies: vecq's clients return bytes (blobs stay raw); text is decoded here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text(value: bytes | str) -> str:
    """A reply as text (UTF-8)."""
    return value.decode() if isinstance(value, bytes) else value


def texts(reply: Mapping[Any, Any]) -> dict[str, str]:
    """A hash reply with every field and value as text (``None`` values become ``""``)."""
    return {text(k): text(v) if v is not None else "" for k, v in reply.items()}

"""Secrets kept out of what vecq prints: passwords in URLs, for logs, errors and reprs."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<pw>[^@/]*)@")


def redact_url(url: str | None) -> str | None:
    """Return ``url`` with any password replaced by ``***``, safe for logs and reprs."""
    if url is None:
        return None
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)

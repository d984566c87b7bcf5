"""Secrets kept out of what vecq prints: one function for every log line, error message,
summary and repr. It replaces with ``***``:

* the password of a URL (``scheme://user:password@host``, also when the password holds
  ``@``; every part of a ``;``-joined Sentinel URL);
* secret query parameters (``?password=``, signed URLs' signatures and tokens: S3's
  ``X-Amz-Signature``, Azure SAS ``sig``, GCS ``X-Goog-Signature``, ...);
* API keys and bearer tokens quoted in a message (``api-key: ...``, ``Bearer ...``).
"""

from __future__ import annotations

import re

# Query parameters whose value is a secret (compared lower-cased).
SECRET_PARAMS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "sas",
    }
)
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>`]*")
# An ``api-key: ...`` header or ``api_key=...`` pair quoted in a message (qdrant-client's
# errors can echo request headers).
_API_KEY = re.compile(r"(?i)(api[-_]?key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
HIDDEN = "***"


def redact(text: str) -> str:
    """``text`` with every secret it quotes replaced by ``***`` (see the module docstring)."""
    text = _URL.sub(lambda m: ";".join(map(_redact_url, m[0].split(";"))), text)
    text = _API_KEY.sub(rf"\1{HIDDEN}", text)
    return _BEARER.sub(rf"\1{HIDDEN}", text)


def redact_url(url: str | None) -> str | None:
    """:func:`redact` for a setting that may be unset (``None`` stays ``None``)."""
    return None if url is None else redact(url)


def has_secret(text: str) -> bool:
    """True if ``text`` quotes a secret that :func:`redact` would hide."""
    return redact(text) != text


def _redact_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1:
            end = min(end, at)
    netloc, tail = rest[:end], rest[end:]
    userinfo, separator, host = netloc.rpartition("@")
    if separator and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{HIDDEN}@{host}"
    path, question, query = tail.partition("?")
    if question:
        query, hash_, fragment = query.partition("#")
        query = "&".join(map(_redact_param, query.split("&"))) + hash_ + fragment
    return f"{scheme}://{netloc}{path}{question}{query}"


def _redact_param(pair: str) -> str:
    name, equals, value = pair.partition("=")
    if equals and value and name.lower() in SECRET_PARAMS:
        return f"{name}={HIDDEN}"
    return pair

"""Bearer tokens of the HTTP API, each scoped to some indexes with read or write access.

Tokens are configured in a TOML file that holds only their SHA-256 digests, so the file
is not itself a secret worth stealing::

    [tokens.etl]                 # a name, shown in logs instead of the token
    sha256 = "9f86d08..."        # digest of the token (`vecq token` makes both)
    indexes = ["products", "staging-*"]   # names or shell-style patterns; ["*"]: all
    access = "write"             # "read": list, describe, get, count, job status; "write": all

A write grant includes read. Creating an index needs write access to its name.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Access = Literal["read", "write"]
_ACCESS: tuple[Access, ...] = ("read", "write")


@dataclass(frozen=True)
class Grant:
    """What one token may do."""

    name: str
    indexes: tuple[str, ...]
    access: Access

    def allows(self, index: str, need: Access) -> bool:
        """True if this grant gives ``need`` access to ``index``."""
        if need == "write" and self.access != "write":
            return False
        return any(fnmatch.fnmatchcase(index, pattern) for pattern in self.indexes)


# What every request gets when the API runs with authentication off (`--no-auth`).
OPEN = Grant("anonymous", ("*",), "write")


class Tokens:
    """The configured tokens; :meth:`grant` finds the one a presented token matches."""

    def __init__(self, grants: dict[str, Grant]) -> None:
        self._grants = grants  # sha256 hex digest -> grant

    def __len__(self) -> int:
        return len(self._grants)

    def grant(self, token: str) -> Grant | None:
        """The grant of ``token``, or None; compares digests in constant time."""
        digest = digest_of(token)
        found = None
        for known, grant in self._grants.items():
            if hmac.compare_digest(known, digest):
                found = grant
        return found

    @classmethod
    def from_file(cls, path: str | Path) -> Tokens:
        """Read a tokens file; raise ``ValueError`` saying what is wrong where."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the tokens file: {exc}") from exc
        table = data.get("tokens")
        if not isinstance(table, dict) or not table:
            raise ValueError(f"{path}: no [tokens.NAME] tables")
        grants: dict[str, Grant] = {}
        for name, entry in table.items():
            digest, grant = _entry(path, name, entry)
            if digest in grants:
                raise ValueError(f"{path}: tokens.{name} has the same token as another entry")
            grants[digest] = grant
        return cls(grants)


def _entry(path: Path, name: str, entry: object) -> tuple[str, Grant]:
    where = f"{path}: tokens.{name}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise ValueError(f"{where}.sha256 must be the 64-hex-digit SHA-256 of the token")
    indexes = entry.get("indexes")
    if not isinstance(indexes, list) or not indexes or not all(isinstance(i, str) for i in indexes):
        raise ValueError(f'{where}.indexes must be a list of index names or patterns, e.g. ["*"]')
    access = entry.get("access")
    if access not in _ACCESS:
        raise ValueError(f'{where}.access must be "read" or "write", got {access!r}')
    unknown = set(entry) - {"sha256", "indexes", "access"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return digest.lower(), Grant(name, tuple(indexes), access)


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def digest_of(token: str) -> str:
    """The SHA-256 hex digest a tokens file stores for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return "vecq_" + secrets.token_urlsafe(32)

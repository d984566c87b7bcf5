"""Item encryption (AES-256-GCM under the index key) and the registry's key check."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from pathlib import Path

from vecq.shared.errors import InvalidKeyError

KEY_BYTES = 32
NONCE_BYTES = 12
_CHECK_CONTEXT = b"vecq key check v1\x00"


def generate_key() -> bytes:
    """Return 32 random bytes, suitable as an ``index_key``."""
    return secrets.token_bytes(KEY_BYTES)


def check_key_shape(key: object) -> bytes:
    """The 32-byte key ``key`` stands for, else :class:`InvalidKeyError`.

    One format everywhere: 32 raw bytes, or the text of a key file (64 hex digits, as
    ``vecq index create`` writes it) as ``str`` or ``bytes``; surrounding whitespace is
    ignored.
    """
    if isinstance(key, (bytes, bytearray)) and len(key) == KEY_BYTES:
        return bytes(key)
    if isinstance(key, (bytes, bytearray)):
        try:
            text = bytes(key).decode("ascii")
        except UnicodeDecodeError:
            text = None
        if text is not None and len(text.strip()) == 2 * KEY_BYTES:
            return key_from_hex(text, "index_key")
        raise InvalidKeyError(
            f"index_key must be {KEY_BYTES} bytes or their 64 hex digits (use "
            f"client.generate_key(), or key_file=), got {len(key)} bytes"
        )
    if isinstance(key, str):
        return key_from_hex(key, "index_key")
    raise InvalidKeyError(
        f"index_key must be {KEY_BYTES} bytes or their 64 hex digits (use client.generate_key(),"
        f" or key_file=), got {type(key).__name__}"
    )


def resolve_key(key: object, key_file: str | Path | None) -> bytes:
    """The key given as ``index_key`` or read from ``key_file`` (exactly one of them)."""
    if key_file is not None:
        if key is not None:
            raise InvalidKeyError("pass index_key or key_file, not both")
        return read_key_file(key_file)
    if key is None:
        raise InvalidKeyError("no index key: pass index_key (or key_file=)")
    return check_key_shape(key)


def key_from_hex(text: str | None, source: str) -> bytes:
    """An index key written as 64 hex digits; ``source`` names where it came from in errors."""
    if not text or not text.strip():
        raise InvalidKeyError(f"no index key: {source} is empty")
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise InvalidKeyError(f"{source} must be the index key in hex (64 digits)") from None
    if len(key) != KEY_BYTES:
        raise InvalidKeyError(
            f"{source} must be the index key in hex (64 digits), got {len(key)} bytes"
        )
    return key


def read_key_file(path: str | Path) -> bytes:
    """An index key from a file of 32 raw bytes or 64 hex digits."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidKeyError(f"{path}: cannot read the key file: {exc.strerror}") from None
    if len(raw) == KEY_BYTES:
        return raw
    try:
        return key_from_hex(raw.decode(), str(path))
    except (InvalidKeyError, UnicodeDecodeError):
        raise InvalidKeyError(f"{path}: expected 32 raw bytes or 64 hex digits") from None


def key_check(key: bytes, index_name: str) -> str:
    """The value the registry stores instead of the key: HMAC-SHA256 over the index name."""
    return hmac.new(key, _CHECK_CONTEXT + index_name.encode(), hashlib.sha256).hexdigest()


def verify_key(key: bytes, index_name: str, stored_check: str) -> None:
    """Raise :class:`InvalidKeyError` unless ``key`` produced ``stored_check``."""
    if not hmac.compare_digest(key_check(key, index_name), stored_check):
        raise InvalidKeyError(
            f"the index_key does not match index {index_name!r}; use the key it was created with"
        )


def _aad(index_name: str, point_id: int | str) -> bytes:
    # An integer id as 8 bytes after a 0 byte; a string id as UTF-8 after a 1 byte (index
    # names hold neither byte, so the two forms never meet).
    if isinstance(point_id, str):
        return index_name.encode() + b"\x01" + point_id.encode()
    return index_name.encode() + b"\x00" + point_id.to_bytes(8, "little")


class ItemCipher:
    """Encrypts and decrypts items of one index; the point id is bound as associated data."""

    def __init__(self, key: bytes, index_name: str) -> None:
        # Imported here so the workers, which never see keys, do not load cryptography.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(check_key_shape(key))
        self._name = index_name

    def encrypt(self, point_id: int | str, item: bytes) -> bytes:
        """Return nonce || ciphertext || tag."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, item, _aad(self._name, point_id))

    def decrypt(self, point_id: int | str, blob: bytes) -> bytes:
        """Reverse :meth:`encrypt`; raise :class:`InvalidKeyError` if it fails to authenticate."""
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(self._name, point_id)
            )
        except InvalidTag:
            raise InvalidKeyError(
                f"item of id {point_id!r} in index {self._name!r} failed to decrypt: wrong key "
                "or tampered data"
            ) from None

    def encrypt_all(
        self, ids: Sequence[int | str], items: Sequence[bytes | None]
    ) -> list[bytes | None]:
        """Encrypt every present item (``ids``: the caller's); ``None`` stays ``None``."""
        return [
            None if item is None else self.encrypt(pid, item)
            for pid, item in zip(ids, items, strict=True)
        ]

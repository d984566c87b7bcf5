"""Item encryption, the registry key check, and reading keys from hex and files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vecq.shared.crypto import (
    ItemCipher,
    generate_key,
    key_check,
    key_from_hex,
    read_key_file,
    verify_key,
)
from vecq.shared.errors import InvalidKeyError


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    """decrypt(encrypt(x)) == x, and the ciphertext does not contain x."""
    cipher = ItemCipher(generate_key(), "idx")
    sealed = cipher.encrypt(7, b"secret document")
    assert b"secret document" not in sealed
    assert cipher.decrypt(7, sealed) == b"secret document"


def test_same_item_encrypts_differently_each_time() -> None:
    """A random nonce per item: equal items do not produce equal ciphertexts."""
    cipher = ItemCipher(generate_key(), "idx")
    assert cipher.encrypt(1, b"x") != cipher.encrypt(1, b"x")


@pytest.mark.parametrize("where", ["other key", "other id", "other index", "tampered"])
def test_decrypt_fails_outside_its_context(where: str) -> None:
    """Ciphertext only opens with its key, point id and index name, untampered."""
    key = generate_key()
    sealed = ItemCipher(key, "idx").encrypt(7, b"payload")
    cipher, point_id = ItemCipher(key, "idx"), 7
    if where == "other key":
        cipher = ItemCipher(generate_key(), "idx")
    elif where == "other id":
        point_id = 8
    elif where == "other index":
        cipher = ItemCipher(key, "idx2")
    else:
        sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(InvalidKeyError):
        cipher.decrypt(point_id, sealed)


def test_key_check_verifies_only_the_right_key() -> None:
    """The stored check accepts its key and rejects any other."""
    key = generate_key()
    check = key_check(key, "idx")
    verify_key(key, "idx", check)
    assert key.hex() not in check
    with pytest.raises(InvalidKeyError):
        verify_key(generate_key(), "idx", check)


def test_keys_in_hex_and_key_files_parse_or_say_what_is_wrong(tmp_path: Path) -> None:
    """64 hex digits (spaces around allowed) or a file of raw bytes or hex; else InvalidKeyError."""
    key = generate_key()
    assert key_from_hex(f" {key.hex()}\n", "X-Index-Key") == key
    for bad, problem in [("zz", "in hex"), ("ab" * 31, "got 31 bytes"), ("", "is empty")]:
        with pytest.raises(InvalidKeyError, match=problem) as raised:
            key_from_hex(bad, "X-Index-Key")
        assert "X-Index-Key" in str(raised.value)
    raw, text, bad = tmp_path / "raw.key", tmp_path / "hex.key", tmp_path / "bad.key"
    raw.write_bytes(key)
    text.write_text(key.hex() + "\n")
    bad.write_text("not a key")
    assert read_key_file(raw) == key and read_key_file(text) == key
    with pytest.raises(InvalidKeyError, match="32 raw bytes or 64 hex digits"):
        read_key_file(bad)
    with pytest.raises(InvalidKeyError, match="cannot read the key file"):
        read_key_file(tmp_path / "missing.key")

"""Item encryption and the registry key check."""

from __future__ import annotations

import pytest

from shared.crypto import ItemCipher, generate_key, key_check, verify_key
from shared.errors import InvalidKeyError


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

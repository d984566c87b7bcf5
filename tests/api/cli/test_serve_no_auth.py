"""`vecq serve --no-auth` stays on this machine unless told otherwise, and says so loudly."""

from __future__ import annotations

import pytest

from vecq.api.cli import main


def test_no_auth_on_a_network_address_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--no-auth --host 0.0.0.0 exits 2 naming the risk and the way out; nothing is served."""
    assert main(["serve", "--no-auth", "--host", "0.0.0.0", "--port", "1"]) == 2
    said = capsys.readouterr().err
    assert "would let anyone who reaches this machine read and write" in said
    assert "--open-to-the-network" in said

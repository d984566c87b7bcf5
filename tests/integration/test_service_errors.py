"""What an attached client says when the embedded service's Redis will not take a call."""

from __future__ import annotations

from pathlib import Path

import pytest

from vecq import Client, ServiceError

pytestmark = [pytest.mark.integration, pytest.mark.process]


def test_a_redis_refusing_writes_is_a_service_error_naming_the_call(data_dir: Path) -> None:
    """index.count() while the service's Redis refuses writes (as on a full disk) raises
    ServiceError naming the call, not a raw redis ResponseError."""
    with Client() as client:
        index = client.create_index("refused", index_key=client.generate_key(), dimension=2)
        client.redis.config_set("min-replicas-to-write", 1)  # every write now refused
        try:
            with pytest.raises(ServiceError, match=r"did not take 'count'.*NOREPLICAS"):
                index.count()
        finally:
            client.redis.config_set("min-replicas-to-write", 0)
        assert index.count() == 0


def test_a_client_asking_for_another_engine_than_the_services_is_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service runs Edge; a client that sets VECQ_QDRANT_URL is refused, naming both (its
    setting was silently ignored: the index went to Edge)."""
    with Client() as client:
        assert client.service is not None
        monkeypatch.setenv("VECQ_QDRANT_URL", "http://qdrant.invalid:6333")
        with pytest.raises(ServiceError, match=r"writes to edge at .*asks for server at http"):
            Client()

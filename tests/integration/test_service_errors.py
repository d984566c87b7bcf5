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

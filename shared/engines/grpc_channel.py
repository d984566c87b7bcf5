"""A gRPC channel to a Qdrant server that sends pre-encoded ``Upsert`` requests.

qdrant-client's stubs serialise protobuf objects; vecq's upserts are already bytes
(``shared/engines/grpc_wire.py``), so they go through a method of their own on a channel
of their own, with the same address, TLS and API key as the client's. Errors are grpc's
own ``RpcError`` with its status code, exactly what qdrant-client's gRPC calls raise, so
the retry policy reads them the same way.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from vecq.shared.config.settings import Settings

_UPSERT = "/qdrant.Points/Upsert"
# Seconds one upsert may take, as qdrant-client's own timeout in vecq (ServerEngine).
TIMEOUT_SECONDS = 60.0
# A channel's HTTP/2 connection carries this many concurrent streams comfortably; more
# requests in flight than this share a second connection (grpc's default is 100 streams, but
# several 6 MB requests on one connection queue behind each other in its flow control).
STREAMS_PER_CHANNEL = 2


class UpsertChannel:
    """Sends serialised ``UpsertPoints`` requests to the server at ``settings.qdrant_url``."""

    def __init__(self, settings: Settings, channels: int = 1) -> None:
        import grpc
        from qdrant_client import grpc as pb

        if settings.qdrant_url is None:
            raise ValueError("UpsertChannel needs a Qdrant server URL")
        parts = urlsplit(settings.qdrant_url)
        target = f"{parts.hostname}:{settings.qdrant_grpc_port}"
        options = [("grpc.max_send_message_length", -1), ("grpc.use_local_subchannel_pool", 1)]
        self._channels: list[Any] = []
        for _ in range(max(1, channels)):
            if parts.scheme == "https":
                roots = None
                if settings.qdrant_ca_cert:
                    with open(settings.qdrant_ca_cert, "rb") as f:
                        roots = f.read()
                creds = grpc.ssl_channel_credentials(root_certificates=roots)
                channel = grpc.secure_channel(target, creds, options)
            else:
                channel = grpc.insecure_channel(target, options)
            self._channels.append(channel)
        self._calls = [
            c.unary_unary(
                _UPSERT,
                request_serializer=None,
                response_deserializer=pb.PointsOperationResponse.FromString,
            )
            for c in self._channels
        ]
        key = settings.qdrant_api_key
        self._metadata = (("api-key", key),) if key else None
        self._next = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<UpsertChannel {len(self._channels)} channel(s)>"

    def upsert(self, request: bytes, timeout: float = TIMEOUT_SECONDS) -> Any:
        """Send one serialised ``UpsertPoints`` and return Qdrant's response once applied."""
        import grpc

        with self._lock:
            call = self._calls[self._next % len(self._calls)]
            self._next += 1
        try:
            return call(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            paced = _with_retry_after(exc)
            if paced is exc:
                raise
            raise paced from exc

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


def _with_retry_after(exc: Any) -> BaseException:
    """A RESOURCE_EXHAUSTED that says when to come back, as qdrant-client raises it.

    Qdrant's strict mode answers a write over its rate limit with RESOURCE_EXHAUSTED and a
    ``retry-after`` trailer (seconds); qdrant-client turns that into
    ``ResourceExhaustedResponse``, which the retry policy honours. Anything else stays as is.
    """
    import grpc
    from qdrant_client.common.client_exceptions import ResourceExhaustedResponse

    if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return exc  # type: ignore[no-any-return]
    for key, value in exc.trailing_metadata() or ():
        if key == "retry-after":
            try:
                return ResourceExhaustedResponse(exc.details() or "", int(value))
            except ValueError:
                break
    return exc  # type: ignore[no-any-return]

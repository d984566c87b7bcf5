"""Reading the task messages a producer published, straight from the Redis broker's queues.

Tests that deliver batches in an order of their choosing take the messages out of the real
queues (kombu keeps each as a list of JSON envelopes) and hand them to the pipeline.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import redis

from vecq.shared import keys


def take(r: redis.Redis) -> list[dict[str, Any]]:
    """Remove every queued batch message (live and bulk) and return their references, oldest
    first (by sequence number)."""
    found = []
    for queue in (keys.QUEUE_LIVE, keys.QUEUE_BULK):
        pipe = r.pipeline(transaction=True)
        pipe.lrange(queue, 0, -1)
        pipe.delete(queue)
        raw, _ = pipe.execute()
        for envelope in raw:
            message = json.loads(envelope)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append(args[0])
    return sorted(found, key=lambda m: int(m["seq"]))

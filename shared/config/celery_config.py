"""Celery configuration both sides use, as a plain dict (so shared/ never imports Celery)."""

from __future__ import annotations

from typing import Any

from vecq.shared import keys
from vecq.shared.config.redis_client import REDIS_CONNECT_TIMEOUT, REDIS_SOCKET_TIMEOUT
from vecq.shared.config.sentinel import SentinelUrl, is_sentinel
from vecq.shared.config.settings import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    """Settings for a Celery app of vecq, producer or worker.

    JSON only (vectors travel as blobs in Redis, never in messages, and pickle is refused);
    late acks with reject-on-worker-lost and prefetch 1, so a batch is acknowledged only
    after it is settled and a dead worker's batch is delivered again; the visibility
    timeout is set everywhere Celery reads it and always exceeds the task time limit.
    """
    vt = settings.visibility_timeout
    # kombu sweeps for a dead worker's unacknowledged batches every interval x throttle
    # seconds (100 by default); with a short visibility timeout, sweep proportionally sooner.
    sweep = min(100, max(1, vt // 3))
    interval = min(10, sweep)
    transport: dict[str, Any] = {
        "visibility_timeout": vt,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": max(1, sweep // interval),
        # The fleet's restore lock: held for a moment each sweep, but if its holder is killed
        # then, no worker restores anything until it expires (kombu's default: 300 s).
        "unacked_mutex_expire": max(10, sweep),
        # vecq never sets message priorities; with one step, an empty-queue check or a fetch
        # is one RPOP instead of four (a live-lane round trip saved per message).
        "priority_steps": [0],
        # A publish or ack on a connection that died silently fails instead of hanging.
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
    }
    broker_url = settings.resolved_broker_url
    if is_sentinel(broker_url):
        # kombu finds the master through the sentinels and reconnects to the new one after
        # a failover; the sentinels are asked with the same timeouts as the master.
        sentinel = SentinelUrl.parse(str(broker_url))
        broker_url = sentinel.broker_url
        transport["master_name"] = sentinel.master
        transport["sentinel_kwargs"] = {
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        }
    return {
        "broker_url": broker_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        # A batch whose task hits the hard time limit goes back to the queue, not away.
        "task_acks_on_failure_or_timeout": False,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit,
        # The soft limit interrupts a stuck write in time to put the batch back cleanly.
        "task_soft_time_limit": max(settings.task_time_limit - 30, settings.task_time_limit * 0.8),
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "task_ignore_result": True,
        "task_default_queue": keys.QUEUE_BULK,
        "task_routes": {keys.TASK_UPSERT_BATCH: {"queue": keys.QUEUE_BULK}},
        "broker_connection_retry_on_startup": True,
        # A producer facing a dead broker must fail in bounded time (BrokerUnavailable), not
        # hang: a few quick reconnects, then the error.
        "broker_connection_timeout": 4,
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        "worker_hijack_root_logger": False,
        # Broadcasts (shutdown, pool restarts, inspect) only where asked for (Flower).
        "worker_enable_remote_control": settings.remote_control,
        "worker_send_task_events": False,
    }

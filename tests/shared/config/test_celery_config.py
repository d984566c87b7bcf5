"""The Celery settings both sides use: JSON only, late acks, no batch acknowledged away."""

from __future__ import annotations

from vecq.shared.config.celery_config import celery_config
from vecq.shared.config.settings import Settings


def test_messages_are_json_only_and_acknowledged_late() -> None:
    """Pickle is refused; a batch is acknowledged after it settles; a lost worker's comes back."""
    conf = celery_config(Settings(redis_url="redis://h/0"))
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_acks_on_failure_or_timeout"] is False


def test_visibility_timeout_is_set_everywhere_celery_reads_it() -> None:
    """Broker and result-backend transport options carry the same visibility timeout."""
    conf = celery_config(Settings(redis_url="redis://h/0", visibility_timeout=4000))
    assert conf["broker_transport_options"]["visibility_timeout"] == 4000
    assert conf["result_backend_transport_options"]["visibility_timeout"] == 4000


def test_soft_limit_leaves_time_to_put_a_batch_back() -> None:
    """The soft limit fires before the hard one: 30 s before, or at 80% for short limits."""
    assert celery_config(Settings(task_time_limit=300))["task_soft_time_limit"] == 270
    assert (
        celery_config(Settings(task_time_limit=10, visibility_timeout=12))["task_soft_time_limit"]
        == 8
    )


def test_abandoned_batches_are_swept_in_proportion_to_the_visibility_timeout() -> None:
    """kombu's default sweep (10 s x 10) for an hour; every 2 s for a 6 s timeout."""
    long = celery_config(Settings())["broker_transport_options"]
    short = celery_config(Settings(task_time_limit=5, visibility_timeout=6, retry_seconds=1))[
        "broker_transport_options"
    ]
    assert (long["unacked_restore_interval"], long["unacked_restore_throttle"]) == (10, 10)
    assert (short["unacked_restore_interval"], short["unacked_restore_throttle"]) == (2, 1)
    # A worker killed while it holds the restore lock stops restores only this long.
    assert (long["unacked_mutex_expire"], short["unacked_mutex_expire"]) == (100, 10)

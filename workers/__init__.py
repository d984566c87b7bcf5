"""The worker side: the Celery app, its tasks, the Qdrant sink, the retry policy and the
embedded service's host."""

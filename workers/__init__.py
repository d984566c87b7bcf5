"""The worker side: the Celery app, its tasks, the Qdrant sink and the retry policy."""

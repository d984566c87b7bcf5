"""Configuration: the settings object, Redis connections (Sentinel, the embedded server)
and the Celery configuration both sides use."""

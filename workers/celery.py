"""The worker app built from ``VECQ_*`` settings, for Celery's own tools.

``celery -A workers flower``, ``celery -A workers inspect active`` and ``celery -A workers
events`` find this ``app``. Run vecq's workers with ``vecq worker``, which adds the live
lane, the reaper, metrics and vecq's logging around the same app.
"""

from __future__ import annotations

from shared.settings import Settings
from workers.app import create_app

app = create_app(Settings.from_env())

"""Loaded at start-up by a `vecq worker` the fault tests slow down (on PYTHONPATH).

``VECQ_TEST_SLOW_WRITE="<index>:<seconds>"`` makes every write of that index's points take
``seconds`` longer, in the real engine of the real worker process: a stalled (not dead)
worker, or a worker too slow for its backlog. ``VECQ_TEST_ROOT`` is the repository.
"""

import os
import sys
import time

_spec = os.environ.get("VECQ_TEST_SLOW_WRITE")
if _spec:
    sys.path.insert(0, os.environ["VECQ_TEST_ROOT"])
    from vecq.shared.engines.edge import EdgeEngine
    from vecq.shared.engines.server import ServerEngine

    _index, _seconds = _spec.rsplit(":", 1)

    def _slowed(write):  # type: ignore[no-untyped-def]
        def slow(self, info, request):  # type: ignore[no-untyped-def]
            if info.name == _index:
                time.sleep(float(_seconds))
            return write(self, info, request)

        return slow

    EdgeEngine.write = _slowed(EdgeEngine.write)  # type: ignore[method-assign]
    ServerEngine.write = _slowed(ServerEngine.write)  # type: ignore[method-assign]

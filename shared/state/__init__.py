"""What lives in Redis: the index registry, job ledgers, marks, the pending set, dead letters,
the fleet's pace, heartbeats, and the Lua scripts (``lua/``) that change them atomically."""

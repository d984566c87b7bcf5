"""Lua scripts run in Redis, each a ``lua/*.lua`` file beside this module, addressed by name.

Each script opens with a comment block naming its keys and arguments in order::

    --[[ What the script does.
    KEYS
      job        the job's hash
    ARGV
      seq        the batch's sequence number
      records... failure records (any number; must come last)
    ]]

The loader reads the file once, declares each name as a Lua local (``local job = KEYS[1]``;
a trailing ``name...`` becomes ``local records = 2``, the index in KEYS or ARGV of the first
of any number of further keys or arguments), and
registers the result with ``register_script`` once per Redis client. Callers pass keys and
arguments by name; a missing or unknown name is an error before anything reaches Redis.

On a pipeline the script is queued as ``EVAL`` with its source: a registered script would
make the pipeline ask ``SCRIPT EXISTS`` first, one more round trip for every batch.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

_DIR = Path(__file__).with_name("lua")
_SECTION = re.compile(r"^(KEYS|ARGV)\s*$")
# A name is indented two spaces; a description's continuation lines are indented deeper.
_NAME = re.compile(r"^  ([a-z_][a-z0-9_]*)(\.\.\.)?(\s|$)")
# Globals the scripts use, which a name must not shadow.
_LUA_GLOBALS = frozenset(
    (
        "redis",
        "tonumber",
        "tostring",
        "unpack",
        "table",
        "string",
        "math",
        "cjson",
        "type",
        "next",
        "pairs",
        "ipairs",
        "select",
        "KEYS",
        "ARGV",
    )
)

Value = str | int | float | bytes | memoryview


class Lua:
    """One script of ``shared/lua``: its declared names, its source, its registrations."""

    def __init__(self, name: str) -> None:
        self.name = name
        body = (_DIR / f"{name}.lua").read_text()
        self.keys, self.more_keys = _declared(name, body, "KEYS")
        self.args, self.more_args = _declared(name, body, "ARGV")
        prelude = [f"local {k} = KEYS[{i}]" for i, k in enumerate(self.keys, 1)]
        prelude += [f"local {a} = ARGV[{i}]" for i, a in enumerate(self.args, 1)]
        if self.more_keys is not None:
            prelude.append(f"local {self.more_keys} = {len(self.keys) + 1}")
        if self.more_args is not None:
            prelude.append(f"local {self.more_args} = {len(self.args) + 1}")
        self.source = ("\n".join(prelude) + "\n" + body).encode()
        self._registered: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(
        self,
        client: redis.Redis | redis.client.Pipeline,
        keys: Mapping[str, str],
        args: Mapping[str, Value],
        *,
        more_keys: Sequence[str] = (),
        more_args: Sequence[Value] = (),
    ) -> Any:
        """Run on ``client`` (on a pipeline: queue it); return the script's reply."""
        if set(keys) != set(self.keys) or set(args) != set(self.args):
            raise TypeError(
                f"{self.name}.lua takes keys {self.keys} and arguments {self.args}; got keys "
                f"{sorted(keys)} and arguments {sorted(args)}"
            )
        if (more_keys and self.more_keys is None) or (more_args and self.more_args is None):
            raise TypeError(f"{self.name}.lua takes no further keys or arguments")
        key_values = [*(keys[k] for k in self.keys), *more_keys]
        arg_values = [*(args[a] for a in self.args), *more_args]
        if isinstance(client, redis.client.Pipeline):
            return client.eval(self.source, len(key_values), *key_values, *arg_values)  # type: ignore[arg-type]  # redis-py types the script as str; bytes work
        with self._lock:
            script = self._registered.get(client)
            if script is None:
                script = self._registered[client] = client.register_script(self.source)
        return script(keys=key_values, args=arg_values)


def _declared(name: str, body: str, section: str) -> tuple[list[str], str | None]:
    """The names one section (KEYS or ARGV) of the header declares, and its open-ended name."""
    header = body.split("]]", 1)[0]
    names: list[str] = []
    more = None
    current = None
    for line in header.splitlines():
        heading = _SECTION.match(line)
        if heading:
            current = heading[1]
            continue
        m = _NAME.match(line)
        if current != section or m is None:
            continue
        if more is not None:
            raise ValueError(f"{name}.lua: {more}... must be the last of {section}")
        if m[1] in _LUA_GLOBALS:
            raise ValueError(f"{name}.lua: {m[1]!r} would shadow a Lua global")
        if m[2]:
            more = m[1]
        else:
            names.append(m[1])
    if section == "KEYS" and not names:
        raise ValueError(f"{name}.lua: its header declares no KEYS")
    return names, more

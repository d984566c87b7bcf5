"""The Lua loader: named keys and arguments from each script's header, registered per client."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import redis

from vecq.shared.state import scripts
from vecq.shared.state.scripts import Lua


@pytest.fixture
def lua_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of scripts the loader reads instead of shared/lua."""
    monkeypatch.setattr(scripts, "_DIR", tmp_path)
    return tmp_path


ADD = """--[[ Add to a counter and remember the last caller; return the new value.

KEYS
  counter      the counter
  last         who added last
                 (a continuation line, not a name)
ARGV
  amount       how much to add
  who          the caller
  extra...     any number of further values, returned after the count
]]
redis.call('SET', last, who)
local out = {redis.call('INCRBY', counter, amount)}
for i = extra, #ARGV do table.insert(out, ARGV[i]) end
return out
"""


def test_every_shipped_script_declares_its_keys_and_arguments() -> None:
    """The ledger's and the marks' scripts load, and their names are the ones passed."""
    shipped = sorted(p.stem for p in Path(scripts.__file__).with_name("lua").glob("*.lua"))
    assert shipped == [
        "abort",
        "delivered",
        "finalize",
        "lease_keep",
        "lease_take",
        "mark",
        "pace_acquire",
        "pace_backlog",
        "pace_release",
        "pace_tokens",
        "published",
        "reserve",
        "settle",
        "stored",
        "unmark",
        "watermark",
    ]
    for name in shipped:
        assert Lua(name).keys, name
    settle = Lua("settle")
    assert settle.keys[:2] == ["job", "batches"] and settle.more_args == "extra"
    assert Lua("abort").more_keys == "blobs"
    assert b"local job = KEYS[1]" in settle.source


def test_a_script_runs_by_name_on_a_client_and_on_a_pipeline(lua_dir: Path, r: redis.Redis) -> None:
    """Keys and arguments go in by name; variable arguments follow; pipelines queue it."""
    (lua_dir / "add.lua").write_text(ADD)
    add = Lua("add")
    assert (add.keys, add.args, add.more_args) == (["counter", "last"], ["amount", "who"], "extra")
    names = {"counter": "test:lua:counter", "last": "test:lua:last"}
    r.delete(*names.values())
    pipe = r.pipeline(transaction=False)
    add(pipe, names, {"amount": 3, "who": "b"})
    assert pipe.execute() == [[3]]
    assert r.get("test:lua:last") == b"b"
    r.script_flush()  # harmless: a registered script loads itself again when Redis lacks it
    assert add(r, names, {"amount": 2, "who": "a"}, more_args=["x", "y"]) == [5, b"x", b"y"]
    # On a client it runs as a registered script: Redis now holds it under its SHA-1.
    assert r.script_exists(hashlib.sha1(add.source).hexdigest()) == [True]


def test_a_missing_or_unknown_name_fails_before_redis_is_asked(lua_dir: Path) -> None:
    """Passing keys by the wrong names is a TypeError naming what the script takes."""
    (lua_dir / "add.lua").write_text(ADD)
    add = Lua("add")
    unreachable = redis.Redis(unix_socket_path=str(lua_dir / "nothing.sock"))
    with pytest.raises(TypeError, match=r"takes keys \['counter', 'last'\]"):
        add(unreachable, {"counter": "c"}, {"amount": 1, "who": "a"})
    with pytest.raises(TypeError, match="arguments"):
        add(unreachable, {"counter": "c", "last": "l"}, {"amount": 1, "whom": "a"})


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("KEYS\n  table   shadows a global\n", "would shadow a Lua global"),
        ("ARGV\n  a   an argument\n", "declares no KEYS"),
        ("KEYS\n  k   a key\nARGV\n  rest...  more\n  after   too late\n", "must be the last"),
    ],
)
def test_a_malformed_header_is_refused_at_load(lua_dir: Path, header: str, problem: str) -> None:
    """Shadowing a Lua global, declaring no keys, or a name after the open-ended one."""
    (lua_dir / "bad.lua").write_text(f"--[[ A bad script.\n\n{header}]]\nreturn 1\n")
    with pytest.raises(ValueError, match=problem):
        Lua("bad")

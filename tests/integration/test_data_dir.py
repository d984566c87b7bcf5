"""The embedded data directory on a shared machine: private to its owner, and nothing planted
in or beside it (a state file, a link, a folder name) makes vecq attach to, write to or
create anything of another user's."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.services import redis_server_binary
from vecq import Client, ServiceError
from vecq.api import launcher
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire import service_protocol as wire

pytestmark = [pytest.mark.integration, pytest.mark.process]
STRANGER = 54321  # a uid no one on the machine has: "another user"
as_root = pytest.mark.skipif(os.getuid() != 0, reason="making a file another user's needs root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_its_files_are_the_owners_alone(data_dir: Path) -> None:
    """0700 for the folder, and nothing in it readable by others: the AOF holds every vector."""
    data_dir.mkdir(mode=0o755)
    with Client() as client:
        index = client.create_index("private", index_key=client.generate_key(), dimension=2)
        index.upsert([{"id": 1, "vector": [0.5, 0.5]}])
    assert _mode(data_dir) == 0o700
    shared = [p for p in data_dir.rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert shared == []
    assert any(p.name.endswith(".aof") or "appendonly" in p.name for p in data_dir.rglob("*"))


def test_a_folder_every_user_may_write_is_refused(data_dir: Path) -> None:
    """A data directory writable by others is refused (anything in it may be planted)."""
    data_dir.mkdir()
    data_dir.chmod(0o777)
    with pytest.raises(ServiceError, match="writable by every user"):
        Client()
    assert list(data_dir.iterdir()) == []


@as_root
def test_a_folder_of_another_user_is_refused(data_dir: Path) -> None:
    """Its Redis and files would be someone else's: refused, nothing created in it."""
    data_dir.mkdir(mode=0o700)
    os.chown(data_dir, STRANGER, STRANGER)
    with pytest.raises(ServiceError, match=f"belongs to uid {STRANGER}"):
        Client()
    assert list(data_dir.iterdir()) == []


@pytest.fixture
def strangers_redis() -> Iterator[tuple[str, redis.Redis]]:
    """A Redis server run by another user, on a unix socket (its path, and a client)."""
    home = Path(tempfile.mkdtemp(prefix="vecq-stranger-"))  # in /tmp: they can reach it
    os.chown(home, STRANGER, STRANGER)
    socket = home / "redis.sock"
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "777",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(home),
        ],
        user=STRANGER,
        group=STRANGER,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not socket.exists():
        assert time.monotonic() < deadline, "the stranger's Redis did not start"
        time.sleep(0.05)
    client = redis.Redis(unix_socket_path=str(socket))
    yield str(socket), client
    client.close()
    proc.kill()
    proc.wait()
    shutil.rmtree(home, ignore_errors=True)


def _state(data_dir: Path, socket: str) -> None:
    state = wire.ServiceState(
        pid=os.getpid(),
        version="any",
        started_at=time.time(),
        redis_url=f"unix://{socket}",
        broker_url=f"redis+socket://{socket}",
        engine="edge",
        engine_location="x",
        idle_timeout=0,
    )
    (data_dir / wire.STATE).write_text(json.dumps(state.__dict__))


@as_root
def test_a_state_file_another_user_left_names_nothing(
    data_dir: Path, strangers_redis: tuple[str, redis.Redis]
) -> None:
    """A service.json that is not the user's own is ignored: vecq starts its own service and
    sends the stranger's Redis nothing."""
    socket, theirs = strangers_redis
    data_dir.mkdir(mode=0o700)
    _state(data_dir, socket)
    os.chown(data_dir / wire.STATE, STRANGER, STRANGER)
    with Client() as client:
        assert client.service is not None and client.service.redis_url != f"unix://{socket}"
        client.create_index("mine", index_key=client.generate_key(), dimension=2)
    assert theirs.dbsize() == 0


@as_root
def test_a_state_file_naming_another_users_redis_is_refused(
    data_dir: Path, strangers_redis: tuple[str, redis.Redis]
) -> None:
    """A service.json of the user's own that names a Redis another user serves is refused,
    naming both; nothing is sent there."""
    socket, theirs = strangers_redis
    data_dir.mkdir(mode=0o700)
    _state(data_dir, socket)
    with pytest.raises(ServiceError, match=f"served by uid {STRANGER}"):
        Client()
    assert theirs.dbsize() == 0


@pytest.mark.parametrize("name", ["service.log", "redis.log"])
def test_logs_are_never_written_through_a_link(data_dir: Path, tmp_path: Path, name: str) -> None:
    """A log that is a symbolic link (to someone's file) is refused, and the file untouched."""
    data_dir.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("theirs\n")
    (data_dir / name).symlink_to(victim)
    with pytest.raises(ServiceError, match="symbolic link"):
        Client()
    assert victim.read_text() == "theirs\n"


def test_an_index_name_that_climbs_out_is_refused_by_the_service(data_dir: Path) -> None:
    """An engine call naming '../../x' (sent straight to the service's Redis) is answered with
    an error, and no folder appears outside the data directory."""
    with Client() as client:
        assert client.service is not None
        r = redis.Redis.from_url(client.service.redis_url)
        info = IndexInfo(
            name="../../escaped",
            uid=uuid.uuid4().hex,
            dimension=2,
            shards=1,
            metric="dot",
            shard_function="jump",
            key_check="x",
            created_at=0.0,
        )
        reply_to = wire.send(r, "create", info=info)
        taken = r.blpop([reply_to], timeout=30)
        assert taken is not None
        with pytest.raises(ValueError, match=r"index name '\.\./\.\./escaped' is invalid"):
            wire.decode_result("create", taken[1])
        r.close()
    assert not (data_dir.parent / "escaped").exists()
    assert not (data_dir / "escaped").exists()
    launcher.stop(data_dir, now=True, timeout=30)

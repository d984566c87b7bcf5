"""The embedded service: one per data directory, shared by every process, never stranding work.

Every test runs real processes: the service (``python -m vecq.workers.service_host``) started on
demand by ``Client()`` or a ``vecq`` command, producers in subprocesses, SIGKILL for crashes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import redis

from tests.support.embedded import WRITER, finish, python, stored, the_state, vecq, wait_for
from vecq import Client, ServiceError, StorageLocked
from vecq.api import launcher
from vecq.shared import keys
from vecq.shared.wire.service_protocol import STATE, ServiceState

pytestmark = pytest.mark.integration


def test_two_programs_write_at_once_into_the_same_and_different_indexes(
    data_dir: Path, tmp_path: Path
) -> None:
    """Three producers in their own processes share one service; every point is stored, and
    reads from any of them are answered by the service."""
    key_file = tmp_path / "k.key"
    with Client() as client:
        key = client.generate_key()
        key_file.write_text(key.hex())
        client.create_index("shared", index_key=key, dimension=16)
        client.create_index("other", index_key=key, dimension=16)
        pid = client.service.pid  # type: ignore[union-attr]
    writers = [
        python(WRITER, "shared", "0", "20000", str(key_file)),
        python(WRITER, "shared", "20000", "20000", str(key_file)),
        python(WRITER, "other", "0", "15000", str(key_file)),
    ]
    outputs = [finish(w).split() for w in writers]
    assert {int(o[1]) for o in outputs} == {pid}, "every program attached to the one service"
    assert int(outputs[2][0]) == 15_000
    with Client() as client:
        index = client.load_index("shared", index_key=key)
        assert index.count() == 40_000
        got = index.get([0, 39_999, 40_000])
        assert [p["id"] for p in got] == [0, 39_999]
        expected = np.random.default_rng(20_000).standard_normal((5_000, 16), dtype=np.float32)[0]
        assert np.allclose(
            index.get([20_000])[0]["vector"], expected / np.linalg.norm(expected), atol=1e-6
        )
    assert launcher.stop(data_dir) == pid
    assert stored(data_dir, "shared") == 40_000 and stored(data_dir, "other") == 15_000


def test_status_and_index_list_answer_while_an_ingest_runs(data_dir: Path, tmp_path: Path) -> None:
    """A backfill in one process, `vecq status` and `vecq index list` in others, at once."""
    key_file = tmp_path / "k.key"
    assert (
        vecq(
            "index", "create", "watched", "--dimension", "64", "--key-file", str(key_file)
        ).returncode
        == 0
    )
    vectors = tmp_path / "v.npy"
    np.save(vectors, np.random.default_rng(1).standard_normal((150_000, 64), dtype=np.float32))
    ingest = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vecq.api.cli",
            "ingest",
            str(vectors),
            "--index",
            "watched",
            "--key-file",
            str(key_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen_running = False
    while ingest.poll() is None:
        status = vecq("status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["service"]["pid"] == the_state(data_dir).pid
        listed = vecq("index", "list")
        assert listed.returncode == 0 and "watched" in listed.stdout, listed.stderr
        seen_running |= any(j["status"] == "running" for j in report["jobs"])
    out, err = ingest.communicate()
    assert ingest.returncode == 0, err
    assert seen_running, "status never saw the ingest's job running"
    assert "written: 150,000 vectors" in out


def test_a_job_left_with_wait_false_is_written_after_its_producer_exits(data_dir: Path) -> None:
    """The producer enqueues, exits at once; the service writes everything after it."""
    with Client() as client:
        key = client.generate_key()
        client.create_index("later", index_key=key, dimension=32)
    program = python(f"""
        import numpy as np
        from vecq import Client
        with Client() as client:
            index = client.load_index("later", index_key=bytes.fromhex("{key.hex()}"))
            job = index.upsert(np.arange(60_000), np.ones((60_000, 32), np.float32), wait=False)
            print(job.job_id, job.progress.written)
    """)
    job_id, written_then = finish(program).split()
    assert int(written_then) < 60_000, "the job should still have been queued at exit"
    with Client() as client:
        job = client.job(job_id)
        job.wait(timeout=120)
        assert client.load_index("later", index_key=key).count() == 60_000


def test_a_killed_service_is_restarted_by_the_next_command_and_finishes_the_job(
    data_dir: Path,
) -> None:
    """SIGKILL mid-backfill; the next `vecq status` starts a new service, which redelivers
    what the dead one had taken, and the job ends with every point stored, none failed.

    A kill can land between kombu's pop of a message and its record of it: one message is
    dropped here to make that certain. The new service publishes it again as it starts (the
    reaper would wait a minute), so the job never stalls for the test's 20 s."""
    with Client() as client:
        key = client.generate_key()
        index = client.create_index("crash", index_key=key, dimension=128)
        job = index.upsert(np.arange(120_000), np.ones((120_000, 128), np.float32), wait=False)
        wait_for(lambda: job.progress.written > 0, 60, "the first writes")
        first = the_state(data_dir).pid
        os.kill(first, signal.SIGKILL)
    wait_for(
        lambda: (
            not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
        ),
        10,
        "the kill",
    )
    assert lose_one_message(the_state(data_dir).redis_url), "nothing left to lose"
    status = vecq("status")
    assert status.returncode == 0, status.stderr
    second = the_state(data_dir).pid
    assert second != first and f"pid {second}" in status.stdout
    with Client() as client:
        finished = client.job(job.job_id)
        finished.wait(timeout=120)
        assert finished.progress.failed == 0
        assert client.load_index("crash", index_key=key).count() == 120_000


def lose_one_message(redis_url: str) -> bool:
    """Drop one message as a kill between kombu's BRPOP and its record of it would."""
    r = redis.Redis.from_url(redis_url)
    try:
        if r.rpop(keys.QUEUE_BULK) is not None:
            return True
        taken = r.zrange("unacked_index", 0, 0)
        if not taken:
            return False
        r.pipeline().hdel("unacked", taken[0]).zrem("unacked_index", taken[0]).execute()
        return True
    finally:
        r.close()


def test_an_attached_client_starts_a_killed_service_again_and_its_job_finishes(
    data_dir: Path,
) -> None:
    """SIGKILL while a program waits on its job: its client's watch starts the service again
    (the Redis outlived it), and wait() returns with everything stored; no command was run."""
    with Client() as client:
        key = client.generate_key()
        index = client.create_index("watched", index_key=key, dimension=128)
        job = index.upsert(np.arange(120_000), np.ones((120_000, 128), np.float32), wait=False)
        wait_for(lambda: job.progress.written > 0, 60, "the first writes")
        first = client.service
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        job.wait(timeout=120)
        assert client.service is not None and client.service.pid != first.pid
        assert job.progress.failed == 0 and index.count() == 120_000
        assert index.get([119_999])[0]["id"] == 119_999  # reads reach the new service


def test_a_stale_state_file_is_replaced(data_dir: Path) -> None:
    """A service.json naming a dead pid and a socket that is gone does not fool a starter."""
    data_dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = ServiceState(
        pid=dead.pid,
        version="0.3.0",
        started_at=0.0,
        redis_url=f"unix://{data_dir}/gone.sock",
        broker_url="redis+socket://x",
        engine="edge",
        engine_location="",
        idle_timeout=1.0,
    )
    stale.write(data_dir)
    up = vecq("up")
    assert up.returncode == 0, up.stderr
    state = the_state(data_dir)
    assert state.pid != dead.pid and state.alive()
    # The same with a live pid that is not a service (this test's own process).
    launcher.stop(data_dir)
    ServiceState(**{**state.__dict__, "pid": os.getpid()}).write(data_dir)
    with Client() as client:
        assert client.service is not None and client.service.pid not in (os.getpid(), state.pid)


def test_commands_starting_it_at_the_same_instant_share_one_service(data_dir: Path) -> None:
    """Four `vecq up` at once: one service, and all four report it."""
    up = [sys.executable, "-m", "vecq.api.cli", "up"]
    starters = [
        subprocess.Popen(up, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [finish(s) for s in starters]
    pid = the_state(data_dir).pid
    assert all(f"pid {pid}," in out for out in outputs), outputs
    services = [
        p
        for p in psutil.process_iter(["cmdline"])
        if "vecq.workers.service_host" in " ".join(p.info["cmdline"] or [])
        and str(data_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert [p.pid for p in services] == [pid]


def test_down_writes_the_queued_work_first_and_down_now_keeps_it(data_dir: Path) -> None:
    """`vecq down` returns once the queue is written; `vecq down --now` stops with work still
    queued, and the next start writes it."""
    with Client() as client:
        key = client.generate_key()
        index = client.create_index("drain", index_key=key, dimension=128)
        index.upsert(np.arange(80_000), np.ones((80_000, 128), np.float32), wait=False)
    down = vecq("down")
    assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
    assert stored(data_dir, "drain") == 80_000
    with Client() as client:
        index = client.load_index("drain", index_key=key)
        job = index.upsert(
            np.arange(80_000, 330_000), np.ones((250_000, 128), np.float32), wait=False
        )
    now = vecq("down", "--now")
    assert now.returncode == 0, now.stderr
    left = stored(data_dir, "drain")
    assert left < 330_000, f"--now should stop before the queue is written ({left} stored)"
    with Client() as client:
        client.job(job.job_id).wait(timeout=120)
        assert client.load_index("drain", index_key=key).count() == 330_000
    assert vecq("down").returncode == 0
    assert "no vecq service runs" in vecq("down").stdout


def test_a_wait_ends_with_one_line_when_the_service_is_stopped_under_it(data_dir: Path) -> None:
    """`vecq down --now` while a client waits on its job: the wait ends at once (not after the
    stall timeout) with a ServiceError saying what happened, and the next start writes the
    rest of the job."""
    with Client() as client:
        key = client.generate_key()
        index = client.create_index("cut", index_key=key, dimension=64)
        job = index.upsert(np.arange(300_000), np.ones((300_000, 64), np.float32), wait=False)
        assert vecq("down", "--now").returncode == 0
        started = time.monotonic()
        with pytest.raises(ServiceError, match=r"service was stopped \(`vecq down`\) before job"):
            job.wait()
        assert time.monotonic() - started < client.settings.stall_timeout
    with Client() as client:
        client.job(job.job_id).wait(timeout=300)
        assert client.load_index("cut", index_key=key).count() == 300_000
    assert vecq("down").returncode == 0


def test_it_stops_by_itself_when_idle_but_not_while_a_client_is_attached(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VECQ_SERVICE_IDLE_TIMEOUT", "2")
    """Idle = no queued work and no attached client for VECQ_SERVICE_IDLE_TIMEOUT seconds."""
    with Client() as client:
        state = client.service
        assert state is not None
        client.list_indexes()
        time.sleep(4)
        assert state.alive(), "it stopped with a client attached"
    wait_for(lambda: not state.alive(), 15, "the idle stop")
    assert launcher.running(data_dir) is None
    assert not (data_dir / STATE).exists(), "a clean stop removes service.json"


def test_a_version_mismatch_is_refused_with_what_to_do(data_dir: Path) -> None:
    """A service of another vecq version (its state file says so) is not attached to."""
    assert vecq("up").returncode == 0
    state = the_state(data_dir)
    ServiceState(**{**state.__dict__, "version": "0.0.1"}).write(data_dir)
    with pytest.raises(ServiceError, match=r"runs vecq 0\.0\.1.*vecq down"):
        Client()
    status = vecq("status")
    assert status.returncode == 1 and "vecq down" in status.stderr
    assert vecq("down").returncode == 0


def test_a_service_that_cannot_start_says_why(data_dir: Path) -> None:
    """A service that dies at start (here its Redis refuses a damaged append-only file): the
    starter gets the service's own words from its log, not a hang."""
    data_dir.mkdir(parents=True)
    (data_dir / "appendonly.aof").write_text("*3\r\n$3\r\nSET\r\n garbage")
    with pytest.raises(ServiceError, match="exited at start"):
        Client()
    assert launcher.running(data_dir) is None


def test_a_read_only_data_directory_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data directory on a read-only file system (a tmpfs mounted read-only)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    try:
        for var in ("VECQ_REDIS_URL", "VECQ_BROKER_URL", "VECQ_QDRANT_URL", "VECQ_QDRANT_PATH"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("VECQ_DATA_DIR", str(folder / "vecq"))
        with pytest.raises(ServiceError, match="read-only"):
            Client()
        up = vecq("up")
        assert up.returncode == 1 and "read-only" in up.stderr and "Traceback" not in up.stderr
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_an_in_process_client_holding_the_folder_is_named(data_dir: Path) -> None:
    with Client(worker=True), pytest.raises(StorageLocked, match="worker=True"):
        Client()

"""One process per run folder (defect 2 of "Reliability, round two", the engine half).

Two processes training into the same run folder used to replace each other's latest.npz and
prune each other's checkpoints. `engine/runlock.py` takes an flock on `RUN_DIR/.rnn-tui.lock`
for the life of a run: these tests hold it in a real child process, contend for it from this
process and from a second child, kill -9 the holder, and leave stale and foreign lock files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn_tui.engine import runlock
from rnn_tui.engine.runlock import LOCK_NAME, RunLockError, acquire, owner

pytestmark = pytest.mark.skipif(runlock.fcntl is None, reason="no fcntl.flock on this platform")

HOLDER = """
import sys
from rnn_tui.engine.runlock import acquire
lock = acquire(sys.argv[1], command="rnn-tui kafka.txt")
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin (or kills us)
lock.release()
"""
CONTENDER = """
import sys
from rnn_tui.engine.runlock import RunLockError, acquire
try:
    acquire(sys.argv[1])
except RunLockError as exc:
    print(exc)
    sys.exit(3)
print("acquired")
"""
DEAD_PID = 2**22 + 777  # above the usual pid_max: no such process


def hold(run_dir: Path) -> subprocess.Popen:
    """A child process holding the lock on `run_dir` (it has printed 'locked')."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline()
    assert line == "locked\n", line
    return child


def record(run_dir: Path, **values) -> Path:
    path = run_dir / LOCK_NAME
    run_dir.mkdir(parents=True, exist_ok=True)
    body = {"format": runlock.LOCK_FORMAT, "started": time.time(), "command": "rnn-tui x", **values}
    path.write_text(json.dumps(body))
    return path


def test_a_live_holder_in_another_process_is_named_and_the_lock_is_refused(tmp_path):
    run_dir = tmp_path / "runs" / "kafka"
    child = hold(run_dir)
    try:
        with pytest.raises(RunLockError) as info:
            acquire(run_dir)
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"{run_dir} is in use by rnn-tui process {child.pid} (started ")
        assert "`rnn-tui kafka.txt`)" in message
        assert message.endswith("wait for it to finish, or choose another --run-dir")
        # started a moment ago, so the time of day alone (this minute or the one before)
        minutes = {time.strftime("%H:%M", time.localtime(time.time() - d)) for d in (0, 60)}
        assert any(f"(started {m}, " in message for m in minutes), message
        who = owner(run_dir)
        assert who is not None and who.live and who.pid == child.pid
        assert who.command == "rnn-tui kafka.txt"

        second = subprocess.run(
            [sys.executable, "-c", CONTENDER, str(run_dir)], capture_output=True, text=True
        )
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"in use by rnn-tui process {child.pid}" in second.stdout
    finally:
        child.stdin.close()
        child.wait(10)
    assert not (run_dir / LOCK_NAME).exists()  # a clean release removes the file
    with acquire(run_dir) as lock:
        assert lock.held


def test_kill_9_of_the_holder_frees_the_lock_and_leaves_a_stale_record(tmp_path):
    run_dir = tmp_path / "run"
    child = hold(run_dir)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    child.stdin.close()
    stale = owner(run_dir)
    assert stale is not None and stale.pid == child.pid and not stale.live
    lock = acquire(run_dir)  # the kernel dropped the dead process's lock
    try:
        who = owner(run_dir)
        assert who is not None and who.live and who.pid == os.getpid()
    finally:
        lock.release()


def test_a_stale_file_of_a_dead_pid_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    record(run_dir, pid=DEAD_PID)
    assert owner(run_dir) == runlock.LockOwner(
        pid=DEAD_PID, started=owner(run_dir).started, command="rnn-tui x", live=False
    )
    with acquire(run_dir, command="rnn-tui again.txt"):
        who = owner(run_dir)
        assert who.pid == os.getpid() and who.live and who.command == "rnn-tui again.txt"


def test_a_reused_pid_does_not_make_a_stale_record_live(tmp_path):
    """The record's pid is alive (our parent) but it started at another time: not the holder."""
    if runlock._start_ticks(os.getppid()) is None:
        pytest.skip("no /proc/PID/stat here")
    run_dir = tmp_path / "run"
    record(run_dir, pid=os.getppid(), start_ticks=runlock._start_ticks(os.getppid()) + 12345)
    assert owner(run_dir).live is False
    record(run_dir, pid=os.getppid(), start_ticks=runlock._start_ticks(os.getppid()))
    assert owner(run_dir).live is True  # (the record says so; the lock is still free)


def test_two_locks_in_one_process_exclude_each_other(tmp_path):
    with (
        acquire(tmp_path / "run"),
        pytest.raises(RunLockError, match=f"in use by rnn-tui process {os.getpid()}"),
    ):
        acquire(tmp_path / "run")


def test_release_removes_the_file_and_a_folder_it_created_if_still_empty(tmp_path):
    run_dir = tmp_path / "fresh"
    lock = acquire(run_dir)
    assert (run_dir / LOCK_NAME).is_file()
    lock.release()
    lock.release()  # idempotent
    assert not run_dir.exists()  # nothing was written: no empty run folder left behind
    run_dir.mkdir()
    with acquire(run_dir):
        (run_dir / "latest.npz").write_bytes(b"a checkpoint")
    assert sorted(p.name for p in run_dir.iterdir()) == ["latest.npz"]


def test_owner_of_a_folder_never_locked_is_none(tmp_path):
    assert owner(tmp_path) is None
    assert owner(tmp_path / "missing") is None


@pytest.mark.parametrize("content", [b"my notes\n", b'{"format": "something else"}', b"\xff" * 10])
def test_a_file_at_the_lock_name_that_rnn_tui_did_not_write_is_left_alone(content, tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_bytes(content)
    with pytest.raises(RunLockError, match="not an rnn-tui lock file"):
        acquire(tmp_path)
    assert path.read_bytes() == content
    assert owner(tmp_path) is None


def test_a_symbolic_link_at_the_lock_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / LOCK_NAME).symlink_to(victim)
    with pytest.raises(RunLockError, match="symbolic link"):
        acquire(tmp_path)
    assert victim.read_text() == "precious\n"
    assert (tmp_path / LOCK_NAME).is_symlink()
    assert owner(tmp_path) is None


def test_a_lock_file_removed_between_open_and_lock_is_not_trusted(tmp_path, monkeypatch):
    """A released lock's file is unlinked: a process that opened it just before must start over,
    or two processes would each hold a lock on a different inode."""
    first = acquire(tmp_path)
    stale_fd = os.open(first.path, os.O_RDWR)  # B opens the file...
    first.release()  # ...A releases and removes it
    real_open = runlock._open_lock_file
    calls: list[Path] = []

    def stale_then_real(path: Path, run_dir: Path) -> int:
        calls.append(path)
        return stale_fd if len(calls) == 1 else real_open(path, run_dir)

    monkeypatch.setattr(runlock, "_open_lock_file", stale_then_real)
    with acquire(tmp_path) as lock:
        assert len(calls) == 2
        assert runlock._same_inode(lock._fd, lock.path)


def test_the_lock_is_not_inherited_by_programs_we_start(tmp_path):
    """A child started while the lock is held (close_fds=False) gets no copy of its descriptor,
    so it cannot keep a finished run's folder locked."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc here")
    with acquire(tmp_path / "run") as lock:
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
            close_fds=False,
        )
        try:
            fds = Path(f"/proc/{child.pid}/fd")
            targets = {os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()}
            assert str(lock.path) in {os.readlink(f"/proc/self/fd/{lock._fd}")}
            assert str(lock.path) not in targets, targets
        finally:
            child.stdin.close()
            child.wait(10)

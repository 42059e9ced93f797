"""Handing a run folder's lock to a child process (the dashboard's detach): nobody slips in.

The parent passes the locked descriptor to a child (`RunLock.inheritable_fd`, `pass_fds`), the
child adopts it (`runlock.adopt`) and the parent forgets its own copy. Between the two, and after
the parent is gone, a third process must find the folder locked; the record names the child.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnn_tui.engine import runlock
from rnn_tui.engine.runlock import RunLockError, acquire, adopt, owner

pytestmark = pytest.mark.skipif(runlock.fcntl is None, reason="no fcntl.flock on this platform")

ADOPTER = """
import os, sys
from rnn_tui.engine.runlock import adopt
print("started", flush=True)
sys.stdin.readline()  # the parent forgets its copy first: the inherited one alone holds the lock
lock = adopt(sys.argv[1], int(sys.argv[2]), command="rnn-tui train --serve")
print("adopted", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


def test_a_child_that_inherits_the_descriptor_holds_the_lock_the_parent_forgot(tmp_path):
    run_dir = tmp_path / "run"
    lock = acquire(run_dir, command="rnn-tui kafka.txt")
    fd = lock.inheritable_fd()
    child = subprocess.Popen(
        [sys.executable, "-c", ADOPTER, str(run_dir), str(fd)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=(fd,),
    )
    try:
        assert child.stdout.readline() == "started\n"
        lock.forget()
        assert not lock.held
        # only the child's inherited descriptor holds it now: still locked, file still there
        with pytest.raises(RunLockError, match="in use by"):
            acquire(run_dir)
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "adopted\n"
        holder = owner(run_dir)
        assert holder is not None and holder.pid == child.pid and holder.live
        assert holder.command == "rnn-tui train --serve"
        with pytest.raises(RunLockError, match=f"process {child.pid}"):
            acquire(run_dir)
        lock.release()  # a forgotten lock's release touches nothing
        assert (run_dir / runlock.LOCK_NAME).exists()
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "released\n"
    finally:
        child.stdin.close()
        child.wait(30)
    acquire(run_dir).release()  # free again once the child let go


def test_adopt_refuses_a_descriptor_that_is_not_the_folders_lock(tmp_path):
    run_dir = tmp_path / "run"
    other = acquire(tmp_path / "other")
    with acquire(run_dir):
        with pytest.raises(RunLockError, match="not the lock file"):
            adopt(run_dir, other.inheritable_fd())
        # the folder's own lock file, opened anew, is held by another open file: refused
        fd = os.open(run_dir / runlock.LOCK_NAME, os.O_RDWR)
        try:
            with pytest.raises(RunLockError, match="cannot take over"):
                adopt(run_dir, fd)
        finally:
            os.close(fd)
    other.release()

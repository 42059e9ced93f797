"""One process per run folder: an advisory lock that a killed process cannot leave stuck.

`acquire(run_dir)` takes an exclusive `fcntl.flock` on `run_dir/.rnn-tui.lock` and holds it for
the life of the run; the kernel drops it when the process ends in any way (kill -9 included),
so a crash never leaves a run folder locked. The file records who holds it (pid, start time,
command) so a second process can say who is in the way, and `owner(run_dir)` can tell a live
run from a stale file without taking the lock. rnn-tui created the file, so it rewrites it
when it takes the lock and removes it on release; a file of that name that rnn-tui did not
write (anything else, or a symbolic link) is never touched.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows: no flock; acquire() says so
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".rnn-tui.lock"
LOCK_FORMAT = "rnn-tui-run-lock"
MAX_LOCK_BYTES = 64 * 1024  # a lock record is a few hundred bytes; never read more
SHOWN_COMMAND_CHARS = 120


class RunLockError(Exception):
    """The run folder cannot be locked; the one-line message says by whom and what to do."""


@dataclass(frozen=True)
class LockOwner:
    """Who holds (or last held) a run folder's lock, as its lock file records it."""

    pid: int
    started: float  # time.time() when the lock was taken
    command: str
    live: bool  # whether that process is still running (a killed one leaves a stale file)

    def describe(self) -> str:
        """'rnn-tui process 4242 (started 10:31, `rnn-tui kafka.txt`)'."""
        command = self.command
        if len(command) > SHOWN_COMMAND_CHARS:
            command = command[: SHOWN_COMMAND_CHARS - 3] + "..."
        return f"rnn-tui process {self.pid} (started {_when(self.started)}, `{command}`)"


class RunLock:
    """A held lock on a run folder; `release()` (or leaving the `with` block) gives it up."""

    def __init__(self, run_dir: Path, path: Path, fd: int, created_dir: bool):
        self.run_dir = run_dir
        self.path = path
        self._fd: int | None = fd
        self._created_dir = created_dir

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent).

        The file is unlinked while the lock is still held, so a process that opened it meanwhile
        finds, after locking, that the name points elsewhere and starts over (see acquire).
        """
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if _same_inode(fd, self.path):
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock
        if self._created_dir:  # a run that wrote nothing leaves no empty folder behind
            with contextlib.suppress(OSError):
                os.rmdir(self.run_dir)

    def inheritable_fd(self) -> int:
        """The descriptor that holds the lock, for a child process to inherit (subprocess's
        `pass_fds`). An flock belongs to the open file description, so the child holds the lock
        from its first instant and after this process exits: no other process can slip in
        during a hand-over. Call `forget()` once the child is started, `adopt` in the child."""
        if self._fd is None:
            raise RunLockError(f"the lock of {self.run_dir} is no longer held here")
        return self._fd

    def forget(self) -> None:
        """Stop holding the lock here without unlocking or removing the file: a child that
        inherited the descriptor holds it now (if none did, the kernel drops it on close)."""
        fd, self._fd = self._fd, None
        self._created_dir = False
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:  # a forgotten lock must not outlive its object
        with contextlib.suppress(Exception):
            self.release()


def acquire(run_dir: str | os.PathLike, command: str | None = None) -> RunLock:
    """Lock `run_dir` (creating it if needed) for this process, or RunLockError naming who has it.

    `command` is recorded for others to see (default: this process's command line).
    """
    if fcntl is None:
        raise RunLockError("run folders cannot be locked on this platform (no fcntl.flock)")
    run_dir = Path(run_dir)
    created_dir = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunLockError(
            f"cannot use {run_dir} as a run folder: {exc.strerror or exc}; choose another --run-dir"
        ) from None
    path = run_dir / LOCK_NAME
    for _ in range(100):  # only a release racing with us makes this go round more than once
        fd = _open_lock_file(path, run_dir)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLockError(
                    f"cannot lock {run_dir}: {exc.strerror or exc}; choose another --run-dir"
                ) from None
            holder = owner(run_dir)
            who = holder.describe() if holder else "another rnn-tui process"
            raise RunLockError(
                f"{run_dir} is in use by {who}; wait for it to finish, or choose another --run-dir"
            ) from None
        if not _same_inode(fd, path):  # released and removed between our open and our lock
            os.close(fd)
            continue
        try:
            _check_ours(fd, path)
            _write_record(fd, command)
        except BaseException:
            os.close(fd)
            raise
        return RunLock(run_dir, path, fd, created_dir)
    raise RunLockError(f"cannot lock {run_dir}: its lock file keeps changing; try again")


def adopt(run_dir: str | os.PathLike, fd: int, command: str | None = None) -> RunLock:
    """Take over the lock of `run_dir` held through an inherited descriptor `fd` (see
    `RunLock.inheritable_fd`), recording this process as the holder; RunLockError unless `fd`
    is that folder's lock file and holds its lock (or can take it: nobody else holds it)."""
    if fcntl is None:
        raise RunLockError("run folders cannot be locked on this platform (no fcntl.flock)")
    run_dir = Path(run_dir)
    path = run_dir / LOCK_NAME
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not _same_inode(fd, path):
            raise RunLockError(f"descriptor {fd} is not the lock file of {run_dir}")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already: this converts nothing
    except OSError as exc:
        raise RunLockError(
            f"cannot take over the lock of {run_dir}: {exc.strerror or exc}"
        ) from None
    os.set_inheritable(fd, False)  # our own children must not carry it away
    _write_record(fd, command)
    return RunLock(run_dir, path, fd, created_dir=False)


def owner(run_dir: str | os.PathLike) -> LockOwner | None:
    """Who holds or last held `run_dir`'s lock, read without taking it; None if nobody recorded.

    `live` says whether that process is still running: a lock file left by a process that was
    killed (the kernel has already dropped its lock) shows as not live.
    """
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        record = _parse(os.pread(fd, MAX_LOCK_BYTES, 0))
    finally:
        os.close(fd)
    if record is None:
        return None
    pid, started, command, ticks = record
    return LockOwner(pid=pid, started=started, command=command, live=_running(pid, ticks))


# -- the lock file ------------------------------------------------------------------------------


def _open_lock_file(path: Path, run_dir: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK
    try:
        return os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunLockError(
                f"{path} is a symbolic link, not rnn-tui's lock file; remove it, or choose "
                "another --run-dir"
            ) from None
        raise RunLockError(
            f"cannot lock {run_dir}: {exc.strerror or exc}; choose another --run-dir"
        ) from None


def _check_ours(fd: int, path: Path) -> None:
    """Refuse a lock file rnn-tui did not write: only empty files and our records are reused."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise RunLockError(f"{path} is not a regular file; remove it, or choose another --run-dir")
    if info.st_size == 0:
        return  # just created (by us, or by a process killed before it wrote its record)
    if info.st_size > MAX_LOCK_BYTES or _parse(os.pread(fd, MAX_LOCK_BYTES, 0)) is None:
        raise RunLockError(
            f"{path} is not an rnn-tui lock file, so rnn-tui leaves it alone; move it away, or "
            "choose another --run-dir"
        )


def _write_record(fd: int, command: str | None) -> None:
    record = {
        "format": LOCK_FORMAT,
        "pid": os.getpid(),
        "started": time.time(),
        "start_ticks": _start_ticks(os.getpid()),
        "command": command if command is not None else _command_line(),
    }
    data = (json.dumps(record) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    with contextlib.suppress(OSError):
        os.fsync(fd)


def _parse(raw: bytes) -> tuple[int, float, str, int | None] | None:
    """(pid, started, command, start ticks) from a lock record, or None if it is not one."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("format") != LOCK_FORMAT:
        return None
    pid, started = record.get("pid"), record.get("started")
    command, ticks = record.get("command", ""), record.get("start_ticks")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**31:
        return None
    if isinstance(started, bool) or not isinstance(started, (int, float)):
        return None
    if not isinstance(command, str):
        command = ""
    if isinstance(ticks, bool) or not isinstance(ticks, int):
        ticks = None
    return pid, float(started), command, ticks


def _same_inode(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# -- processes ----------------------------------------------------------------------------------


def _running(pid: int, ticks: int | None) -> bool:
    """Whether `pid` is alive and is the process that wrote the record (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # EPERM: it exists, owned by someone else
    now = _start_ticks(pid)
    return ticks is None or now is None or now == ticks


def _start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/PID/stat field 22; Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read(4096)
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may itself contain spaces or ')'
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall: fields 3.. start at index 0 here
    except (IndexError, ValueError):
        return None


def _command_line() -> str:
    argv = list(sys.argv) or ["rnn-tui"]
    program = Path(argv[0]).name
    if program in ("__main__.py", "-m", "-c", ""):
        program = "rnn-tui"
    return shlex.join([program, *argv[1:]])


def _when(started: float) -> str:
    """'10:31' today, '2026-11-26 10:31' on another day."""
    then = time.localtime(started)
    if time.strftime("%Y-%m-%d", then) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M", then)
    return time.strftime("%Y-%m-%d %H:%M", then)

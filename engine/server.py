"""A run's socket: viewers in other processes watch and steer a run through RUN_DIR/.rnn-tui.sock.

`RunServer` serves one run: every event the run publishes goes to every viewer (engine/wire.py
frames), every command a viewer sends is submitted to the run and answered with an `Ack`. It is
the tmux server of a run, and `ServedRun` wraps any RunControl of this process so that running
it also serves it (the background process and the dashboard both do).

Safety: the socket is created 0600 in the run folder and refuses peers of another user
(SO_PEERCRED); a viewer's frames are size-limited, strictly decoded and rate-limited, and a viewer
that sends anything else, or cannot keep up, is disconnected while the run goes on. Each viewer
has one reader and one bounded sender: snapshots coalesce (a slow viewer gets only the newest),
discrete events queue up to a bound past which the viewer is dropped. A new viewer first gets a
`Hello`, the `RunInfo` (with the samples so far), the newest `Snapshot` and the latest of each
event that describes a state (the yardsticks), so it shows the run as if it had never left.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import runlock, wire
from .commands import RequestSample, RequestWeights
from .control import RunControl
from .events import (
    CheckpointFailed,
    CheckpointSaved,
    Event,
    HyperparametersChanged,
    RolledBack,
    SampleReady,
    Snapshot,
    TrainingFailed,
    WeightsCopied,
)

SOCKET_NAME = ".rnn-tui.sock"
POLL = 0.25  # seconds between the threads' looks at whether they should end
SEND_STALL = 10.0  # a viewer that takes no byte for this long is dropped
PARTIAL_STALL = 30.0  # a frame left half-written this long drops its sender
MAX_QUEUED = 512  # discrete frames waiting for one viewer before it counts as unable to keep up
COMMAND_RATE = 20.0  # commands per second a viewer may send, sustained...
COMMAND_BURST = 100.0  # ...and at once (a person sends a few a minute)
CLOSE_GRACE = 2.0  # seconds the viewers get to receive RunEnded when the run ends
MAX_ADDRESS = 100  # longer socket paths are reached through /proc/self/fd (sun_path is 108)
# Events that mark a moment (a notification, an answer): never replayed to a late joiner. The
# latest of every other event type but Snapshot describes the run's state and is replayed.
MOMENTS = (
    CheckpointSaved,
    CheckpointFailed,
    SampleReady,
    HyperparametersChanged,
    RolledBack,
    WeightsCopied,
    TrainingFailed,
)


class ServeError(Exception):
    """The run's socket cannot be set up; the one-line message says why and what to do."""


def socket_path(run_dir: str | os.PathLike) -> Path:
    """Where a run folder's socket lives."""
    return Path(run_dir) / SOCKET_NAME


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for bind/connect: the path itself, or for a long one the same file reached
    through an open descriptor of its folder (/proc/self/fd/N/NAME)."""
    if len(os.fsencode(path)) < MAX_ADDRESS:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | getattr(os, "O_PATH", 0) | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end (None where SO_PEERCRED does not exist)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, 12))
    return uid


# -- frames on a socket ------------------------------------------------------------------------


def recv_exactly(
    sock: socket.socket, n: int, alive: Callable[[], bool], partial: bool = False
) -> bytes | None:
    """`n` bytes, or None at a clean end before the first; WireError for a frame cut short or
    left half-written (PARTIAL_STALL), ConnectionError once `alive()` says to stop."""
    buffer = bytearray(n)
    view = memoryview(buffer)
    got = 0
    last = time.monotonic()
    while got < n:
        try:
            count = sock.recv_into(view[got:])
        except TimeoutError:
            if not alive():
                raise ConnectionError("closed") from None
            if (got or partial) and time.monotonic() - last > PARTIAL_STALL:
                raise wire.WireError("a frame was left half-written") from None
            continue
        if count == 0:
            if got == 0 and not partial:
                return None
            raise wire.WireError("the connection ended in the middle of a frame")
        got += count
        last = time.monotonic()
    return bytes(buffer)


def read_frame(sock: socket.socket, limit: int, alive: Callable[[], bool]) -> bytes | None:
    """The next frame's payload (None at a clean end); WireError if it is over `limit`."""
    header = recv_exactly(sock, wire.HEADER.size, alive)
    if header is None:
        return None
    (length,) = wire.HEADER.unpack(header)
    if length > limit:
        raise wire.WireError(f"a frame of {length:,} bytes is over the limit of {limit:,}")
    return recv_exactly(sock, length, alive, partial=True) or b""


def send_all(sock: socket.socket, data: bytes, alive: Callable[[], bool]) -> None:
    """Send everything; ConnectionError if the peer takes nothing for SEND_STALL seconds."""
    view = memoryview(data)
    last = time.monotonic()
    while view:
        try:
            sent = sock.send(view)
        except TimeoutError:
            if not alive() or time.monotonic() - last > SEND_STALL:
                raise ConnectionError(f"it took nothing for {SEND_STALL:g} s") from None
            continue
        view = view[sent:]
        last = time.monotonic()


# -- one viewer --------------------------------------------------------------------------------


class _Viewer:
    """One attached viewer: a reader of its commands and a bounded sender of the run's frames."""

    def __init__(self, server: RunServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.tags: set[str] = set()  # requests of this viewer still to be answered
        self.bytes_sent = 0
        self.dropped = ""  # why the server disconnected it ("" while attached)
        self._queue: deque[tuple[bool, bytes]] = deque()  # (is a snapshot, frame)
        self._snapshot_queued = False
        self._discrete = 0
        self._cond = threading.Condition()
        self._closing = False  # no more frames: send what is queued, then end
        self._open = True
        self._threads_left = 2
        self._tokens = COMMAND_BURST
        self._refilled = time.monotonic()
        self._threads = [
            threading.Thread(target=self._read, name=f"viewer-{number}-reader", daemon=True),
            threading.Thread(target=self._send, name=f"viewer-{number}-sender", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def alive(self) -> bool:
        return self._open

    def put(self, frame: bytes, snapshot: bool = False) -> None:
        """Queue a frame; a newer snapshot replaces one not yet sent (keeping event order)."""
        overflow = False
        with self._cond:
            if self._closing:
                return
            if snapshot:
                if self._snapshot_queued:
                    for i in range(len(self._queue) - 1, -1, -1):
                        if self._queue[i][0]:
                            del self._queue[i]
                            break
                self._snapshot_queued = True
            elif self._discrete >= MAX_QUEUED:
                overflow = True
            else:
                self._discrete += 1
            if not overflow:
                self._queue.append((snapshot, frame))
                self._cond.notify()
        if overflow:
            self.drop(f"it fell more than {MAX_QUEUED} events behind")

    def finish(self) -> None:
        """Send what is queued (RunEnded last), then disconnect."""
        with self._cond:
            self._closing = True
            self._cond.notify()

    def drop(self, why: str) -> None:
        """Disconnect now (the run goes on)."""
        if not self.dropped:
            self.dropped = why
        self._shut()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _shut(self) -> None:
        with self._cond:
            self._open = False
            self._closing = True
            self._cond.notify()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def _thread_done(self) -> None:
        with self._cond:
            self._threads_left -= 1
            last = self._threads_left == 0
        if last:
            self.sock.close()
            self.server._forget(self)

    def _send(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait(POLL)
                    if not self._queue:
                        break
                    snapshot, frame = self._queue.popleft()
                    if snapshot:
                        self._snapshot_queued = False
                    else:
                        self._discrete -= 1
                send_all(self.sock, frame, self.alive)
                self.bytes_sent += len(frame)
        except ConnectionError as exc:
            if self._open:
                self.dropped = self.dropped or str(exc)
        except OSError:
            pass  # the viewer went away: nothing to tell anyone
        finally:
            self._shut()
            self._thread_done()

    def _read(self) -> None:
        try:
            while self._open:
                payload = read_frame(self.sock, wire.MAX_COMMAND_BYTES, self.alive)
                if payload is None:
                    break  # the viewer left
                if not self._take_token():
                    self.drop(f"it sent more than {COMMAND_RATE:g} commands a second")
                    break
                ident, command = wire.decode_command(payload)
                self.put(wire.encode(self.server._submit(self, ident, command)))
        except wire.WireError as exc:
            self.drop(f"it sent something that is not a command ({exc})")
        except (OSError, ConnectionError):
            pass
        finally:
            self._shut()
            self._thread_done()

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(COMMAND_BURST, self._tokens + (now - self._refilled) * COMMAND_RATE)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


# -- the server --------------------------------------------------------------------------------


class RunServer:
    """Serves the run behind `control` on RUN_DIR/.rnn-tui.sock; feed it with `publish`."""

    def __init__(
        self,
        run_dir: str | os.PathLike,
        control: RunControl,
        *,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.run_dir = Path(run_dir)
        self.path = socket_path(run_dir)
        self.control = control
        self.notes = tuple(notes)
        self._lock = threading.Lock()
        self._viewers: list[_Viewer] = []
        self._numbers = iter(range(1, 2**62))
        self._newest: Snapshot | None = None
        self._states: dict[type, Any] = {}  # latest event of each state-describing type
        self._failure: TrainingFailed | None = None
        self._listener: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._accepting: threading.Thread | None = None
        self._max_event_bytes = wire.MIN_EVENT_BYTES
        self.dropped: list[str] = []  # why viewers were disconnected, for logs and tests

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the socket (replacing a stale one of ours) and accept viewers; ServeError."""
        self._max_event_bytes = wire.max_event_bytes(self.control.info())
        self._remove_stale()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with socket_address(self.path) as address:
                mask = os.umask(0o177)  # born 0600: no moment when another user may connect
                try:
                    listener.bind(address)
                finally:
                    os.umask(mask)
            os.chmod(self.path, 0o600)
            info = os.stat(self.path)
            listener.listen(16)
        except OSError as exc:
            listener.close()
            raise ServeError(
                f"cannot create the run's socket {self.path}: {exc.strerror or exc}"
            ) from None
        listener.settimeout(POLL)
        self._inode = (info.st_dev, info.st_ino)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, name="run-server", daemon=True)
        self._accepting.start()

    def _remove_stale(self) -> None:
        """A socket file left by an rnn-tui that died must never block a new run: the run lock
        says whether its process is gone. Anything else at the name is not ours to remove."""
        try:
            found = os.lstat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ServeError(f"cannot use {self.path}: {exc.strerror or exc}") from None
        if not stat.S_ISSOCK(found.st_mode):
            raise ServeError(
                f"{self.path} is not rnn-tui's socket, so rnn-tui leaves it alone; move it away"
            )
        holder = runlock.owner(self.run_dir)
        if holder is not None and holder.live and holder.pid != os.getpid():
            raise ServeError(f"{self.run_dir} is served by {holder.describe()}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def close(self, reason: str) -> None:
        """The run ended (or moves): tell every viewer, let them go, remove the socket."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            if self._accepting is not None:
                self._accepting.join(5)
            self._unlink()
        with self._lock:
            viewers = list(self._viewers)
        ended = wire.encode(wire.RunEnded(reason))
        for viewer in viewers:
            viewer.put(ended)
            viewer.finish()
        deadline = time.monotonic() + CLOSE_GRACE
        for viewer in viewers:
            viewer.join(max(0.0, deadline - time.monotonic()))
            viewer.drop("the run ended")

    def _unlink(self) -> None:
        try:
            found = os.lstat(self.path)
        except OSError:
            return
        if (found.st_dev, found.st_ino) == self._inode:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    @property
    def viewers(self) -> int:
        """How many viewers are attached."""
        with self._lock:
            return len(self._viewers)

    def bytes_sent(self) -> list[int]:
        """Bytes sent so far to each attached viewer (for the benchmarks)."""
        with self._lock:
            return [viewer.bytes_sent for viewer in self._viewers]

    # -- viewers ---------------------------------------------------------------------------

    def _accept(self) -> None:
        while self._listener is not None:
            listener = self._listener
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            uid = peer_uid(sock)
            if uid is not None and uid != os.getuid():
                sock.close()  # another user: the 0600 socket should have stopped them already
                self.dropped.append(f"refused a viewer of user {uid}")
                continue
            sock.settimeout(POLL)
            self._welcome(_Viewer(self, sock, next(self._numbers)))

    def _welcome(self, viewer: _Viewer) -> None:
        """Hello, RunInfo, the newest snapshot and the state events, before any later event."""
        info = self.control.info()
        with self._lock:
            self._viewers.append(viewer)
            hello = wire.Hello(
                protocol=wire.PROTOCOL,
                pid=os.getpid(),
                max_event_bytes=self._max_event_bytes,
                viewers=len(self._viewers),
                notes=self.notes,
            )
            frames = [wire.encode(hello), wire.encode(info)]
            if self._newest is not None:
                frames.append(wire.encode(self._newest))
            replay = list(self._states.values())
            if self._failure is not None and getattr(self._newest, "run_state", "") == "diverged":
                replay.append(self._failure)
            frames += [wire.encode(event) for event in replay]
            for frame in frames:
                viewer.put(frame)
        viewer.start()

    def _forget(self, viewer: _Viewer) -> None:
        with self._lock:
            if viewer in self._viewers:
                self._viewers.remove(viewer)
        if viewer.dropped and viewer.dropped != "the run ended":
            self.dropped.append(f"viewer {viewer.number}: {viewer.dropped}")

    def _submit(self, viewer: _Viewer, ident: int, command: Any) -> wire.Ack:
        """Submit a viewer's command to the run; the Ack says whether it was accepted."""
        tag = command.tag if isinstance(command, (RequestSample, RequestWeights)) else None
        if tag is not None:
            viewer.tags.add(tag)  # before submitting: the answer may come at once
        try:
            self.control.submit(command)
        except Exception as exc:  # a refusal (ConfigError...) goes back to that viewer only
            if tag is not None:
                viewer.tags.discard(tag)
            return wire.Ack(ident, type(exc).__name__, str(exc))
        return wire.Ack(ident)

    # -- events ----------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Send an event of the run to its viewers (called in the training thread)."""
        snapshot = isinstance(event, Snapshot)
        with self._lock:
            if snapshot:
                self._newest = event
            elif isinstance(event, TrainingFailed):
                self._failure = event
            elif not isinstance(event, MOMENTS):
                self._states[type(event)] = event
            viewers = self._recipients(event)
        if not viewers:
            return
        frame = wire.encode(event)  # once, for everyone
        for viewer in viewers:
            viewer.put(frame, snapshot=snapshot)

    def _recipients(self, event: Event) -> list[_Viewer]:
        """Everyone, except that an answer to a request goes to the viewer that asked."""
        tagged = isinstance(event, WeightsCopied) or (
            isinstance(event, SampleReady) and event.requested
        )
        if not tagged:
            return list(self._viewers)
        askers = [viewer for viewer in self._viewers if event.tag in viewer.tags]
        for viewer in askers:
            viewer.tags.discard(event.tag)
        return askers


class ServedRun(RunControl):
    """A run of this process that serves viewers while it runs (see RunServer).

    `run` creates the socket, passes every event both to its caller and to the viewers, and
    closes the socket when the run ends. Set `moving` before stopping a run that continues in
    another process: viewers are then told to reconnect instead of that the run ended."""

    def __init__(
        self,
        inner: RunControl,
        run_dir: str | os.PathLike,
        *,
        notes: tuple[str, ...] = (),
        on_serving: Callable[[RunServer], None] | None = None,
        on_serve_error: Callable[[ServeError], None] | None = None,
    ) -> None:
        self.inner = inner
        self.server = RunServer(run_dir, inner, notes=notes)
        self.on_serving = on_serving
        self.on_serve_error = on_serve_error
        self.moving = False
        self.serving = False

    def info(self) -> Any:
        return self.inner.info()

    def submit(self, command: Any) -> None:
        self.inner.submit(command)

    def leave(self) -> None:
        self.inner.leave()

    def run(self, publish: Callable[[Event], None], should_stop: Callable[[], bool]) -> str:
        try:
            self.server.start()
            self.serving = True
        except ServeError as exc:
            if self.on_serve_error is None:
                raise
            self.on_serve_error(exc)  # the run trains all the same, unwatched
        if self.serving and self.on_serving is not None:
            self.on_serving(self.server)

        def both(event: Event) -> None:
            publish(event)
            if not self.serving:
                return
            if self.moving and isinstance(event, Snapshot) and event.run_state == "stopped":
                return  # it stops only to go on elsewhere: viewers never see it stopped
            self.server.publish(event)

        reason = "stopped"
        try:
            reason = self.inner.run(both, should_stop)
            return reason
        finally:
            if self.serving:
                self.server.close("moving" if self.moving else reason)

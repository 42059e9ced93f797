"""RemoteRun: the RunControl of a run in another process, reached through its run folder's socket.

A dashboard holding a RemoteRun cannot tell it from a Trainer in its own process: `info()` is
the server's RunInfo (samples so far included), `run(publish, should_stop)` publishes the
newest snapshot and then every event as the run publishes it, and `submit(command)` waits for
the server's answer, raising the same ConfigError, CheckpointError or VocabError an in-process
Trainer would have raised. `leave()` (and `close()`) disconnect and leave the run training;
`stop()` stops it. When the run moves to another process (a dashboard detaching), the client
reconnects to the same socket and goes on: the run continues bit-exactly there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import wire
from .checkpoint import CheckpointError
from .commands import Command
from .config import ConfigError
from .control import RunControl
from .events import Event, RunInfo, Snapshot
from .server import POLL, read_frame, send_all, socket_address, socket_path
from .vocab import VocabError

CONNECT_TIMEOUT = 10.0  # seconds for the server's first frames
ACK_TIMEOUT = 10.0  # seconds a command waits for its answer before it is taken as lost
MOVE_TIMEOUT = 120.0  # seconds to wait for a run that moves to another process to answer again
REFUSALS: dict[str, type[Exception]] = {
    "ConfigError": ConfigError,
    "CheckpointError": CheckpointError,
    "VocabError": VocabError,
    "TypeError": TypeError,
}


class AttachError(Exception):
    """No run answers on that folder's socket; the one-line message says why."""


class RemoteRefusal(ValueError):
    """The run refused a command for a reason with no local exception class."""


@dataclasses.dataclass(frozen=True)
class _Lost:
    why: str


@dataclasses.dataclass
class _Connection:
    sock: socket.socket
    hello: wire.Hello
    info: RunInfo


def connect(run_dir: str | os.PathLike, timeout: float = CONNECT_TIMEOUT) -> _Connection:
    """Open the socket of `run_dir` and read the Hello and RunInfo (AttachError if it cannot)."""
    path = socket_path(run_dir)
    with contextlib.suppress(OSError):
        owner = os.stat(path).st_uid
        if owner != os.getuid():
            raise AttachError(
                f"the run in {run_dir} belongs to another user (uid {owner}): only they can watch it"
            )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        with socket_address(path) as address:
            sock.connect(address)
        from .server import peer_uid

        uid = peer_uid(sock)
        if uid is not None and uid != os.getuid():
            raise AttachError(f"{path} belongs to another user's process; not attaching")
        deadline = time.monotonic() + timeout

        def in_time() -> bool:
            return time.monotonic() < deadline

        sock.settimeout(POLL)
        hello = _expect(sock, wire.MIN_EVENT_BYTES, in_time, wire.Hello)
        if hello.protocol != wire.PROTOCOL:
            raise AttachError(
                f"the run in {run_dir} speaks protocol {hello.protocol}, this rnn-tui "
                f"{wire.PROTOCOL}; attach with the rnn-tui that started it"
            )
        info = _expect(sock, hello.max_event_bytes, in_time, RunInfo)
    except FileNotFoundError:
        sock.close()
        raise AttachError(f"no run is serving {run_dir} (no socket {path})") from None
    except ConnectionRefusedError:
        sock.close()
        raise AttachError(f"no run is serving {run_dir} (its socket is stale)") from None
    except (OSError, ConnectionError, wire.WireError) as exc:
        sock.close()
        raise AttachError(f"cannot attach to {run_dir}: {exc}") from None
    except AttachError:
        sock.close()
        raise
    return _Connection(sock, hello, info)


def probe(
    run_dir: str | os.PathLike, timeout: float = 3.0
) -> tuple[wire.Hello, RunInfo, Snapshot | None]:
    """A quick look at a served run (for `rnn-tui runs`): Hello, RunInfo, newest snapshot."""
    connection = connect(run_dir, timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            payload = read_frame(
                connection.sock,
                connection.hello.max_event_bytes,
                lambda: time.monotonic() < deadline,
            )
            if payload is None:
                break
            message = wire.decode_message(payload)
            if isinstance(message, Snapshot):
                return connection.hello, connection.info, message
    except (OSError, ConnectionError, wire.WireError):
        pass
    finally:
        connection.sock.close()
    return connection.hello, connection.info, None


def _expect(sock: socket.socket, limit: int, alive: Callable[[], bool], kind: type) -> Any:
    payload = read_frame(sock, limit, alive)
    if payload is None:
        raise ConnectionError("the run closed the connection")
    message = wire.decode_message(payload)
    if not isinstance(message, kind):
        raise wire.WireError(f"expected {kind.__name__}, got {type(message).__name__}")
    return message


class RemoteRun(RunControl):
    """Watch and steer a run in another process (see the module docstring)."""

    def __init__(self, run_dir: str | os.PathLike, timeout: float = CONNECT_TIMEOUT) -> None:
        self.run_dir = Path(run_dir)
        connection = connect(run_dir, timeout)
        self._sock = connection.sock
        self.hello = connection.hello
        self._info = connection.info
        self._events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._acks: dict[int, list[Any]] = {}
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._open = True
        self.bytes_received = 0
        self.lost: str | None = None  # why the connection ended, when the run did not end it
        self.last_snapshot: Snapshot | None = None
        self._reader = threading.Thread(target=self._read, name="remote-run", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        """The process that trains the run."""
        return self.hello.pid

    @property
    def notes(self) -> tuple[str, ...]:
        """The corpus x-ray the run printed when it started."""
        return self.hello.notes

    # -- RunControl -----------------------------------------------------------------------

    def info(self) -> RunInfo:
        return self._info

    def submit(self, command: Command) -> None:
        """Send `command` and wait for the run's answer; raise its refusal. A run that has gone
        takes nothing: the command is dropped (run() reports the end)."""
        if not self._open:
            return
        ident = next(self._ids)
        waiter: list[Any] = [threading.Event(), None]
        self._acks[ident] = waiter
        try:
            with self._send_lock:
                send_all(self._sock, wire.encode(command, id=ident), self._alive)
        except (OSError, ConnectionError):
            self._acks.pop(ident, None)
            return
        waiter[0].wait(ACK_TIMEOUT)
        self._acks.pop(ident, None)
        ack = waiter[1]
        if isinstance(ack, wire.Ack) and ack.kind:
            raise REFUSALS.get(ack.kind, RemoteRefusal)(ack.error)

    def run(self, publish: Callable[[Event], None], should_stop: Callable[[], bool]) -> str:
        """Publish every event of the run until it ends ('stopped', ... as the run says), the
        connection drops ('disconnected') or `should_stop()` ('detached': the run goes on)."""
        while True:
            if should_stop():
                self.close()
                return "detached"
            try:
                item = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, wire.RunEnded):
                return item.reason
            if isinstance(item, _Lost):
                if self.last_snapshot is not None:
                    publish(
                        dataclasses.replace(
                            self.last_snapshot, run_state="stopped", message=item.why
                        )
                    )
                return "disconnected"
            if isinstance(item, Snapshot):
                self.last_snapshot = item
            publish(item)

    def leave(self) -> None:
        """Disconnect; the run goes on training."""
        self.close()

    def close(self) -> None:
        """Disconnect (idempotent); the run is not disturbed."""
        self._open = False
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        for waiter in list(self._acks.values()):
            waiter[0].set()

    # -- the reader -----------------------------------------------------------------------

    def _alive(self) -> bool:
        return self._open

    def _read(self) -> None:
        why = "the connection closed without the run saying it ended (was its process killed?)"
        try:
            while self._open:
                payload = read_frame(self._sock, self.hello.max_event_bytes, self._alive)
                if payload is None:
                    break
                self.bytes_received += len(payload) + wire.HEADER.size
                message = wire.decode_message(payload)
                if isinstance(message, wire.Ack):
                    waiter = self._acks.get(message.id)
                    if waiter is not None:
                        waiter[1] = message
                        waiter[0].set()
                elif isinstance(message, wire.RunEnded) and message.reason == "moving":
                    if not self._follow():
                        why = "the run did not come back after moving to another process"
                        break
                elif isinstance(message, (wire.Hello, RunInfo)):
                    continue
                else:
                    self._events.put(message)
                    if isinstance(message, wire.RunEnded):
                        self._open = False
                        return
        except (OSError, ConnectionError) as exc:
            why = f"lost the connection to the run ({exc})"
        except wire.WireError as exc:
            why = f"the run sent something unreadable ({exc})"
        finally:
            with contextlib.suppress(OSError):
                self._sock.close()
        if self._open:
            self._open = False
            self.lost = why
            self._events.put(_Lost(why))

    def _follow(self) -> bool:
        """The run moves to another process: reconnect to the same socket when it is back."""
        with contextlib.suppress(OSError):
            self._sock.close()
        for waiter in list(self._acks.values()):
            waiter[0].set()  # answers on the old connection will never come
        deadline = time.monotonic() + MOVE_TIMEOUT
        while self._open and time.monotonic() < deadline:
            try:
                connection = connect(self.run_dir, timeout=5.0)
            except AttachError:
                time.sleep(0.1)
                continue
            self._sock, self.hello = connection.sock, connection.hello
            return True
        return False

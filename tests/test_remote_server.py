"""The run's socket in one process: a Trainer served by engine/server.py, viewers through
engine/client.py and through raw sockets that misbehave.

Every wait is for an event (a snapshot with a state, a step reached, a viewer dropped); the
timeouts only turn a hang into a failure.
"""

from __future__ import annotations

import os
import queue
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from rnn_tui.engine import (
    Config,
    ConfigError,
    HyperparametersChanged,
    RunPolicy,
    SampleReady,
    Snapshot,
    Trainer,
    UpdateHparams,
    wire,
)
from rnn_tui.engine.client import AttachError, RemoteRun
from rnn_tui.engine.control import LocalRun
from rnn_tui.engine.server import MAX_QUEUED, ServedRun, ServeError, socket_path

HANG = 30.0
POLICY = RunPolicy(autosave_seconds=0, snapshot_interval=0.02)


def wait_for(predicate, timeout: float = HANG, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Served:
    """A Trainer on a small text, trained in a thread and served on `run_dir`'s socket."""

    def __init__(self, run_dir: Path, text: str, **config) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        options = {"hidden_size": 16, "seq_length": 8, "sample_every": 0, **config}
        self.trainer = Trainer(Config(**options), text, checkpoint_path=run_dir / "latest.npz")
        self.run = ServedRun(LocalRun(self.trainer, POLICY), run_dir, notes=("x-ray line",))
        self.events: list = []
        self.stop = threading.Event()
        self.reason: str | None = None
        self.thread = threading.Thread(target=self._train, daemon=True)
        self.thread.start()
        assert wait_for(lambda: self.run.serving and self.trainer.step_count > 0)

    def _train(self) -> None:
        self.reason = self.run.run(self.events.append, self.stop.is_set)

    @property
    def server(self):
        return self.run.server

    def end(self) -> None:
        self.stop.set()
        self.thread.join(HANG)


class Watcher:
    """A RemoteRun whose run() collects every event in a thread."""

    def __init__(self, run_dir: Path) -> None:
        self.remote = RemoteRun(run_dir)
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.seen: list = []
        self.stop = threading.Event()
        self.result: str | None = None
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        self.result = self.remote.run(self.events.put, self.stop.is_set)

    def drain(self) -> list:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen

    def wait(self, predicate, timeout: float = HANG):
        """The first event seen (from now on, or already) for which `predicate` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.drain():
                if predicate(event):
                    return event
            time.sleep(0.01)
        raise AssertionError(f"no such event among {len(self.seen)}")

    def snapshots(self) -> list[Snapshot]:
        return [e for e in self.drain() if isinstance(e, Snapshot)]

    def leave(self) -> None:
        self.stop.set()
        self.thread.join(HANG)


@pytest.fixture
def served(tmp_path, small_text):
    run = Served(tmp_path / "run", small_text)
    yield run
    run.end()


def test_a_late_viewer_gets_the_runs_facts_its_newest_snapshot_and_then_every_event(served):
    viewer = Watcher(served.server.run_dir)
    try:
        info = viewer.remote.info()
        assert info == served.trainer.info()
        assert viewer.remote.pid == os.getpid() and viewer.remote.notes == ("x-ray line",)
        first = viewer.wait(lambda e: isinstance(e, Snapshot))
        assert first.step >= 1  # the newest snapshot, not the run's first
        step = served.trainer.step_count
        viewer.wait(lambda e: isinstance(e, Snapshot) and e.step > step + 20)
    finally:
        viewer.leave()
    assert viewer.result == "detached"
    assert wait_for(lambda: served.server.viewers == 0)
    step = served.trainer.step_count
    assert wait_for(lambda: served.trainer.step_count > step + 20)  # leaving never stops it


def test_two_viewers_a_pause_from_one_is_seen_by_the_other_and_a_change_applies_once(served):
    a, b = Watcher(served.server.run_dir), Watcher(served.server.run_dir)
    try:
        assert wait_for(lambda: served.server.viewers == 2)
        a.remote.pause()
        paused = b.wait(lambda e: isinstance(e, Snapshot) and e.run_state == "paused")
        assert served.trainer.run_state == "paused"
        a.remote.update(learning_rate="0.0421")
        changed = b.wait(lambda e: isinstance(e, HyperparametersChanged))
        assert dict(changed.changes) == {"learning_rate": 0.0421}
        a.wait(lambda e: isinstance(e, HyperparametersChanged))
        b.remote.resume()
        a.wait(
            lambda e: isinstance(e, Snapshot) and e.run_state == "running" and e.step > paused.step
        )
        b.wait(lambda e: isinstance(e, Snapshot) and e.hparams["learning_rate"] == 0.0421)
        assert served.trainer.config.learning_rate == 0.0421
        assert served.trainer.hparam_change_steps == [paused.step]  # applied exactly once
        for viewer in (a, b):
            assert sum(isinstance(e, HyperparametersChanged) for e in viewer.drain()) == 1
        assert sum(isinstance(e, HyperparametersChanged) for e in served.events) == 1
    finally:
        a.leave()
        b.leave()


def test_a_refused_command_raises_in_the_viewer_that_sent_it_and_the_run_goes_on(served):
    a, b = Watcher(served.server.run_dir), Watcher(served.server.run_dir)
    try:
        with pytest.raises(ConfigError, match="learning_rate"):
            a.remote.submit(UpdateHparams({"learning_rate": -1.0}))
        with pytest.raises(ConfigError, match="min_lr"):  # valid alone, invalid with the rest
            a.remote.update(min_lr="50")
        step = served.trainer.step_count
        b.wait(lambda e: isinstance(e, Snapshot) and e.step > step + 10)
        a.wait(lambda e: isinstance(e, Snapshot) and e.step > step + 10)
        assert served.trainer.hparam_change_steps == []
    finally:
        a.leave()
        b.leave()


def test_a_requested_sample_is_answered_to_the_viewer_that_asked_only(served):
    a, b = Watcher(served.server.run_dir), Watcher(served.server.run_dir)
    try:
        tag = a.remote.request_sample("the ", length=30, tag="same-tag")
        sample = a.wait(lambda e: isinstance(e, SampleReady) and e.tag == tag)
        assert sample.requested and len(sample.text) == len("the ") + 30
        weights = b.remote.request_weights("same-tag")  # the same tag from another viewer
        b.wait(lambda e: type(e).__name__ == "WeightsCopied" and e.tag == weights)
        step = served.trainer.step_count
        a.wait(lambda e: isinstance(e, Snapshot) and e.step > step)
        b.wait(lambda e: isinstance(e, Snapshot) and e.step > step)
        assert not any(isinstance(e, SampleReady) for e in b.drain())
        assert not any(type(e).__name__ == "WeightsCopied" for e in a.drain())
    finally:
        a.leave()
        b.leave()


def test_stopping_from_a_viewer_ends_the_run_and_every_viewer_hears_why(served):
    a, b = Watcher(served.server.run_dir), Watcher(served.server.run_dir)
    a.remote.stop()
    for viewer in (a, b):
        viewer.thread.join(HANG)
        assert viewer.result == "stopped"
        assert viewer.snapshots()[-1].run_state == "stopped"
    served.thread.join(HANG)
    assert served.reason == "stopped"
    assert not socket_path(served.server.run_dir).exists()
    with pytest.raises(AttachError, match="no run is serving"):
        RemoteRun(served.server.run_dir)


def test_the_socket_is_0600_and_only_the_runs_viewers_reach_it(served):
    mode = os.stat(socket_path(served.server.run_dir)).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


# -- hostile viewers ------------------------------------------------------------------------------


def raw(run_dir: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(socket_path(run_dir)))
    sock.settimeout(HANG)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes the connection (True) or HANG passes (False)."""
    deadline = time.monotonic() + HANG
    try:
        while time.monotonic() < deadline:
            if not sock.recv(1 << 20):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def garbage(sock):
    sock.sendall(b"\x00\x00\x00\x05hello" + os.urandom(64))


def oversized(sock):
    sock.sendall(struct.pack(">I", wire.MAX_COMMAND_BYTES + 1) + b"{" * 100)


def half_written(sock):
    sock.sendall(frame(wire.encode(UpdateHparams({"learning_rate": 0.05}), id=1)[4:])[:20])
    sock.shutdown(socket.SHUT_WR)  # and then it goes away mid-frame


def wrong_fields(sock):
    sock.sendall(frame(b'{"type": "RequestSample", "data": {"seed": 5}, "id": 1}'))


def flood(sock):
    pause = wire.encode(wire.COMMAND_TYPES["Pause"](), id=1)
    resume = wire.encode(wire.COMMAND_TYPES["Resume"](), id=2)
    with pytest.raises(OSError):  # the server hangs up on it part-way
        for _ in range(20_000):
            sock.sendall(pause + resume)


@pytest.mark.parametrize("behaviour", [garbage, oversized, half_written, wrong_fields, flood])
def test_a_hostile_viewer_is_disconnected_and_the_run_and_other_viewers_go_on(served, behaviour):
    good = Watcher(served.server.run_dir)
    try:
        sock = raw(served.server.run_dir)
        behaviour(sock)
        assert closed_by_server(sock)
        sock.close()
        assert wait_for(lambda: served.server.viewers == 1)
        if behaviour is not half_written:  # (leaving mid-frame is not misbehaving)
            assert served.server.dropped, "the server should say why it dropped the viewer"
        served.trainer.resume()  # (a flood of pause/resume may have left it paused)
        step = served.trainer.step_count
        good.wait(lambda e: isinstance(e, Snapshot) and e.step > step + 10)
        good.remote.request_sample("a", length=5, tag="still-here")
        good.wait(lambda e: isinstance(e, SampleReady) and e.tag == "still-here")
    finally:
        good.leave()


def test_a_viewer_that_stops_reading_is_dropped_and_never_slows_the_run(tmp_path, small_text):
    run = Served(tmp_path / "run", small_text, sample_every=1, sample_length=20)
    try:
        sock = raw(run.server.run_dir)  # connects, then never reads a byte
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        good = Watcher(run.server.run_dir)
        assert wait_for(lambda: any("behind" in why for why in run.server.dropped))
        assert f"more than {MAX_QUEUED} events" in " ".join(run.server.dropped)
        step = run.trainer.step_count
        good.wait(lambda e: isinstance(e, Snapshot) and e.step > step + 10)
        good.leave()
        sock.close()
    finally:
        run.end()


# -- stale and foreign files at the socket's name -------------------------------------------------


def test_a_stale_socket_file_never_blocks_a_new_run(tmp_path, small_text):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(socket_path(run_dir)))  # a process that died without removing its socket
    dead.close()
    with pytest.raises(AttachError, match="stale"):
        RemoteRun(run_dir)
    run = Served(run_dir, small_text)
    try:
        viewer = Watcher(run_dir)
        viewer.wait(lambda e: isinstance(e, Snapshot))
        viewer.leave()
    finally:
        run.end()


def test_a_file_at_the_sockets_name_that_is_not_a_socket_is_left_alone(tmp_path, small_text):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    socket_path(run_dir).write_text("not ours")
    trainer = Trainer(Config(hidden_size=8, seq_length=4), small_text)
    served = ServedRun(LocalRun(trainer, POLICY), run_dir)
    with pytest.raises(ServeError, match="leaves it alone"):
        served.run(lambda e: None, lambda: True)
    assert socket_path(run_dir).read_text() == "not ours"


def test_a_run_folder_deeper_than_a_socket_address_allows_still_serves(tmp_path, small_text):
    deep = tmp_path.joinpath(*["a-long-folder-name"] * 6) / "run"
    assert len(str(socket_path(deep))) > 108
    run = Served(deep, small_text)
    try:
        viewer = Watcher(deep)
        viewer.wait(lambda e: isinstance(e, Snapshot))
        viewer.leave()
        assert socket_path(deep).exists()
    finally:
        run.end()
    assert not socket_path(deep).exists()


OTHER_USER = """
import os, socket, sys
os.setgid(65534); os.setuid(65534)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    sock.connect(sys.argv[1])
except PermissionError:
    print("refused by permissions")
    sys.exit()
sock.settimeout(20)
print("closed by the server" if sock.recv(100) == b"" else "answered")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_a_viewer_of_another_user_is_refused_even_if_the_socket_is_opened_up(small_text):
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        run = Served(base / "run", small_text)
        (base / "run").chmod(0o755)
        path = str(socket_path(base / "run"))
        try:
            other = [sys.executable, "-c", OTHER_USER, path]
            first = subprocess.run(other, capture_output=True, text=True, timeout=HANG)
            assert first.stdout.strip() == "refused by permissions", first.stderr
            os.chmod(path, 0o666)  # opened up by mistake: SO_PEERCRED still refuses
            second = subprocess.run(other, capture_output=True, text=True, timeout=HANG)
            assert second.stdout.strip() == "closed by the server", second.stderr
            assert any("refused a viewer of user 65534" in why for why in run.server.dropped)
        finally:
            run.end()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)

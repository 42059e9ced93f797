"""The dashboard attached to a run of another thread through its socket (engine/client.py),
driven with Pilot: it shows the run's own numbers, follows what another viewer does, and its
keys steer the run. `d` leaves the run training, `q` stops it (the server saves).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import make_text

from rnn_tui.engine import Config, RunPolicy, Snapshot, Trainer
from rnn_tui.engine.client import RemoteRun
from rnn_tui.engine.control import LocalRun
from rnn_tui.engine.server import ServedRun
from rnn_tui.tui.app import make_app
from rnn_tui.tui.handover import Leave
from rnn_tui.tui.widgets import KeyBar, SamplePanel
from rnn_tui.tui.widgets.status import StatusLine

SIZE = (120, 40)
HANG = 30.0


class ServedTrainer:
    """A Trainer trained in a thread of this process and served on `run_dir`'s socket."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        config = Config(hidden_size=16, seq_length=8, sample_every=40, sample_length=30)
        self.trainer = Trainer(config, make_text(6000), checkpoint_path=run_dir / "latest.npz")
        policy = RunPolicy(autosave_seconds=0, snapshot_interval=0.5, save_on_exit=True)
        self.run = ServedRun(LocalRun(self.trainer, policy), run_dir)
        self.events: list = []
        self.reason: str | None = None
        self.thread = threading.Thread(target=self._train, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + HANG
        while not (self.run.serving and self.trainer.step_count > 50):
            assert time.monotonic() < deadline, "the served run did not start"
            time.sleep(0.01)

    def _train(self) -> None:
        self.reason = self.run.run(self.events.append, lambda: False)

    def end(self) -> None:
        self.trainer.stop()
        self.thread.join(HANG)


@pytest.fixture
def served(tmp_path):
    run = ServedTrainer(tmp_path / "run")
    yield run
    run.end()


async def wait_for(pilot, condition, what: str, timeout: float = HANG) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def status(app, line: str) -> str:
    return str(app.dashboard.query_one(f"#status-{line}", StatusLine).render())


def attached(run_dir: Path):
    remote = RemoteRun(run_dir)
    return make_app(remote, corpus_lines=remote.notes, detacher=Leave(remote)), remote


async def test_the_attached_dashboard_shows_the_runs_own_numbers_and_history(served):
    app, _ = attached(served.run.server.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.dashboard
        await wait_for(pilot, lambda: screen.snapshot is not None, "a first snapshot")
        await pilot.press("space")
        await wait_for(pilot, lambda: "PAUSED" in status(app, "state"), "the pause on screen")
        trainer = served.trainer
        assert trainer.run_state == "paused"
        await wait_for(
            pilot, lambda: screen.snapshot.step == trainer.step_count, "the paused snapshot"
        )
        assert f"{trainer.step_count:,}" in status(app, "state")
        mine = trainer.snapshot()
        shown = screen.snapshot
        assert shown.smooth_loss == mine.smooth_loss and shown.val_loss == mine.val_loss
        assert (shown.train_curve == mine.train_curve).all()
        assert (shown.hidden == mine.hidden).all()
        # the samples drawn before the viewer came are in its sample panel, newest first
        panel = app.dashboard.query_one(SamplePanel)
        assert panel.latest_step == trainer.samples[-1][0]
        keys = str(app.dashboard.query_one(KeyBar).render())
        assert "Detach" in keys and "Resume" in keys
        await pilot.press("d")
        await wait_for(pilot, lambda: app.return_value is not None, "the app to leave")
    assert app.return_value.startswith("Left the run training")
    assert "rnn-tui attach" in app.return_value and app.exit_status == 0
    step = served.trainer.step_count
    served.trainer.resume()  # the run was never stopped: it trains on
    deadline = time.monotonic() + HANG
    while served.trainer.step_count <= step + 20:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert served.run.server.viewers == 0 and served.thread.is_alive()


async def test_a_pause_from_another_viewer_shows_and_space_there_resumes_it(served):
    app, _ = attached(served.run.server.run_dir)
    other = RemoteRun(served.run.server.run_dir)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "RUNNING" in status(app, "state"), "running")
            other.pause()
            await wait_for(pilot, lambda: "PAUSED" in status(app, "state"), "the other's pause")
            assert app.dashboard.paused
            await pilot.press("space")  # resume from this one
            await wait_for(pilot, lambda: "RUNNING" in status(app, "state"), "running again")
            assert served.trainer.run_state == "running"
            await pilot.press("d")
            await wait_for(pilot, lambda: app.return_value is not None, "the app to leave")
    finally:
        other.close()


async def test_the_sample_dialog_shows_a_refusal_from_the_run_and_then_its_sample(served):
    """The seed is checked by the run (its vocabulary), and the VocabError it raises there is
    raised here, so the dialog shows its error line as it does for a run in this process."""
    from rnn_tui.tui.dialogs import SampleDialog

    app, _ = attached(served.run.server.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.dashboard.snapshot is not None, "a snapshot")
        await pilot.press("space")
        await wait_for(pilot, lambda: "PAUSED" in status(app, "state"), "paused")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, SampleDialog), "the dialog")
        dialog = app.screen
        dialog.query_one("#sample-seed").value = "\u2603 "  # not in the run's vocabulary
        await pilot.press("enter")
        error = dialog.query_one("#sample-error")
        await wait_for(pilot, lambda: error.display, "the refusal")
        assert "\u2603" in str(error.render()) or "vocabulary" in str(error.render())
        dialog.query_one("#sample-seed").value = "the "
        dialog.query_one("#sample-seed").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.result is not None, "the sample")
        assert dialog.result.text.startswith("the ") and dialog.result.requested
        assert not error.display
        dialog.dismiss()
        await pilot.press("d")
        await wait_for(pilot, lambda: app.return_value is not None, "the app to leave")


async def test_q_in_an_attached_dashboard_stops_the_run_and_says_where_it_is_saved(served):
    app, _ = attached(served.run.server.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.dashboard.snapshot is not None, "a snapshot")
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, "the app to exit")
    served.thread.join(HANG)
    assert served.reason == "stopped"
    latest = served.run.server.run_dir / "latest.npz"
    assert app.return_value.startswith(f"Saved checkpoint {latest} at step ")
    assert f"{served.trainer.step_count:,}" in app.return_value and app.exit_status == 0
    assert isinstance(served.events[-1], Snapshot) and served.events[-1].run_state == "stopped"


async def test_a_dashboard_whose_run_vanished_says_so_when_it_quits(served):
    """The run's process is gone without a word (as after kill -9): the dashboard shows the run
    stopped, and q says the run was lost instead of pretending a save failed."""
    app, remote = attached(served.run.server.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "RUNNING" in status(app, "state"), "running")
        for viewer in list(served.run.server._viewers):
            viewer.drop("as if the process had died")  # the socket closes, no RunEnded
        await wait_for(pilot, lambda: "STOPPED" in status(app, "state"), "the stopped state")
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, "the app to exit")
    assert app.return_value.startswith("Lost the run at step ")
    assert "was its process killed?" in app.return_value and remote.lost
    assert served.thread.is_alive()  # (this run is still there: only its viewer was cut off)

"""Endless, blocking and broken inputs as a corpus (defects 3 and 13 of "Reliability, round two").

/dev/zero, /dev/urandom or a symbolic link to one used to be read until memory ran out; a named
pipe with no writer hung forever; a dangling link or a link loop was reported as "did you mean
'<its own name>'?". Now anything that is not a regular file (after following links) is refused
at once by what it is, every read is bounded by MAX_CORPUS_BYTES (named in the message), and a
broken link says what it is. Devices appear only as symbolic links in a temporary folder.
"""

from __future__ import annotations

import os
import socket
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rnn_tui.corpora import CorpusError, load_corpus
from rnn_tui.corpora import files as corpora_files
from rnn_tui.corpora import loader as corpora_loader

pytestmark = pytest.mark.usefixtures("isolated_corpora")

TEXT = "The quick brown fox jumps over the lazy dog.\n" * 40


def device_link(name: str) -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        if not os.path.exists(f"/dev/{name}"):
            pytest.skip(f"no /dev/{name} here")
        (root / f"{name}.txt").symlink_to(f"/dev/{name}")
        return root / f"{name}.txt"

    return make


def fifo(root: Path) -> Path:
    os.mkfifo(root / "pipe.txt")
    return root / "pipe.txt"


def unix_socket(root: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock.txt"))
    server.close()
    return root / "sock.txt"


def link_to_fifo(root: Path) -> Path:
    (root / "via.txt").symlink_to(fifo(root))
    return root / "via.txt"


def dangling(root: Path) -> Path:
    (root / "book.txt").symlink_to(root / "moved-away.txt")
    return root / "book.txt"


def chain_to_nothing(root: Path) -> Path:
    (root / "second.txt").symlink_to(root / "gone.txt")
    (root / "first.txt").symlink_to(root / "second.txt")
    return root / "first.txt"


def loop(root: Path) -> Path:
    (root / "a.txt").symlink_to(root / "b.txt")
    (root / "b.txt").symlink_to(root / "a.txt")
    return root / "a.txt"


@dataclass(frozen=True)
class Case:
    """Something given as the corpus, and what the one-line refusal must say."""

    id: str
    make: Callable[[Path], Path]
    expect: tuple[str, ...]
    refuse: tuple[str, ...] = ("did you mean",)  # words it must not say


CASES = [
    Case("link-to-dev-zero", device_link("zero"), ("is a character device", "/dev/zero")),
    Case("link-to-dev-urandom", device_link("urandom"), ("is a character device", "/dev/urandom")),
    Case("named-pipe-without-writer", fifo, ("is a named pipe (FIFO)", "save what it carries")),
    Case("link-to-a-named-pipe", link_to_fifo, ("is a named pipe (FIFO)", "symbolic link to")),
    Case("socket", unix_socket, ("is a socket",)),
    Case("dangling-link", dangling, ("is a symbolic link to", "moved-away.txt", "does not exist")),
    Case("chain-of-links-to-nothing", chain_to_nothing, ("gone.txt", "which does not exist")),
    Case("link-loop", loop, ("is a symbolic link loop", "fix the link")),
]


def load_error_within(spec: str, seconds: float = 5.0) -> str:
    """The one-line CorpusError loading `spec` raises, within `seconds` (a hang fails the test)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            load_corpus(spec)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"loading {spec!r} blocked or read for over {seconds} s"
    error = outcome[0]
    assert isinstance(error, CorpusError), repr(error)
    message = str(error)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_corpus_that_is_not_a_regular_file_is_refused_at_once(case, tmp_path):
    path = case.make(tmp_path)
    message = load_error_within(str(path))
    assert message.startswith(f"'{path}' "), message
    for word in case.expect:
        assert word in message, (word, message)
    for word in case.refuse:
        assert word not in message, (word, message)


def test_a_checkpoints_stored_corpus_path_that_leads_to_a_device_is_refused(tmp_path):
    """`--resume` loads the corpus the checkpoint names; a name that is now /dev/zero is refused."""
    stored = device_link("zero")(tmp_path)  # what meta["corpus_name"] says, as the CLI passes it
    message = load_error_within(str(stored))
    assert "is a character device (a symbolic link to /dev/zero)" in message, message


def test_a_folder_with_a_pipe_and_a_device_link_loads_only_its_text_files(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.txt").write_text(TEXT)
    fifo(folder)
    device_link("zero")(folder)
    corpus = load_corpus(folder)
    assert corpus.text == TEXT


def test_a_file_beyond_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """A sparse file of 2 GiB + 1 byte: refused on its size, without reading or allocating it."""
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.truncate(corpora_files.MAX_CORPUS_BYTES + 1)
    reads: list[int] = []
    monkeypatch.setattr(corpora_files.ProgressBar, "advance", lambda self, n: reads.append(n))
    message = load_error_within(str(path))
    assert "is too large (2,147,483,649 bytes; rnn-tui reads at most 2 GiB)" in message, message
    assert reads == []


def test_a_file_that_grows_while_it_is_read_stops_at_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "log.txt"
    path.write_text(TEXT * 10)  # 18,000 bytes
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:
        info = real_fstat(fd)
        # what fstat said a moment before the file grew by most of its size
        return os.stat_result((*info[:6], 100, *info[7:]))

    fake_os = types.ModuleType("os")  # the reader's own view of os: fstat lags behind
    fake_os.__dict__.update(os.__dict__)
    fake_os.fstat = stale_fstat
    monkeypatch.setattr(corpora_files, "MAX_CORPUS_BYTES", 1000)
    monkeypatch.setattr(corpora_files, "os", fake_os)
    message = load_error_within(str(path))
    assert "kept growing while it was read; rnn-tui reads at most 1,000 bytes" in message, message


def test_a_folder_holding_more_than_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    folder = tmp_path / "books"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_text(TEXT)
    monkeypatch.setattr(corpora_files, "MAX_CORPUS_BYTES", 4000)
    monkeypatch.setattr(corpora_loader, "MAX_CORPUS_BYTES", 4000)
    message = load_error_within(str(folder))
    assert f"holds {3 * len(TEXT):,} bytes of files, more than rnn-tui reads" in message, message


def test_a_plain_missing_name_still_suggests_a_similar_file(tmp_path):
    """The link diagnosis does not hide the misspelling hint for names that are not links."""
    (tmp_path / "metamorphosis.txt").write_text(TEXT)
    message = load_error_within(str(tmp_path / "metamorphosys.txt"))
    assert "did you mean" in message and "metamorphosis.txt" in message, message

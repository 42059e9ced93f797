"""Downloads against a real HTTP server on 127.0.0.1: Gutenberg stripping, the cache, a slow
server (timeout), a dropped connection and a 404, with never a partial file left behind.

A catalogue download must be the catalogue's text (tests/test_corpora_verified_download.py):
the tests here that serve made-up books register them as the catalogue's (`known_books`).
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rnn_tui.corpora import CorpusError, load_corpus
from rnn_tui.corpora import catalogue as corpora_catalogue
from rnn_tui.corpora import download as corpora_download
from rnn_tui.corpora import progress as corpora_progress
from rnn_tui.corpora.download import download

SHARED_CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"

GUTENBERG_BOOK = (
    "\ufeffThe Project Gutenberg eBook of A Test Book\r\n"
    "\r\n"
    "This ebook is for the use of anyone anywhere. Licence text goes here.\r\n"
    "\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK A TEST BOOK ***\r\n"
    "\r\n"
    "\r\n"
    "A Test Book\r\n"
    "\r\n"
    "One morning the test woke up and found itself green.\r\n"
    "It checked the cache: nothing partial there.\r\n"
    "\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK A TEST BOOK ***\r\n"
    "\r\n"
    "Updated editions will replace the previous one. More licence text.\r\n"
)
STRIPPED_BOOK = (
    "A Test Book\n\nOne morning the test woke up and found itself green.\n"
    "It checked the cache: nothing partial there.\n"
)
SHAKESPEARE_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"


@pytest.fixture
def known_books(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the catalogue expect the made-up books served here, byte for byte."""
    bodies = {"kafka": GUTENBERG_BOOK.encode("utf-8"), "shakespeare": SHAKESPEARE_TEXT.encode()}
    specs = tuple(
        spec._replace(
            expected=corpora_catalogue.Expected(
                hashlib.sha256(bodies[spec.name]).hexdigest(), len(bodies[spec.name]), ()
            )
        )
        if spec.name in bodies
        else spec
        for spec in corpora_catalogue.SPECS
    )
    monkeypatch.setattr(corpora_catalogue, "SPECS", specs)


@dataclass
class Route:
    """What the test server does for one path."""

    body: bytes = b""
    mode: str = "ok"  # ok | slow (no answer) | stall (headers, then nothing) | drop (short body)


@dataclass
class CorpusServer:
    """A local HTTP server whose routes the test sets; records the paths it was asked for."""

    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.base_url + path


def make_handler(server: Callable[[], CorpusServer]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Serves the routes of the CorpusServer, misbehaving on request."""

        def do_GET(self) -> None:
            state = server()
            state.hits.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            if route.mode == "slow":
                state.release.wait(5)  # until the test is over
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            declared = len(route.body) * 2 if route.mode == "drop" else len(route.body)
            self.send_header("Content-Length", str(declared))
            self.end_headers()
            if route.mode == "stall":
                self.wfile.flush()
                state.release.wait(5)
                return
            half = route.body[: len(route.body) // 2] if route.mode == "drop" else route.body
            self.wfile.write(half)
            self.wfile.flush()
            if route.mode == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

    return Handler


@pytest.fixture
def server() -> Iterator[CorpusServer]:
    """A ThreadingHTTPServer on 127.0.0.1 and a free port, shut down after the test."""
    state: list[CorpusServer] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(lambda: state[0]))
    state.append(CorpusServer(f"http://127.0.0.1:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        state[0].release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache, no local folder, and catalogue URLs that cannot reach the network."""
    monkeypatch.setenv("RNN_TUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNN_TUI_CORPUS_DIR", raising=False)
    monkeypatch.delenv("RNN_TUI_DOWNLOAD_TIMEOUT", raising=False)
    for name in ("KAFKA", "SHAKESPEARE"):
        monkeypatch.setenv(f"RNN_TUI_CATALOGUE_URL_{name}", "http://127.0.0.1:9/unreachable")
    return tmp_path / "cache" / "corpora"


def cache_files(cache: Path) -> list[str]:
    """Every name in the cache folder, hidden temporary files included."""
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def download_error(**options: object) -> str:
    with pytest.raises(CorpusError) as info:
        load_corpus("kafka", **options)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message, f"error message is not one line: {message!r}"
    return message


def test_named_corpus_downloads_strips_licence_and_caches(
    server: CorpusServer, cache: Path, monkeypatch: pytest.MonkeyPatch, known_books: None
) -> None:
    server.routes["/pg5200.txt"] = Route(GUTENBERG_BOOK.encode("utf-8"))
    monkeypatch.setenv("RNN_TUI_CATALOGUE_URL_KAFKA", server.url("/pg5200.txt"))
    corpus = load_corpus("kafka")
    assert corpus.text == STRIPPED_BOOK, f"header/footer not stripped right: {corpus.text!r}"
    assert corpus.name == "kafka"
    assert corpus.source == str((cache / "kafka.txt").resolve())
    assert cache_files(cache) == ["kafka.txt"], "the cache should hold the book and nothing else"
    again = load_corpus("kafka")
    assert server.hits == ["/pg5200.txt"], "the second load should come from the cache"
    assert again.sha256 == corpus.sha256


def test_cached_download_keeps_original_newlines_for_keep_newlines(
    server: CorpusServer, monkeypatch: pytest.MonkeyPatch, known_books: None
) -> None:
    server.routes["/book.txt"] = Route(GUTENBERG_BOOK.encode("utf-8"))
    monkeypatch.setenv("RNN_TUI_CATALOGUE_URL_KAFKA", server.url("/book.txt"))
    assert load_corpus("kafka", keep_newlines=True).text == STRIPPED_BOOK.replace("\n", "\r\n")


def test_shakespeare_is_not_gutenberg_stripped(
    server: CorpusServer, cache: Path, monkeypatch: pytest.MonkeyPatch, known_books: None
) -> None:
    text = SHAKESPEARE_TEXT
    server.routes["/input.txt"] = Route(text.encode())
    monkeypatch.setenv("RNN_TUI_CATALOGUE_URL_SHAKESPEARE", server.url("/input.txt"))
    assert load_corpus("shakespeare").text == text
    assert cache_files(cache) == ["tinyshakespeare.txt"]


def test_real_kafka_served_locally_loses_its_licence(
    server: CorpusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = SHARED_CORPORA / "kafka.txt"
    if not book.is_file():
        pytest.skip(f"{book} is absent: the real books live in ../shared/corpora beside the repo")
    server.routes["/pg5200.txt"] = Route(book.read_bytes())
    monkeypatch.setenv("RNN_TUI_CATALOGUE_URL_KAFKA", server.url("/pg5200.txt"))
    text = load_corpus("kafka").text
    assert text.startswith("One morning, when Gregor Samsa woke"), text[:60]
    assert "Gutenberg" not in text and text.endswith("young body.\n"), text[-80:]


def test_404_is_a_one_line_error_and_nothing_is_cached(
    server: CorpusServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNN_TUI_CATALOGUE_URL_KAFKA", server.url("/missing.txt"))
    message = download_error()
    assert message.startswith(
        f"could not download 'kafka' (HTTP 404 Not Found from {server.url('/missing.txt')})"
    ), message
    assert message.endswith(
        "pass a text file instead: rnn-tui path/to/file.txt, or set RNN_TUI_CORPUS_DIR to a "
        "folder holding kafka.txt"
    ), message
    assert cache_files(cache) == []


def test_slow_server_times_out_quickly(
    server: CorpusServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/slow.txt"] = Route(b"never sent", mode="slow")
    monkeypatch.setenv("RNN_TUI_CATALOGUE_URL_KAFKA", server.url("/slow.txt"))
    monkeypatch.setenv("RNN_TUI_DOWNLOAD_TIMEOUT", "0.3")
    # without the timeout the server would hang up after 5 s and the message would differ
    message = download_error()
    assert message.startswith("could not download 'kafka' ("), message
    assert "timed out: no data from" in message and "for 0.3 s" in message, message
    assert cache_files(cache) == []


def test_server_stalling_mid_body_times_out(server: CorpusServer, cache: Path) -> None:
    server.routes["/stall.txt"] = Route(b"x" * 1000, mode="stall")
    with pytest.raises(CorpusError, match=r"could not download 'kafka' \(.*0\.3 s"):
        download(server.url("/stall.txt"), cache / "kafka.txt", name="kafka", timeout=0.3)
    assert cache_files(cache) == []


def test_dropped_connection_leaves_no_partial_file(
    server: CorpusServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = GUTENBERG_BOOK.encode("utf-8")
    server.routes["/drop.txt"] = Route(body, mode="drop")
    monkeypatch.setenv("RNN_TUI_CATALOGUE_URL_KAFKA", server.url("/drop.txt"))
    message = download_error()
    assert f"connection closed after {len(body) // 2:,} of {2 * len(body):,} bytes" in message, (
        message
    )
    assert cache_files(cache) == [], "a partial download was left in the cache"


def test_connection_refused_says_how_to_work_offline(cache: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CorpusError) as info:
        download(f"http://127.0.0.1:{port}/x.txt", cache / "kafka.txt", name="kafka", timeout=2)
    message = str(info.value)
    assert message.startswith("could not download 'kafka' ("), message
    assert "Connection refused" in message or "refused" in message.lower(), message
    assert "RNN_TUI_CORPUS_DIR" in message and "rnn-tui path/to/file.txt" in message
    assert cache_files(cache) == []


def test_binary_download_is_refused_and_not_cached(server: CorpusServer, cache: Path) -> None:
    server.routes["/book.zip"] = Route(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(CorpusError, match="the server sent no usable text: binary content"):
        download(server.url("/book.zip"), cache / "kafka.txt", name="kafka", timeout=2)
    assert cache_files(cache) == []


def test_failed_write_leaves_no_temporary_file(
    server: CorpusServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/book.txt"] = Route(b"some text to save\n")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(corpora_download.os, "replace", broken_replace)
    with pytest.raises(CorpusError, match=r"could not save 'kafka' .*No space left on device"):
        download(server.url("/book.txt"), cache / "kafka.txt", name="kafka", timeout=2)
    assert cache_files(cache) == [], "the temporary file was left behind"


def test_interrupted_write_leaves_no_temporary_file(
    server: CorpusServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/book.txt"] = Route(b"some text to save\n")

    def interrupted_fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(corpora_download.os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        download(server.url("/book.txt"), cache / "kafka.txt", name="kafka", timeout=2)
    assert cache_files(cache) == []


def test_bad_timeout_setting_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_TUI_DOWNLOAD_TIMEOUT", "soon")
    message = download_error()
    assert message == "RNN_TUI_DOWNLOAD_TIMEOUT='soon' is not a number of seconds; fix or unset it"


def test_download_progress_bar(
    server: CorpusServer,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.routes["/book.txt"] = Route(b"some text to save\n" * 1000)
    monkeypatch.setattr(corpora_progress, "DEFAULT_DELAY", 0.0)
    monkeypatch.setattr(corpora_download, "PROGRESS_DELAY", 0.0)
    download(server.url("/book.txt"), cache / "kafka.txt", name="kafka", timeout=2, progress=True)
    assert "downloading kafka" in capsys.readouterr().err
    assert cache_files(cache) == ["kafka.txt"]

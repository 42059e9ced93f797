"""Catalogue downloads are verified before they are cached (defect 6 of "Reliability, round two").

A captive portal's HTML page served instead of the book used to be cached, listed as cached and
trained on. Now an HTML page is never accepted, the body is capped (four times the catalogue's
size for the file), it must be the catalogue's exact file (size and sha256) or pass as the same
text (its size and its phrases: Project Gutenberg re-issues its files), a cached copy that is not
the text is refused, and nothing failed or unverified is ever written to the cache. The server
is a real one on 127.0.0.1 serving the shared books and the hostile bodies.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rnn_tui.corpora import CorpusError, catalogue_entries, load_corpus
from rnn_tui.corpora import download as corpora_download
from rnn_tui.corpora.catalogue import find_spec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
PORTAL = (
    b"<!DOCTYPE html>\n<html><head><title>Hotel WiFi</title></head><body><form>Room number: "
    b"<input name=room></form> Gregor Samsa Grete chief clerk</body></html>\n"
)


@dataclass
class Page:
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    length: bool = True  # send Content-Length (else the body ends when the connection closes)


@dataclass
class Server:
    base: str
    pages: dict[str, Page] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A local HTTP server, a private cache, and catalogue URLs pointing at the server."""
    state: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            state[0].hits.append(self.path)
            page = state[0].pages.get(self.path)
            if page is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", page.content_type)
            if page.length:
                self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.append(Server(f"http://127.0.0.1:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    monkeypatch.setenv("RNN_TUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNN_TUI_CORPUS_DIR", raising=False)
    monkeypatch.delenv("RNN_TUI_DOWNLOAD_TIMEOUT", raising=False)
    for name, route in (("KAFKA", "/pg5200.txt"), ("SHAKESPEARE", "/input.txt")):
        monkeypatch.setenv(f"RNN_TUI_CATALOGUE_URL_{name}", state[0].base + route)
    try:
        yield state[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "corpora"


def book(name: str) -> bytes:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real books live in ../shared/corpora")
    return path.read_bytes()


def in_cache(cache: Path) -> list[str]:
    """Every name in the cache folder, hidden temporaries included."""
    return sorted(os.listdir(cache)) if cache.exists() else []


def refused(*words: str, checked: bool = True) -> str:
    """The one-line refusal of `rnn-tui kafka`; `checked`: the body arrived and was looked at."""
    with pytest.raises(CorpusError) as info:
        load_corpus("kafka")
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    assert "RNN_TUI_CORPUS_DIR" in message, message
    assert ("nothing was saved" in message) == checked, message
    return message


@pytest.mark.parametrize(
    "page",
    [
        Page(PORTAL, content_type="text/html; charset=utf-8"),
        Page(PORTAL),  # a portal that claims text/plain is sniffed
        Page(b"\n\n  <html><body>Please log in</body></html>", content_type="text/plain"),
        Page(b"Gregor Samsa Grete chief clerk", content_type="application/xhtml+xml"),
    ],
    ids=["html", "html-as-text-plain", "html-after-blank-lines", "xhtml"],
)
def test_an_html_page_is_never_cached_listed_or_trained_on(page, server, cache):
    server.pages["/pg5200.txt"] = page
    refused("the server sent an HTML page (a captive portal, a login or an error page?)")
    assert in_cache(cache) == []
    entry = next(e for e in catalogue_entries() if e.name == "kafka")
    assert entry.cached_path is None  # not listed as cached
    refused("HTML page")
    assert server.hits == ["/pg5200.txt"] * 2  # the second load asked the server again


def test_a_text_that_is_not_the_book_is_refused(server, cache):
    server.pages["/pg5200.txt"] = Page(b"Service unavailable. Try again later.\n" * 3000)
    refused("the server sent a text that is not 'kafka': it does not contain 'Gregor Samsa'")
    assert in_cache(cache) == []


def test_a_text_with_the_words_but_far_too_small_is_refused(server, cache):
    server.pages["/pg5200.txt"] = Page(
        b"*** END OF THE PROJECT GUTENBERG EBOOK\nGregor Samsa, Grete, the chief clerk.\n"
    )
    refused("bytes where about 137,626 were expected")
    assert in_cache(cache) == []


@pytest.mark.parametrize("length", [True, False], ids=["announced", "unannounced"])
def test_a_body_beyond_the_cap_is_refused(length, server, cache):
    cap = 4 * find_spec("kafka").expected.size
    body = b"Gregor Samsa and Grete met the chief clerk. " * (cap // 40)
    server.pages["/pg5200.txt"] = Page(body, length=length)
    message = refused(f"{cap:,}", "accepted for it", checked=False)
    assert ("announced" in message) == length, message
    assert in_cache(cache) == []


def test_the_exact_book_is_cached_and_used_without_a_notice(server, cache):
    server.pages["/pg5200.txt"] = Page(book("kafka.txt"))
    corpus = load_corpus("kafka")
    assert corpus.text.startswith("One morning, when Gregor Samsa woke")
    assert not any("not byte for byte" in line for line in corpus.notices), corpus.notices
    assert in_cache(cache) == ["kafka.txt"]
    assert load_corpus("kafka").sha256 == corpus.sha256 and server.hits == ["/pg5200.txt"]


def test_tinyshakespeare_is_verified_exactly(server, cache):
    server.pages["/input.txt"] = Page(book("tinyshakespeare.txt"))
    corpus = load_corpus("shakespeare")
    assert corpus.num_chars == 1_115_394 and corpus.notices == ()
    assert in_cache(cache) == ["tinyshakespeare.txt"]


def test_a_reissued_edition_is_accepted_with_a_notice(server, cache):
    """gutenberg.org re-issues pg5200.txt with a new header: same book, other bytes."""
    header = (
        b"The Project Gutenberg eBook of Metamorphosis, by Franz Kafka\n\nThis eBook is for the "
        b"use of anyone anywhere in the United States, updated edition.\n\n"
        b"*** START OF THE PROJECT GUTENBERG EBOOK METAMORPHOSIS ***\n"
    )
    server.pages["/pg5200.txt"] = Page(header + book("kafka.txt"))
    corpus = load_corpus("kafka")
    assert corpus.text.startswith("One morning, when Gregor Samsa woke")
    assert "Gutenberg" not in corpus.text
    (notice,) = [line for line in corpus.notices if "not byte for byte" in line]
    assert notice.startswith("the download of 'kafka' is not byte for byte the edition"), notice
    assert in_cache(cache) == ["kafka.txt"]


def test_a_cached_page_saved_by_an_older_rnn_tui_is_refused_and_left_alone(server, cache):
    cache.mkdir(parents=True)
    (cache / "kafka.txt").write_bytes(PORTAL)
    with pytest.raises(CorpusError) as info:
        load_corpus("kafka")
    message = str(info.value)
    assert message.startswith("the cached copy of 'kafka' is not 'kafka' (it is an HTML page")
    assert message.endswith(f"delete {cache / 'kafka.txt'} and run again to download a fresh copy")
    assert (cache / "kafka.txt").read_bytes() == PORTAL and server.hits == []


def test_a_cached_text_without_the_books_words_is_refused(server, cache):
    cache.mkdir(parents=True)
    (cache / "kafka.txt").write_text("Service unavailable\n" * 100)
    with pytest.raises(CorpusError, match="does not contain 'Gregor Samsa'"):
        load_corpus("kafka")


def test_a_cache_entry_that_is_not_a_file_is_not_replaced(server, cache):
    cache.mkdir(parents=True)
    os.mkfifo(cache / "kafka.txt")
    with pytest.raises(CorpusError, match="is not a regular file; remove it"):
        load_corpus("kafka")
    assert server.hits == [] and (cache / "kafka.txt").is_fifo()


def test_the_cache_temporary_never_follows_a_planted_link(server, cache, monkeypatch):
    server.pages["/pg5200.txt"] = Page(book("kafka.txt"))
    cache.mkdir(parents=True)
    victim = cache.parent / "victim.txt"
    victim.write_text("precious\n")
    (cache / ".kafka.txt.aaaa.part").symlink_to(victim)
    tokens = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(corpora_download.secrets, "token_hex", lambda n: next(tokens))
    load_corpus("kafka")
    assert victim.read_text() == "precious\n"
    assert in_cache(cache) == [".kafka.txt.aaaa.part", "kafka.txt"]  # the link is left alone

"""Downloading a catalogue corpus into the cache: urllib with a timeout, a rich progress bar,
a size cap, verification (never an HTML page; the catalogue's exact file or at least the same
text), the Project Gutenberg header and footer stripped, and an atomic write, so the cache never
holds a partial, failed or unverified body."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from .catalogue import Expected
from .decode import decode_bytes
from .errors import CorpusError
from .gutenberg import split_gutenberg
from .progress import ProgressBar

TIMEOUT_ENV = "RNN_TUI_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds without a byte from the server before giving up
CHUNK_BYTES = 1 << 16
PROGRESS_DELAY = 0.5  # seconds before a download shows its bar
USER_AGENT = "rnn-tui/0.1 (corpus download; Python urllib)"
# The largest body accepted without a catalogue size to go by; with one, four times that size
# (a re-issued edition may grow a little; a body far larger is not the book).
MAX_DOWNLOAD_BYTES = 64 * 1024**2
EXPECTED_SIZE_FACTOR = 4
# A re-issue must be within this factor of the known size (either way) to pass as the same text.
REISSUE_SIZE_FACTOR = 2
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title", b"<script")
HTML_REASON = "an HTML page (a captive portal, a login or an error page?)"
TEMPORARY_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
TEMPORARY_ATTEMPTS = 100


def default_timeout() -> float:
    """Seconds to wait for the server: $RNN_TUI_DOWNLOAD_TIMEOUT if set, else 30."""
    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        raise CorpusError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; fix or unset it"
        ) from None
    if seconds <= 0:
        raise CorpusError(f"{TIMEOUT_ENV}={raw!r} must be more than 0 seconds; fix or unset it")
    return seconds


class _Failed(Exception):
    """A download attempt failed; the message is the short reason."""


class Fetched(NamedTuple):
    """A complete response body and the media type the server declared for it."""

    body: bytearray
    content_type: str  # e.g. "text/plain"


class Downloaded(NamedTuple):
    """Where a download was saved, and a one-line notice about it if there is one."""

    path: Path
    notice: str | None  # e.g. that the text is a re-issue, not the exact file rnn-tui knows


def fetch(
    url: str,
    *,
    timeout: float,
    progress: bool,
    description: str,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Fetched:
    """The body at `url`, complete or not at all, at most `max_bytes` long; _Failed otherwise."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if expected is not None and expected > max_bytes:
                raise _Failed(
                    f"the server announced {expected:,} bytes, more than the {max_bytes:,} "
                    f"accepted for it, from {url}"
                )
            content_type = response.headers.get_content_type()
            body = bytearray()
            with ProgressBar(
                description, expected, enabled=progress, delay=PROGRESS_DELAY, in_bytes=True
            ) as bar:
                while chunk := response.read(min(CHUNK_BYTES, max_bytes + 1 - len(body))):
                    body += chunk
                    bar.advance(len(chunk))
                    if len(body) > max_bytes:
                        raise _Failed(
                            f"the server sent more than the {max_bytes:,} bytes accepted for it, "
                            f"from {url}"
                        )
    except urllib.error.HTTPError as err:
        err.close()  # an HTTPError holds the response and its socket open
        raise _Failed(f"HTTP {err.code} {err.reason} from {url}") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise _Failed(f"timed out: no answer from {url} for {timeout:g} s") from None
        raise _Failed(f"{err.reason} for {url}") from None
    except TimeoutError:
        raise _Failed(f"timed out: no data from {url} for {timeout:g} s") from None
    except (http.client.HTTPException, OSError) as err:
        why = str(err) or type(err).__name__
        raise _Failed(f"connection to {url} failed: {why}") from None
    except ValueError as err:  # e.g. a URL without a scheme
        raise _Failed(f"bad URL {url!r}: {err}") from None
    # http.client does not complain when the server closes early: compare with Content-Length.
    if expected is not None and len(body) < expected:
        raise _Failed(f"connection closed after {len(body):,} of {expected:,} bytes from {url}")
    return Fetched(body, content_type)


def html_reason(data: bytes | bytearray, content_type: str = "") -> str | None:
    """Why `data` is an HTML page rather than a text (None if it does not look like one)."""
    if content_type in ("text/html", "application/xhtml+xml"):
        return HTML_REASON
    head = bytes(data[:4096]).lower()
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_HTML_STARTS) or b"<html" in head:
        return HTML_REASON
    return None


def verify(data: bytes | bytearray, text: str, expected: Expected) -> tuple[str | None, bool]:
    """(why `data` is not the expected text or None, whether it is the exact known file)."""
    if len(data) == expected.size and hashlib.sha256(data).hexdigest() == expected.sha256:
        return None, True
    missing = [phrase for phrase in expected.phrases if phrase not in text]
    if missing:
        return f"it does not contain {missing[0]!r}", False
    low, high = expected.size / REISSUE_SIZE_FACTOR, expected.size * REISSUE_SIZE_FACTOR
    if not low <= len(data) <= high:
        return f"{len(data):,} bytes where about {expected.size:,} were expected", False
    return None, False


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder, fsync and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = _create_temporary(path)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        # Whatever happened, including Ctrl-C, the cache must not keep a partial file.
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    # Make the rename itself durable (POSIX; Windows cannot open a directory).
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new hidden file beside `path`: (descriptor, name). Created here and now with a random
    name (O_EXCL: never an existing file; O_NOFOLLOW: never through a planted link); a taken
    name is left alone and another one drawn."""
    for _ in range(TEMPORARY_ATTEMPTS):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        try:
            return os.open(temp, TEMPORARY_FLAGS, 0o644), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def download(
    url: str,
    dest: Path,
    *,
    name: str,
    timeout: float | None = None,
    progress: bool = False,
    gutenberg: bool = False,
    expected: Expected | None = None,
) -> Downloaded:
    """Download `url` to `dest` as UTF-8 text; CorpusError and no file written if it fails.

    An HTML page (a captive portal's, say) is never accepted; with `expected` (the catalogue's
    size, sha256 and phrases) the body must be that exact file or pass as the same text, and
    is capped at four times its size (else at MAX_DOWNLOAD_BYTES). With `gutenberg` the
    Project Gutenberg header and footer are stripped first. `timeout` is the seconds to wait
    for each answer from the server (default: default_timeout()).
    """
    advice = (
        f"pass a text file instead: rnn-tui path/to/file.txt, or set RNN_TUI_CORPUS_DIR to a "
        f"folder holding {dest.name}"
    )
    seconds = default_timeout() if timeout is None else timeout
    cap = MAX_DOWNLOAD_BYTES
    if expected is not None:
        cap = min(cap, EXPECTED_SIZE_FACTOR * expected.size)
    try:
        fetched = fetch(
            url,
            timeout=seconds,
            progress=progress,
            description=f"downloading {name}",
            max_bytes=cap,
        )
    except _Failed as err:
        raise CorpusError(f"could not download {name!r} ({err}); {advice}") from None
    data = fetched.body
    page = html_reason(data, fetched.content_type)
    if page:
        raise CorpusError(
            f"could not download {name!r} (the server sent {page}, not the text; nothing was "
            f"saved); {advice}"
        )
    try:
        text = decode_bytes(data, f"the download of {name!r}")
    except CorpusError as err:
        raise CorpusError(
            f"could not download {name!r} (the server sent no usable text: {err.reason}; "
            f"nothing was saved); {advice}"
        ) from None
    notice = None
    if expected is not None:
        problem, exact = verify(data, text, expected)
        if problem:
            raise CorpusError(
                f"could not download {name!r} (the server sent a text that is not {name!r}: "
                f"{problem}; nothing was saved); {advice}"
            )
        if not exact:
            notice = (
                f"the download of {name!r} is not byte for byte the edition rnn-tui knows "
                f"(sha256 {hashlib.sha256(data).hexdigest()[:12]}...), but it has the size and "
                "the words of the same text (a re-issue?), so it is used"
            )
    if gutenberg:
        text = split_gutenberg(text).text
    if not text.strip():
        raise CorpusError(
            f"could not download {name!r} (the server sent no text; nothing was saved); {advice}"
        )
    try:
        write_atomically(dest, text.encode("utf-8"))
    except OSError as err:
        raise CorpusError(
            f"could not save {name!r} to {dest} ({err.strerror or err}); free some space or "
            f"set RNN_TUI_CACHE_DIR to a writable folder"
        ) from None
    return Downloaded(dest, notice)

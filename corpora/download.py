"""Downloading a catalogue corpus into the cache: urllib with a timeout, a rich progress bar,
the Project Gutenberg header and footer stripped, and an atomic write, so the cache never
holds a partial file."""

from __future__ import annotations

import contextlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .decode import decode_bytes
from .errors import CorpusError
from .gutenberg import strip_gutenberg
from .progress import ProgressBar

TIMEOUT_ENV = "RNN_TUI_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds without a byte from the server before giving up
CHUNK_BYTES = 1 << 16
PROGRESS_DELAY = 0.5  # seconds before a download shows its bar
USER_AGENT = "rnn-tui/0.1 (corpus download; Python urllib)"


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


def fetch(url: str, *, timeout: float, progress: bool, description: str) -> bytearray:
    """The body at `url`, complete or not at all; _Failed with a short reason otherwise."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            body = bytearray()
            with ProgressBar(
                description, expected, enabled=progress, delay=PROGRESS_DELAY, in_bytes=True
            ) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    body += chunk
                    bar.advance(len(chunk))
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
    return body


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder, fsync and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
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


def download(
    url: str,
    dest: Path,
    *,
    name: str,
    timeout: float | None = None,
    progress: bool = False,
    gutenberg: bool = False,
) -> Path:
    """Download `url` to `dest` as UTF-8 text; CorpusError and no file written if it fails.

    With `gutenberg` the Project Gutenberg header and footer are stripped first. `timeout` is
    the seconds to wait for each answer from the server (default: default_timeout()).
    """
    advice = (
        f"pass a text file instead: rnn-tui path/to/file.txt, or set RNN_TUI_CORPUS_DIR to a "
        f"folder holding {dest.name}"
    )
    seconds = default_timeout() if timeout is None else timeout
    try:
        data = fetch(url, timeout=seconds, progress=progress, description=f"downloading {name}")
    except _Failed as err:
        raise CorpusError(f"could not download {name!r} ({err}); {advice}") from None
    try:
        text = decode_bytes(data, f"the download of {name!r}")
    except CorpusError as err:
        raise CorpusError(
            f"could not download {name!r} (the server sent no usable text: {err.reason}; "
            f"nothing was saved); {advice}"
        ) from None
    if gutenberg:
        text = strip_gutenberg(text)
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
    return dest

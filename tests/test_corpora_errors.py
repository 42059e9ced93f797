"""Every way load_corpus refuses input, each with its one-line message checked."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import unprivileged

from rnn_tui.corpora import CorpusError, load_corpus
from rnn_tui.corpora import files as corpora_files

CATALOGUE = "Catalogue: kafka, python, shakespeare"


# the real cache, local folder and network stay out of reach (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("isolated_corpora")


def load_error(spec: str | os.PathLike[str], **options: object) -> str:
    """The message of the CorpusError that loading `spec` raises (it must raise one)."""
    with pytest.raises(CorpusError) as info:
        load_corpus(spec, **options)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message, f"error message is not one line: {message!r}"
    return message


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_missing_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.txt"
    message = load_error(str(missing))
    assert message.startswith(f"no such file or directory: '{missing}'"), message
    assert "check the path" in message and "kafka, python, shakespeare" in message, message


def test_missing_path_in_a_missing_folder_says_so(tmp_path: Path) -> None:
    message = load_error(str(tmp_path / "nope" / "book.txt"))
    assert f"there is no folder '{tmp_path / 'nope'}'" in message, message


def test_missing_path_suggests_a_similar_file(tmp_path: Path) -> None:
    write(tmp_path, "metamorphosis.txt", b"some text here\n")
    message = load_error(str(tmp_path / "metamorphosys.txt"))
    assert f"did you mean '{tmp_path / 'metamorphosis.txt'}'?" in message, message


def test_misspelt_catalogue_name_suggests_the_closest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    message = load_error("kafak")
    assert message == f"no file or corpus named 'kafak'; did you mean 'kafka'? {CATALOGUE}", message


def test_unknown_name_without_close_match_lists_the_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    message = load_error("zzyzx")
    assert message.startswith("no file or corpus named 'zzyzx'; pass a text file"), message
    assert message.endswith("kafka, python, shakespeare"), message


def test_empty_spec_is_refused() -> None:
    assert "no corpus given" in load_error("  ")


def test_directory_without_text_files(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    write(folder, "image.bin", bytes(range(256)) * 4)
    write(folder, ".notes.txt", b"hidden text\n")
    message = load_error(folder)
    assert message.startswith(f"directory '{folder}/' has no text files"), message
    assert "(skipped: 1 binary, 1 hidden)" in message, message


def test_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    message = load_error(tmp_path / "empty")
    assert "has no text files (it holds no files)" in message, message


def test_unreadable_file_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.txt", b"classified text\n")

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    # Tests may run as root, which chmod cannot lock out; make open() refuse instead.
    monkeypatch.setattr(corpora_files, "open", deny, raising=False)
    message = load_error(path)
    assert message.startswith(f"cannot read '{path}': permission denied"), message
    assert "chmod" in message, message


def test_unreadable_file_with_real_permissions(tmp_path: Path) -> None:
    """A chmod 000 file, read by a process that obeys permissions (root without its override)."""
    path = write(tmp_path, "secret.txt", b"classified text\n")
    path.chmod(0)
    script = (
        "import sys\nfrom rnn_tui.corpora import CorpusError, load_corpus\n"
        "try:\n    load_corpus(sys.argv[1])\nexcept CorpusError as exc:\n    print(exc)\n"
    )
    try:
        result = subprocess.run(
            [*unprivileged(), sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        path.chmod(0o644)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"cannot read '{path}': permission denied"), result.stdout


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.txt", b"")
    message = load_error(path)
    assert message == (f"'{path}' is empty (0 bytes); pass a text file with something in it"), (
        message
    )


def test_file_with_only_a_bom_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.txt", codecs.BOM_UTF8)
    assert "is empty (no characters after decoding)" in load_error(path)


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = write(tmp_path, "blank.txt", b"  \n\t\n   \r\n")
    message = load_error(path)
    assert message.startswith(f"'{path}' contains only whitespace"), message


def test_single_distinct_character(tmp_path: Path) -> None:
    path = write(tmp_path, "aaa.txt", b"a" * 500)
    message = load_error(path)
    assert message.startswith(f"'{path}' has only one distinct character ('a')"), message
    assert "at least two" in message, message


def test_shorter_than_one_training_window(tmp_path: Path) -> None:
    path = write(tmp_path, "short.txt", b"hello world")
    message = load_error(path, min_length=26)
    assert message == (
        f"'{path}' has 11 characters, fewer than one training window (26 characters); "
        "use a longer text or a smaller --seq-length"
    ), message
    assert load_corpus(path, min_length=11).num_chars == 11, "exactly min_length must pass"


def test_builtin_corpus_also_checks_the_training_window() -> None:
    message = load_error("python", min_length=10**9)
    assert "fewer than one training window" in message, message


def test_binary_file_with_nul_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "program.exe", b"MZ\x90\x00\x03\x00text")
    message = load_error(path)
    assert message == (
        f"'{path}' looks like a binary file (it contains NUL bytes, the first at offset 3); "
        "pass a plain text file"
    ), message


def test_binary_file_mostly_control_bytes(tmp_path: Path) -> None:
    data = bytes(range(1, 32)) * 40 + b"some words " * 10
    path = write(tmp_path, "blob.dat", data)
    message = load_error(path)
    assert "looks like a binary file" in message and "are not text" in message, message


def test_invalid_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.txt", b"first line\ncaf\xe9 au lait\n")
    message = load_error(path)
    assert message == (
        f"'{path}' is not valid UTF-8 (byte 0xe9 at offset 14, line 2); if it is Latin-1 or "
        "Windows text, pass --encoding latin-1 (or cp1252)"
    ), message


def test_invalid_utf8_offset_counts_the_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.txt", codecs.BOM_UTF8 + b"ab\xff")
    assert "byte 0xff at offset 5" in load_error(path)


def test_unknown_encoding_name(tmp_path: Path) -> None:
    path = write(tmp_path, "text.txt", b"plain text\n")
    message = load_error(path, encoding="klingon")
    assert message.startswith("unknown encoding 'klingon' given to --encoding;"), message
    assert "latin-1" in message, message


def test_unknown_encoding_is_reported_before_the_path_is_looked_at(tmp_path: Path) -> None:
    assert "unknown encoding" in load_error(str(tmp_path / "missing.txt"), encoding="klingon")


def test_non_text_codec_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "text.txt", b"plain text\n")
    assert "is not a text encoding" in load_error(path, encoding="rot13")


def test_wrong_explicit_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "text.txt", "café\n".encode())
    message = load_error(path, encoding="ascii")
    assert message.startswith(f"'{path}' cannot be decoded as ascii (byte 0xc3 at offset 3"), (
        message
    )


def test_failed_loads_write_nothing(tmp_path: Path) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    for spec in ("kafak", str(tmp_path / "missing.txt")):
        load_error(spec)
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "a failed load wrote files"


def test_cyrillic_8bit_text_is_not_called_binary(tmp_path: Path) -> None:
    path = write(tmp_path, "russian.txt", "Привет, мир! Как дела?\n".encode("cp1251"))
    message = load_error(path)
    assert "is not valid UTF-8" in message and "--encoding" in message, message
    assert load_corpus(path, encoding="cp1251").text == "Привет, мир! Как дела?\n"

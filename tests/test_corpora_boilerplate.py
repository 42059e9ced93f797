"""Project Gutenberg boilerplate in any file, and a validation slice unlike the training text.

`rnn-tui kafka.txt` used to validate on the licence: the shared kafka.txt ends with 19,000
characters of it, the whole of the last 10%. Now a licence header and footer are removed from
any file (a notice says how much, `keep_boilerplate=True` keeps them) and the x-ray warns when
the held-out slice differs strongly from the rest in its characters, whatever the corpus.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from rnn_tui.corpora import Corpus, load_corpus, xray
from rnn_tui.corpora.builtin import load_builtin
from rnn_tui.corpora.xray import VAL_SHIFT_BITS, validation_shift

pytestmark = pytest.mark.usefixtures("isolated_corpora")

HEADER = (
    "The Project Gutenberg eBook of A Made-Up Book\n\nThis ebook is for the use of anyone "
    "anywhere in the United States and most other parts of the world at no cost.\n\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK A MADE-UP BOOK ***\n\n\n"
)
BODY = "A Made-Up Book\n\nChapter 1\n\nIt was a dark and stormy night; the rain fell in torrents.\n"
FOOTER = (
    "\n\n*** END OF THE PROJECT GUTENBERG EBOOK A MADE-UP BOOK ***\n\nUpdated editions will "
    "replace the previous one--the old editions will be renamed.\n"
)


def shared(corpora_dir: Path, name: str) -> Path:
    path = corpora_dir / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def kept_lines(raw: str) -> tuple[str, str]:
    """The story's first and last lines, found here without the loader's code: the first
    non-blank line after the START marker (or the file's start), the last non-blank line before
    the END marker and the "End of the Project Gutenberg EBook" line that older files put
    before it."""
    lines = raw.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("*** START OF")]
    first = next(line for line in lines[(starts[0] + 1 if starts else 0) :] if line.strip())
    end = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("*** END OF") or line.lower().startswith("end of the project gutenberg")
    )
    last = next(line for line in reversed(lines[:end]) if line.strip())
    return first, last


def test_kafka_loses_its_licence_and_starts_at_the_storys_first_line(corpora_dir):
    path = shared(corpora_dir, "kafka.txt")
    raw = path.read_text(encoding="utf-8")
    first, last = kept_lines(raw)
    assert first.startswith("One morning, when Gregor Samsa woke")
    corpus = load_corpus(path)
    assert corpus.text.startswith(first)
    assert corpus.text.endswith(last + "\n")
    assert "Gutenberg" not in corpus.text and "LICENSE" not in corpus.text
    # what was cut, counted here independently: before the first line, after the last one
    stop = min(
        i for i in (raw.find("*** END OF"), raw.find("End of the Project Gutenberg")) if i >= 0
    )
    cut_start = raw.index(first)
    cut_end = len(raw) - (raw.rindex(last, 0, stop) + len(last))
    assert corpus.boilerplate == (cut_start, cut_end)
    assert corpus.boilerplate[1] > 18_000  # the licence: the whole of the last 10% and more
    (notice,) = corpus.notices
    assert notice == (
        f"removed the Project Gutenberg licence footer ({cut_end:,} characters); "
        "pass --keep-boilerplate to keep it"
    )


def test_keep_boilerplate_keeps_the_file_as_it_is(corpora_dir):
    path = shared(corpora_dir, "kafka.txt")
    corpus = load_corpus(path, keep_boilerplate=True)
    assert corpus.text == path.read_text(encoding="utf-8")
    assert corpus.notices == () and corpus.boilerplate == (0, 0)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_header_and_a_footer_are_both_removed_and_counted(newline, tmp_path):
    raw = (HEADER + BODY + FOOTER).replace("\n", newline)
    path = tmp_path / "book.txt"
    path.write_bytes(raw.encode("utf-8"))
    corpus = load_corpus(path)
    assert corpus.text == BODY
    start = raw.index("A Made-Up Book" + newline + newline + "Chapter")
    end = len(raw) - (raw.index("torrents.") + len("torrents."))
    assert corpus.boilerplate == (start, end)
    assert corpus.notices == (
        f"removed the Project Gutenberg licence header ({start:,} characters) and footer "
        f"({end:,} characters); pass --keep-boilerplate to keep them",
    )
    assert load_corpus(path, keep_newlines=True).text == BODY.replace("\n", newline)
    assert load_corpus(path, keep_boilerplate=True).text == HEADER + BODY + FOOTER


@pytest.mark.parametrize(
    "text",
    [
        "A text about Project Gutenberg, which mentions\n*** its markers *** but has none.\n",
        '    "*** START OF THE PROJECT GUTENBERG EBOOK X ***"  # quoted in source code\n' * 3,
        HEADER + "\n\n" + FOOTER,  # markers with nothing between them: leave it alone
    ],
    ids=["mentions-gutenberg", "quoted-marker", "nothing-between-markers"],
)
def test_a_file_without_a_book_between_markers_is_untouched(text, tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text(text, encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.text == text
    assert corpus.notices == () and corpus.boilerplate == (0, 0)


def test_tinyshakespeare_is_untouched(corpora_dir):
    path = shared(corpora_dir, "tinyshakespeare.txt")
    corpus = load_corpus(path)
    assert corpus.text == path.read_text(encoding="utf-8") and corpus.notices == ()


def test_every_book_in_a_folder_is_stripped_with_one_notice(tmp_path):
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "a.txt").write_text(HEADER + BODY + FOOTER)
    (folder / "b.txt").write_text(HEADER + BODY.upper() + FOOTER)
    (folder / "c.txt").write_text("plain notes\n")
    corpus = load_corpus(folder)
    assert corpus.text == "\n".join([BODY, BODY.upper(), "plain notes\n"])
    (notice,) = corpus.notices
    assert "licence header" in notice and "of 2 files" in notice and "them" in notice, notice
    assert load_corpus(folder, keep_boilerplate=True).notices == ()


def test_a_catalogue_file_in_the_local_folder_honours_keep_boilerplate(tmp_path):
    (tmp_path / "kafka.txt").write_text(HEADER + BODY + FOOTER)
    assert load_corpus("kafka", corpus_dir=str(tmp_path)).text == BODY
    kept = load_corpus("kafka", corpus_dir=str(tmp_path), keep_boilerplate=True)
    assert kept.text == HEADER + BODY + FOOTER


# -- the x-ray: a validation slice unlike the training text --------------------------------------


def warnings(corpus: Corpus, **options) -> list[str]:
    lines = xray(corpus, **options)
    assert all("\n" not in line for line in lines)
    return [line for line in lines if line.startswith("warning: the validation text")]


def test_the_warning_fires_on_kafka_with_its_licence_and_not_without(corpora_dir):
    path = shared(corpora_dir, "kafka.txt")
    (line,) = warnings(load_corpus(path, keep_boilerplate=True))
    assert line.startswith("warning: the validation text (the last 10%) is unlike the rest"), line
    assert "licence" in line and "--val-fraction" in line, line
    assert warnings(load_corpus(path)) == []


def test_no_warning_on_tinyshakespeare_or_the_builtin_corpus(corpora_dir):
    assert warnings(load_corpus(shared(corpora_dir, "tinyshakespeare.txt"))) == []
    assert warnings(load_builtin()) == []


def test_the_calibration_margins_hold(corpora_dir):
    """The threshold sits well between the clean corpora and kafka with its licence."""
    kafka = shared(corpora_dir, "kafka.txt")
    with_licence = load_corpus(kafka, keep_boilerplate=True)
    clean = [load_corpus(kafka), load_corpus(shared(corpora_dir, "tinyshakespeare.txt"))]
    assert validation_shift(with_licence.text, with_licence.char_counts, 0.1) > 2 * VAL_SHIFT_BITS
    for corpus in clean:
        assert validation_shift(corpus.text, corpus.char_counts, 0.1) < VAL_SHIFT_BITS / 2


def sentences(rng: random.Random, alphabet: str, chars: int) -> str:
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(2, 8))) for _ in range(300)]
    out, size = [], 0
    while size < chars:
        word = rng.choice(words) + rng.choice("  \n")
        out.append(word)
        size += len(word)
    return "".join(out)[:chars]


def make(text: str) -> Corpus:
    return Corpus(text=text, name="t.txt", source="/tmp/t.txt", size_bytes=len(text))


@pytest.mark.parametrize("seed", range(5))
def test_a_planted_shift_warns_and_the_same_source_does_not(seed):
    rng = random.Random(seed)
    same = sentences(rng, "etaoinshrdlu", 50_000)
    assert warnings(make(same)) == []
    shifted = sentences(rng, "etaoinshrdlu", 45_000) + sentences(rng, "0123456789{}();=", 5_000)
    (line,) = warnings(make(shifted))
    shift = float(re.search(r"\(([\d.]+) bits/char apart", line).group(1))
    assert shift > VAL_SHIFT_BITS


def test_val_fraction_decides_which_slice_is_compared():
    rng = random.Random(7)
    text = sentences(rng, "etaoinshrdlu", 95_000) + sentences(rng, "XYZ#@!", 5_000)
    (line,) = warnings(make(text), val_fraction=0.05)
    assert "(the last 5%)" in line
    assert warnings(make(text), val_fraction=0.0) == []  # no validation slice: nothing to say


def test_a_validation_slice_too_short_to_judge_gives_no_warning():
    text = "abc " * 2000 + "XYZ!" * 100  # 400 different characters at the end: too few
    assert warnings(make(text), val_fraction=0.05) == []

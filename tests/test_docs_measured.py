"""The measured blocks of README.md and docs/*.md say where their numbers come from, and
bench/refresh_docs.py can rewrite each of them (without running a benchmark here)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def load_refresh_docs():
    sys.path.insert(0, str(REPO_ROOT / "bench"))  # it imports benchlib, as benchmarks do
    try:
        spec = importlib.util.spec_from_file_location(
            "refresh_docs", REPO_ROOT / "bench" / "refresh_docs.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["refresh_docs"] = module  # (dataclasses look their module up there)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO_ROOT / "bench"))


refresh = load_refresh_docs()


def blocks() -> list[tuple[str, str, str]]:
    """(page, benchmark name, body) of every measured block."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert text.count("<!-- measured:") == text.count(refresh.END), f"unclosed block in {page}"
        for match in refresh.BLOCK.finditer(text):
            found.append((str(page.relative_to(REPO_ROOT)), match["name"], match["body"]))
    return found


def test_every_benchmark_has_its_block_and_every_block_a_benchmark():
    names = {b.name: set(b.pages) for b in refresh.BENCHMARKS}
    seen = {(page, name) for page, name, _ in blocks()}
    assert {name for _, name in seen} <= set(names), "a block names no benchmark of refresh_docs"
    for name, pages in names.items():
        assert {(page, name) for page in pages} <= seen, f"{name}: block missing from {pages}"


@pytest.mark.parametrize(("page", "name", "body"), blocks(), ids=lambda x: str(x)[:30])
def test_a_block_names_its_command_commit_and_date(page, name, body):
    first = body.split("\n\n")[0]
    assert re.match(r"(Last m|M)easured by `python bench/", first), first
    assert re.search(r"commit\s+`[0-9a-f]{7,}", first), first
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", first), first


def run(outputs: list[str]):
    return refresh.Run(outputs, "abc1234 + uncommitted changes", "2026-12-02 06:00 UTC", 1.0, 2.0)


def test_a_rewrite_changes_only_the_named_block():
    text = (
        "before\n<!-- measured: classic -->\nold numbers\n<!-- end measured -->\nbetween\n"
        "<!-- measured: floor -->\nfloor numbers\n<!-- end measured -->\nafter\n"
    )
    classic = next(b for b in refresh.BENCHMARKS if b.name == "classic")
    new = refresh.rewrite(text, classic, run(["ratio 3.30x\n"]), "page.md")
    assert new.startswith("before\n<!-- measured: classic -->\nMeasured by `python bench/")
    assert "commit `abc1234 + uncommitted changes` on 2026-12-02 06:00 UTC" in new
    assert "```\nratio 3.30x\n```\n<!-- end measured -->\nbetween\n" in new
    assert new.endswith("<!-- measured: floor -->\nfloor numbers\n<!-- end measured -->\nafter\n")
    with pytest.raises(SystemExit, match="no <!-- measured: classic -->"):
        refresh.rewrite("no blocks here\n", classic, run(["x"]), "page.md")


def test_the_presets_table_keeps_the_model_column_and_bolds_the_best():
    old = "| preset | model | speed | 5-minute quality |\n|---|---|---:|---:|\n" + "".join(
        f"| `{name}` | the {name} model | ~1k chars/s | 9.000 nats/char |\n"
        for name in refresh.PRESETS
    )
    losses = {"classic": 1.95, "small": 1.74, "lstm": 1.4912, "gru": 1.4899}
    outputs = [
        json.dumps({"preset": name, "chars_per_s": 16_049 + i, "val_loss_nats": losses[name]})
        for i, name in enumerate(refresh.PRESETS)
    ]
    table = refresh.presets_table(run(outputs), old).splitlines()
    assert table[2] == "| `classic` | the classic model | ~16k chars/s | 1.950 nats/char |"
    assert table[5] == "| `gru` | the gru model | ~16k chars/s | **1.490 nats/char** |"
    assert table[4].endswith("| 1.491 nats/char |")

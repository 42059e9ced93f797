"""The README tells the truth about the command: every option it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from rnn_tui.tui.cli import SUBCOMMANDS

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOL_FLAGS = {"--check"}  # `ruff format --check`, named in the development section


def known_flags() -> set[str]:
    flags = set()
    for module in SUBCOMMANDS.values():
        for action in module.parser()._actions:
            flags.update(option for option in action.option_strings if option.startswith("--"))
    return flags


BENCHMARK_COMMANDS = re.compile(r"`python bench/[^`]*`")  # their options are the benchmarks'


def test_every_option_the_readme_names_is_an_option_of_rnn_tui():
    readme = BENCHMARK_COMMANDS.sub("", (REPO_ROOT / "README.md").read_text())
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", readme))
    unknown = sorted(named - known_flags() - TOOL_FLAGS)
    assert not unknown, f"README names options rnn-tui does not have: {unknown}"

"""Command-line options generated from the settings declared on engine.config.Config.

Each setting becomes `--name-with-dashes` (or its declared flag) with its help, range and
default shown, parsed by the same `engine.config.parse` the dashboard's inputs use, so a value
is accepted or refused with the same message in both places.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from rnn_tui.engine.config import PRESETS, SETTINGS, TYPES, ConfigError, parse


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (no usage dump) through UsageError."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def flag(name: str) -> str:
    """The command-line spelling of a setting."""
    return SETTINGS[name].flag or "--" + name.replace("_", "-")


def _value_parser(name: str):
    def parse_option(text: str) -> Any:
        try:
            return parse(name, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse_option.__name__ = name  # argparse names the type in some messages
    return parse_option


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting_help(name: str) -> str:
    """'hidden units per layer; 1 to 8192; default 100 (small 128, lstm 256, gru 256)'."""
    spec = SETTINGS[name]
    parts = [spec.help]
    allowed = spec.describe_range()
    if allowed and not spec.choices:  # argparse lists the choices itself
        parts.append(allowed)
    classic = getattr(PRESETS["classic"], name)
    others = [
        f"{preset} {_shown(getattr(config, name))}"
        for preset, config in PRESETS.items()
        if preset != "classic" and getattr(config, name) != classic
    ]
    default = f"default {_shown(classic)}" + (f" ({', '.join(others)})" if others else "")
    parts.append(default)
    if spec.live:
        parts.append("live")
    return "; ".join(parts).replace("%", "%%")


def add_settings(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """One option per setting (all of them by default), defaulting to None (= the preset's)."""
    group = parser.add_argument_group(
        "settings", "each defaults to the preset's value; 'live' ones also change while training"
    )
    for name in names or SETTINGS:
        spec = SETTINGS[name]
        options: dict[str, Any] = {"dest": name, "default": None, "help": setting_help(name)}
        if spec.choices:
            options["choices"] = spec.choices
        else:
            options["type"] = _value_parser(name)
            options["metavar"] = "N" if TYPES[name] is int else "X"
        group.add_argument(flag(name), **options)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line set explicitly."""
    return {name: getattr(args, name) for name in SETTINGS if getattr(args, name, None) is not None}


def add_text_options(parser: argparse.ArgumentParser) -> None:
    """How to read the corpus: the same options for every subcommand that reads one, so a text
    read by `lr-find` or `baselines` is the text a run trains on."""
    text = parser.add_argument_group("the text")
    text.add_argument("--encoding", help="text encoding of the corpus (default utf-8)")
    text.add_argument(
        "--keep-newlines", action="store_true", help="keep CRLF/CR line endings as they are"
    )
    text.add_argument(
        "--keep-boilerplate",
        action="store_true",
        help="keep a Project Gutenberg licence header and footer (removed by default)",
    )
    text.add_argument(
        "--corpus-dir",
        metavar="DIR",
        help="local folder with catalogue texts (or RNN_TUI_CORPUS_DIR)",
    )


def text_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of add_text_options as keyword arguments of corpora.load_corpus."""
    return {
        "encoding": args.encoding,
        "keep_newlines": args.keep_newlines,
        "keep_boilerplate": args.keep_boilerplate,
        "corpus_dir": args.corpus_dir,
    }

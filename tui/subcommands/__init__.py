"""The subcommands of `rnn-tui`, one module each: a parser and a `main(argv) -> exit status`."""

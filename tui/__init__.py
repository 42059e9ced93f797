"""rnn-tui's Textual front end: the dashboard app, its screens, widgets and the console script."""

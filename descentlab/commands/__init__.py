"""One module per ``descentlab`` subcommand; see :mod:`descentlab.cli`."""

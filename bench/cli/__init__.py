"""The ``robarena`` command line: one module per subcommand."""

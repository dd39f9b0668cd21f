"""One module per ``spinebq`` subcommand.

Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. The
command line finds them here by name, so a new command is one new file.
"""

"""Exceptions and warnings that spinebq raises.

A :class:`SpinebqError` means the user's input cannot be used; its message is one sentence that names
the file or argument and what is wrong. The command line prints it and exits with code 2.
"""


class SpinebqError(ValueError):
    """Input spinebq cannot use (bad file, wrong geometry, missing data); the message says why."""


class SpinebqWarning(UserWarning):
    """Something the user should know about a result that was still produced."""

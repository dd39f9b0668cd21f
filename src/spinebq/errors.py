"""Exceptions and warnings that spinebq raises.

A :class:`SpinebqError` means the user's input cannot be used; its message is one sentence that names
the file or argument and what is wrong. The command line prints it and exits with code 2.

Library messages name an option by its parameter name through :func:`option` (``option `metal_hu```); the command
line shows each as its flag (``--metal-hu``), so no library module knows the flags.
"""
import re

#: How :func:`option` writes an option's parameter name into a message.
OPTION_IN_MESSAGE = re.compile(r"option `(\w+)`")


def option(parameter: str) -> str:
    """An option named in a message by its parameter name, e.g. ``option `overwrite```.

    >>> option("metal_hu")
    'option `metal_hu`'
    """
    return f"option `{parameter}`"


class SpinebqError(ValueError):
    """Input spinebq cannot use (bad file, wrong geometry, missing data); the message says why."""


class NotAnImageError(SpinebqError):
    """A file found where an image was looked for holds something else (a label map); the batch skips its study."""


class OptionError(SpinebqError):
    """An option value spinebq cannot use.

    Library code names the option by its parameter name (``metal_hu``); the command line maps it to its flag
    (``--metal-hu``).

    Attributes
    ----------
    parameter : str
        The option's parameter name.
    reason : str
        What is wrong with its value, one sentence.
    """

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


class SpinebqWarning(UserWarning):
    """Something the user should know about a result that was still produced."""

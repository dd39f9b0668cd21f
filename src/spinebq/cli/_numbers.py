"""argparse type functions that range-check a number before any file is read (``type=number(0, 10)``)."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def number(low: float | None = None, high: float | None = None, *, integer: bool = False,
           above: bool = False) -> Callable[[str], float | int]:
    """A type function accepting a finite number within ``[low, high]`` (``(low, high]`` with ``above``).

    Examples
    --------
    >>> number(0, 10)("2.5"), number(1, 64, integer=True)("4")
    (2.5, 4)
    >>> number(0, 10, above=True)("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: 0 is not a number above 0 and up to 10
    """
    def text() -> str:
        kind = "a whole number" if integer else "a number"
        if low is not None and high is not None:
            return f"{kind} {'above' if above else 'from'} {low:.10g} {'and up to' if above else 'to'} {high:.10g}"
        if low is not None:
            return f"{kind} {'above' if above else 'of at least'} {low:g}"
        return f"{kind} up to {high:g}" if high is not None else kind

    def convert(value: str) -> float | int:
        try:
            parsed = int(value) if integer else float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not {text()}") from None
        if not math.isfinite(parsed) or (low is not None and (parsed <= low if above else parsed < low)) or (
                high is not None and parsed > high):
            raise argparse.ArgumentTypeError(f"{value} is not {text()}")
        return parsed

    convert.__name__ = "number"
    return convert

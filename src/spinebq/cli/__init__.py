"""The ``spinebq`` command: one entry point here, one subcommand per module of this package.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` (parse, one pipeline
call, write, print); the command line finds them by name, so a new command is one new file. Modules whose name starts
with ``_`` are helpers, not commands.

Exit codes: 0 success, 1 unexpected internal error, 2 unusable input (one sentence on stderr), 141 (128 + SIGPIPE,
as a Unix tool killed by it) when the reader of the output went away (``spinebq models | head -1``), without a word.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import pkgutil
import sys
import traceback
import warnings
from collections.abc import Sequence

from spinebq import __version__
from spinebq.errors import OPTION_IN_MESSAGE, OptionError, SpinebqError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141


#: Loggers of libraries whose raw messages never reach the terminal (shown with --debug).
LIBRARY_LOGGERS = ("nibabel", "pydicom", "highdicom", "PIL", "matplotlib", "distributed", "SimpleITK")


def _warning_printer(command: str, debug: bool):
    """``warnings.showwarning`` for a run: spinebq's own warnings as one line, library warnings only with --debug."""
    from spinebq.errors import SpinebqWarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if issubclass(category, SpinebqWarning):
            print(f"spinebq {command}: warning: {text}", file=sys.stderr)
        elif debug:
            print(f"spinebq {command}: debug: {category.__name__} from {filename}:{lineno}: {text}", file=sys.stderr)

    return show


def _command_modules() -> list:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def _flag(args: argparse.Namespace, parameter: str) -> str:
    """The command-line flag of a library parameter name (``metal_hu`` -> ``--metal-hu``)."""
    return args._flags.get(parameter, "--" + parameter.replace("_", "-"))


def _with_flags(args: argparse.Namespace, message) -> str:
    """A library message on one line, each option it names (:func:`spinebq.errors.option`) shown as its flag."""
    return OPTION_IN_MESSAGE.sub(lambda match: _flag(args, match[1]), " ".join(str(message).split()))


class UsageError(Exception):
    """A command line argparse refuses: printed as one sentence, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the usage and exit: one sentence, returned as code 2
        raise UsageError(f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand registered."""
    parser = _Parser(
        prog="spinebq",
        description="Spine bone quality from routine CT and MRI. Research use only, not a medical device.",
    )
    parser.add_argument("--version", action="version", version=f"spinebq {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        inputs = getattr(module, "INPUTS", None)
        if inputs is not None:  # a command that writes a folder through spinebq.io.output.staged
            p.add_argument("--overwrite", action="store_true", help="replace results of another input in --out "
                           "(this command's previous files there are removed first), and files of the same names "
                           "that spinebq did not write or that were changed since")
        p.set_defaults(_run=module.run, _flags=getattr(module, "FLAGS", {}), _inputs=tuple(inputs or ()), _parser=p)
    return parser


def _unrecognized(command_parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """The command's refusal of arguments it does not take, with the nearest option for a misspelt one."""
    options = [name for action in command_parser._actions for name in action.option_strings]
    words = []
    for word in extra:
        near = difflib.get_close_matches(word.split("=")[0], options, n=1) if word.startswith("-") else []
        words.append(f"{word} (did you mean {near[0]}?)" if near else word)
    return (f"{command_parser.prog}: error: unrecognized argument{'s' if len(extra) > 1 else ''}: {', '.join(words)} "
            f"(see {command_parser.prog} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``spinebq`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Standard output is flushed here, so a reader that closed it (``| head -1``) ends the run quietly with
    :data:`EXIT_BROKEN_PIPE` instead of an error at the interpreter's exit.
    """
    try:
        try:
            return _main(argv)
        finally:  # also after argparse's --help, which exits
            sys.stdout.flush()
    except BrokenPipeError:
        try:  # the interpreter flushes stdout again at exit: give it somewhere to write
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor (an in-process test's capture)
            pass
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            raise UsageError(_unrecognized(getattr(args, "_parser", parser), extra))
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")
    for library in LIBRARY_LOGGERS:  # their messages are shown with --debug only; spinebq says what matters
        logging.getLogger(library).setLevel(logging.DEBUG if args.debug else logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _warning_printer(args.command, args.debug)
            if args._inputs and getattr(args, "out", None):
                from spinebq.io.output import check_output

                check_output(args.out, args.command, {name: getattr(args, name, None) for name in args._inputs},
                             overwrite=args.overwrite)
            return int(args._run(args) or EXIT_OK)
    except OptionError as exc:
        print(f"spinebq {args.command}: error: {_flag(args, exc.parameter)}: {_with_flags(args, exc.reason)}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except SpinebqError as exc:
        print(f"spinebq {args.command}: error: {_with_flags(args, exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"spinebq {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away: not an internal error (see main)
        raise
    except Exception as exc:  # an internal error: one line, the traceback only with --debug
        if args.debug:
            traceback.print_exc()
        print(
            f"spinebq {args.command}: internal error: {type(exc).__name__}: {exc} "
            f"(run again as 'spinebq --debug {args.command} ...' for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL

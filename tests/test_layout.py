"""The package's layout rules (issue 16), read from the source with :mod:`ast`.

- Only the command line (``spinebq.cli``, ``python -m spinebq``) prints or exits; library code returns records or raises.
- No private name (``_name``) is imported from another package of spinebq.
- Library messages do not name command-line flags: the CLI maps parameters to flags.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import spinebq

PACKAGE = Path(spinebq.__file__).parent
#: A command-line flag as it appears in a message (``--metal-hu``), not a ``---`` rule or an en dash.
FLAG = re.compile(r"(?<![-\w])--[a-z][a-z0-9-]+")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        yield relative, ast.parse(path.read_text(), filename=str(path))


def _in_cli(relative: Path) -> bool:
    """The command line: the ``cli`` package and ``python -m spinebq``."""
    return relative.parts[0] == "cli" or relative.name == "__main__.py"


def _package_of(relative: Path) -> str:
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_only_the_cli_prints_or_exits():
    offenders = []
    for relative, tree in _modules():
        if _in_cli(relative):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else (
                    f"{getattr(node.func.value, 'id', '')}.{node.func.attr}" if isinstance(node.func, ast.Attribute) else "")
                if name in ("print", "exit", "sys.exit", "os._exit"):
                    offenders.append(f"{relative}:{node.lineno} {name}()")
    assert not offenders, offenders


def test_no_private_name_is_imported_across_packages():
    offenders = []
    for relative, tree in _modules():
        here = _package_of(relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spinebq"):
                parts = node.module.split(".")
                there = parts[1] if len(parts) > 1 else ""
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and there != here:
                    offenders.append(f"{relative}:{node.lineno} from {node.module} import {', '.join(private)}")
    assert not offenders, offenders


def test_library_messages_name_no_command_line_flag():
    """Strings in raised errors and warnings of library code carry no ``--flag`` (docstrings and help texts aside)."""
    offenders = []
    for relative, tree in _modules():
        if _in_cli(relative):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Raise, ast.Call)) and not (
                    isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) != "warn"):
                for text in (n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)):
                    if FLAG.search(text):
                        offenders.append(f"{relative}:{node.lineno} {FLAG.search(text).group(0)}")
    assert not offenders, offenders

"""The package's one bibliography (``spinebq/data/references.json``): every cited key resolves here.

Registry entries (``paper``), screening thresholds (``reference``), the report's references section and
``docs/methods.md`` cite these keys.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

from spinebq.records.references import Reference

#: A citation in running text: ``[pickhardt2013]``.
CITATION = re.compile(r"\[([a-z][a-z0-9]*\d{4}[a-z0-9]*)\]")


@lru_cache(maxsize=1)
def load_references() -> dict[str, Reference]:
    """Every bibliography entry by key."""
    text = resources.files("spinebq").joinpath("data", "references.json").read_text(encoding="utf-8")
    return {key: Reference.from_json(key, entry) for key, entry in json.loads(text)["references"].items()}


def reference(key: str) -> Reference:
    """One entry; ``KeyError`` naming the key when the bibliography has no such entry."""
    references = load_references()
    if key not in references:
        raise KeyError(f"{key!r} is not in spinebq's bibliography (data/references.json)")
    return references[key]


def cited_keys(text: str) -> list[str]:
    """The keys cited as ``[key]`` in ``text``, in order of first appearance."""
    return list(dict.fromkeys(CITATION.findall(text)))

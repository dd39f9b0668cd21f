"""The ``>>>`` examples in the docstrings run and give what they show (issue 16: doctests on)."""
from __future__ import annotations

import doctest
import importlib

import pytest

#: Modules whose docstrings hold examples; add a module here when it gains one.
MODULES = ("spinebq.anatomy", "spinebq.risk.values", "spinebq.report.files", "spinebq.report.quantities",
           "spinebq.vocabulary", "spinebq.segment.ct.ribs", "spinebq.image.border", "spinebq.segment.ct.preview",
           "spinebq.measure.mri.muscle")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name} (run python -m doctest -v)"

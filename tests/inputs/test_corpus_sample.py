"""A quick sample of the malformed-input corpus, each run as a user runs spinebq (a subprocess with a 60 s limit):
no internal error, no hang, nothing half-written, no input changed, one sentence naming the file. The whole corpus
(>= 300 cases) is run by hand: ``PYTHONPATH=src python tests/malformed_corpus.py``."""
from __future__ import annotations

import pytest

from tests.conftest import need
from tests.inputs.malformed import TS, run_case, sample_corpus


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    need(TS / "ct.nii.gz")
    return sample_corpus(tmp_path_factory.mktemp("corpus"))


def test_sample_of_the_corpus(sample):
    assert len(sample) >= 8 and len({c.klass for c in sample}) >= 6
    outcomes = [run_case(case) for case in sample]
    problems = {o.case.name: o.problems for o in outcomes if o.problems}
    assert problems == {}
    assert all(o.code == 2 for o in outcomes)

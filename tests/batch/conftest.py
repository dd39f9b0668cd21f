"""Fixtures of the batch tests: the PACS-export test tree, built once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.batch.dicom_tree import build_dicom_tree


@pytest.fixture(scope="session")
def dicom_tree(tmp_path_factory) -> tuple[Path, dict]:
    """``(root, expected)``: the tree of :func:`tests.batch.dicom_tree.build_dicom_tree` and what discovery must find.

    Shared by every test of the session: copy it (``dicom_tree.copy_tree``) before changing anything in it.
    """
    root = tmp_path_factory.mktemp("dicom_tree") / "export"
    return root, build_dicom_tree(root)

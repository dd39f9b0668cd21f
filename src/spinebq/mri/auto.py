"""Automatic vertebral-body and canal detection on a sagittal T1 (image analysis, no downloaded weights)."""
from __future__ import annotations

from spinebq.errors import SpinebqError


def detect_vertebrae(image, *, path="image"):
    raise SpinebqError(f"{path}: automatic detection is not available yet; give --labels or --points")

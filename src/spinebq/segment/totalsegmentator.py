"""Optional backend: TotalSegmentator's Python API, only when it is installed with its weights present.

spinebq never downloads anything: without the package or without the weights on disk, one clear
:class:`~spinebq.errors.OptionError` sentence says what is missing. Its ``total`` output is
translated into VerSe ids with :func:`spinebq.io.labels.load_labels`.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from spinebq.errors import OptionError, SpinebqError
from spinebq.image.volume import Volume
from spinebq.io.volume import save_nifti


def weights_dir() -> Path:
    """Where TotalSegmentator keeps its weights (``TOTALSEG_WEIGHTS_PATH`` or ``TOTALSEG_HOME_DIR``/nnunet/results)."""
    if os.environ.get("TOTALSEG_WEIGHTS_PATH"):
        return Path(os.environ["TOTALSEG_WEIGHTS_PATH"])
    home = Path(os.environ.get("TOTALSEG_HOME_DIR", Path.home() / ".totalsegmentator"))
    return home / "nnunet" / "results"


def check_available() -> None:
    """Raise :class:`~spinebq.errors.OptionError` (``segmenter``) unless TotalSegmentator can run here without downloading."""
    try:
        import totalsegmentator.python_api  # noqa: F401
    except Exception:
        raise OptionError("segmenter", "TotalSegmentator is not installed (pip install 'spinebq[totalsegmentator]'); "
                          "use the builtin segmenter") from None
    wd = weights_dir()
    if not wd.is_dir() or not any(p.name.startswith("Dataset") for p in wd.iterdir()):
        raise OptionError("segmenter", f"no TotalSegmentator weights in {wd}; spinebq never downloads them, copy them "
                          "there (or set TOTALSEG_WEIGHTS_PATH) or use the builtin segmenter")


def segment_with_totalsegmentator(ct: Volume) -> Volume:
    """Run TotalSegmentator ``total`` (spine classes) on ``ct`` and return VerSe ids on its grid."""
    check_available()
    from totalsegmentator.python_api import totalsegmentator

    from spinebq.io.labels import load_labels

    os.environ.setdefault("TOTALSEG_DISABLE_HTTP1", "1")
    with tempfile.TemporaryDirectory() as tmp:
        src = save_nifti(ct, Path(tmp) / "ct.nii.gz")
        out = Path(tmp) / "total.nii.gz"
        roi = [f"vertebrae_{n}" for n in ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")] + ["sacrum"]
        try:
            totalsegmentator(str(src), str(out), ml=True, roi_subset=roi, quiet=True, skip_saving=False)
        except SystemExit as exc:  # TotalSegmentator calls sys.exit on bad input
            raise SpinebqError(f"TotalSegmentator stopped: {exc}") from None
        return load_labels(out, ct, scheme="total")

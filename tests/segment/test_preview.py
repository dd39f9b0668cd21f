"""preview.png draws each panel the way its caption says, on the real CT and TotalSegmentator's masks.

The sagittal caption names anterior on the left: the vertebral bodies must lie left of the posterior elements.
The coronal caption names the patient's right on the left: the right iliopsoas must lie left of the left one.
The planes checked are the ones :func:`write_preview` draws (:func:`preview_planes`), through the same centre.
"""
from __future__ import annotations

import numpy as np

from spinebq.segment.ct.preview import CORONAL_CAPTION, SAGITTAL_CAPTION, preview_planes, spine_centre

from .conftest import DATA, need


def _mean_column(plane: np.ndarray) -> float:
    columns = np.nonzero(plane)[1]
    assert columns.size, "the structure is not in the previewed plane"
    return float(columns.mean())


def test_panels_agree_with_captions(real_ct):
    from spinebq.io.labels import load_labels
    from spinebq.io.nifti import load_nifti

    vertebrae = load_labels(need(DATA / "seg_v2" / "total.nii.gz"), real_ct, scheme="total").array
    body = load_nifti(need(DATA / "seg_v2" / "vertebrae_body.nii.gz"), dtype=None).array == 1
    psoas = {side: load_nifti(need(DATA / "seg_v1" / f"iliopsoas_{side}.nii.gz"), dtype=None).array > 0
             for side in ("right", "left")}
    centre = spine_centre(vertebrae)

    assert "anterior left" in SAGITTAL_CAPTION
    bodies = preview_planes((vertebrae > 0) & body, centre)[SAGITTAL_CAPTION]
    posterior = preview_planes((vertebrae > 0) & ~body, centre)[SAGITTAL_CAPTION]
    assert _mean_column(bodies) < _mean_column(posterior)

    assert "patient right on the left" in CORONAL_CAPTION
    right, left = (preview_planes(psoas[side], centre)[CORONAL_CAPTION] for side in ("right", "left"))
    assert _mean_column(right) < _mean_column(left)

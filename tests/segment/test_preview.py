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
    centre = spine_centre(vertebrae, real_ct.spacing_mm[2])

    assert "anterior left" in SAGITTAL_CAPTION
    bodies = preview_planes((vertebrae > 0) & body, centre)[SAGITTAL_CAPTION]
    posterior = preview_planes((vertebrae > 0) & ~body, centre)[SAGITTAL_CAPTION]
    assert _mean_column(bodies) < _mean_column(posterior)

    assert "patient right on the left" in CORONAL_CAPTION
    right, left = (preview_planes(psoas[side], centre)[CORONAL_CAPTION] for side in ("right", "left"))
    assert _mean_column(right) < _mean_column(left)

    # the coronal panel follows the bodies down the lordosis: a plane through the spine's middle held no voxel of
    # the L3 and L4 bodies (their pedicles and facets instead) and 46 of L5's; now each of L1-L5 shows 126-161
    for vid in range(20, 25):
        assert preview_planes((vertebrae == vid) & body, centre)[CORONAL_CAPTION].sum() >= 100, vid


def _tallest_panel(png) -> tuple[int, int]:
    """(height of the tallest unbroken column of non-white pixels, the PNG's height), pixels: how high its highest
    image panel is drawn in the picture."""
    from PIL import Image

    with Image.open(png) as image:
        drawn = (np.asarray(image.convert("L")) < 250).astype(np.int8)
    edges = np.diff(np.pad(drawn, ((1, 1), (0, 0))), axis=0).T  # per column: +1 where a run starts, -1 after it
    starts, stops = np.nonzero(edges == 1), np.nonzero(edges == -1)
    return int((stops[1] - starts[1]).max()), drawn.shape[0]


def test_the_preview_of_a_short_series_is_not_a_thin_strip(tmp_path):
    """The real 20-slice DICOM series (40 mm high, 500 mm field of view) was drawn as two strips 34 pixels high in a
    picture 540 high; its panels are now cropped around the labels and magnified (at least MIN_PANEL_HEIGHT_PX, 200
    pixels, here 225). The whole real CT (336 mm high) still fills its picture as before."""
    from spinebq.cli import main

    assert main(["segment", str(need(DATA / "ct_dicom")), "--out", str(tmp_path / "short")]) == 0
    panel, picture = _tallest_panel(tmp_path / "short" / "preview.png")
    assert panel >= 200 and panel >= picture / 3, (panel, picture)
    assert main(["segment", str(need(DATA / "ct.nii.gz")), "--out", str(tmp_path / "long")]) == 0
    panel, picture = _tallest_panel(tmp_path / "long" / "preview.png")
    assert panel >= 0.8 * picture, (panel, picture)

"""PNG preview of a segmentation: mid-sagittal and mid-coronal CT with labelled outlines and names.

The panels are shown as radiologists read them, as every other spinebq picture: the sagittal with anterior to the
left, the coronal with the patient's right on the viewer's left, superior up in both. On the LPS array (axis 0 runs
patient right -> left, axis 1 anterior -> posterior, axis 2 inferior -> superior) that needs no flip: the first
index of each axis is drawn on the left, the image origin at the bottom.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_NAMES

SAGITTAL_CAPTION = "sagittal (anterior left)"
CORONAL_CAPTION = "coronal (patient right on the left)"


def spine_centre(vertebrae: np.ndarray) -> tuple[int, int]:
    """Median left-right (axis 0) and anterior-posterior (axis 1) index of the labelled voxels.

    Parameters
    ----------
    vertebrae : (X, Y, Z) ndarray
        Label array on the LPS grid; 0 is background.

    Returns
    -------
    tuple of int
        The sagittal column and the coronal row through the spine; the middle of the array when nothing is
        labelled.
    """
    idx = np.argwhere(vertebrae > 0)
    if not len(idx):
        return vertebrae.shape[0] // 2, vertebrae.shape[1] // 2
    return int(np.median(idx[:, 0])), int(np.median(idx[:, 1]))


def preview_planes(array: np.ndarray, centre: tuple[int, int]) -> dict[str, np.ndarray]:
    """The two planes of the preview, as drawn with ``origin="lower"``, keyed by their caption.

    Parameters
    ----------
    array : (X, Y, Z) ndarray
        CT or labels on the LPS grid.
    centre : tuple of int
        Sagittal column (axis 0) and coronal row (axis 1), as :func:`spine_centre` gives.

    Returns
    -------
    dict
        :data:`SAGITTAL_CAPTION`: rows inferior -> superior, columns anterior -> posterior;
        :data:`CORONAL_CAPTION`: rows inferior -> superior, columns patient right -> left.
    """
    column, row = centre
    return {SAGITTAL_CAPTION: array[column, :, :].T, CORONAL_CAPTION: array[:, row, :].T}


def write_preview(ct, vertebrae, path: str | Path, levels: dict | None = None) -> Path:
    """Write a two-panel PNG (sagittal, coronal through the spine) with the labels drawn over the CT.

    Each level is written with its confidence, the sides where a rib was found (``rib L+R``) and ``unconfirmed``
    where its name is a guess (``levels`` as :attr:`SegmentationResult.levels`). Orientation: see the module
    docstring.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    hu = ct.array
    lab = vertebrae.array
    sp = ct.spacing_mm
    centre = spine_centre(lab)
    images, label_planes = preview_planes(hu, centre), preview_planes(lab, centre)
    fig, axes = plt.subplots(1, 2, figsize=(10, 6))
    # names before the anterior edge in the sagittal (clear of the posterior elements), after the label in the coronal
    views = [(SAGITTAL_CAPTION, sp[1], "right"), (CORONAL_CAPTION, sp[0], "left")]
    cmap = plt.get_cmap("tab10")
    for ax, (title, s_in, align) in zip(axes, views):
        img, labels = images[title], label_planes[title]
        ax.imshow(img, cmap="gray", vmin=-200, vmax=1000, origin="lower", aspect=sp[2] / s_in, interpolation="nearest")
        for i, v in enumerate(int(u) for u in np.unique(labels) if u > 0):
            mask = labels == v
            ax.contour(mask, levels=[0.5], colors=[cmap(i % 10)], linewidths=1.0)
            rows, cols = np.nonzero(mask)
            name = VERSE_NAMES.get(v, str(v))
            level = (levels or {}).get(name, {})
            conf = level.get("confidence")
            text = name if conf is None else f"{name} {conf:.2f}"
            ribs = [side[0].upper() for side, b in level.get("lateral_processes", {}).items() if b["kind"] == "rib"]
            text += f" rib {'+'.join(sorted(ribs))}" if ribs else ""
            text += " unconfirmed" if "level_unconfirmed" in level.get("qc", []) else ""
            x = cols.min() - 2 if align == "right" else cols.max() + 2
            ax.text(x, rows.mean(), text, color=cmap(i % 10), fontsize=8, ha=align, va="center")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle("spinebq segment (research use only)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

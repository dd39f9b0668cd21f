"""PNG preview of a segmentation: mid-sagittal CT and a coronal through the bodies, with labelled outlines and names.

The panels are shown as radiologists read them, as every other spinebq picture: the sagittal with anterior to the
left, the coronal with the patient's right on the viewer's left, superior up in both. On the LPS array (axis 0 runs
patient right -> left, axis 1 anterior -> posterior, axis 2 inferior -> superior) that needs no flip: the first
index of each axis is drawn on the left, the image origin at the bottom.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_NAMES

SAGITTAL_CAPTION = "sagittal (anterior left)"
CORONAL_CAPTION = "coronal through the bodies (patient right on the left)"
#: Widest panel, as a multiple of its height (the series' extent from its first to its last slice): a wider field of
#: view is cropped around the labels (:func:`panel_window`).
MAX_PANEL_ASPECT = 2.0
#: Image kept either side of the labels in a cropped panel, mm.
LABEL_MARGIN_MM = 15.0
#: The picture fits this box (width, height), pixels, unless a panel would be lower than :data:`MIN_PANEL_HEIGHT_PX`.
FIGURE_BOX_PX = (900, 540)
#: Lowest panel, pixels: a short series is magnified up to it ...
MIN_PANEL_HEIGHT_PX = 200
#: ... but never beyond this many pixels per mm.
MAX_PX_PER_MM = 8.0
#: Resolution of the PNG; the sizes in pixels below follow from it.
DPI = 90
#: Room above each panel for its caption, above the picture for its title, and between panels, pixels.
TITLE_PX, SUPTITLE_PX, GAP_PX = 24, 30, 12


#: The coronal panel follows the bodies down the spine's curve: at each slice it passes this far into the labelled
#: depth from the front (the bodies lie in front of the posterior elements) ...
BODY_DEPTH_QUANTILE = 0.25
#: ... smoothed over this height, mm (a plane through the middle of the spine cuts the lower lumbar bodies' backs).
BODY_CURVE_SMOOTH_MM = 20.0


def spine_centre(vertebrae: np.ndarray, slice_mm: float) -> tuple[int, np.ndarray]:
    """The sagittal column and, per axial slice, the coronal row through the vertebral bodies.

    Parameters
    ----------
    vertebrae : (X, Y, Z) ndarray
        Label array on the LPS grid; 0 is background.
    slice_mm : float
        Spacing of the axial slices (axis 2), mm.

    Returns
    -------
    tuple
        The median left-right (axis 0) index of the labelled voxels, and an int array of length Z: the coronal row
        (axis 1) at each slice, :data:`BODY_DEPTH_QUANTILE` into the labelled depth, smoothed over
        :data:`BODY_CURVE_SMOOTH_MM` and carried to the slices without labels. The middle of the array when nothing is
        labelled.
    """
    nx, ny, nz = vertebrae.shape
    idx = np.argwhere(vertebrae > 0)
    if not len(idx):
        return nx // 2, np.full(nz, ny // 2)
    rows = np.full(nz, np.nan)
    order = np.argsort(idx[:, 2], kind="stable")
    slices, starts = np.unique(idx[order, 2], return_index=True)
    for z, depths in zip(slices, np.split(idx[order, 1], starts[1:])):
        rows[z] = np.quantile(depths, BODY_DEPTH_QUANTILE)
    known = np.flatnonzero(np.isfinite(rows))
    rows = np.interp(np.arange(nz), known, rows[known])  # carried flat beyond the first and last labelled slice
    size = max(1, int(round(BODY_CURVE_SMOOTH_MM / slice_mm)) | 1)
    rows = ndimage.median_filter(rows, size=size, mode="nearest")
    return int(np.median(idx[:, 0])), np.clip(np.rint(rows).astype(int), 0, ny - 1)


def preview_planes(array: np.ndarray, centre: tuple[int, np.ndarray]) -> dict[str, np.ndarray]:
    """The two planes of the preview, as drawn with ``origin="lower"``, keyed by their caption.

    Parameters
    ----------
    array : (X, Y, Z) ndarray
        CT or labels on the LPS grid.
    centre : tuple
        Sagittal column (axis 0) and the coronal row (axis 1) of each slice, as :func:`spine_centre` gives.

    Returns
    -------
    dict
        :data:`SAGITTAL_CAPTION`: rows inferior -> superior, columns anterior -> posterior;
        :data:`CORONAL_CAPTION`: rows inferior -> superior, columns patient right -> left, each row read at its
        slice's coronal row (the panel follows the bodies' curve).
    """
    column, rows = centre
    coronal = array[:, rows, np.arange(array.shape[2])]  # (X, Z): slice z read at row rows[z]
    return {SAGITTAL_CAPTION: array[column, :, :].T, CORONAL_CAPTION: coronal.T}


def panel_window(labels: np.ndarray, height_mm: float, spacing_mm: float) -> tuple[int, int]:
    """The columns ``[start, stop)`` of a preview panel: all of them, or, when that panel would be wider than
    :data:`MAX_PANEL_ASPECT` times its height, a window of that width around the labelled columns (never narrower
    than the labels and :data:`LABEL_MARGIN_MM` either side).

    Parameters
    ----------
    labels : (rows, columns) ndarray
        The panel's labels, as :func:`preview_planes` gives them; 0 is background.
    height_mm : float
        The panel's height: the series' extent from its first to its last slice, mm.
    spacing_mm : float
        Column spacing, mm.

    Examples
    --------
    A 20-slice series (40 mm) of a 500 mm field of view, a vertebra in columns 200-279 (0.977 mm):

    >>> labels = np.zeros((20, 512), dtype=np.uint8)
    >>> labels[:, 200:280] = 20
    >>> panel_window(labels, 40.0, 0.977)
    (184, 295)
    >>> panel_window(labels, 400.0, 0.977)  # a long series keeps its whole field of view
    (0, 512)
    """
    columns = labels.shape[1]
    labelled = np.nonzero(labels.any(axis=0))[0]
    if columns * spacing_mm <= MAX_PANEL_ASPECT * height_mm:
        return 0, columns
    if not labelled.size:
        labelled = np.array([columns // 2])
    wanted_mm = max(MAX_PANEL_ASPECT * height_mm, (labelled[-1] - labelled[0] + 1) * spacing_mm + 2 * LABEL_MARGIN_MM)
    width = min(columns, int(np.ceil(wanted_mm / spacing_mm)))
    start = int(round((labelled[0] + labelled[-1] + 1) / 2 - width / 2))
    start = min(max(start, 0), columns - width)
    return start, start + width


def write_preview(ct, vertebrae, path: str | Path, levels: dict | None = None) -> Path:
    """Write a two-panel PNG (sagittal, coronal through the spine) with the labels drawn over the CT.

    Each level is written with its confidence, the sides where a rib was found (``rib L+R``) and ``unconfirmed``
    where its name is a guess (``levels`` as :attr:`SegmentationResult.levels`). Orientation: see the module
    docstring.

    The panels keep the physical proportions of the image. A series shorter than its field of view is wide
    (20 slices of 2 mm: 40 mm high, 500 mm wide): its panels are cropped around the labels (:func:`panel_window`),
    put one above the other when that draws them larger, and magnified so that each is at least
    :data:`MIN_PANEL_HEIGHT_PX` high (at most :data:`MAX_PX_PER_MM`), not drawn as a thin strip.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    hu = ct.array
    lab = vertebrae.array
    sp = ct.spacing_mm
    centre = spine_centre(lab, sp[2])
    images, label_planes = preview_planes(hu, centre), preview_planes(lab, centre)
    # names before the anterior edge in the sagittal (clear of the posterior elements), after the label in the coronal
    views = [(SAGITTAL_CAPTION, sp[1], "right"), (CORONAL_CAPTION, sp[0], "left")]
    height_mm = hu.shape[2] * sp[2]
    windows = [panel_window(label_planes[title], height_mm, s_in) for title, s_in, _ in views]
    widths_mm = [(stop - start) * s_in for (start, stop), (_, s_in, _) in zip(windows, views)]
    layouts = {False: ((sum(widths_mm), height_mm), (3 * GAP_PX, SUPTITLE_PX + TITLE_PX + GAP_PX)),  # side by side
               True: ((max(widths_mm), 2 * height_mm), (2 * GAP_PX, SUPTITLE_PX + 2 * TITLE_PX + GAP_PX))}  # stacked
    scales = {stacked: min((FIGURE_BOX_PX[0] - chrome[0]) / content[0], (FIGURE_BOX_PX[1] - chrome[1]) / content[1])
              for stacked, (content, chrome) in layouts.items()}
    stacked = scales[True] > scales[False]  # the layout that draws the panels larger in the box
    (content_mm, chrome_px), px_per_mm = layouts[stacked], scales[stacked]
    px_per_mm = min(max(px_per_mm, MIN_PANEL_HEIGHT_PX / height_mm), MAX_PX_PER_MM)
    size_px = (content_mm[0] * px_per_mm + chrome_px[0], content_mm[1] * px_per_mm + chrome_px[1])
    fig = plt.figure(figsize=(size_px[0] / DPI, size_px[1] / DPI), dpi=DPI)
    panel_h = height_mm * px_per_mm
    left, top = GAP_PX, size_px[1] - SUPTITLE_PX - TITLE_PX
    cmap = plt.get_cmap("tab10")
    for (title, s_in, align), (start, stop), width_mm in zip(views, windows, widths_mm):
        panel_w = width_mm * px_per_mm
        x0 = (size_px[0] - panel_w) / 2 if stacked else left
        ax = fig.add_axes((x0 / size_px[0], (top - panel_h) / size_px[1], panel_w / size_px[0], panel_h / size_px[1]))
        if stacked:
            top -= panel_h + TITLE_PX + GAP_PX
        else:
            left += panel_w + GAP_PX
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
        ax.set_xlim(start - 0.5, stop - 0.5)
        ax.set_ylim(-0.5, img.shape[0] - 0.5)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle("spinebq segment (research use only)", fontsize=10)
    # a name written beside a label may reach past a cropped panel: the picture grows to hold it
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return path

"""A small mid-sagittal picture of one study for the cohort QC page.

The picture is the project's usual sagittal view (:func:`spinebq.report.ct_outputs.sagittal_overview`):
anterior to the left, superior up, physical aspect ratio, bone window (an MR study's: its signal's 1st to 99th
percentile). Each labelled vertebra is outlined and named beside its anterior edge, so a reviewer can see at a
glance whether the labels sit on the right bones. It is small (220 px wide, a palette PNG of about 10-20 kB), so a page of a thousand studies
stays light.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path

import matplotlib.patheffects as path_effects
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from spinebq.anatomy import VERSE_NAMES
from spinebq.io.labels import label_boxes
from spinebq.image.volume import Volume
from spinebq.constants import BONE_WINDOW_HU

#: Width of the picture, pixels.
WIDTH_PX = 220
#: Tallest picture, pixels: a longer field of view is drawn narrower instead.
MAX_HEIGHT_PX = 330
#: Figure resolution; sizes in points (fonts, lines) follow from it.
DPI = 100
#: Margin around the labelled vertebrae, mm: anterior (it holds the names), posterior, cranial and caudal.
MARGIN_MM = (55.0, 30.0, 20.0)
#: Gap between a vertebra's anterior edge and its name, mm.
TEXT_GAP_MM = 3.0
#: A name is centred on the labelled voxels this deep behind the anterior edge (the body, not the spinous process), mm.
BODY_DEPTH_MM = 15.0
FONT_PT = 6.5
#: Outline colours, alternating down the spine so that neighbouring vertebrae are told apart.
OUTLINE_COLOURS = ("#37c8ff", "#ffb000")
TEXT_COLOUR = "#ffff66"
#: Grey levels of the saved palette PNG (the outline and text colours are added to them).
GREY_LEVELS = 32
NO_VERTEBRA_TEXT = "no vertebra found"


def spine_thumbnail(ct: Volume, bodies: np.ndarray, path: str | Path, *,
                    levels: Mapping[str, str] | None = None, window: tuple[float, float] | None = None) -> Path:
    """Write the mid-sagittal QC picture of one study as a small PNG.

    Parameters
    ----------
    ct : Volume
        The CT, HU, canonical array axes (L, P, S).
    bodies : numpy.ndarray
        Vertebra labels in VerSe ids (:data:`spinebq.anatomy.VERSE_NAMES`) on the CT grid: whole vertebrae or
        bodies only. Ids without a name are drawn as ``label <id>``.
    path : str or Path
        The PNG to write (its folder is created).
    levels : Mapping of str to str, optional
        A short text per vertebra name written after the name, e.g. ``{"L1": "142 HU"}`` gives ``L1 142 HU``.
        Names that are not labelled in ``bodies`` are ignored.
    window : tuple of float, optional
        Grey-level window (lowest, highest value shown); default the bone window of a CT. An MR image takes
        :func:`mr_window`.

    Returns
    -------
    Path
        ``path``. The output is deterministic: the same input gives the same bytes.

    Notes
    -----
    The sagittal plane is the median left-right position of the labelled voxels (the middle of the image when
    nothing is labelled, then the picture says ``no vertebra found``). A vertebra that does not reach that plane
    is outlined dashed by its projection onto it.
    """
    path = Path(path)
    buffer = io.BytesIO()
    figure = thumbnail_figure(ct, bodies, levels=levels, window=window)
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    buffer.seek(0)
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(palette=_palette(), dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        palette.save(tmp, format="PNG", optimize=True)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def thumbnail_figure(ct: Volume, bodies: np.ndarray, *, levels: Mapping[str, str] | None = None,
                     window: tuple[float, float] | None = None) -> Figure:
    """The matplotlib figure of :func:`spine_thumbnail`, not yet saved.

    Its one axes holds a text per labelled vertebra (``L1`` or ``L1 142 HU``), in the order of their VerSe ids
    (cranial to caudal), or the single text ``no vertebra found``. The figure has its own Agg canvas and is not
    registered with pyplot (nothing to close, and safe in the threads of a Dask worker).
    """
    bodies = np.asarray(bodies)
    if bodies.shape != ct.shape:
        raise ValueError(f"bodies has shape {bodies.shape}, not the CT's {ct.shape}; give the labels on the CT grid")
    if not np.issubdtype(bodies.dtype, np.integer):
        raise TypeError(f"bodies must hold integer VerSe ids, not {bodies.dtype} values")
    levels = levels or {}
    spacing = ct.spacing_mm
    boxes = {n + 1: box for n, box in enumerate(label_boxes(bodies)) if box is not None}
    extent = (0.0, ct.shape[1] * spacing[1], 0.0, ct.shape[2] * spacing[2])
    if boxes:
        column = _median_column(bodies, boxes.values())
        x_lim, y_lim = _view_mm(boxes.values(), spacing, extent)
    else:
        column, x_lim, y_lim = ct.shape[0] // 2, extent[:2], extent[2:]
    width_mm, height_mm = x_lim[1] - x_lim[0], y_lim[1] - y_lim[0]
    px_per_mm = min(WIDTH_PX / width_mm, MAX_HEIGHT_PX / height_mm)
    fig = Figure(figsize=(width_mm * px_per_mm / DPI, height_mm * px_per_mm / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    # rows: inferior -> superior (axis 2); columns: anterior -> posterior (axis 1)
    low, high = window or BONE_WINDOW_HU
    ax.imshow(ct.array[column].T, cmap="gray", vmin=low, vmax=high, origin="lower", extent=extent,
              interpolation="bilinear", aspect="auto")
    outline = [path_effects.withStroke(linewidth=2.0, foreground="black")]
    if not boxes:
        ax.text(0.5, 0.5, NO_VERTEBRA_TEXT, transform=ax.transAxes, ha="center", va="center", color=TEXT_COLOUR,
                fontsize=FONT_PT + 2, path_effects=outline)
    labelled = bodies[column]
    for n, (label, box) in enumerate(sorted(boxes.items())):
        plane = labelled == label
        dashed = not plane.any()
        if dashed:  # not in the mid-sagittal plane: its projection onto it
            plane = np.zeros_like(plane)
            plane[box[1:]] = (bodies[box] == label).any(axis=0)
        ax.contour(plane.T, levels=[0.5], colors=OUTLINE_COLOURS[n % len(OUTLINE_COLOURS)], linewidths=0.9,
                   origin="lower", extent=extent, linestyles="dashed" if dashed else "solid")
        posterior, superior = np.nonzero(plane)
        front = posterior.min()
        body = posterior <= front + BODY_DEPTH_MM / spacing[1]
        name = VERSE_NAMES.get(label, f"label {label}")
        ax.text(max(front * spacing[1] - TEXT_GAP_MM, x_lim[0] + 1.0), (superior[body].mean() + 0.5) * spacing[2],
                f"{name} {levels[name]}" if levels.get(name) else name, color=TEXT_COLOUR, fontsize=FONT_PT,
                ha="right", va="center", path_effects=outline, clip_on=True)
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    return fig


def mr_window(image: Volume) -> tuple[float, float]:
    """The grey-level window of an MR image's thumbnail: its 1st to 99th percentile of signal (MR has no units)."""
    low, high = np.percentile(image.array, [1.0, 99.0])
    return float(low), float(max(high, low + 1.0))


def _palette() -> Image.Image:
    """A palette image of :data:`GREY_LEVELS` greys and the outline and text colours."""
    greys = np.linspace(0, 255, GREY_LEVELS).round().astype(np.uint8)
    colours = [bytes(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (*OUTLINE_COLOURS, TEXT_COLOUR)]
    entries = b"".join(bytes((g, g, g)) for g in greys) + b"".join(colours)
    image = Image.new("P", (1, 1))
    image.putpalette(entries)
    return image


def _median_column(bodies: np.ndarray, boxes: Iterable[tuple[slice, ...]]) -> int:
    """Index along axis 0 (left-right) of the median labelled voxel: the mid-sagittal plane of the spine."""
    first, last = min(b[0].start for b in boxes), max(b[0].stop for b in boxes)
    counts = np.count_nonzero(bodies[first:last], axis=(1, 2))
    return first + int(np.searchsorted(np.cumsum(counts), counts.sum() / 2))


def _view_mm(boxes: Iterable[tuple[slice, ...]], spacing: tuple[float, float, float],
             extent: tuple[float, float, float, float]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Anterior-posterior and inferior-superior limits (mm) around the labelled boxes, inside the image."""
    boxes = list(boxes)
    first_p, last_p = min(b[1].start for b in boxes), max(b[1].stop for b in boxes)
    first_s, last_s = min(b[2].start for b in boxes), max(b[2].stop for b in boxes)
    anterior_mm, posterior_mm, cranio_caudal_mm = MARGIN_MM
    x_lim = (max(extent[0], first_p * spacing[1] - anterior_mm), min(extent[1], last_p * spacing[1] + posterior_mm))
    y_lim = (max(extent[2], first_s * spacing[2] - cranio_caudal_mm),
             min(extent[3], last_s * spacing[2] + cranio_caudal_mm))
    return x_lim, y_lim

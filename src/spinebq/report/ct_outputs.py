"""The outputs of ``spinebq ct``: measurements.json (schema ``spinebq.ct/1``), measurements.csv, pictures."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from spinebq.anatomy import VERSE_IDS  # noqa: E402
from spinebq.constants import BONE_WINDOW_HU  # noqa: E402
from spinebq.image.volume import Volume  # noqa: E402
from spinebq.measure.ct.levels import CtResult  # noqa: E402
from spinebq.measure.ct.ellipse import sample_plane  # noqa: E402
from spinebq.records.ct import CtRecord  # noqa: E402
from spinebq.report.files import write_csv, write_json  # noqa: E402
from spinebq.report.grid import ImageGrid  # noqa: E402
from spinebq.report.panels import ELLIPSES, place_panels  # noqa: E402
from spinebq.report.quantities import BY_KEY, CSV_CT_KEYS, level_value  # noqa: E402



def write_ct_outputs(out_dir: str | Path, record: CtRecord, *, pictures: bool = True) -> CtRecord:
    """Write measurements.json, measurements.csv, the trajectory files and the pictures of ``record``.

    The pictures and trajectory files need ``record.images`` (as :func:`spinebq.pipeline.analyse_ct` returns
    it). The JSON is written last, so its presence means the run completed. Returns the record naming the
    files written beside ``measurements.json`` (its ``outputs``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    images = record.images
    # one row per vertebra, the columns of the table of quantities (report/quantities.py)
    rows = [{"level": v.level, **{BY_KEY[key].column: level_value(v, key) for key in CSV_CT_KEYS}}
            for v in record.vertebrae]
    regional = images.regional if images is not None else None
    if regional is not None and regional.screws:
        from spinebq.measure.ct.trajectory import trajectory_document

        primary = [s for s in regional.screws.values() if s.source != "auto_cortical"]
        cortical = [s for s in regional.screws.values() if s.source == "auto_cortical"]
        # a trajectory file per kind: each can be given back as the trajectory option (a plan file)
        if primary:
            written.append(write_json(out / "trajectories.json", trajectory_document(primary)))
        if cortical:
            written.append(write_json(out / "trajectories_cortical.json", trajectory_document(cortical)))
        if pictures:
            from spinebq.report.trajectory_figures import trajectory_figures

            vertebrae = {v.level: v for v in record.vertebrae}
            written.extend(trajectory_figures(images.ct, regional, vertebrae, out))
    written.append(write_csv(out / "measurements.csv", rows))
    if pictures and images is not None:
        written.append(sagittal_overview(images.ct, images.result, out / "overlay_sagittal.png"))
        for name in images.result.ellipses:
            written.append(ellipse_panels(images.ct, images.result, name, out / f"overlay_{name}_ellipses.png"))
    record = record.with_outputs(p.name for p in written)
    write_json(out / "measurements.json", record.to_json())
    return record


def measured_rois(result: CtResult) -> np.ndarray:
    """The 3D trabecular ROIs (label ids) of the levels whose headline value was reported; a level without one (cut
    by the field of view, ROI too small) keeps its outline but no filled ROI, so the picture never shows as measured
    what the table gives as n/a."""
    key = result.method["headline_key"]
    missing = [VERSE_IDS[name] for name, entry in result.vertebrae.items()
               if entry.get(key) is None or not np.isfinite(entry.get(key))]
    return np.where(np.isin(result.trabecular, missing), 0, result.trabecular)


#: The sagittal overview shows the spine from this far in front of the bodies to this far behind them, mm: the
#: posterior elements reach 60-70 mm behind a lumbar body's posterior wall.
OVERVIEW_FRONT_MM = 30.0
OVERVIEW_BACK_MM = 80.0
#: The overview's image area is at most this wide and tall, inches (it keeps the image's proportions within).
OVERVIEW_MAX_IN = (4.8, 7.8)
#: Room around the image for the title and the axes' labels, inches; the figure is at least as tall as its
#: vertical axis label is long.
OVERVIEW_MARGIN_IN = 1.2
OVERVIEW_MIN_HEIGHT_IN = 3.2


def sagittal_overview(ct: Volume, result: CtResult, path: Path) -> Path:
    """Mid-sagittal CT with body outlines, 3D ROIs (filled) and level names with their HU, in the patient's LPS mm.

    The picture is cropped from :data:`OVERVIEW_FRONT_MM` in front of the bodies to :data:`OVERVIEW_BACK_MM` behind
    them and sized to keep the image's proportions: a short series (20 slices) is a wide picture, not a strip in an
    empty page.
    """
    present = result.bodies > 0
    column = int(np.round(np.median(np.nonzero(present)[0]))) if present.any() else ct.shape[0] // 2
    grid = ImageGrid.of(ct)
    ys = np.nonzero(present.any(axis=(0, 2)))[0] if present.any() else np.array([0, ct.shape[1] - 1])
    step = grid.spacing_mm[1]
    ys = slice(max(0, ys.min() - int(OVERVIEW_FRONT_MM / step)), min(ct.shape[1], ys.max() + 1 + int(OVERVIEW_BACK_MM / step)))
    extent = (grid.edge(ys.start, 1), grid.edge(ys.stop, 1), grid.edge(0, 2), grid.edge(ct.shape[2], 2))
    width_mm, height_mm = extent[1] - extent[0], extent[3] - extent[2]
    scale = min(OVERVIEW_MAX_IN[0] / width_mm, OVERVIEW_MAX_IN[1] / height_mm)
    fig, ax = plt.subplots(figsize=(width_mm * scale + OVERVIEW_MARGIN_IN,
                                    max(OVERVIEW_MIN_HEIGHT_IN, height_mm * scale + OVERVIEW_MARGIN_IN)), dpi=110)
    image = ct.array[column, ys].T  # rows: inferior -> superior (axis 2), columns: anterior -> posterior (axis 1)
    ax.imshow(image, cmap="gray", vmin=BONE_WINDOW_HU[0], vmax=BONE_WINDOW_HU[1], origin="lower", extent=extent)
    bodies, rois = result.bodies[column, ys].T, measured_rois(result)[column, ys].T
    ax.contour(bodies > 0, levels=[0.5], colors="deepskyblue", linewidths=0.8, origin="lower", extent=extent)
    ax.imshow(np.ma.masked_where(rois == 0, rois), cmap="autumn", alpha=0.45, origin="lower", extent=extent,
              interpolation="nearest")
    key = result.method["headline_key"]
    for name, entry in result.vertebrae.items():
        rows = np.nonzero(result.bodies[column] == VERSE_IDS[name])
        if rows[0].size == 0:
            continue
        value = entry.get(key)
        text = f"{name} {value:.0f} HU" if value is not None and np.isfinite(value) else f"{name} n/a"
        ax.text(grid.edge(rows[0].min(), 1) - 4, grid.centre(rows[1].mean(), 2), text, color="yellow", fontsize=8,
                ha="right", va="center")
    ax.set_title(f"spinebq {result.method['preset']}: {key} per level (research use only)", fontsize=9)
    ax.set_xlabel(grid.label(1, "anterior -> posterior"))
    ax.set_ylabel(grid.label(2, "inferior -> superior"))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def ellipse_panels(ct: Volume, result: CtResult, name: str, path: Path) -> Path:
    """The three planes of the three-slice method for one level, each with its ellipse and mean HU."""
    frame = result.frames[name]
    step = 0.5
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.8), dpi=110)
    for ax, roi in zip(axes, result.ellipses[name]):
        plane, offsets = sample_plane(ct.array, ct.affine, frame, roi.height_mm, step, order=1)
        half = offsets[-1]
        ax.imshow(plane, cmap="gray", vmin=BONE_WINDOW_HU[0], vmax=BONE_WINDOW_HU[1], extent=(-half, half, half, -half))
        if roi.centre_mm:
            rel = np.asarray(roi.centre_mm) - frame.centre_mm
            centre = (rel @ frame.left, rel @ frame.posterior)
            ax.add_patch(Ellipse(centre, 2 * roi.semi_axis_left_mm, 2 * roi.semi_axis_posterior_mm, fill=False, color="orange", lw=1.2))
        value = f"{roi.mean_hu:.1f} HU" if np.isfinite(roi.mean_hu) else "n/a"
        ax.set_title(f"{name} {roi.position}: {value}", fontsize=9)
        ax.set_xlabel("right <- -> left (mm)", fontsize=8)
        ax.set_ylabel("anterior (top) / posterior (bottom), mm", fontsize=7)
    fig.suptitle("three-slice elliptical ROIs in the vertebra's own plane (research use only)", fontsize=9)
    place_panels(fig, ELLIPSES)
    fig.savefig(path)
    plt.close(fig)
    return path

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


def sagittal_overview(ct: Volume, result: CtResult, path: Path) -> Path:
    """Mid-sagittal CT with body outlines, 3D ROIs (filled) and level names with their HU."""
    present = result.bodies > 0
    if present.any():
        column = int(np.round(np.median(np.nonzero(present)[0])))
    else:
        column = ct.shape[0] // 2
    image = ct.array[column].T  # rows: superior-inferior (axis 2), columns: anterior-posterior (axis 1)
    sp = ct.spacing_mm
    extent = (0, ct.shape[1] * sp[1], 0, ct.shape[2] * sp[2])
    fig, ax = plt.subplots(figsize=(6, 8), dpi=110)
    ax.imshow(image, cmap="gray", vmin=BONE_WINDOW_HU[0], vmax=BONE_WINDOW_HU[1], origin="lower", extent=extent)
    bodies, rois = result.bodies[column].T, measured_rois(result)[column].T
    ax.contour(bodies > 0, levels=[0.5], colors="deepskyblue", linewidths=0.8, origin="lower", extent=extent)
    ax.imshow(np.ma.masked_where(rois == 0, rois), cmap="autumn", alpha=0.45, origin="lower", extent=extent, interpolation="nearest")
    key = result.method["headline_key"]
    for name, entry in result.vertebrae.items():
        rows = np.nonzero(result.bodies[column] == VERSE_IDS[name])
        if rows[0].size == 0:
            continue
        y_mm, z_mm = rows[0].min() * sp[1], rows[1].mean() * sp[2]
        value = entry.get(key)
        text = f"{name} {value:.0f} HU" if value is not None and np.isfinite(value) else f"{name} n/a"
        ax.text(y_mm - 4, z_mm, text, color="yellow", fontsize=8, ha="right", va="center")
    ax.set_title(f"spinebq {result.method['preset']}: {key} per level (research use only)", fontsize=9)
    ax.set_xlabel("anterior -> posterior (mm)")
    ax.set_ylabel("inferior -> superior (mm)")
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

"""Pictures of the screws: each one on the axial plane through its axis and on a sagittal plane through it."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from spinebq.constants import BONE_WINDOW_HU  # noqa: E402
from spinebq.image.volume import Volume  # noqa: E402
from spinebq.measure.ct.sampling import orthonormal_pair, sample_values  # noqa: E402
from spinebq.records.ct import VertebraRecord  # noqa: E402
from spinebq.records.regional import TrajectoryRecord  # noqa: E402
from spinebq.report.panels import TRAJECTORY, place_panels  # noqa: E402

HALF_MM = 45.0
STEP_MM = 0.5
COLOURS = {"left": "orange", "right": "deepskyblue"}


def _plane(ct: Volume, centre: np.ndarray, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    offsets = np.arange(-HALF_MM, HALF_MM + STEP_MM / 2, STEP_MM)
    a, b = np.meshgrid(offsets, offsets, indexing="ij")  # rows along e2 (b), columns along e1 (a) after transpose
    points = centre + a[..., None] * e1 + b[..., None] * e2
    return sample_values(ct.array, ct.affine, points, outside=-1000.0).T


def _outline(screw, centre, e1, e2) -> np.ndarray:
    """Corners of the screw's rectangle in plane coordinates (mm along e1, e2)."""
    d = screw.direction
    u, w = (e2, e1) if abs(e1 @ d) > abs(e2 @ d) else (e1, e2)
    across = u - (u @ d) * d
    across = across / max(np.linalg.norm(across), 1e-9) * screw.diameter_mm / 2
    corners = [screw.entry_mm + across, screw.target_mm + across, screw.target_mm - across, screw.entry_mm - across]
    return np.array([[(c - centre) @ e1, (c - centre) @ e2] for c in corners])


def trajectory_figure(ct: Volume, level: str, screws: dict, frame, measured: dict[str, TrajectoryRecord],
                      path: Path) -> Path:
    """One level: an axial (top) and a sagittal (bottom) plane through each side's screw axis.

    Parameters
    ----------
    ct : Volume
        The CT.
    level : str
        Vertebra name.
    screws : dict
        ``"left"``/``"right"`` -> :class:`~spinebq.measure.ct.trajectory.Screw`.
    frame : VertebraFrame
        The vertebra's own frame (planes are oriented in it).
    measured : dict
        ``"left"``/``"right"`` -> the level's :class:`~spinebq.records.regional.TrajectoryRecord` (for the HU and
        angles and warnings in the titles).
    path : Path
        PNG to write.
    """
    sides = [s for s in ("left", "right") if s in screws]
    fig, axes = plt.subplots(2, max(1, len(sides)), figsize=(4.2 * max(1, len(sides)), 8.4), dpi=100, squeeze=False)
    extent = (-HALF_MM, HALF_MM, HALF_MM, -HALF_MM)
    title_lines = TRAJECTORY.title_lines
    for col, side in enumerate(sides):
        screw = screws[side]
        centre = (screw.entry_mm + screw.target_mm) / 2
        d = screw.direction
        up, _ = orthonormal_pair(d, frame.superior)  # up: perpendicular to the screw, towards superior
        # axial plane through the axis (normal: up), oriented like an axial image and centred on the vertebra
        back = frame.posterior - (frame.posterior @ up) * up
        back /= np.linalg.norm(back)
        left = np.cross(back, up)
        axial_centre = frame.centre_mm + ((centre - frame.centre_mm) @ up) * up
        along = d if d @ frame.posterior >= 0 else -d
        planes = [("axial plane through the screw axis", axial_centre, left, back, "right <-> left (mm)",
                   "anterior (top) -> posterior (mm)"),
                  ("sagittal plane through the screw axis", centre, along, -up, "anterior <-> posterior (mm)",
                   "superior (top) -> inferior (mm)")]
        info = measured.get(side) or TrajectoryRecord.missing(None)
        for row, (title, origin, a, b, xlabel, ylabel) in enumerate(planes):
            ax = axes[row][col]
            ax.imshow(_plane(ct, origin, a, b), cmap="gray", vmin=BONE_WINDOW_HU[0], vmax=BONE_WINDOW_HU[1], extent=extent)
            ax.add_patch(Polygon(_outline(screw, origin, a, b), closed=True, fill=False, color=COLOURS[side], lw=1.4))
            hu, rect = info.hu_mean, info.rectangle_hu
            text = f"{level} {side} ({screw.source}): cylinder {hu:.0f} HU" if np.isfinite(hu) else f"{level} {side}"
            if row == 0 and np.isfinite(rect):
                text += f", 2D rectangle {rect:.0f} HU"
            warned = f"\nwarning: {', '.join(w.replace('_', ' ') for w in info.warnings)}" if info.warnings else ""
            ax.set_title(f"{text}\n{title}{warned}", fontsize=8)
            title_lines = max(title_lines, 2 + warned.count("\n"))
            # size and angle beside the screw head, as a surgeon reads a plan
            angle = info.medial_angle_deg if row == 0 else info.sagittal_angle_deg
            label = f"{screw.diameter_mm:g} x {screw.length_mm:.0f} mm"
            if angle is not None and np.isfinite(angle):
                label += f"\n{'medial' if row == 0 else 'sagittal'} {angle:.0f} deg"
            head = screw.entry_mm - origin
            x, y = float(np.clip(head @ a, -HALF_MM + 2, HALF_MM - 24)), float(np.clip(head @ b, -HALF_MM + 6, HALF_MM - 2))
            ax.text(x, y, label, color=COLOURS[side], fontsize=7, ha="left", va="center",
                    bbox={"facecolor": "black", "alpha": 0.55, "edgecolor": "none", "pad": 1.5})
            ax.set_xlabel(xlabel, fontsize=7)
            ax.set_ylabel(ylabel, fontsize=7)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"{level}: screw trajectories (research use only)", fontsize=9)
    place_panels(fig, TRAJECTORY, title_lines)
    fig.savefig(path)
    plt.close(fig)
    return path


def trajectory_figures(ct: Volume, regional, vertebrae: dict[str, VertebraRecord], out_dir: Path) -> list[Path]:
    """One PNG per level with screws (``trajectory_<level>.png``).

    ``regional`` is the :class:`~spinebq.measure.ct.regional.RegionalImages` of the analysis (screws, pedicles,
    frames), ``vertebrae`` the records by level name.
    """
    by_level: dict[str, dict] = {}
    for (level, side, kind), screw in regional.screws.items():
        if kind in ("traditional", "sacral", "file", "from_screws"):
            by_level.setdefault(level, {})[side] = screw
    written = []
    for level, screws in by_level.items():
        frame = regional.pedicles[level].frame if level in regional.pedicles else regional.frames[level]
        measured = vertebrae[level].trajectories if level in vertebrae else {}
        written.append(trajectory_figure(ct, level, screws, frame, measured, Path(out_dir) / f"trajectory_{level}.png"))
    return written

"""Pictures of every MRI ROI on the image, as a reader would check them (matplotlib, Agg backend).

* ``mri_sagittal.png``: the sagittal slice the CSF ROI lies on, with each level's body ROI
  (outlined, drawn on its own slice and named with that slice), the CSF ROI, level names and signals,
  and the VBQ with its method;
* ``mri_levels.png``: per level, the body ROI on the very slice it was measured on, and an axial
  reformat through the ROI's centre with the vertebra outline across the stack (checks how far to the
  sides the labels, above all automatic ones, reach);
* ``mri_pedicles.png``: the left and right parasagittal slices through the L3 pedicles with every pedicle ROI;
* ``mri_muscle.png``: the parasagittal slices through the paraspinal muscle ROIs with their fat fractions;
* ``mri_muscle_axial.png`` (with an axial series): per disc level, the axial slice through the disc with
  both ROIs outlined and the voxels counted as fat tinted.

Images are shown as radiologists read them: a sagittal with anterior to the left and superior up, an axial
with anterior up and the patient's right on the left. Axes are patient (LPS) millimetres, the coordinates
``spinebq mri --points`` takes, so a point can be read off a picture (approximately, along the image's own axes, on
an oblique image, as the axis labels say).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.image.volume import Volume
from spinebq.report.grid import ImageGrid
from spinebq.measure.mri.muscle import NEAR_CUTOFF_MARGIN, fat_fraction_text, near_cutoff_text

#: The muscle pictures' note on a grade marked near a cutoff.
NEAR_CUTOFF_LEGEND = (f"near a cutoff: closer than {100 * NEAR_CUTOFF_MARGIN:g} percentage points to a Goutallier cutoff; "
                      "another ROI of the same muscle may give the other grade (mri.json qc goutallier_near_cutoff)")
COLOURS = {"T12": "#8c564b", "L1": "#1f77b4", "L2": "#2ca02c", "L3": "#d62728", "L4": "#9467bd",
           "L5": "#ff7f0e", "S1": "#e377c2"}


def _score(data: dict, key: str) -> str:
    """A score of ``mri.json`` with the decimals of its quantity (as on the screen and in the report), or
    'not measured'."""
    from spinebq.records.quantities import decimals

    value = data.get(key)
    return "not measured" if value is None else f"{value:.{decimals(key)}f}"


def _side_text(entry: dict, side: str) -> str:
    """One side's fat fraction and grade on a muscle picture: ``FF 5.2 %, grade 1``, and on a second line ``near the
    5 % cutoff`` when it is."""
    ff, cutoff = entry.get(f"fat_fraction_{side}"), entry.get(f"near_cutoff_{side}")
    if ff is None:
        return "FF not measured"
    return f"FF {fat_fraction_text(ff)}, grade {entry.get(f'goutallier_{side}')}" + (
        f"\n{near_cutoff_text(cutoff)}" if cutoff is not None else "")


def _levels(used: list[str] | None) -> str:
    """'L1-L4' when a score used all four levels, else 'of' the levels it used."""
    used = list(used or [])
    return "L1-L4" if used == ["L1", "L2", "L3", "L4"] else f"of {', '.join(used) or 'no level'}"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _window(image2d: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(image2d, [1, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1)


def _crop(masks: list[np.ndarray], shape: tuple[int, int], margin: int = 40) -> tuple[slice, slice]:
    any2d = np.zeros(shape, bool)
    for m in masks:
        any2d |= m
    if not any2d.any():
        return slice(0, shape[0]), slice(0, shape[1])
    ys, zs = np.nonzero(any2d)
    return (slice(max(0, ys.min() - margin), min(shape[0], ys.max() + margin + 30)),
            slice(max(0, zs.min() - margin), min(shape[1], zs.max() + margin)))


def _show(ax, image2d, grid: ImageGrid, ys: slice, zs: slice):
    """A sagittal slice (axes 1 and 2), cropped to ``ys``, ``zs``, in LPS y and z; returns its extent."""
    lo, hi = _window(image2d)
    sub = image2d[ys, zs]
    extent = (grid.edge(ys.start, 1), grid.edge(ys.stop, 1), grid.edge(zs.start, 2), grid.edge(zs.stop, 2))
    ax.imshow(sub.T, cmap="gray", origin="lower", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
    ax.set_xlabel(grid.label(1, "anterior -> posterior"))
    ax.set_ylabel(grid.label(2, "inferior -> superior"))
    return extent


def _contour(ax, mask2d, grid: ImageGrid, colour, lw=1.2):
    """The outline of a sagittal mask (axes 1 and 2), keeping the axes' limits."""
    if not mask2d.any():
        return
    ny, nz = mask2d.shape
    yy = grid.centre(np.arange(ny), 1)
    zz = grid.centre(np.arange(nz), 2)
    limits = ax.get_xlim(), ax.get_ylim()  # keep the picture cropped to the image shown
    ax.contour(yy, zz, mask2d.T.astype(float), levels=[0.5], colors=[colour], linewidths=lw)
    ax.set_xlim(limits[0])
    ax.set_ylim(limits[1])


def save_figures(volume: Volume, data: dict, rois: dict[str, np.ndarray], out_dir: str | Path, *,
                 labels: np.ndarray | None = None, title: str = "") -> list[Path]:
    """Write the ROI pictures into ``out_dir``; return their paths.

    Parameters
    ----------
    volume : Volume
        The MR image (canonical: axis 0 sagittal slice index); the pictures' axes are its LPS millimetres.
    data : dict
        The ``spinebq.mri/1`` document (values printed on the pictures).
    rois : dict
        ROI masks from :class:`~spinebq.measure.mri.measure.MriMeasurement`.
    out_dir : str or Path
        Folder for the PNG files.
    labels : numpy.ndarray, optional
        VerSe-id label array on the image grid, outlined in ``mri_levels.png``.
    title : str
        First line of every picture's title (the input's name).
    """
    plt = _plt()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    image, grid = volume.array, ImageGrid.of(volume)
    paths = []
    levels = data.get("levels", {})
    csf = data.get("csf", {})
    x_show = csf.get("slice")
    if x_show is None:
        x_show = levels.get("L3", {}).get("body_slice") or image.shape[0] // 2
    body_masks = {lv: rois[f"body_{lv}"] for lv in levels if f"body_{lv}" in rois}
    proj = {lv: m.any(axis=0) for lv, m in body_masks.items()}
    ys, zs = _crop(list(proj.values()), image.shape[1:])

    fig, ax = plt.subplots(figsize=(7.5, 9.5))
    _show(ax, image[x_show], grid, ys, zs)
    for lv, m2d in proj.items():
        colour = COLOURS.get(lv, "yellow")
        _contour(ax, m2d, grid, colour)
        e = levels[lv]
        yz = np.argwhere(m2d)
        if yz.size:
            y_text = grid.edge(yz[:, 0].min() - 2, 1)
            z_text = grid.centre(yz[:, 1].mean(), 2)
            sig = e.get("body_signal")
            flag = " !" if e.get("qc") and any(not q.startswith("pedicle") for q in e["qc"]) else ""
            ax.text(y_text, z_text, f"{lv} {sig:.1f}{flag}\nslice {e.get('body_slice')}" if sig is not None else f"{lv} n/a",
                    color=colour, fontsize=8, ha="right", va="center",
                    bbox=dict(facecolor="black", alpha=0.5, pad=1, edgecolor="none"))
    if "csf" in rois:
        c2d = rois["csf"].any(axis=0)
        _contour(ax, c2d, grid, "cyan", lw=1.5)
        yz = np.argwhere(c2d)
        if yz.size and csf.get("signal") is not None:
            ax.text(grid.edge(yz[:, 0].max() + 3, 1), grid.centre(yz[:, 1].mean(), 2),
                    f"CSF {csf['signal']:.1f}\n({csf.get('level')}, {csf.get('voxels')} vox kept,\n"
                    f"{csf.get('root_voxels_left_out') or 0} root vox left out)", color="cyan", fontsize=8,
                    va="center", bbox=dict(facecolor="black", alpha=0.5, pad=1, edgecolor="none"))
    vbq = (f"VBQ {_score(data, 'vbq')} (median {_levels(data.get('vbq_levels_used'))} / CSF {csf.get('level')})"
           if data.get("vbq") is not None else f"VBQ not measured: {data.get('vbq_reason')}")
    ax.set_title(
        f"{title}\n{vbq}, S1-VBQ {_score(data, 's1_vbq')}\nsagittal slice {x_show} (CSF; LPS x {grid.centre(x_show, 0):.1f} mm); "
        "each body ROI drawn from its own slice. "
        "Research use only", fontsize=8)
    fig.tight_layout()
    path = out_dir / "mri_sagittal.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    if body_masks:
        paths.append(_levels_figure(plt, image, grid, data, body_masks, labels, out_dir, title))

    ped = {k: v for k, v in rois.items() if k.startswith("pedicle_")}
    if ped:
        fig, axes = plt.subplots(1, 2, figsize=(12, 8))
        for ax, side in zip(axes, ("right", "left")):
            masks = {k.split("_")[-1]: v for k, v in ped.items() if f"_{side}_" in k}
            if not masks:
                ax.set_axis_off()
                continue
            ref = masks.get("L3", next(iter(masks.values())))
            x = int(np.round(np.median(np.nonzero(ref)[0])))
            _show(ax, image[x], grid, ys, zs)
            for lv, m in masks.items():
                m2d = m.any(axis=0)
                _contour(ax, m2d, grid, COLOURS.get(lv, "yellow"), lw=1.5)
                yz = np.argwhere(m2d)
                sig = levels.get(lv, {}).get(f"pedicle_signal_{side}")
                ax.text(grid.edge(yz[:, 0].max() + 3, 1), grid.centre(yz[:, 1].mean(), 2),
                        f"{lv} {sig:.1f}" if sig is not None else f"{lv} n/a", color=COLOURS.get(lv, "yellow"),
                        fontsize=8, bbox=dict(facecolor="black", alpha=0.5, pad=1, edgecolor="none"))
            ax.set_title(f"{side} pedicles on slice {x} (LPS x {grid.centre(x, 0):.1f} mm)\n"
                         "each ROI drawn from its own slice", fontsize=9)
        fig.suptitle(f"{title} PBQ {_score(data, 'pbq')} (mean {_levels(data.get('pbq_levels_used'))} pedicles / CSF). "
                     "Research use only", fontsize=9)
        fig.tight_layout()
        path = out_dir / "mri_pedicles.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)

    mus = {k: v for k, v in rois.items() if k.startswith("muscle_")}
    if mus:
        paths.append(_muscle_figure(plt, image, grid, data, mus, zs, out_dir, title))
    return paths


def _muscle_figure(plt, image: np.ndarray, grid: ImageGrid, data: dict, mus: dict[str, np.ndarray], zs: slice,
                   out_dir: Path, title: str) -> Path:
    """``mri_muscle.png``: per side, the parasagittal slice through the middle of the muscle ROIs, each ROI outlined
    on that slice, its voxels counted as fat tinted, and the fat reference's voxels (subcutaneous fat) marked."""
    method = data.get("muscle_method", {})
    threshold = method.get("threshold")
    fig, axes = plt.subplots(1, 2, figsize=(12, 8))
    for ax, side in zip(axes, ("right", "left")):
        masks = {k.split("_", 2)[2]: v for k, v in mus.items() if k.startswith(f"muscle_{side}_")}
        if not masks:
            ax.set_axis_off()
            continue
        allm = np.zeros(image.shape, bool)
        for m in masks.values():
            allm |= m
        x = int(np.round(np.median(np.nonzero(allm)[0])))
        yz_all = np.argwhere(allm.any(axis=0))
        ys_m = slice(max(0, yz_all[:, 0].min() - 60), min(image.shape[1], yz_all[:, 0].max() + 40))
        extent = _show(ax, image[x], grid, ys_m, zs)
        if threshold is not None:
            fat = np.where(allm[x] & (image[x] > threshold), 1.0, np.nan)[ys_m, zs]
            ax.imshow(fat.T, cmap="autumn", alpha=0.6, origin="lower", extent=extent, interpolation="nearest")
        for disc, m in masks.items():
            _contour(ax, m[x], grid, "yellow", lw=1.0)
            yz = np.argwhere(m.any(axis=0))
            e = data.get("muscle", {}).get(disc, {})
            text = f"{disc} {_side_text(e, side)}"
            ax.text(grid.edge(yz[:, 0].min() - 2, 1), grid.centre(yz[:, 1].mean(), 2), text, color="yellow", fontsize=7,
                    ha="right", bbox=dict(facecolor="black", alpha=0.5, pad=1, edgecolor="none"))
        ax.set_title(f"{side} paraspinal ROIs, outlined on slice {x} (LPS x {grid.centre(x, 0):.1f} mm)\n"
                     "tinted: above the fat threshold", fontsize=9)
    fat_text = (f"fat reference {method.get('signal_fat'):g} ({method.get('signal_fat_source')}), muscle "
                f"{method.get('signal_muscle'):g}, threshold {threshold:g}" if threshold is not None
                else f"no fat reference: {method.get('signal_fat_reason')}")
    fig.suptitle(f"{title} multifidus/erector fat fraction, sagittal approximation (levels measured on an axial "
                 f"series are in mri_muscle_axial.png)\n{fat_text}. Research use only\n{NEAR_CUTOFF_LEGEND}", fontsize=9)
    fig.tight_layout()
    path = out_dir / "mri_muscle.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _levels_figure(plt, image: np.ndarray, grid: ImageGrid, data: dict,
                   body_masks: dict[str, np.ndarray], labels: np.ndarray | None, out_dir: Path, title: str) -> Path:
    """``mri_levels.png``: per level, the sagittal slice of its body ROI (top) and the axial reformat through it."""
    from spinebq.anatomy import VERSE_IDS

    with plt.rc_context({"font.size": 7}):
        fig, axes = plt.subplots(2, len(body_masks), figsize=(2.6 * len(body_masks), 6.4), squeeze=False)
        for (lv, roi), top, bottom in zip(body_masks.items(), axes[0], axes[1]):
            if not roi.any():
                top.set_axis_off()
                bottom.set_axis_off()
                continue
            colour = COLOURS.get(lv, "yellow")
            outlines = [(roi, colour, 1.4)]
            if labels is not None:
                outlines.insert(0, (labels == VERSE_IDS[lv], "yellow", 0.8))
            x = int(data["levels"][lv]["body_slice"])  # the ROI's centre slice, set whenever the ROI exists
            _, y, z = (int(round(float(np.median(i)))) for i in np.nonzero(roi))
            ys, zs = _crop([m[x] for m, _, _ in outlines], image.shape[1:], margin=12)
            _show(top, image[x], grid, ys, zs)
            for mask, c, lw in outlines:
                _contour(top, mask[x], grid, c, lw=lw)
            signal = data["levels"][lv].get("body_signal")
            top.set_title(f"{lv} slice {x}: SI {signal:.1f}" if signal is not None else f"{lv} slice {x}: n/a",
                          color=colour)
            # axial reformat at the ROI's centre height: left-right across the stack, anterior up
            axial = image[:, :, z]
            lo, hi = _window(axial)
            bottom.imshow(axial.T, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest",
                          extent=(grid.edge(0, 0), grid.edge(axial.shape[0], 0), grid.edge(axial.shape[1], 1),
                                  grid.edge(0, 1)))
            xx = grid.centre(np.arange(axial.shape[0]), 0)
            yy = grid.centre(np.arange(axial.shape[1]), 1)
            for mask, c, lw in outlines:
                if mask[:, :, z].any():
                    bottom.contour(xx, yy, mask[:, :, z].T.astype(float), levels=[0.5], colors=[c], linewidths=lw)
            bottom.axvline(grid.centre(x, 0), color=colour, lw=0.6, ls="--")
            bottom.set_ylim(min(grid.edge(ys.stop, 1), grid.centre(y, 1) + 45),
                            max(grid.edge(ys.start, 1), grid.centre(y, 1) - 45))
            bottom.set_title(f"axial at LPS z {grid.centre(z, 2):.1f} mm")
            bottom.set_xlabel(grid.label(0, "patient right -> left"))
            bottom.set_ylabel(grid.label(1, "anterior -> posterior"))
        fig.suptitle(f"{title}: body ROIs (level colour) on their own slices, vertebra labels (yellow), "
                     "ROI slice dashed on the axial view. Research use only", fontsize=8)
        fig.tight_layout()
        path = out_dir / "mri_levels.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


def save_axial_muscle_figure(volume: Volume, data: dict, axial_rois: dict[str, np.ndarray], out_dir: str | Path, *,
                             title: str = "") -> Path | None:
    """``mri_muscle_axial.png``: per disc level measured on the axial series, its middle slice with the ROIs.

    Parameters
    ----------
    volume : Volume
        The axial MR series (canonical: axis 0 to the patient's left, 1 posterior, 2 the slice index); the picture's
        axes are its LPS millimetres.
    data : dict
        The ``spinebq.mri/1`` document (fat fractions, grades and the fat threshold are printed).
    axial_rois : dict
        ``muscle_<side>_<disc>`` masks on the axial grid (:attr:`MriMeasurement.axial_rois`).
    out_dir : str or Path
        Folder for the PNG file.
    title : str
        First line of the picture's title.

    Returns
    -------
    Path or None
        The file written; None when no level was measured on the axial series.
    """
    discs = [d for d, e in data.get("muscle", {}).items() if e.get("plane") == "axial"]
    if not discs:
        return None
    plt = _plt()
    threshold = data["muscle_method"]["threshold"]
    axial, grid = volume.array, ImageGrid.of(volume)
    sx, sy = grid.spacing_mm[:2]
    fig, axes = plt.subplots(1, len(discs), figsize=(3.2 * len(discs), 3.8), squeeze=False)
    for ax, disc in zip(axes[0], discs):
        e = data["muscle"][disc]
        k = e["axial_slices"][len(e["axial_slices"]) // 2]
        masks = [axial_rois[f"muscle_{side}_{disc}"][:, :, k] for side in ("left", "right")
                 if f"muscle_{side}_{disc}" in axial_rois]
        both = np.any(masks, axis=0)
        xs, ys = np.nonzero(both)
        cx = slice(max(0, xs.min() - int(25 / sx)), min(axial.shape[0], xs.max() + int(25 / sx)))
        cy = slice(max(0, ys.min() - int(60 / sy)), min(axial.shape[1], ys.max() + int(20 / sy)))
        image2d = axial[cx, cy, k]
        lo, hi = _window(image2d)
        extent = (grid.edge(cx.start, 0), grid.edge(cx.stop, 0), grid.edge(cy.stop, 1), grid.edge(cy.start, 1))
        ax.imshow(image2d.T, cmap="gray", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
        fat = np.where(both & (axial[:, :, k] > threshold), 1.0, np.nan)[cx, cy]
        ax.imshow(fat.T, cmap="autumn", alpha=0.45, extent=extent, interpolation="nearest")
        for m in masks:
            ax.contour(grid.centre(np.arange(cx.start, cx.stop), 0), grid.centre(np.arange(cy.start, cy.stop), 1),
                       m[cx, cy].T.astype(float), levels=[0.5], colors=["yellow"], linewidths=0.8)
        ax.set_title(f"{disc} (slice {k}, LPS z {grid.centre(k, 2):.1f} mm), Goutallier {e['goutallier']}\n"
                     + "\n".join(f"{side[0].upper()} {_side_text(e, side)}".replace("\n", ", ")
                                 for side in ("right", "left")), fontsize=8)
        ax.set_xlabel(grid.label(0, "patient right -> left"), fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0][0].set_ylabel(grid.label(1, "anterior -> posterior"), fontsize=7)
    fig.suptitle(f"{title} multifidus/erector fat fraction on the axial series (tinted: voxels above the fat "
                 f"threshold {threshold:g}).\n{NEAR_CUTOFF_LEGEND}. Research use only", fontsize=8)
    fig.tight_layout()
    path = Path(out_dir) / "mri_muscle_axial.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

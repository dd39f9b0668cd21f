"""PNG preview of a segmentation: mid-sagittal and mid-coronal CT with labelled outlines and names."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_NAMES


def write_preview(ct, vertebrae, path: str | Path, levels: dict | None = None) -> Path:
    """Write a two-panel PNG (sagittal, coronal through the spine) with the labels drawn over the CT.

    Each level is written with its confidence, the sides where a rib was found (``rib L+R``) and ``unconfirmed``
    where its name is a guess (``levels`` as :attr:`SegmentationResult.levels`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    hu = ct.array
    lab = vertebrae.array
    sp = ct.spacing_mm
    idx = np.argwhere(lab > 0)
    if len(idx):
        cx, cy = int(np.median(idx[:, 0])), int(np.median(idx[:, 1]))
    else:
        cx, cy = hu.shape[0] // 2, hu.shape[1] // 2
    fig, axes = plt.subplots(1, 2, figsize=(10, 6))
    views = [(hu[cx, ::-1, :].T, lab[cx, ::-1, :].T, sp[1], "sagittal (anterior left)"),
             (hu[::-1, cy, :].T, lab[::-1, cy, :].T, sp[0], "coronal (patient right on the left)")]
    cmap = plt.get_cmap("tab10")
    for ax, (img, labels, s_in, title) in zip(axes, views):
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
            ax.text(cols.max() + 2, rows.mean(), text, color=cmap(i % 10), fontsize=8, va="center")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle("spinebq segment (research use only)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

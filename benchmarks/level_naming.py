"""Level naming without the sacrum (issue 19): the real CT cut as a chest or thoracolumbar CT would be.

The real TotalSegmentator example CT (3 mm, T12 to the sacrum) is segmented whole and cropped just above the sacrum,
to T12-L3, to T12-L1 and to L2-L5 (no rib, no sacrum); then the phantom whole and cut above S1. For each crop a table
row per level: the name the built-in segmentation gives, the true name (TotalSegmentator v2's label that the
vertebra overlaps most; the phantom's truth), the level's confidence, whether it is ``level_unconfirmed``, and what
leaves each side (rib / transverse process / ambiguous / not seen, with the path followed through bone in mm).
A wrong name without ``level_unconfirmed`` is marked WRONG.

    python benchmarks/level_naming.py [--picture rib_reading.png]

``--picture`` writes a coronal maximum-intensity picture of the crop above the sacrum with each side's reading.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS, VERSE_NAMES
from spinebq.io.labels import load_labels
from spinebq.io.volume import load_volume
from spinebq.segment.ct.core import segment_ct
from spinebq.segment.ct.labelling import LEVEL_UNCONFIRMED
from spinebq.synthetic.ct import make_ct_phantom

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
#: z slices kept (TotalSegmentator v2: S1 37-52, L5 42-58, L4 55-68, L3 65-79, L2 75-91, L1 86-103, T12 97-111).
CROPS = {"full": (0, 112), "above the sacrum": (53, 112), "T12-L3": (67, 104), "T12-L1": (84, 112), "L2-L5": (53, 86)}
SHORT = {"rib": "rib", "transverse_process": "TP", "ambiguous": "ambiguous", "not_seen": "not seen"}


def _true_name(result, level: str, truth: np.ndarray) -> str:
    inside = truth[result.vertebrae.array == VERSE_IDS[level]]
    inside = inside[inside > 0]
    if inside.size == 0:
        return "-"
    ids, counts = np.unique(inside, return_counts=True)
    return VERSE_NAMES[int(ids[np.argmax(counts)])]


def _side(entry: dict, side: str) -> str:
    b = entry["lateral_processes"].get(side)
    if not b:
        return "-"
    path = "" if b["path_mm"] is None else f" {b['path_mm']:.0f} mm"
    return f"{SHORT[b['kind']]}{path}{' (separate)' if b['separate'] else ''}"


def _rows(crop: str, result, truth: np.ndarray, seconds: float) -> None:
    for level, entry in result.levels.items():
        true = _true_name(result, level, truth)
        status = "level_unconfirmed" if LEVEL_UNCONFIRMED in entry["qc"] else ("ok" if true == level else "WRONG")
        print(f"| {crop} | {level} | {true} | {entry['confidence']:.2f} | {status} | {_side(entry, 'left')} | "
              f"{_side(entry, 'right')} |")
    print(f"| {crop} | | | | method: {result.info['method']} ({seconds:.1f} s) | | |")


def _picture(ct, result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = ct.array
    posterior = a[:, a.shape[1] // 2:, :].max(axis=1)  # coronal MIP of the posterior half (spine and ribs)
    sx, _, sz = ct.spacing_mm
    fig, ax = plt.subplots(figsize=(10, 6))
    ax.imshow(np.clip(posterior.T, -100, 600), cmap="gray", origin="lower", aspect=sz / sx)
    colours = {"rib": "tab:orange", "transverse_process": "tab:cyan", "ambiguous": "tab:red", "not_seen": "tab:gray"}
    for level, entry in result.levels.items():
        i, _, k = ct.mm_to_index(np.asarray(entry["centroid_mm"], float))
        ax.text(i, k, level, color="yellow", ha="center", va="center", fontsize=9, weight="bold")
        for side, sign in (("left", 1), ("right", -1)):
            b = entry["lateral_processes"].get(side)
            if not b:
                continue
            x = i + sign * 28
            ax.text(x, k, _side(entry, side), color=colours[b["kind"]], ha="left" if sign > 0 else "right",
                    va="center", fontsize=8)
    ax.set_title(f"{result.info['method']}\nwhat leaves each side (patient's right on the image left)", fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", type=Path, help="write the crop above the sacrum as a PNG with the rib reading")
    args = parser.parse_args()
    ct = load_volume(TS / "ct.nii.gz", expect_modality="CT")
    truth = load_labels(TS / "seg_v2" / "total.nii.gz", ct).array
    print("| crop | level | true level | confidence | status | left | right |\n|---|---|---|---|---|---|---|")
    for crop, (k0, k1) in CROPS.items():
        box = (slice(None), slice(None), slice(k0, k1))
        part = ct.crop(box)
        t0 = time.perf_counter()
        result = segment_ct(part)
        _rows(crop, result, truth[box], time.perf_counter() - t0)
        if crop == "above the sacrum" and args.picture:
            _picture(part, result, args.picture)
    phantom = make_ct_phantom()
    labels = phantom.labels.array
    top_of_s1 = int(np.argwhere(labels == VERSE_IDS["S1"])[:, 2].max())
    for crop, k0 in (("phantom", 0), ("phantom above S1", top_of_s1 + 1)):
        box = (slice(None), slice(None), slice(k0, labels.shape[2]))
        t0 = time.perf_counter()
        result = segment_ct(phantom.ct.crop(box))
        _rows(crop, result, labels[box], time.perf_counter() - t0)


if __name__ == "__main__":
    main()

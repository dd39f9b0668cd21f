"""The real CT measured with every label source, and resampled to 0.7 mm (issue 19): a table per level.

Prints, for L1-L5, ``hu_3d``, the anterior/middle/posterior heights, the Genant grade and the traditional screws
(diameter x length, medial angle, fraction inside the bone the image shows; left/right) with no labels (built-in segmentation), the built-in labels written by
``spinebq segment`` and fed back with ``--labels``, TotalSegmentator v2 and v1; then TotalSegmentator v2 on the CT
and on the CT resampled to 0.7 mm (lumbar crop, trilinear CT, nearest-neighbour labels), with the contrast phase
and vessel HU of each.

    python benchmarks/ct_label_sources.py
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage

from spinebq.cli import main as cli_main
from spinebq.image.labelmap import LabelMap
from spinebq.io.labels import load_labels
from spinebq.image.volume import Volume
from spinebq.io.volume import load_volume
from spinebq.pipeline import CtOptions, analyse_ct

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
LUMBAR = ("L1", "L2", "L3", "L4", "L5")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.1f}"


def _row(record, level: str) -> str:
    v = record.level(level)
    h = v.heights
    heights = "/".join(_fmt(x) for x in (h.anterior_mm, h.middle_mm, h.posterior_mm)) if h else "n/a"
    screws = []
    for side in ("left", "right"):
        tr = v.trajectories.get(side)
        screws.append(f"{tr.diameter_mm:g}x{tr.length_mm:.0f} {tr.medial_angle_deg:.0f} deg, bone "
                      f"{tr.inside_bone_fraction:.2f}" if tr is not None and tr.measured else "-")
    flags = ",".join(q for q in v.qc if q in ("labels_implausible", "level_unconfirmed"))
    return f"{_fmt(v.hu)} | {heights} | {v.genant_grade} | {' / '.join(screws)}{' ' + flags if flags else ''}"


def _resampled(ct: Volume, labels: LabelMap, spacing_mm: float) -> tuple[Volume, LabelMap]:
    box = (slice(25, 95), slice(20, 101), slice(0, ct.shape[2]))
    ct, labels = ct.crop(box), LabelMap.of(labels.crop(box), content=labels.content)
    factor = float(ct.spacing_mm[0]) / spacing_mm
    affine = ct.affine.copy()
    affine[:3, :3] /= factor
    affine[:3, 3] = ct.affine[:3, 3] + ct.affine[:3, :3] @ np.full(3, (1 / factor - 1) / 2)
    fine = Volume(ndimage.zoom(ct.array.astype(np.float32), factor, order=1), affine, dict(ct.metadata))
    fine_labels = LabelMap(ndimage.zoom(labels.array, factor, order=0).astype(np.int16), affine.copy(),
                           content=labels.content, scheme=labels.scheme, source="resampled")
    return fine, fine_labels


def main_cli(args: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return cli_main(args)


def main() -> None:
    ct_path = TS / "ct.nii.gz"
    with tempfile.TemporaryDirectory() as tmp:
        if main_cli(["segment", str(ct_path), "--out", tmp, "--no-preview"]) != 0:
            raise SystemExit("spinebq segment failed")
        sources = {"no labels": None, "built-in fed back": str(Path(tmp) / "vertebrae.nii.gz"),
                   "TotalSegmentator v2": str(TS / "seg_v2" / "total.nii.gz"), "TotalSegmentator v1": str(TS / "seg_v1")}
        records = {name: analyse_ct(str(ct_path), labels, CtOptions(threads=1)) for name, labels in sources.items()}
    print("| level | source | hu_3d | heights a/m/p mm | Genant | screws L / R (mm, medial, inside bone) |")
    print("|---|---|---|---|---|---|")
    for level in LUMBAR:
        for name, record in records.items():
            print(f"| {level} | {name} | {_row(record, level)} |")
    ct = load_volume(ct_path)
    labels = load_labels(TS / "seg_v2" / "total.nii.gz", ct)
    print()
    print("| level | grid | hu_3d | heights a/m/p mm | Genant | screws L / R (mm) |")
    print("|---|---|---|---|---|---|")
    grids = {"3 mm": (ct, labels), "0.7 mm": _resampled(ct, labels, 0.7)}
    options = CtOptions(threads=1, trajectory="none")
    measured = {name: analyse_ct(image, lab, options) for name, (image, lab) in grids.items()}
    for level in LUMBAR:
        for name, record in measured.items():
            print(f"| {level} | {name} | {_row(record, level)} |")
    for name, record in {**{f"{k} (label source)": r for k, r in records.items()}, **measured}.items():
        contrast = record.summary.regional.contrast
        print(f"contrast, {name}: {contrast['phase']} (aorta {_fmt(contrast.get('aorta_hu'))} HU, "
              f"IVC {_fmt(contrast.get('ivc_hu'))} HU)")


if __name__ == "__main__":
    main()

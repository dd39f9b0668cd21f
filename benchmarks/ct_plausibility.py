"""Per-level plausibility and the S1 plan on the real CT (issue 19): a table per level.

Prints, for every label source of the real CT (TotalSegmentator v2 and v1, the built-in segmentation) and the
phantom, each level's ``level_confidence``, whether it is flagged ``labels_implausible`` and the S1 screws; then the
real v2 labels with L3's mask moved onto the L3/L4 disc, 60 mm into the abdomen, or doubled in height, with the
reasons given for each flagged level and the levels left in the summary; then the v2 labels moved caudally by one
level with the true plans moved with them (a trajectory file) and with automatic plans: each screw's fraction inside
the label (``inside_vertebra_fraction``) and inside the bone the image shows (``inside_bone_fraction``).

    python benchmarks/ct_plausibility.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS
from spinebq.image.labelmap import LabelMap
from spinebq.io.labels import load_labels
from spinebq.io.volume import load_volume
from spinebq.measure.ct.levels import measure_ct
from spinebq.pipeline import CtOptions, analyse_ct, combine_ct
from spinebq.synthetic.ct import make_ct_phantom
from spinebq.measure.ct.regional import RegionalOptions, measure_regional

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"


def _screw(tr: dict, fractions: bool = False) -> str:
    if not tr.get("entry_mm"):
        return "-"
    breach = " BREACH" if "pedicle_wall_breach" in tr["warnings"] else ""
    inside = (f", label {tr['inside_vertebra_fraction']:.2f} bone {tr['inside_bone_fraction']:.2f}" if fractions else "")
    return f"{tr['diameter_mm']:g}x{tr['length_mm']:g} {tr['medial_angle_deg']:.0f} deg{inside}{breach}"


def _rows(source: str, vertebrae: dict) -> None:
    for name, v in vertebrae.items():
        if "cut_by_field_of_view" in v["qc"]:
            continue
        flag = "labels_implausible" if "labels_implausible" in v["qc"] else "ok"
        screws = " / ".join(_screw(v["trajectories"][s]) for s in ("left", "right")) if name == "S1" else ""
        print(f"| {source} | {name} | {v['level_confidence']} | {flag} | {screws} |")


def _with(labels: LabelMap, array: np.ndarray) -> LabelMap:
    return LabelMap(array, labels.affine, labels.metadata, labels.content, labels.scheme, labels.source, labels.scheme_note)


def _moved(labels: LabelMap, level: str, shift) -> LabelMap:
    vid, array = VERSE_IDS[level], labels.array.copy()
    where = np.argwhere(array == vid)
    array[array == vid] = 0
    new = where + np.asarray(shift)
    keep = np.all((new >= 0) & (new < np.asarray(array.shape)), axis=1)
    array[tuple(new[keep].T)] = vid
    return _with(labels, array)


def _doubled(labels: LabelMap, level: str) -> LabelMap:
    vid, array = VERSE_IDS[level], labels.array.copy()
    where = np.argwhere(array == vid)
    bottom = where[:, 2].min()
    for i, j, k in where:
        array[i, j, k:min(bottom + 2 * (k - bottom) + 2, array.shape[2])] = vid
    return _with(labels, array)


def main() -> None:
    ct_path = TS / "ct.nii.gz"
    print("| source | level | level_confidence | plausibility | S1 screws L / R (mm, medial) |\n|---|---|---|---|---|")
    for source, labels in (("TotalSegmentator v2", TS / "seg_v2" / "total.nii.gz"), ("TotalSegmentator v1", TS / "seg_v1"),
                           ("built-in (no labels)", None)):
        record = analyse_ct(ct_path, labels, CtOptions(threads=2))
        _rows(source, {v.level: v.to_json() for v in record.vertebrae})
    phantom = make_ct_phantom(rods=True)
    result = measure_ct(phantom.ct, phantom.labels)
    vertebrae, _ = combine_ct(result, measure_regional(phantom.ct, phantom.labels, result, RegionalOptions(trajectory="auto")))
    _rows("phantom", {v.level: v.to_json() for v in vertebrae})

    ct = load_volume(ct_path, expect_modality="CT")
    labels = load_labels(TS / "seg_v2" / "total.nii.gz", ct)
    plain = measure_ct(ct, labels)
    half = int(round(np.linalg.norm(plain.frames["L3"].centre_mm - plain.frames["L4"].centre_mm) / ct.spacing_mm[2] / 2))
    print("\n| L3 mask | level | level_confidence | reasons |\n|---|---|---|---|")
    for change, changed in (("moved onto the L3/L4 disc", _moved(labels, "L3", (0, 0, -half))),
                            ("moved 60 mm into the abdomen", _moved(labels, "L3", (0, -int(round(60 / ct.spacing_mm[1])), 0))),
                            ("doubled in height", _doubled(labels, "L3"))):
        result = measure_ct(ct, changed)
        for name in ("L1", "L2", "L3", "L4", "L5"):
            v = result.vertebrae[name]
            reasons = "; ".join(v["plausibility"]["reasons"]) or "-"
            print(f"| {change} | {name} | {v['level_confidence']} | {reasons} |")
        print(f"| {change} | summary | | levels used: {', '.join(result.summary['levels_used'])} |")

    _shifted_by_one_level(ct, labels)


def _shifted_by_one_level(ct, labels: LabelMap) -> None:
    import json
    import tempfile

    z = {level: np.argwhere(labels.array == VERSE_IDS[level])[:, 2].mean() for level in ("L2", "L3")}
    step = int(round(z["L2"] - z["L3"]))
    array = np.zeros_like(labels.array)
    array[:, :, :-step] = labels.array[:, :, step:]
    shifted = _with(labels, array)
    truth = measure_regional(ct, labels, measure_ct(ct, labels), RegionalOptions(trajectory="auto"))
    offset = np.array([0.0, 0.0, float(ct.spacing_mm[2]) * step])
    moved = [{"level": level, "side": side, "diameter_mm": tr.diameter_mm,
              "entry": list(np.asarray(tr.entry_mm) - offset), "target": list(np.asarray(tr.target_mm) - offset)}
             for level in ("L1", "L2", "L3", "L4", "L5") for side, tr in truth.levels[level].trajectories.items()]
    print(f"\n| labels moved {step} voxels ({step * ct.spacing_mm[2]:.0f} mm) caudally | level | screws L / R (mm, medial, "
          "inside label, inside bone) |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "moved.json"
        path.write_text(json.dumps({"screws": moved}))
        for kind, trajectory in (("true plans moved with the labels", str(path)), ("automatic plans", "auto")):
            result = measure_regional(ct, shifted, measure_ct(ct, shifted), RegionalOptions(trajectory=trajectory))
            for name in ("L1", "L2", "L3", "L4", "L5"):
                sides = result.levels[name].trajectories
                print(f"| {kind} | {name} | "
                      f"{' / '.join(_screw(sides[s].to_json(), fractions=True) for s in ('left', 'right'))} |")


if __name__ == "__main__":
    main()

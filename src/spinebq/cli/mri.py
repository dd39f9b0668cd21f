"""``spinebq mri``: VBQ, S1-VBQ, PBQ and paraspinal muscle fat from a sagittal T1 lumbar MRI.

Writes ``DIR/mri.json`` (schema ``spinebq.mri/1``), ``DIR/mri.csv`` (one row per level), the ROI
pictures ``DIR/mri_*.png`` and, in automatic mode, ``DIR/vertebrae.nii.gz`` (VerSe ids on the MR grid).
``--axial`` adds an axial T1 series of the same exam, on which the paraspinal muscle fat is measured.
Research use only, not a medical device.
"""
from __future__ import annotations

import argparse
from pathlib import Path

NAME = "mri"
FLAGS = {"scheme": "--label-scheme", "series_uid": "--series"}
INPUTS = ("image", "labels", "points", "axial")
HELP = ("VBQ, PBQ and paraspinal muscle fat from a sagittal T1-weighted lumbar MRI (DICOM folder or NIfTI); "
        "research use only")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="MR", help="sagittal T1-weighted lumbar MRI: a DICOM folder or a .nii/.nii.gz file")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--labels", metavar="L", help="vertebra label map on the MR (VerSe ids, TotalSegmentator "
                        "vertebrae_mr/total_mr, TotalSpineSeg or SPINEPS); without --labels or --points the "
                        "vertebrae are found automatically")
    source.add_argument("--points", metavar="P", help='JSON of reader clicks {"L1": [x, y, z], ..., "CSF": [x, y, z]} in LPS '
                        'patient mm (optional "L1_pedicle_left", ...; "space": "voxel" for canonical array indices)')
    parser.add_argument("--label-scheme", default="auto",
                        choices=("auto", "verse", "vertebrae_mr", "totalspineseg", "total_mr"),
                        help="label scheme of --labels (default: decided from the file name and ids)")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID when the DICOM folder holds several series")
    parser.add_argument("--axial", metavar="AX", help="axial T1 series of the same exam (DICOM folder or NIfTI): the "
                        "paraspinal muscle fat of the disc levels it reaches is measured on it (Goutallier is defined "
                        "on axial images); without it the sagittal approximation is used")
    parser.add_argument("--out", metavar="DIR", default="spinebq_mri", help="output folder (default: spinebq_mri)")
    parser.add_argument("--no-figures", action="store_true", help="do not draw the ROI pictures")
    parser.add_argument("--no-muscle", action="store_true", help="skip the paraspinal muscle fat estimate")
    parser.add_argument("--include-phi", action="store_true", help="write the input paths into the outputs (folder "
                        "and file names may name the patient; by default the outputs name each input by its role)")


def run(args: argparse.Namespace) -> int:
    from spinebq.pipeline import MriOptions, analyse_mri
    from spinebq.report.mri_outputs import write_mri_outputs
    from spinebq.io.output import staged

    options = MriOptions(series_uid=args.series, label_scheme=args.label_scheme, muscle=not args.no_muscle)
    record = analyse_mri(args.image, labels=args.labels, points=args.points, axial=args.axial, options=options)
    if not args.include_phi:
        from dataclasses import replace

        from spinebq.io.output import without_paths

        names = {}
        for path, words in ((args.image, "the MR image"), (args.labels, "the label map"),
                            (args.points, "the points file"), (args.axial, "the axial series")):
            if path:
                names.update({path: words, str(Path(path).resolve()): words})
        record = replace(type(record).from_json(without_paths(record.to_json(), names)), images=record.images)
    with staged(args, metadata=record.images.image.metadata if record.images else None) as out:
        record = write_mri_outputs(out, record, figures=not args.no_figures)
    print(_summary(record.to_json(), args.out, args.image))
    return 0


def _signal(value, key: str) -> str:
    """A signal intensity (``key`` of the quantities table) in the decimals the report gives it, or not measured."""
    from spinebq.report.quantities import CSF_SIGNAL, MRI_LEVEL_QUANTITIES

    decimals = next(q.decimals for q in (CSF_SIGNAL, *MRI_LEVEL_QUANTITIES) if q.key == key)
    return "not measured" if value is None else f"{value:.{decimals}f}"


#: The first line's words for each ROI source of ``mri.json`` ``roi_source.method``.
ROI_SOURCE_WORDS = {"labels": "ROIs from labels", "points": "ROIs from points",
                    "automatic": "ROIs from the vertebrae found automatically"}


def _vbq_median(data: dict) -> str:
    """What the VBQ median was taken of: 'median L1-L4', or 'median of' the levels used."""
    used = data.get("vbq_levels_used") or []
    return "median L1-L4" if used == ["L1", "L2", "L3", "L4"] else f"median of {', '.join(used)}"


def _muscle_lines(muscle: dict) -> list[str]:
    """The summary's muscle lines: per disc level the grade (with the near-cutoff caveat), the fat fraction of each
    side and the plane; then, when a grade is near a cutoff, what that means."""
    from spinebq.measure.mri.muscle import NEAR_CUTOFF_MARGIN, fat_fraction_text, near_cutoff_text
    from spinebq.vocabulary import QcFlag

    lines = ["  Goutallier (worse side) from the T1 fat fraction of multifidus and erector spinae:"]
    for disc, e in muscle.items():
        grade = "missing" if e["goutallier"] is None else str(e["goutallier"])
        if e.get("near_cutoff") is not None:
            grade += f" ({near_cutoff_text(e['near_cutoff'])})"
        fractions = " / ".join(fat_fraction_text(e[f"fat_fraction_{side}"]) for side in ("left", "right"))
        lines.append(f"  {disc}: Goutallier {grade}, fat fraction (left / right) {fractions}, {e['plane']}")
    near = QcFlag.GOUTALLIER_NEAR_CUTOFF
    if any(near.value in e["qc"] for e in muscle.values()):
        lines.append(f"  note: {near.value}: {near.sentence} (closer than {100 * NEAR_CUTOFF_MARGIN:g} percentage "
                     "points; mri.json muscle qc_notes)")
    return lines


def _summary(data: dict, out, image: str) -> str:
    src = ROI_SOURCE_WORDS.get(data["roi_source"]["method"], data["roi_source"]["method"])
    lines = [f"spinebq mri: {image} ({src}) - research use only, not a medical device"]
    vbq = data["vbq"]
    if vbq is None:
        lines.append(f"  VBQ: not measurable ({data['vbq_reason']})")
    else:
        cut = next((c for c in data["vbq_cutoffs"] if c["cutoff"] == 3.3), None)
        where = "" if cut is None else (f"; {'at or above' if cut['at_or_above'] else 'below'} 3.3, the implant-failure "
                                        "cutoff of Wu 2025 [wu2025]")
        left_out = f"; {data['vbq_reason']}" if data.get("vbq_reason") else ""
        lines.append(f"  VBQ {vbq:.2f} ({_vbq_median(data)} body SI / CSF SI at {data['csf']['level']}{left_out}; "
                     f"Ehresman method){where}")
    if data["s1_vbq"] is not None:
        lines.append(f"  S1-VBQ {data['s1_vbq']:.2f} (S1 body SI / CSF SI)")
    pbq = data["pbq"]
    lines.append(f"  PBQ {pbq:.2f} (mean L1-L4 pedicle SI / CSF SI; [yang2026] definition, no published cutoff)"
                 if pbq is not None else f"  PBQ: not measurable ({data['pbq_reason']})")
    lines.append(f"  CSF signal {_signal(data['csf']['signal'], 'csf.signal')} at {data['csf']['level']} ({data['csf']['voxels']} voxels, slice {data['csf']['slice']})")
    for lv, e in data["levels"].items():
        notes = e.get("qc_notes") or {}
        flags = [f"{q}: {notes[q]}" if q in notes else q for q in e["qc"] if q != "pedicle_estimated_from_body_geometry"]
        pedicles = " / ".join(_signal(e[f"pedicle_signal_{side}"], f"pedicle_signal_{side}") for side in ("left", "right"))
        body = _signal(e["body_signal"], "body_signal")
        lines.append(f"  {lv}: body SI {body}, pedicles (left / right) {pedicles}"
                     + (f"  [{'; '.join(flags)}]" if flags else ""))
    if data.get("vbq_fracture_note"):
        lines.append(f"  note: {data['vbq_fracture_note']}")
    if data["muscle"]:
        lines += _muscle_lines(data["muscle"])
        reason = data["muscle_method"].get("signal_fat_reason")
        if reason:
            lines.append(f"  Goutallier missing: {reason}")
    if data["roi_source"].get("note"):  # automatic mode: how the levels were found, and to check them
        lines.append(f"  note: {data['roi_source']['note']}")
    notes = data["input"].get("flag_notes") or {}
    for flag in data["input"]["flags"]:
        lines.append(f"  note: {flag}: {notes.get(flag, '')}".rstrip(": "))
    lines.append(f"  written to {out}/ (mri.json, mri.csv, pictures)")
    return "\n".join(lines)

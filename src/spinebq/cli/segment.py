"""``spinebq segment CT --out DIR``: built-in vertebra segmentation and labelling (no model download)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from spinebq.constants import DEFAULT_PATIENT_ID
from spinebq.errors import SpinebqError

NAME = "segment"
FLAGS = {"series_uid": "--series"}
INPUTS = ("ct",)
HELP = ("segment and name the vertebrae of a CT (T11-S1) with image analysis only; writes vertebrae.nii.gz, "
        "subregions.nii.gz, labels.json, preview.png (and vertebrae_seg.dcm for DICOM input)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from spinebq.cli.ct import add_modality_argument
    from spinebq.vocabulary import Segmenter

    parser.add_argument("ct", help="CT as NIfTI file or DICOM folder")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--level-at", action="append", default=[], metavar="X,Y,Z=L3",
                        help="pin a level: the vertebra at this point (patient LPS mm, as in DICOM) is L3; repeatable")
    parser.add_argument("--segmenter", choices=Segmenter.values(), default="builtin",
                        help="builtin image analysis (default) or TotalSegmentator when installed with its weights")
    parser.add_argument("--series", default=None, metavar="UID", help="SeriesInstanceUID when the folder holds several")
    parser.add_argument("--no-preview", action="store_true", help="do not write preview.png")
    add_modality_argument(parser)
    parser.add_argument("--id", default=DEFAULT_PATIENT_ID, help="pseudonym written as the DICOM SEG's Patient's Name "
                        f"and Patient ID (default: {DEFAULT_PATIENT_ID})")
    parser.add_argument("--include-phi", action="store_true", help="keep the source's patient name, ID and birth date "
                        "in the DICOM SEG")


def parse_level_at(values: list[str]) -> dict:
    """``["10,-20,30=L3"]`` -> ``{(10.0, -20.0, 30.0): "L3"}``; a bad value raises SpinebqError."""
    out = {}
    for value in values:
        try:
            point, name = value.split("=")
            xyz = tuple(float(v) for v in point.split(","))
            if len(xyz) != 3:
                raise ValueError
        except ValueError:
            raise SpinebqError(f"--level-at {value!r}: expected X,Y,Z=NAME in mm, e.g. 12.5,-30,105=L3") from None
        out[xyz] = name.strip().upper()
    return out


def run(args: argparse.Namespace) -> int:
    from spinebq.image.volume import to_source_orientation
    from spinebq.io.volume import save_nifti
    from spinebq.pipeline import SUBREGIONS_FILE, CtOptions, load_ct
    from spinebq.segment.ct.core import run_segmenter
    from spinebq.report.files import write_json
    from spinebq.segment.ct.preview import write_preview
    from spinebq.io.output import staged
    level_at = parse_level_at(args.level_at)
    ct = load_ct(args.ct, CtOptions(series_uid=args.series, modality=args.modality))
    result = run_segmenter(ct, segmenter=args.segmenter, level_at=level_at)
    with staged(args, metadata=ct.metadata) as out:
        save_nifti(to_source_orientation(result.vertebrae, ct), out / "vertebrae.nii.gz", dtype=np.int16)
        save_nifti(to_source_orientation(result.subregions, ct), out / SUBREGIONS_FILE, dtype=np.uint8)
        doc = result.to_json()
        doc["input"] = {"path": str(args.ct), "shape": list(ct.shape), "spacing_mm": [round(s, 4) for s in ct.spacing_mm]}
        written = ["vertebrae.nii.gz", SUBREGIONS_FILE, "labels.json"]
        if not args.no_preview:
            write_preview(ct, result.vertebrae, out / "preview.png", result.levels)
            written.append("preview.png")
        if Path(args.ct).is_dir() or ct.metadata.get("format") == "DICOM" or ct.metadata.get("series_uid"):
            from spinebq.segment.ct.dicom_seg import write_dicom_seg

            write_dicom_seg(result.vertebrae, args.ct, out / "vertebrae_seg.dcm", series_uid=args.series,
                            patient_id=args.id, include_phi=args.include_phi)
            written.append("vertebrae_seg.dcm")
        doc["files"] = written
        if not args.include_phi:
            from spinebq.io.output import without_paths

            doc = without_paths(doc, {args.ct: "the CT input"})
        write_json(out / "labels.json", doc)
    out = Path(args.out)
    print(f"spinebq segment: {len(result.levels)} levels ({result.info.get('segmenter', 'builtin')}): "
          f"{result.info.get('method', '')}")
    for name, level in result.levels.items():
        qc = "; ".join(level["qc"]) if level["qc"] else "ok"
        ribs = [f"{side[0].upper()} {b['path_mm']:.0f} mm" for side, b in level.get("lateral_processes", {}).items()
                if b["kind"] == "rib"]
        ribs_text = f"  rib {', '.join(ribs)}" if ribs else ""
        print(f"  {name:4s} confidence {level['confidence']:.2f}  body {level['body_volume_ml']:.1f} ml{ribs_text}  {qc}")
    for flag in result.info.get("qc", []):
        print(f"  note: {flag}")
    print(f"  wrote {', '.join(written)} to {out}")
    return 0

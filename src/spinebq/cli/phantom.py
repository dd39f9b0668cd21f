"""``spinebq phantom``: write the synthetic lumbar CT with its labels and ground truth."""
from __future__ import annotations

import argparse

NAME = "phantom"
INPUTS = ()
HELP = ("write a synthetic lumbar CT (T12-S1) with label maps and ground truth (with --mri also a sagittal T1 MR), "
        "for the demo and for tests")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from spinebq.cli._numbers import number

    parser.add_argument("--out", default="spinebq_phantom", help="output folder (default: ./spinebq_phantom)")
    parser.add_argument("--rods", action="store_true", help="add four hydroxyapatite calibration rods (0/50/100/200 mg/cm3)")
    parser.add_argument("--tilt", type=number(-45, 45), default=0.0, help="sagittal tilt of the spine, degrees")
    parser.add_argument("--screw", action="store_true", help="add a metal screw in the left pedicle of L4")
    parser.add_argument("--noise", type=number(0, 500), default=12.0, help="noise SD, HU (default: 12)")
    parser.add_argument("--seed", type=number(0, 2**32 - 1, integer=True), default=0, help="noise seed (default: 0)")
    parser.add_argument("--spacing", default="1,1,1.5", help="voxel size L,P,S in mm (default: 1,1,1.5)")
    parser.add_argument("--mri", action="store_true",
                        help="also write a synthetic sagittal T1 MR of the same spine: mr.nii.gz, mr_labels.nii.gz, "
                             "mr_truth.json (for spinebq mri)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from spinebq.errors import SpinebqError
    from spinebq.io.volume import save_nifti
    from spinebq.synthetic.ct import ROD_DENSITIES_MG_CM3, make_ct_phantom
    from spinebq.report.files import write_json
    from spinebq.io.output import staged

    try:
        spacing = tuple(float(v) for v in args.spacing.split(","))
        assert len(spacing) == 3 and all(0.4 <= s <= 5 for s in spacing)  # also NaN and inf fail here
    except (ValueError, AssertionError):
        raise SpinebqError(f"--spacing {args.spacing!r}: give three voxel sizes from 0.4 to 5 mm, e.g. 1,1,1.5") from None
    phantom = make_ct_phantom(spacing_mm=spacing, noise_hu=args.noise, seed=args.seed, rods=args.rods,
                              tilt_deg=args.tilt, screw=args.screw)
    with staged(args) as out:
        save_nifti(phantom.ct, out / "ct.nii.gz", dtype=np.int16)
        save_nifti(phantom.labels, out / "labels.nii.gz", dtype=np.int16)
        save_nifti(phantom.subregions, out / "subregions.nii.gz", dtype=np.int16)
        if args.rods:
            write_json(out / "phantom_rods.json", {"material": "hydroxyapatite", "rods_mg_cm3": list(ROD_DENSITIES_MG_CM3)})
        write_json(out / "truth.json", phantom.truth)
        if args.mri:
            from spinebq.synthetic.mri import make_mri_phantom

            mr, mr_labels, mr_truth = make_mri_phantom(seed=args.seed)
            save_nifti(mr, out / "mr.nii.gz")
            save_nifti(mr_labels, out / "mr_labels.nii.gz", dtype=np.int16)
            write_json(out / "mr_truth.json", mr_truth)
    out = args.out
    print(f"synthetic CT {phantom.ct!r}")
    print(f"wrote {out}/ct.nii.gz, labels.nii.gz (VerSe ids), subregions.nii.gz, truth.json"
          + (", phantom_rods.json" if args.rods else "")
          + (", mr.nii.gz (sagittal T1), mr_labels.nii.gz, mr_truth.json" if args.mri else ""))
    return 0

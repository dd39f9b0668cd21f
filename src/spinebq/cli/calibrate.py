"""``spinebq calibrate``: measure a phantom scan and add its HU -> vBMD equation, keyed by scanner, to a file."""
from __future__ import annotations

import argparse

NAME = "calibrate"
HELP = ("measure a calibration phantom scan and write its asynchronous-calibration equation, keyed by manufacturer, "
        "model, kVp and kernel, into an equations file (appended) for spinebq ct --calibration FILE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scan", help="the phantom scan: a DICOM folder or file, or NIfTI (give the key options then)")
    parser.add_argument("--phantom", metavar="FILE", help="the inserts (JSON, as for spinebq ct --phantom): 'rois' with "
                        "density and position or HU, or 'rods_mg_cm3' to find the rods in the image")
    parser.add_argument("--rods", metavar="DENSITIES", help="instead of --phantom: the rod densities in mg/cm3, "
                        "comma-separated (e.g. 0,50,100,200); the rods are found in the image")
    parser.add_argument("--material", choices=("hydroxyapatite", "k2hpo4"), default="hydroxyapatite",
                        help="insert material with --rods (default: hydroxyapatite; K2HPO4 rods need their water "
                        "densities: give them in a --phantom file)")
    parser.add_argument("--out", metavar="FILE", default="equations.json",
                        help="equations file to add to (created when absent; default: equations.json)")
    for name in ("manufacturer", "model", "kernel"):
        parser.add_argument(f"--{name}", help=f"the scanner {name} when the scan's header does not give it")
    from spinebq.cli._numbers import number
    from spinebq.constants import KVP_RANGE_KV

    parser.add_argument("--kvp", type=number(*KVP_RANGE_KV),
                        help="the tube voltage (kV) when the scan's header does not give it")


def run(args: argparse.Namespace) -> int:
    from spinebq.calibrate.equations import append_equation, equation_from_phantom, scanner_key
    from spinebq.calibrate.phantom import calibrate_from_file, calibrate_from_rods
    from spinebq.errors import OptionError, SpinebqError
    from spinebq.io.schemas import PhantomSpec, validated
    from spinebq.io.volume import load_volume
    from spinebq.report.files import write_json

    if bool(args.phantom) == bool(args.rods):
        raise OptionError("--phantom", "give the inserts either as --phantom FILE or as --rods DENSITIES (one of them)")
    if args.rods and args.material == "k2hpo4":
        raise OptionError("--material", "k2hpo4 needs each rod's water density, which --rods cannot carry: give a "
                          "--phantom file with rods_mg_cm3 and water_density_mg_cm3")
    ct = load_volume(args.scan)
    modality = ct.metadata.get("modality")
    if modality not in (None, "CT"):
        raise SpinebqError(f"{args.scan}: the image is {modality}; a calibration phantom is measured on a CT scan")
    key = scanner_key(ct.metadata, manufacturer=args.manufacturer, model=args.model, kvp=args.kvp, kernel=args.kernel)
    if args.rods:
        try:
            densities = [float(d) for d in args.rods.split(",") if d.strip()]
        except ValueError:
            raise OptionError("--rods", f"{args.rods!r} is not a comma-separated list of densities") from None
        spec = validated(PhantomSpec, {"material": args.material, "rods_mg_cm3": densities}, "--rods", "rod densities")
        try:
            calibration = calibrate_from_rods(ct, spec.rods_mg_cm3, material=spec.material)
        except SpinebqError as exc:
            raise SpinebqError(f"{args.scan}: {exc}") from None
    else:
        calibration = calibrate_from_file(args.phantom, ct)
    equation = equation_from_phantom(calibration, key)
    document, replaced = append_equation(args.out, equation)
    write_json(args.out, document)
    r2 = "" if equation.r2 != equation.r2 else f", R^2 {equation.r2:.4f}"
    print(f"phantom {key['manufacturer']} {key['model']}, {key['kvp']:g} kVp, kernel {key['kernel']}: "
          f"{equation.to_json()['equation']}{r2} ({len(equation.inserts)} inserts)")
    if calibration.details.get("warning"):
        print(f"warning: {calibration.details['warning']}")
    print(f"{'replaced the equation of this key in' if replaced else 'added to'} {args.out} "
          f"({len(document['equations'])} equation(s)); use it with: spinebq ct CT --calibration {args.out}")
    return 0

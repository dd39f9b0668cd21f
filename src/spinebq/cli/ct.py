"""``spinebq ct``: measure the trabecular bone of every vertebra of a CT."""
from __future__ import annotations

import argparse
import math

NAME = "ct"
#: Option parameter names (pipeline.CtOptions) whose flag is not --parameter-name.
FLAGS = {"summary_levels": "--levels", "series_uid": "--series", "screw_diameter_mm": "--screw-diameter",
         "screw_length_mm": "--screw-length", "scheme": "--label-scheme", "mapping": "--label-map"}
#: Input options, the primary input first (spinebq.io.output: manifest, and what --out may not be).
INPUTS = ("ct", "labels", "label_map", "bodies", "calibration", "phantom", "postop", "trajectory")
HELP = "measure vertebral trabecular HU (3D and three-slice), calibrate to vBMD, write measurements.json/csv and pictures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from spinebq.io.labels import SCHEMES
    from spinebq.cli._numbers import number
    from spinebq.measure.ct.presets import DEFAULT_PRESET, PRESETS

    parser.add_argument("ct", help="CT as a NIfTI file or a DICOM folder")
    parser.add_argument("--labels", help="vertebra label map (NIfTI) or folder of per-structure masks; "
                        "without it the built-in segmentation runs first")
    parser.add_argument("--label-scheme", default="auto", choices=SCHEMES, help="id convention of --labels (default: auto)")
    parser.add_argument("--label-map", help="JSON map from label id to vertebra name, e.g. {\"5\": \"L1\"}")
    parser.add_argument("--bodies", help="TotalSegmentator vertebrae_body map: the bodies of --labels (needs --labels; "
                        "whole-vertebra labels still give the pedicles and screws)")
    parser.add_argument("--out", default="spinebq_ct", help="output folder (default: ./spinebq_ct)")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS), help=f"3D ROI definition (default: {DEFAULT_PRESET})")
    parser.add_argument("--calibration", help="'phantom' (with --phantom FILE) or a file of scanner equations (JSON/CSV)")
    parser.add_argument("--phantom", help="phantom inserts file (JSON) for --calibration phantom")
    parser.add_argument("--series", help="SeriesInstanceUID to load from a DICOM folder with several series")
    parser.add_argument("--levels", default="L1,L2,L3,L4", help="levels of the summary, a list or a range such as "
                        "T12-L2 (default: L1,L2,L3,L4)")
    parser.add_argument("--metal-hu", type=number(300, 30000), default=1400.0, help="voxels above this HU are metal (default: 1400)")
    add_modality_argument(parser)
    parser.add_argument("--include-phi", action="store_true", help="copy patient name/ID/birth date into the outputs")
    parser.add_argument("--no-pictures", action="store_true", help="skip the overlay PNGs")
    screws = parser.add_argument_group("screw trajectories, regions, heights and contrast")
    screws.add_argument("--trajectory", default="auto", metavar="auto|from-screws|none|FILE",
                        help="virtual screws: 'auto' plans traditional and cortical trajectories from the anatomy (default), "
                        "'from-screws' finds the metal screws of a post-operative CT, FILE is a JSON of entry/target points "
                        "(LPS mm), 'none' skips them")
    screws.add_argument("--postop", metavar="CT",
                        help="with --trajectory from-screws: the post-operative CT holding the screws; it is registered "
                        "rigidly onto CT (the pre-operative scan) and the screws are measured there ([yang2026])")
    screws.add_argument("--trajectory-voxels", action="store_true",
                        help="the points of --trajectory FILE are voxel indices of the input image")
    screws.add_argument("--screw-diameter", type=number(0, 15, above=True), help="diameter (mm) of planned screws (default: sized to the pedicle)")
    screws.add_argument("--screw-length", type=number(0, 150, above=True), help="length (mm) of planned screws (default: 80 %% of the body depth)")
    screws.add_argument("--shell-mm", type=number(0, 10), default=1.5, help="bone-screw interface shell around each screw (default: 1.5)")
    screws.add_argument("--bloom-mm", type=number(0, 20), default=2.0, help="margin around real metal left out of every ROI (default: 2)")
    screws.add_argument("--contrast-phase", default="auto",
                        choices=("auto", "unenhanced", "arterial", "portal_venous", "delayed"),
                        help="contrast phase (default: from the DICOM header, else estimated from the aorta and IVC)")
    screws.add_argument("--contrast-correction", default="none", choices=("none", "totalsegmentator", "pickhardt"),
                        help="subtract a published enhancement offset from trabecular HU (raw HU always reported too)")


def add_modality_argument(parser: argparse.ArgumentParser) -> None:
    """``--modality CT``: the flag the CT value check's refusal names (:func:`spinebq.io.volume.check_modality`)."""
    parser.add_argument("--modality", choices=("CT",), help="treat the image as a CT whatever its header or values "
                        "say (e.g. a tightly cropped CT that the value check refuses)")


def options_from_args(args: argparse.Namespace):
    """The :class:`~spinebq.pipeline.CtOptions` of the command-line arguments."""
    from spinebq.errors import OptionError
    from spinebq.pipeline import CtOptions
    from spinebq.risk.values import parse_levels

    try:
        levels = tuple(parse_levels(args.levels))
    except ValueError as exc:
        raise OptionError("summary_levels", str(exc)) from None
    return CtOptions(preset=args.preset, summary_levels=levels, metal_hu=args.metal_hu, series_uid=args.series,
                     label_scheme=args.label_scheme, label_map=args.label_map, bodies=args.bodies,
                     calibration=args.calibration, phantom=args.phantom, trajectory=args.trajectory,
                     trajectory_voxels=args.trajectory_voxels, postop=args.postop,
                     screw_diameter_mm=args.screw_diameter, screw_length_mm=args.screw_length, shell_mm=args.shell_mm,
                     bloom_mm=args.bloom_mm, contrast_phase=args.contrast_phase,
                     contrast_correction=args.contrast_correction, include_phi=args.include_phi,
                     modality=args.modality)


def run(args: argparse.Namespace) -> int:
    from spinebq.pipeline import analyse_ct, load_ct
    from spinebq.report.ct_outputs import write_ct_outputs
    from spinebq.constants import RESEARCH_NOTICE
    from spinebq.io.output import staged

    options = options_from_args(args)
    ct = load_ct(args.ct, options)
    print(f"loaded {args.ct}: {ct!r}")
    for warning in ct.metadata.get("warnings") or []:
        print(f"warning: {warning}")
    choice = ct.metadata.get("series_choice")
    if choice and "as requested" not in choice and "only" not in choice:
        print(choice)
    record = analyse_ct(ct, args.labels, options, progress=lambda message: print(f"  {message}", flush=True))
    _print_calibration(record.calibration, requested=bool(args.calibration))
    with staged(args, metadata=ct.metadata) as out:
        record = write_ct_outputs(out, record, pictures=not args.no_pictures)
    _print_summary(record)
    _print_regional(record)
    print(RESEARCH_NOTICE)
    print(results_line(args.out, record.outputs))
    return 0


def results_line(out: str, outputs) -> str:
    """The files a run wrote: ``measurements.json`` and each of ``outputs`` (``CtRecord.outputs``), the pictures
    counted by kind (``overlay_*.png``)."""
    from spinebq.report.text import counted

    files = [f"{out}/{name}" for name in ("measurements.json", *outputs) if not name.endswith(".png")]
    kinds = sorted({name.split("_")[0] for name in outputs if name.endswith(".png")})
    pictures = sum(name.endswith(".png") for name in outputs)
    if pictures:
        files.append(f"{counted(pictures, 'picture')} ({', '.join(f'{kind}_*.png' for kind in kinds)})")
    return "results: " + (f"{', '.join(files[:-1])} and {files[-1]}" if len(files) > 1 else files[0])


def _print_regional(record) -> None:
    from spinebq.records.quantities import decimals

    ratio_spec = f".{decimals('hu_ratio')}f"
    print(f"{'level':<6}{'st_hu':>8}{'b_hu':>8}{'ratio':>7}{'heights a/m/p mm':>20}  genant  screws (inside the bone in the image)")
    regional = record.summary.regional
    file = regional.trajectory_file if regional is not None else None
    refused = {screw["reason"] for screw in (file or {}).get("not_used", ())}  # said once, below
    unplanned: dict[str, list[str]] = {}  # why a level or side got no plan -> the levels and sides
    for vertebra in record.vertebrae:
        heights = "n/a/n/a/n/a" if vertebra.heights is None else "/".join(
            _fmt(h) for h in (vertebra.heights.anterior_mm, vertebra.heights.middle_mm, vertebra.heights.posterior_mm))
        grade = vertebra.genant_grade
        genant = "n/a" if grade is None else f"{grade}{' ' + vertebra.deformity_type if vertebra.deformity_type else ''}"
        sides = []
        for side, tr in vertebra.trajectories.items():
            if tr.measured:
                sides.append(f"{side[0].upper()} {tr.diameter_mm:g}x{tr.length_mm:.0f} mm {100 * tr.inside_bone_fraction:.0f}%"
                             + (f" [{', '.join(tr.warnings)}]" if tr.warnings else ""))
            else:
                sides.append(f"{side[0].upper()} {'not used' if tr.reason in refused else 'no plan'}")
        reasons = {side: tr.reason or "no reason given" for side, tr in vertebra.trajectories.items()
                   if not tr.measured and tr.reason not in refused}
        if len(reasons) > 1 and len(set(reasons.values())) == 1:  # every side, one reason: said once
            unplanned.setdefault(next(iter(reasons.values())), []).append(vertebra.level)
        else:
            for side, reason in reasons.items():
                unplanned.setdefault(reason, []).append(f"{vertebra.level} {side}")
        print(f"{vertebra.level:<6}{_fmt(vertebra.st_hu):>8}{_fmt(vertebra.b_hu):>8}{_fmt(vertebra.hu_ratio, ratio_spec):>7}"
              f"{heights:>20}  {genant:<7} {'; '.join(sides) or '-'}")
    if unplanned:  # one reason said once for every level it holds for (--trajectory none: all of them)
        print("no plan: " + "; ".join(f"{', '.join(where)}: {reason}" for reason, where in unplanned.items()))
    if file is not None:
        print(f"trajectory file {file['file']}: {file['used']} of {file['screws']} screws used"
              + "".join(f"\n  {screw['reason']}" for screw in file["not_used"]))
    caveats = {v.regional.genant.get("caveat") for v in record.vertebrae if v.regional is not None} - {None}
    for caveat in caveats:
        print(f"Genant grades: {caveat}")
    implants = regional.implants if regional is not None else None
    if implants:
        rods = "; ".join(f"rod {', '.join(r['screws'])}" + "".join(f", bent {b['angle_deg']:.0f} deg at {b['screw']}"
                                                                  for b in r.get("bends", [])) for r in implants["rods"])
        print(f"metal: {len(implants['screws'])} screws, {len(implants['rods'])} rods, {len(implants['cross_links'])} "
              f"cross-links, {len(implants['other_metal'])} other pieces" + (f" ({rods})" if rods else ""))
    contrast = regional.contrast if regional is not None else {}
    print(f"fractured levels (Genant >= 1): {_fractured_text(record)}; "
          f"contrast phase: {contrast.get('phase', 'n/a')} ({contrast.get('source', '')}), "
          f"correction {contrast.get('correction', 'none')}")


def _print_calibration(calibration: dict, requested: bool) -> None:
    """The equation applied, or, when the user asked for a calibration (or one failed), why none was."""
    if calibration.get("equation"):
        r2 = calibration.get("r2")
        print(f"calibration ({calibration['method']}): {calibration['equation']}" + (f", R^2 = {r2}" if r2 is not None else ""))
    elif requested or calibration.get("method") != "none":
        print(f"calibration: {calibration.get('reason')}")
    if calibration.get("warning"):
        print(f"warning: {calibration['warning']}")


def _print_summary(record) -> None:
    method = record.method
    key = method["headline_key"]
    print(f"method: preset {method['preset']} ({method['statistic']} HU; {method['reference']})")
    s = record.summary
    contrast = s.regional.contrast if s.regional is not None else {}
    correction = contrast.get("correction", "none")
    corrected = correction != "none"  # the raw HU keep their columns; the corrected ones are added and labelled
    if corrected:
        print(f"contrast correction {correction} ({contrast.get('correction_note')}): the 'corrected' columns are raw "
              "HU minus it; the others are raw HU")
    print(f"{'level':<6}{key:>14}{'hu_2d':>9}" + (f"{key + ' corrected':>24}{'hu_2d corrected':>17}" if corrected else "")
          + f"{'vBMD mg/cm3':>13}  qc")
    for vertebra in record.vertebrae:
        fixed = (vertebra.regional.hu_contrast_corrected or {}) if vertebra.regional is not None else {}
        print(f"{vertebra.level:<6}{_fmt(vertebra.hu):>14}{_fmt(vertebra.hu_2d):>9}"
              + (f"{_fmt(fixed.get(key)):>24}{_fmt(fixed.get('hu_2d')):>17}" if corrected else "")
              + f"{_fmt(vertebra.vbmd_mg_cm3):>13}  {', '.join(vertebra.qc) or 'ok'}")
    for vertebra in record.vertebrae:
        if "labels_implausible" in vertebra.qc and vertebra.details.get("labels_check"):
            print(f"{vertebra.level}: labels_implausible: {vertebra.details['labels_check']}")
        if vertebra.details.get("hu_2d_reason"):
            print(f"{vertebra.level}: no three-slice HU: {vertebra.details['hu_2d_reason']}")
    line = f"summary {'-'.join(s.levels_used) or 'none'}: {_fmt(s.hu)} HU"
    if corrected:
        line += f" raw, {_fmt(s.regional.hu_contrast_corrected)} HU contrast-corrected ({correction})"
    if record.calibrated:
        line += f", {_fmt(s.vbmd_mg_cm3)} mg/cm3, ACR {s.acr_category}"
    if s.levels_skipped:
        line += "; skipped " + ", ".join(f"{k} ({v})" for k, v in s.levels_skipped.items())
    print(line)


def _fmt(value, spec: str = ".1f") -> str:
    return format(value, spec) if value is not None and math.isfinite(value) else "n/a"


def _fractured_text(record) -> str:
    """The fractured levels, or none with the levels graded, or that no level was graded (page one's words)."""
    from spinebq.report.summary import NOT_GRADED
    from spinebq.report.text import levels_text

    graded = [v.level for v in record.vertebrae if v.genant_grade is not None]
    if record.summary.fractured_levels:
        return ", ".join(record.summary.fractured_levels)
    return f"none (graded {levels_text(graded)})" if graded else NOT_GRADED

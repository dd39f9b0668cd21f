"""``spinebq ct``: measure the trabecular bone of every vertebra of a CT."""
from __future__ import annotations

import argparse
import math

NAME = "ct"
HELP = "measure vertebral trabecular HU (3D and three-slice), calibrate to vBMD, write measurements.json/csv and pictures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from spinebq.io.labels import SCHEMES
    from spinebq.measure.presets import DEFAULT_PRESET, PRESETS

    parser.add_argument("ct", help="CT as a NIfTI file or a DICOM folder")
    parser.add_argument("--labels", help="vertebra label map (NIfTI) or folder of per-structure masks; "
                        "without it the built-in segmentation runs first")
    parser.add_argument("--label-scheme", default="auto", choices=SCHEMES, help="id convention of --labels (default: auto)")
    parser.add_argument("--label-map", help="JSON map from label id to vertebra name, e.g. {\"5\": \"L1\"}")
    parser.add_argument("--bodies", help="TotalSegmentator vertebrae_body map: keeps only the bodies of --labels")
    parser.add_argument("--out", default="spinebq_ct", help="output folder (default: ./spinebq_ct)")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS), help=f"3D ROI definition (default: {DEFAULT_PRESET})")
    parser.add_argument("--calibration", help="'phantom' (with --phantom FILE) or a file of scanner equations (JSON/CSV)")
    parser.add_argument("--phantom", help="phantom inserts file (JSON) for --calibration phantom")
    parser.add_argument("--series", help="SeriesInstanceUID to load from a DICOM folder with several series")
    parser.add_argument("--levels", default="L1,L2,L3,L4", help="levels of the summary (default: L1,L2,L3,L4)")
    parser.add_argument("--metal-hu", type=float, default=1400.0, help="voxels above this HU are metal (default: 1400)")
    parser.add_argument("--include-phi", action="store_true", help="copy patient name/ID/birth date into the outputs")
    parser.add_argument("--no-pictures", action="store_true", help="skip the overlay PNGs")
    screws = parser.add_argument_group("screw trajectories, regions, heights and contrast")
    screws.add_argument("--trajectory", default="auto", metavar="auto|from-screws|none|FILE",
                        help="virtual screws: 'auto' plans traditional and cortical trajectories from the anatomy (default), "
                        "'from-screws' finds the metal screws of a post-operative CT, FILE is a JSON of entry/target points "
                        "(LPS mm), 'none' skips them")
    screws.add_argument("--postop", metavar="CT",
                        help="with --trajectory from-screws: the post-operative CT holding the screws; it is registered "
                        "rigidly onto CT (the pre-operative scan) and the screws are measured there (paper 001)")
    screws.add_argument("--trajectory-voxels", action="store_true",
                        help="the points of --trajectory FILE are voxel indices of the input image")
    screws.add_argument("--screw-diameter", type=float, help="diameter (mm) of planned screws (default: sized to the pedicle)")
    screws.add_argument("--screw-length", type=float, help="length (mm) of planned screws (default: 80 %% of the body depth)")
    screws.add_argument("--shell-mm", type=float, default=1.5, help="bone-screw interface shell around each screw (default: 1.5)")
    screws.add_argument("--bloom-mm", type=float, default=2.0, help="margin around real metal left out of every ROI (default: 2)")
    screws.add_argument("--contrast-phase", default="auto",
                        choices=("auto", "unenhanced", "arterial", "portal_venous", "delayed"),
                        help="contrast phase (default: from the DICOM header, else estimated from the aorta and IVC)")
    screws.add_argument("--contrast-correction", default="none", choices=("none", "totalsegmentator", "pickhardt"),
                        help="subtract a published enhancement offset from trabecular HU (raw HU always reported too)")


def run(args: argparse.Namespace) -> int:
    from spinebq.anatomy import VERSE_IDS
    from spinebq.calibrate.core import no_calibration
    from spinebq.errors import SpinebqError
    from spinebq.io.labels import load_labels
    from spinebq.io.volume import load_volume
    from spinebq.measure.ct import measure_ct
    from spinebq.report.ct_outputs import write_ct_outputs
    from spinebq.report.files import RESEARCH_NOTICE

    summary_levels = tuple(level.strip().upper() for level in args.levels.split(",") if level.strip())
    unknown = [level for level in summary_levels if level not in VERSE_IDS]
    if unknown:
        raise SpinebqError(f"--levels: {', '.join(unknown)} is not a vertebra name (use e.g. L1,L2,L3,L4)")
    ct = load_volume(args.ct, series_uid=args.series, expect_modality="CT")
    print(f"loaded {args.ct}: {ct!r}")
    for warning in ct.metadata.get("warnings") or []:
        print(f"warning: {warning}")
    if ct.metadata.get("series_choice") and "as requested" not in ct.metadata["series_choice"] and "only" not in ct.metadata["series_choice"]:
        print(ct.metadata["series_choice"])
    if args.labels:
        labels = load_labels(args.labels, ct, scheme=args.label_scheme, mapping=args.label_map, bodies=args.bodies)
    else:
        labels = _segment(ct)
    calibration = _calibration(args, ct) if args.calibration else no_calibration()
    result = measure_ct(ct, labels, preset=args.preset, calibration=calibration, summary_levels=summary_levels,
                        metal_hu=args.metal_hu, progress=lambda message: print(f"  {message}", flush=True))
    if not result.vertebrae:
        raise SpinebqError(f"{args.labels or args.ct}: no vertebra between T11 and S1 is labelled; nothing to measure")
    regional = _regional(args, ct, labels, result, calibration)
    write_ct_outputs(args.out, ct, labels, result, calibration, include_phi=args.include_phi, pictures=not args.no_pictures,
                     regional=regional)
    _print_summary(result, calibration)
    _print_regional(result)
    print(RESEARCH_NOTICE)
    print(f"results: {args.out}/measurements.json, {args.out}/measurements.csv and overlay PNGs")
    return 0


def _segment(ct):
    from spinebq.errors import SpinebqError

    try:
        from spinebq.segment.core import segment_ct
    except ImportError:
        raise SpinebqError("no --labels given and the built-in segmentation is not available in this installation") from None
    print("no --labels: running the built-in segmentation first")
    import numpy as np

    result = segment_ct(ct)
    # the segmentation's own body sub-region (label 1) replaces the canal-based cut of the posterior elements
    bodies = np.where(result.subregions.array == 1, result.vertebrae.array, 0).astype(np.int16)
    labels = ct.with_array(bodies)
    labels.metadata = {"source": "spinebq segment (built-in)", "label_scheme": "verse", "content": "body",
                       "label_scheme_note": "built-in segmentation: vertebral bodies (sub-region 1) in VerSe ids"}
    return labels


def _regional(args, ct, labels, result, calibration):
    from pathlib import Path

    from spinebq.errors import SpinebqError
    from spinebq.measure.regional import TRAJECTORY_MODES, RegionalOptions, measure_regional
    from spinebq.measure.trajectory import PlanOptions

    if args.trajectory not in TRAJECTORY_MODES and not Path(args.trajectory).is_file():
        raise SpinebqError(f"--trajectory {args.trajectory}: not auto, from-screws or none, and no such file")
    postop = None
    if args.postop:
        if args.trajectory != "from-screws":
            raise SpinebqError("--postop is used with --trajectory from-screws only")
        from spinebq.io.volume import load_volume

        postop = load_volume(args.postop, expect_modality="CT")
        print(f"post-operative CT {args.postop}: {postop!r}")
    options = RegionalOptions(trajectory=args.trajectory, trajectory_voxels=args.trajectory_voxels,
                              plan=PlanOptions(diameter_mm=args.screw_diameter, length_mm=args.screw_length),
                              shell_mm=args.shell_mm, bloom_mm=args.bloom_mm, contrast_phase=args.contrast_phase,
                              contrast_correction=args.contrast_correction, postop=postop)
    return measure_regional(ct, labels, result, options, calibration=calibration, metal_hu=args.metal_hu,
                            progress=lambda message: print(f"  {message}", flush=True))


def _print_regional(result) -> None:
    print(f"{'level':<6}{'st_hu':>8}{'b_hu':>8}{'ratio':>7}{'heights a/m/p mm':>20}  genant  screws (inside vertebra)")
    for name, entry in result.vertebrae.items():
        h = entry.get("heights_mm") or {}
        heights = "/".join(_fmt(h.get(k)) for k in ("anterior", "middle", "posterior"))
        grade = entry.get("genant_grade")
        genant = "n/a" if grade is None else f"{grade}{' ' + entry['deformity_type'] if entry.get('deformity_type') else ''}"
        sides = []
        for side, tr in (entry.get("trajectories") or {}).items():
            fraction = tr.get("inside_vertebra_fraction")
            if tr.get("entry_mm"):
                sides.append(f"{side[0].upper()} {tr['diameter_mm']:g}x{tr['length_mm']:.0f} mm {100 * fraction:.0f}%"
                             + (f" [{', '.join(tr['warnings'])}]" if tr.get("warnings") else ""))
        ratio = entry.get("hu_ratio")
        ratio_text = f"{ratio:.2f}" if ratio is not None and math.isfinite(ratio) else "n/a"
        print(f"{name:<6}{_fmt(entry.get('st_hu')):>8}{_fmt(entry.get('b_hu')):>8}{ratio_text:>7}{heights:>20}  {genant:<7} "
              f"{'; '.join(sides) or '-'}")
    s = result.summary
    contrast = s.get("contrast") or {}
    print(f"fractured levels (Genant >= 1): {', '.join(s.get('fractured_levels') or []) or 'none'}; "
          f"contrast phase: {contrast.get('phase', 'n/a')} ({contrast.get('source', '')}), correction {contrast.get('correction', 'none')}")


def _calibration(args, ct):
    from spinebq.calibrate.equations import calibration_for_scan, read_equations
    from spinebq.calibrate.phantom import calibrate_from_file
    from spinebq.errors import SpinebqError

    if args.calibration == "phantom":
        if not args.phantom:
            raise SpinebqError("--calibration phantom needs --phantom FILE describing the inserts or rods")
        calibration = calibrate_from_file(args.phantom, ct)
    else:
        calibration = calibration_for_scan(read_equations(args.calibration), ct.metadata, source=str(args.calibration))
    if calibration.calibrated:
        r2 = calibration.details.get("r2")
        print(f"calibration ({calibration.method}): {calibration.to_dict()['equation']}" + (f", R^2 = {r2}" if r2 is not None else ""))
    else:
        print(f"calibration: {calibration.details.get('reason')}")
    if calibration.details.get("warning"):
        print(f"warning: {calibration.details['warning']}")
    return calibration


def _print_summary(result, calibration) -> None:
    method = result.method
    key = method["headline_key"]
    print(f"method: preset {method['preset']} ({method['statistic']} HU; {method['reference']})")
    print(f"{'level':<6}{key:>14}{'hu_2d':>9}{'vBMD mg/cm3':>13}  qc")
    for name, entry in result.vertebrae.items():
        hu, hu2, vbmd = entry[key], entry.get("hu_2d", float("nan")), entry["vbmd_mg_cm3"]
        print(f"{name:<6}{_fmt(hu):>14}{_fmt(hu2):>9}{_fmt(vbmd):>13}  {', '.join(entry['qc']) or 'ok'}")
    s = result.summary
    line = f"summary {'-'.join(s['levels_used']) or 'none'}: {_fmt(s['hu'])} HU"
    if calibration.calibrated:
        line += f", {_fmt(s['vbmd_mg_cm3'])} mg/cm3, ACR {s['acr_category']}"
    if s["levels_skipped"]:
        line += "; skipped " + ", ".join(f"{k} ({v})" for k, v in s["levels_skipped"].items())
    print(line)


def _fmt(value) -> str:
    return f"{value:.1f}" if value is not None and math.isfinite(value) else "n/a"

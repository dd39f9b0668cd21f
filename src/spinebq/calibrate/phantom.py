"""Phantom (synchronous or asynchronous) calibration from ROIs of known density.

Two materials are supported:

``hydroxyapatite``  solid CHA inserts (QRM, Mindways CHA...): OLS of HU on density,
                    vBMD = (HU - b) / m (docs/methods.md section 2.1).
``k2hpo4``          Mindways K2HPO4 solution rods: OLS of (HU - water density) on K2HPO4 density gives
                    sigma_ref and beta_ref; sigma_CT = sigma_ref - 0.2174 and beta_CT = beta_ref + 999.6
                    (QCT PRO User Guide v5.0, as in Bonelab/Ogo's mindways_calibration).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from spinebq.calibrate.core import Calibration
from spinebq.errors import SpinebqError
from spinebq.image.volume import Volume

MATERIALS = ("hydroxyapatite", "k2hpo4")
MIN_R2 = 0.99
#: HU per mg/cm3 that mineral inserts can give on CT: a wide guard, spinebq's choice [M], not a published range (the
#: real QRM scan reads 1.25 at 120 kVp; the slope rises as the tube voltage falls); a fit outside it measured
#: something else (inserts placed in air or soft tissue, a scan that is not the phantom).
SLOPE_RANGE_HU_PER_MG_CM3 = (0.5, 2.5)


def fit_phantom(
    hu: list[float],
    density_mg_cm3: list[float],
    *,
    material: str = "hydroxyapatite",
    water_density_mg_cm3: list[float] | None = None,
) -> Calibration:
    """Fit the HU -> density line of a calibration phantom by ordinary least squares.

    Parameters
    ----------
    hu : list of float
        Mean HU of each insert.
    density_mg_cm3 : list of float
        Known mineral density of each insert (HA or K2HPO4), mg/cm3.
    material : {"hydroxyapatite", "k2hpo4"}
    water_density_mg_cm3 : list of float, optional
        Water density of each K2HPO4 rod from the phantom certificate (k2hpo4 only).

    Examples
    --------
    >>> cal = fit_phantom([0.0, 100.0, 200.0], [0.0, 80.0, 160.0])
    >>> round(cal.slope_hu_per_mg_cm3, 3), round(cal.vbmd_mg_cm3(150.0), 1)
    (1.25, 120.0)
    """
    hu_arr = np.asarray(hu, dtype=float)
    rho = np.asarray(density_mg_cm3, dtype=float)
    if material not in MATERIALS:
        raise SpinebqError(f"unknown phantom material {material!r}; choose one of {', '.join(MATERIALS)}")
    if hu_arr.size < 2 or hu_arr.size != rho.size:
        raise SpinebqError(f"a phantom calibration needs at least two inserts with one HU each, got {hu_arr.size} HU and {rho.size} densities")
    if np.unique(rho).size < 2:
        raise SpinebqError("a phantom calibration needs inserts of at least two different densities")
    if material == "k2hpo4":
        if water_density_mg_cm3 is None or len(water_density_mg_cm3) != rho.size:
            raise SpinebqError("a K2HPO4 (Mindways) calibration needs the water density of every rod")
        y = hu_arr - np.asarray(water_density_mg_cm3, dtype=float)
    else:
        y = hu_arr
    slope, intercept = np.polyfit(rho, y, 1)
    fitted = slope * rho + intercept
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    details = {
        "material": material,
        "inserts": [{"density_mg_cm3": float(d), "hu": round(float(h), 3)} for d, h in zip(rho, hu_arr)],
        "r2": round(r2, 6),
        "residuals_hu": [round(float(r), 3) for r in (y - fitted)],
        "reference": "ordinary least squares of insert HU on known density (docs/methods.md section 2.1)",
    }
    if material == "k2hpo4":
        details["sigma_ref"], details["beta_ref"] = float(slope), float(intercept)
        slope, intercept = slope - 0.2174, intercept + 999.6
        details["reference"] = "Mindways K2HPO4: sigma_CT = sigma_ref - 0.2174, beta_CT = beta_ref + 999.6 (QCT PRO User Guide v5.0)"
    if np.isfinite(r2) and r2 < MIN_R2:
        details["warning"] = f"R^2 = {r2:.4f} is below {MIN_R2}: check the insert ROIs"
    if slope <= 0:
        raise SpinebqError(f"the phantom fit gives a non-positive slope ({slope:.4g} HU per mg/cm3): check the insert densities")
    _check_slope(float(slope), hu_arr, rho)
    return Calibration("phantom", float(slope), float(intercept), details)


def _check_slope(slope_hu_per_mg_cm3: float, hu: np.ndarray, density_mg_cm3: np.ndarray) -> None:
    """Refuse a fit whose slope no mineral insert gives on CT (:data:`SLOPE_RANGE_HU_PER_MG_CM3`).

    Raises
    ------
    SpinebqError
        Naming the slope and what each insert read.
    """
    low, high = SLOPE_RANGE_HU_PER_MG_CM3
    if low <= slope_hu_per_mg_cm3 <= high:
        return
    read = ", ".join(f"{h:.0f} HU at {d:g} mg/cm3" for h, d in zip(hu, density_mg_cm3))
    raise SpinebqError(f"the phantom fit gives {slope_hu_per_mg_cm3:.3g} HU per mg/cm3, outside the {low:g}-{high:g} "
                       f"that mineral inserts give on CT (the inserts read {read}): check that each insert lies in "
                       "its rod on this scan")


def calibrate_from_file(path: str | Path, ct: Volume) -> Calibration:
    """Phantom calibration from a JSON file describing the inserts.

    The file holds ``material`` and either ``rois`` (a list of inserts, each with
    ``density_mg_cm3`` and one of ``hu`` (measured elsewhere), ``center_mm`` (LPS patient mm) or
    ``center_voxel`` (spinebq array indices), plus ``radius_mm`` and ``half_height_mm``), or
    ``rods_mg_cm3`` (the densities only: the rods are found in the image).
    """
    path = Path(path)
    from spinebq.io.schemas import PhantomSpec, read_validated

    spec = read_validated(PhantomSpec, path, "phantom description").model_dump(exclude_none=True)
    material = spec.get("material", "hydroxyapatite")
    if "rods_mg_cm3" in spec:
        try:
            return calibrate_from_rods(ct, spec["rods_mg_cm3"], material=material,
                                       water_density_mg_cm3=spec.get("water_density_mg_cm3"))
        except SpinebqError as exc:
            raise SpinebqError(f"{path}: {exc}") from None
    rois = spec.get("rois")
    if not rois:
        raise SpinebqError(f"{path}: needs 'rois' (inserts with density and position or HU) or 'rods_mg_cm3'")
    hu, densities = [], []
    for n, roi in enumerate(rois):
        if "density_mg_cm3" not in roi:
            raise SpinebqError(f"{path}: insert {n + 1} has no density_mg_cm3")
        densities.append(float(roi["density_mg_cm3"]))
        hu.append(float(roi["hu"]) if "hu" in roi else roi_mean_hu(ct, roi, path, n))
    water = [r.get("water_density_mg_cm3") for r in rois] if material == "k2hpo4" else None
    try:
        return fit_phantom(hu, densities, material=material, water_density_mg_cm3=water)
    except SpinebqError as exc:
        raise SpinebqError(f"{path}: {exc}") from None


def calibrate_from_rods(ct: Volume, densities_mg_cm3: list[float], *, material: str = "hydroxyapatite",
                        water_density_mg_cm3=None) -> Calibration:
    """Phantom calibration from rods found in the image (:func:`find_rods`), matched to the given densities in order
    of HU."""
    rods = find_rods(ct, len(densities_mg_cm3))
    densities = sorted(float(d) for d in densities_mg_cm3)
    cal = fit_phantom([r["hu"] for r in rods], densities, material=material, water_density_mg_cm3=water_density_mg_cm3)
    cal.details["rods"] = [dict(r, density_mg_cm3=d) for r, d in zip(rods, densities)]
    cal.details["rod_assignment"] = "rods found in the image, matched to the given densities in order of HU"
    return cal


def roi_mean_hu(ct: Volume, roi: dict, path: Path, n: int) -> float:
    """Mean HU in a cylinder (axis along the slice axis) described by a phantom-file entry."""
    if "center_mm" in roi:
        centre = ct.mm_to_index(np.asarray(roi["center_mm"], dtype=float))
    elif "center_voxel" in roi:
        centre = np.asarray(roi["center_voxel"], dtype=float)
    else:
        raise SpinebqError(f"{path}: insert {n + 1} needs 'hu', 'center_mm' or 'center_voxel'")
    radius = float(roi.get("radius_mm", 3.0))
    half_height = float(roi.get("half_height_mm", 3.0))
    sp = ct.spacing_mm
    grid = np.indices(ct.shape, dtype=np.float32)
    inside = (((grid[0] - centre[0]) * sp[0]) ** 2 + ((grid[1] - centre[1]) * sp[1]) ** 2 <= radius**2) & (
        np.abs(grid[2] - centre[2]) * sp[2] <= half_height
    )
    if inside.sum() < 5:
        raise SpinebqError(f"{path}: insert {n + 1} covers fewer than 5 voxels of the image; check its position and size")
    return float(ct.array[inside].mean())


def find_rods(ct: Volume, count: int, *, min_area_mm2: float = 20.0, max_area_mm2: float = 1500.0) -> list[dict]:
    """Find calibration rods: round objects running through every slice, apart from the patient.

    The slice-averaged image is thresholded at -300 HU; every component other than the largest
    (the patient) whose area and roundness fit a rod is measured in its inner 60 %.
    """
    mean_image = ct.array.mean(axis=2)
    objects, n = ndimage.label(mean_image > -300)
    if n < 2:
        raise SpinebqError("no calibration rods were found apart from the patient; give their positions in the phantom file")
    areas = ndimage.sum_labels(np.ones_like(mean_image), objects, index=np.arange(1, n + 1))
    pixel_mm2 = ct.spacing_mm[0] * ct.spacing_mm[1]
    patient = int(np.argmax(areas)) + 1
    rods = []
    for label in range(1, n + 1):
        area = areas[label - 1] * pixel_mm2
        if label == patient or not (min_area_mm2 <= area <= max_area_mm2):
            continue
        component = objects == label
        radius_mm = np.sqrt(area / np.pi)
        core = ndimage.distance_transform_edt(component, sampling=ct.spacing_mm[:2]) > 0.4 * radius_mm
        k0, k1 = int(0.1 * ct.shape[2]), int(np.ceil(0.9 * ct.shape[2]))
        hu = float(ct.array[:, :, k0:k1][core].mean())
        ci, cj = ndimage.center_of_mass(component)
        rods.append({"hu": round(hu, 3), "center_mm": [round(float(x), 2) for x in ct.index_to_mm([ci, cj, ct.shape[2] / 2])], "diameter_mm": round(2 * radius_mm, 1)})
    if len(rods) != count:
        raise SpinebqError(f"found {len(rods)} rod-like objects in the image but {count} densities were given; give the rod positions instead (a phantom file with rois)")
    return sorted(rods, key=lambda r: r["hu"])

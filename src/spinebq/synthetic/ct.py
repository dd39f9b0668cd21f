"""A synthetic lumbar CT (T12-S1) with known ground truth, for the demo and for tests.

Geometry is defined in patient LPS millimetres and rasterised on any grid: vertebral bodies
(elliptic cylinders with a cortical shell and a known trabecular HU per level), discs, the spinal
canal, pedicles, laminae, spinous and transverse processes, a pair of ribs on T12 (the last
rib-bearing vertebra), soft tissue with a fat layer, partial-volume blur and Gaussian noise.
Optional: calibration rods of known hydroxyapatite density, a sagittal tilt of the whole spine, and
a metal screw in the left pedicle of L4.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.vocabulary import LabelContent, LabelScheme

LEVELS = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")
#: True trabecular HU per level (the interior of each body, before noise).
TRABECULAR_HU = {"T12": 165.0, "L1": 155.0, "L2": 140.0, "L3": 128.0, "L4": 112.0, "L5": 98.0, "S1": 175.0}
BODY_HEIGHT_MM = {"T12": 24.0, "L1": 25.0, "L2": 26.0, "L3": 27.0, "L4": 27.0, "L5": 27.0, "S1": 30.0}
BODY_HALF_WIDTH_MM = {"T12": 19.0, "L1": 20.0, "L2": 21.0, "L3": 22.0, "L4": 23.0, "L5": 24.0, "S1": 24.0}
BODY_HALF_DEPTH_MM = {"T12": 14.0, "L1": 15.0, "L2": 15.5, "L3": 16.0, "L4": 16.5, "L5": 17.0, "S1": 17.0}
DISC_HEIGHT_MM = 9.0
CORTEX_MM = 1.5
CORTEX_HU = 750.0
ARCH_HU = 420.0
DISC_HU = 85.0
CSF_HU = 10.0
MUSCLE_HU = 50.0
FAT_HU = -100.0
AIR_HU = -1000.0
METAL_HU = 3000.0
#: Calibration truth of the phantom: HU = slope * vBMD + intercept (vBMD in mg HA/cm3).
CAL_SLOPE = 1.2
CAL_INTERCEPT = 10.0
ROD_DENSITIES_MG_CM3 = (0.0, 50.0, 100.0, 200.0)
SUBREGION_NAMES = {1: "vertebral_body", 2: "pedicle_left", 3: "pedicle_right", 4: "posterior_arch", 5: "spinal_canal"}


@dataclass
class PhantomCT:
    """The synthetic CT, its label maps and the ground truth.

    Attributes
    ----------
    ct : Volume
        HU image, canonical LPS axes.
    labels : LabelMap
        Whole vertebrae (body + posterior elements) in VerSe ids.
    subregions : Volume
        1 body, 2 left pedicle, 3 right pedicle, 4 posterior arch, 5 spinal canal.
    truth : dict
        ``levels.<name>``: trabecular_hu, vbmd_mg_cm3, body_volume_ml, centre_mm, axis, height_mm,
        pedicle axes; ``calibration`` and ``rods`` when present.
    """

    ct: Volume
    labels: LabelMap
    subregions: Volume
    truth: dict


def _level_geometry(tilt_deg: float) -> dict[str, dict]:
    """Centre and superior axis of each body, stacked along a spine tilted in the sagittal plane."""
    angle = np.radians(tilt_deg)
    axis = np.array([0.0, -np.sin(angle), np.cos(angle)])  # tilting the top of the spine anteriorly
    total = sum(BODY_HEIGHT_MM[n] for n in LEVELS) + DISC_HEIGHT_MM * (len(LEVELS) - 1)
    s = total / 2
    geometry = {}
    for name in LEVELS:
        h = BODY_HEIGHT_MM[name]
        centre_s = s - h / 2
        geometry[name] = {"centre_mm": np.array([0.0, -20.0, 0.0]) + centre_s * axis, "axis": axis}
        s -= h + DISC_HEIGHT_MM
    return geometry


def make_ct_phantom(
    *,
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.5),
    fov_mm: tuple[float, float, float] = (240.0, 200.0, 250.0),
    noise_hu: float = 12.0,
    seed: int = 0,
    rods: bool = False,
    tilt_deg: float = 0.0,
    screw: bool = False,
    blur_mm: float = 0.6,
    cancellous_alae: bool = False,
) -> PhantomCT:
    """Make the synthetic lumbar CT.

    Parameters
    ----------
    spacing_mm : tuple of float
        Voxel size (L, P, S), mm.
    fov_mm : tuple of float
        Extent of the image (L, P, S), mm; the spine is centred.
    noise_hu : float
        SD of the added Gaussian noise, HU.
    seed : int
        Seed of the noise.
    rods : bool
        Add four hydroxyapatite rods (0, 50, 100, 200 mg/cm3) behind the patient.
    tilt_deg : float
        Sagittal tilt of the whole spine, degrees.
    screw : bool
        Add a 6 mm metal screw along the left pedicle axis of L4 (labels keep the bone).
    blur_mm : float
        Gaussian blur (sigma) for partial volume, mm.
    cancellous_alae : bool
        Draw the sacral alae as cancellous bone (the S1 trabecular HU) instead of dense arch bone,
        as they are in most real CTs.
    """
    spacing = np.asarray(spacing_mm, dtype=float)
    shape = tuple(int(round(f / s)) for f, s in zip(fov_mm, spacing))
    affine = np.eye(4)
    affine[:3, :3] = np.diag(spacing)
    affine[:3, 3] = -(np.asarray(shape) - 1) / 2 * spacing
    x = (np.arange(shape[0]) * spacing[0] + affine[0, 3]).astype(np.float32)[:, None, None]
    y = (np.arange(shape[1]) * spacing[1] + affine[1, 3]).astype(np.float32)[None, :, None]
    z = (np.arange(shape[2]) * spacing[2] + affine[2, 3]).astype(np.float32)[None, None, :]

    hu = np.full(shape, AIR_HU, dtype=np.float32)
    outer = (x / 130.0) ** 2 + (y / 80.0) ** 2 <= 1
    inner = (x / 120.0) ** 2 + (y / 70.0) ** 2 <= 1
    hu[np.broadcast_to(outer, shape)] = FAT_HU
    hu[np.broadcast_to(inner, shape)] = MUSCLE_HU
    labels = np.zeros(shape, dtype=np.int16)
    sub = np.zeros(shape, dtype=np.uint8)

    geometry = _level_geometry(tilt_deg)
    truth_levels = {}
    for n, name in enumerate(LEVELS):
        g = geometry[name]
        _draw_vertebra(name, g["centre_mm"], g["axis"], x, y, z, hu, labels, sub, cancellous_alae=cancellous_alae)
        if n + 1 < len(LEVELS):
            _draw_disc(name, LEVELS[n + 1], geometry, x, y, z, hu)
    canal = sub == 5
    hu[canal] = CSF_HU

    screw_truth = None
    if screw:
        screw_truth = _draw_screw(geometry["L4"], x, y, z, hu)
    rod_truth = _draw_rods(x, y, z, hu) if rods else []

    if blur_mm > 0:
        hu = ndimage.gaussian_filter(hu, sigma=blur_mm / spacing, mode="nearest")
    rng = np.random.default_rng(seed)
    hu += rng.normal(0.0, noise_hu, size=shape).astype(np.float32)
    hu = np.round(hu).astype(np.float32)

    voxel_ml = float(np.prod(spacing)) / 1000.0
    for name in LEVELS:
        g = geometry[name]
        body = (labels == VERSE_IDS[name]) & (sub == 1)
        truth_levels[name] = {
            "trabecular_hu": TRABECULAR_HU[name],
            "vbmd_mg_cm3": (TRABECULAR_HU[name] - CAL_INTERCEPT) / CAL_SLOPE,
            "body_volume_ml": round(float(body.sum()) * voxel_ml, 3),
            "centre_mm": [round(float(v), 3) for v in g["centre_mm"]],
            "axis": [round(float(v), 6) for v in g["axis"]],
            "height_mm": BODY_HEIGHT_MM[name],
            "pedicles": {side: _pedicle_axis(name, g, side) for side in ("left", "right")},
        }
    metadata = {
        "modality": "CT", "manufacturer": "spinebq", "model": "synthetic phantom", "kvp": 120.0,
        "kernel": "none", "contrast_agent": None, "slice_thickness_mm": float(spacing[2]),
        "source": "spinebq synthetic phantom",
    }
    truth = {
        "schema": "spinebq.phantom/1",
        "levels": truth_levels,
        "calibration": {"slope_hu_per_mg_cm3": CAL_SLOPE, "intercept_hu": CAL_INTERCEPT, "material": "hydroxyapatite"},
        "rods": rod_truth,
        "screw": screw_truth,
        "tilt_deg": tilt_deg,
        "noise_hu": noise_hu,
        "seed": seed,
    }
    return PhantomCT(
        Volume(hu, affine, metadata),
        LabelMap(labels, affine.copy(), content=LabelContent.WHOLE, scheme=LabelScheme.VERSE),
        Volume(sub.astype(np.int16), affine.copy(), {"names": SUBREGION_NAMES}),
        truth,
    )


def _frame(centre: np.ndarray, axis: np.ndarray, x, y, z):
    """Local coordinates (s along the axis, p posterior, l left) of the grid around a body."""
    posterior = np.array([0.0, axis[2], -axis[1]])  # perpendicular to the axis in the sagittal plane
    dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
    s = dy * axis[1] + dz * axis[2]
    p = dy * posterior[1] + dz * posterior[2]
    return s, p, dx


def _draw_vertebra(name, centre, axis, x, y, z, hu, labels, sub, *, cancellous_alae: bool = False) -> None:
    h, a, b = BODY_HEIGHT_MM[name], BODY_HALF_WIDTH_MM[name], BODY_HALF_DEPTH_MM[name]
    s, p, l = _frame(centre, axis, x, y, z)
    # the slab of slices that can hold this vertebra: every part below lies within this height along its axis
    slab = np.flatnonzero((np.abs(s) <= h / 2 + DISC_HEIGHT_MM / 2 + 0.01).any(axis=(0, 1)))
    if slab.size == 0:
        return
    z_slab = slice(int(slab[0]), int(slab[-1]) + 1)
    s, p = s[..., z_slab], p[..., z_slab]
    hu, labels, sub = hu[..., z_slab], labels[..., z_slab], sub[..., z_slab]
    body_shape = ((l / a) ** 2 + (p / b) ** 2 <= 1) & (p <= 0.8 * b) & (np.abs(s) <= h / 2)
    inside = ((l / (a - CORTEX_MM)) ** 2 + (p / (b - CORTEX_MM)) ** 2 <= 1) & (p <= 0.8 * b - CORTEX_MM) & (
        np.abs(s) <= h / 2 - CORTEX_MM
    )
    vid = VERSE_IDS[name]
    canal_p = 0.8 * b + 9.0  # canal centre, mm behind the body centre
    canal = ((l / 11.0) ** 2 + ((p - canal_p) / 8.5) ** 2 <= 1) & (np.abs(s) <= h / 2 + DISC_HEIGHT_MM / 2 + 0.01)
    ring = ((l / 17.0) ** 2 + ((p - canal_p) / 14.5) ** 2 <= 1) & ~((l / 11.0) ** 2 + ((p - canal_p) / 8.5) ** 2 <= 1)
    arch_s = (s >= -h / 2 + 4) & (s <= h / 2 - 2)
    pedicle = ring & (p < canal_p) & (p > 0.8 * b - 1) & (np.abs(l) > 8) & arch_s
    lamina = ring & (p >= canal_p) & arch_s
    spinous = (np.abs(l) <= 3.5) & (p > canal_p + 12) & (p <= canal_p + 42) & (s >= -h / 2 + 3) & (s <= 6)
    transverse = (np.abs(l) >= 15) & (np.abs(l) <= (55 if name == "S1" else 42)) & (np.abs(p - canal_p + 4) <= 4.5) & (np.abs(s) <= 5)
    if name == "S1":  # sacral alae: a broad wing on each side of the S1 body
        transverse = (np.abs(l) >= 15) & (np.abs(l) <= 55) & (p >= -b) & (p <= canal_p + 2) & (np.abs(s) <= h / 2 - 2)
    arch = (lamina | spinous | transverse) & ~body_shape & ~canal
    whole = body_shape | pedicle | arch

    hu[whole] = ARCH_HU
    if name == "S1" and cancellous_alae:
        hu[transverse & ~body_shape] = TRABECULAR_HU[name]
    hu[body_shape] = CORTEX_HU
    hu[inside] = TRABECULAR_HU[name]
    labels[whole] = vid
    sub[arch] = 4
    sub[pedicle & (l > 0)] = 2
    sub[pedicle & (l < 0)] = 3
    sub[body_shape] = 1
    sub[canal & (sub == 0)] = 5
    if name == "T12":  # the last pair of ribs: bone that is not part of the vertebra's label
        rib = (np.abs(l) >= 42) & (np.abs(l) <= 95) & (np.abs(p - canal_p + 4 + 0.25 * (np.abs(l) - 42)) <= 4) & (np.abs(s) <= 4)
        hu[rib & (labels == 0)] = ARCH_HU


def _draw_disc(upper: str, lower: str, geometry, x, y, z, hu) -> None:
    cu, cl = geometry[upper]["centre_mm"], geometry[lower]["centre_mm"]
    axis = geometry[upper]["axis"]
    centre = (cu - BODY_HEIGHT_MM[upper] / 2 * axis + cl + BODY_HEIGHT_MM[lower] / 2 * axis) / 2
    a = (BODY_HALF_WIDTH_MM[upper] + BODY_HALF_WIDTH_MM[lower]) / 2
    b = (BODY_HALF_DEPTH_MM[upper] + BODY_HALF_DEPTH_MM[lower]) / 2
    s, p, l = _frame(centre, axis, x, y, z)
    disc = ((l / a) ** 2 + (p / b) ** 2 <= 1) & (p <= 0.8 * b) & (np.abs(s) < DISC_HEIGHT_MM / 2)
    hu[disc] = DISC_HU


def _pedicle_axis(name: str, g: dict, side: str) -> dict:
    """Entry (posterior) and target (anterior body) points of the pedicle axis in LPS mm."""
    b = BODY_HALF_DEPTH_MM[name]
    canal_p = 0.8 * b + 9.0
    sign = 1.0 if side == "left" else -1.0
    axis = g["axis"]
    posterior = np.array([0.0, axis[2], -axis[1]])
    entry = g["centre_mm"] + (canal_p + 3) * posterior + sign * 14.0 * np.array([1.0, 0, 0]) + 1.0 * axis
    target = g["centre_mm"] - 0.6 * b * posterior + sign * 4.0 * np.array([1.0, 0, 0]) + 1.0 * axis
    return {"entry_mm": [round(float(v), 3) for v in entry], "target_mm": [round(float(v), 3) for v in target]}


def _draw_screw(g: dict, x, y, z, hu) -> dict:
    ped = _pedicle_axis("L4", g, "left")
    entry, target = np.array(ped["entry_mm"]), np.array(ped["target_mm"])
    direction = (target - entry) / np.linalg.norm(target - entry)
    length = float(np.linalg.norm(target - entry)) + 5.0
    # the box of the grid that holds the screw (3 mm radius, from 10 mm behind the entry to its tip)
    ends = np.array([entry - 10.0 * direction, entry + length * direction])
    box = tuple(slice(int(k[0]), int(k[-1]) + 1) for k in
                (np.flatnonzero((c.ravel() >= lo - 4.0) & (c.ravel() <= hi + 4.0))
                 for c, lo, hi in zip((x, y, z), ends.min(axis=0), ends.max(axis=0))))
    x, y, z = x[box[0], :, :], y[:, box[1], :], z[:, :, box[2]]
    rel = np.stack(np.broadcast_arrays(x - entry[0], y - entry[1], z - entry[2]))
    t = np.tensordot(direction, rel, axes=1)
    radial = np.sqrt(np.maximum(np.sum(rel**2, axis=0) - t**2, 0))
    hu[box][(radial <= 3.0) & (t >= -10) & (t <= length)] = METAL_HU
    return {"level": "L4", "side": "left", "entry_mm": ped["entry_mm"], "target_mm": ped["target_mm"], "diameter_mm": 6.0}


def _draw_rods(x, y, z, hu) -> list[dict]:
    rods = []
    for n, density in enumerate(ROD_DENSITIES_MG_CM3):
        cx, cy = -45.0 + 30.0 * n, 91.0
        rod = ((x - cx) ** 2 + (y - cy) ** 2 <= 7.0**2) & np.ones_like(z, dtype=bool)
        hu[rod] = CAL_SLOPE * density + CAL_INTERCEPT
        rods.append({"density_mg_cm3": density, "hu": CAL_SLOPE * density + CAL_INTERCEPT, "center_mm": [cx, cy]})
    return rods

"""A synthetic sagittal T1 lumbar MRI with known signal ratios: the MR twin of the CT phantom.

Geometry (canonical spinebq array: axis 0 -> patient left, 1 -> posterior, 2 -> superior; 1 mm voxels
by default): a straight lumbar column T12-S1 of elliptic-cylinder bodies with a dark cortical shell,
discs, a posterior basivertebral-vein focus, a CSF-filled canal with nerve roots, pedicles, a posterior
arch and spinous process, multifidus and erector spinae on both sides with known fat fractions per disc
level (voxels are fat or lean muscle, drawn at random with the known probability), and subcutaneous fat.

Ground truth: body, pedicle and CSF signals, hence VBQ, S1-VBQ and PBQ exactly; fat fractions and
Goutallier grades per disc level and side. Nothing here depends on the CT phantom.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.vocabulary import LabelContent, LabelScheme

LEVELS = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")
DISCS = ("L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")

#: Default T1 signals (arbitrary units, as a scanner gives them).
T1_SIGNALS = {
    "body": {"T12": 290.0, "L1": 300.0, "L2": 320.0, "L3": 310.0, "L4": 330.0, "L5": 335.0, "S1": 345.0},
    "pedicle": {"T12": 300.0, "L1": 315.0, "L2": 330.0, "L3": 325.0, "L4": 340.0, "L5": 350.0, "S1": 350.0},
    "csf": 100.0, "cortex": 20.0, "disc": 150.0, "ligament": 60.0, "basivertebral": 520.0,
    "root": 210.0, "fat": 450.0, "muscle": 120.0, "soft": 170.0, "arch": 290.0, "lesion": 700.0,
}
#: T2-like signals: CSF bright, marrow intermediate (for the wrong-kind input test).
T2_SIGNALS = {
    **T1_SIGNALS,
    "body": {k: 180.0 for k in LEVELS}, "pedicle": {k: 180.0 for k in LEVELS},
    "csf": 600.0, "disc": 450.0, "fat": 350.0, "muscle": 80.0, "root": 250.0,
}
#: Fat fractions built into the multifidus and erector spinae: disc level -> (left, right).
FAT_FRACTIONS = {
    "L1/L2": (0.02, 0.02), "L2/L3": (0.20, 0.12), "L3/L4": (0.40, 0.20),
    "L4/L5": (0.50, 0.40), "L5/S1": (0.72, 0.50),
}


def goutallier_from_fraction(ff: float) -> int:
    """Goutallier grade of a fat fraction by the project's default mapping (docs/methods.md section 5.3)."""
    if ff < 0.05:
        return 0
    if ff < 0.33:
        return 1
    if ff < 0.45:
        return 2
    if ff <= 0.55:
        return 3
    return 4


def make_mri_phantom(*, weighting: str = "T1", csf_visible: bool = True, noise_sd: float = 4.0,
                     lesion_level: str | None = "L2", fat_fractions: dict | None = None,
                     spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0), seed: int = 0,
                     roots_mm: tuple[tuple[float, float, float], ...] | None = None, root_signal: float | None = None
                     ) -> tuple[Volume, LabelMap, dict]:
    """Build the synthetic sagittal MR with its VerSe label map and ground truth.

    Parameters
    ----------
    weighting : {"T1", "T2"}
        ``"T2"`` gives bright CSF and discs (an input the MRI command must refuse).
    csf_visible : bool
        ``False`` fills the canal with marrow-like tissue (no CSF to measure: must be refused).
    noise_sd : float
        Gaussian noise standard deviation (signal units) added everywhere.
    lesion_level : str or None
        Level receiving a 3 mm haemangioma-like bright focus inside its trabecular body
        (the ROI must exclude it; the truth is the marrow signal around it).
    fat_fractions : dict, optional
        Disc level -> (left, right) muscle fat fraction; default :data:`FAT_FRACTIONS`.
    spacing_mm : tuple of float
        Voxel size (left-right, anterior-posterior, inferior-superior).
    seed : int
        Seed of the random noise and fat pattern (the output is deterministic).
    roots_mm : tuple of (dx, dy, radius), optional
        Nerve roots (or a cord / conus: a large one) in the thecal sac, brighter than CSF: cylinders running
        head to foot, centred ``dx`` mm to the patient's left of the midline and ``dy`` mm behind the sac's
        centre (the sac is 20 mm wide, 14 mm deep), of ``radius`` mm, with a soft edge (the signal ramps from CSF
        to the root's over 1.5 mm, as partial volume does). Default: two 2 mm roots at dx -5 and +5 mm,
        dy +4.5 mm (squares, as before this option existed).
    root_signal : float, optional
        Their signal (default the weighting's ``root`` signal, 210 on T1: 2.1 x CSF).

    Returns
    -------
    image : Volume
        Signal, float32, ``metadata["modality"] = "MR"``.
    labels : LabelMap
        VerSe ids (int16) of whole vertebrae (body, pedicles, arch) T12-S1.
    truth : dict
        ``vbq``, ``s1_vbq``, ``pbq``, ``signal_csf``, ``body_signal``, ``pedicle_signal``, ``muscle``
        (disc level -> fat fractions and Goutallier grades), ``weighting``.
    """
    rng = np.random.default_rng(seed)
    sig = T1_SIGNALS if weighting == "T1" else T2_SIGNALS
    ffs = dict(FAT_FRACTIONS if fat_fractions is None else fat_fractions)
    sx, sy, sz = spacing_mm
    extent = (90.0, 200.0, 250.0)  # mm
    shape = tuple(int(round(e / s)) for e, s in zip(extent, spacing_mm))
    x = (np.arange(shape[0]) + 0.5) * sx
    y = (np.arange(shape[1]) + 0.5) * sy
    z = (np.arange(shape[2]) + 0.5) * sz
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij", sparse=True)  # open grids: a mask is full only where it must be

    img = np.full(shape, sig["soft"], np.float32)
    lab = np.zeros(shape, np.int16)
    x0, y_body = 45.0, 80.0  # midline, body AP centre
    a_lr, a_ap = 22.0, 16.0  # body semi-axes
    height, disc = 26.0, 9.0
    # background: air behind the back, subcutaneous fat
    skin = 170.0
    img[np.broadcast_to(Y > skin, shape)] = 5.0
    img[np.broadcast_to((Y > 152.0) & (Y <= skin), shape)] = sig["fat"]

    # levels from the bottom: S1 body starts at z = 12
    bottoms = {}
    zb = 12.0
    for i, name in enumerate(reversed(LEVELS)):
        bottoms[name] = zb
        zb += height + disc
    r_body = ((X - x0) / a_lr) ** 2 + ((Y - y_body) / a_ap) ** 2
    r_inner = ((X - x0) / (a_lr - 1.5)) ** 2 + ((Y - y_body) / (a_ap - 1.5)) ** 2
    y_wall = y_body + a_ap  # posterior wall (96 mm)
    canal_c, canal_ap, canal_lr = y_wall + 2.0 + 7.0, 7.0, 10.0
    r_canal = ((X - x0) / canal_lr) ** 2 + ((Y - canal_c) / canal_ap) ** 2
    # discs everywhere in the column first, bodies overwrite
    img[np.broadcast_to(r_body <= 1.0, shape)] = sig["disc"]
    # PLL / epidural ligament band between body and canal
    img[np.broadcast_to((np.abs(X - x0) < 12) & (Y > y_wall) & (Y <= canal_c), shape)] = sig["ligament"]
    for name, zb in bottoms.items():
        vid = VERSE_IDS[name]
        in_z = (Z >= zb) & (Z < zb + height)
        body = in_z & (r_body <= 1.0)
        img[body] = sig["cortex"]
        inner = in_z & (Z >= zb + 1.5) & (Z < zb + height - 1.5) & (r_inner <= 1.0)
        img[inner] = sig["body"][name]
        lab[body] = vid
        # basivertebral vein: bright focus at the back of the body, mid-height
        bv = inner & (Y > y_wall - 6.0) & (np.abs(X - x0) < 3.0) & (np.abs(Z - (zb + height / 2)) < 3.0)
        img[bv] = sig["basivertebral"]
        # pedicles: upper part of the body height, both sides
        for side in (-1, 1):
            xc = x0 + side * 15.5
            zc = zb + 0.65 * height
            r_ped = ((X - xc) / 4.5) ** 2 + ((Z - zc) / 6.0) ** 2
            ped = (r_ped <= 1.0) & (Y > y_wall) & (Y <= canal_c + canal_ap + 2.0)
            r_ped_in = ((X - xc) / 3.5) ** 2 + ((Z - zc) / 5.0) ** 2
            img[ped] = sig["cortex"]
            img[ped & (r_ped_in <= 1.0)] = sig["pedicle"][name]
            lab[ped] = vid
        # arch (laminae) and spinous process behind the canal
        y_arch = canal_c + canal_ap + 2.0
        arch_z = (Z >= zb + 0.25 * height) & (Z < zb + height + 0.3 * disc)
        lamina = arch_z & (np.abs(X - x0) < 19.0) & (Y > y_arch) & (Y <= y_arch + 8.0)
        spinous = arch_z & (np.abs(X - x0) < 3.0) & (Y > y_arch + 8.0) & (Y <= 148.0)
        img[lamina | spinous] = sig["arch"]
        lab[lamina | spinous] = vid
    # canal: CSF with nerve roots in its posterior part, epidural fat behind it
    z_top = bottoms["T12"] + height + disc
    canal = (r_canal <= 1.0) & (Z >= bottoms["S1"] + height * 0.6)
    epidural = (np.abs(X - x0) < 12) & (Y > canal_c + canal_ap) & (Y <= canal_c + canal_ap + 2.0) & (lab == 0)
    img[epidural] = sig["fat"]
    img[canal] = sig["csf"] if csf_visible else sig["body"]["L3"]
    if csf_visible:
        signal_root = sig["root"] if root_signal is None else float(root_signal)
        if roots_mm is None:
            for dx in (-5.0, 5.0):
                root = canal & (np.abs(X - (x0 + dx)) < 1.0) & (np.abs(Y - (canal_c + 4.5)) < 1.0)
                img[root] = signal_root
        else:
            for dx, dy, radius in roots_mm:
                # soft edge over 1.5 mm (partial volume): the signal ramps from CSF to the root's
                d = np.sqrt((X - (x0 + dx)) ** 2 + (Y - (canal_c + dy)) ** 2)
                weight = np.clip((radius + 0.75 - d) / 1.5, 0.0, 1.0)
                edge = canal & (weight > 0)
                img[edge] = np.maximum(img[edge], sig["csf"] + np.broadcast_to(weight, shape)[edge] * (signal_root - sig["csf"]))
    # paraspinal muscles per disc level, with known fat fractions
    muscle_truth = {}
    u = rng.random(shape)
    for i, dl in enumerate(DISCS):
        upper, lower = dl.split("/")
        z_disc = bottoms[lower] + height + disc / 2.0
        zr = (Z >= z_disc - (height + disc) / 2.0) & (Z < z_disc + (height + disc) / 2.0)
        truth_level = {}
        for side_name, sgn, ff in (("left", 1, ffs[dl][0]), ("right", -1, ffs[dl][1])):
            dxs = sgn * (X - x0)
            multifidus = zr & (dxs >= 4.0) & (dxs < 20.0) & (Y > canal_c + canal_ap + 10.0) & (Y <= 150.0)
            erector = zr & (dxs >= 20.0) & (dxs < 42.0) & (Y > 118.0) & (Y <= 150.0)
            for part in (multifidus, erector):
                part &= (lab == 0)
                fat = part & (u < ff)
                img[part] = sig["muscle"]
                img[fat] = sig["fat"]
            truth_level[f"fat_fraction_{side_name}"] = ff
        truth_level["goutallier"] = max(goutallier_from_fraction(ffs[dl][0]), goutallier_from_fraction(ffs[dl][1]))
        muscle_truth[dl] = truth_level
    if lesion_level is not None:
        zc = bottoms[lesion_level] + height / 2.0
        focus = ((X - x0) ** 2 + (Y - (y_body - 4.0)) ** 2 + (Z - zc) ** 2) <= 3.0 ** 2
        img[focus] = sig["lesion"]
    if noise_sd > 0:
        img += rng.normal(0.0, noise_sd, shape).astype(np.float32)
    img = np.clip(img, 0, None).astype(np.float32)

    affine = np.diag([sx, sy, sz, 1.0])
    affine[:3, 3] = [-x0, -150.0, -120.0]
    image = Volume(img, affine, {"modality": "MR", "source": "spinebq MRI phantom", "format": "phantom",
                                 "weighting": weighting})
    labels = LabelMap(lab, affine.copy(), content=LabelContent.WHOLE, scheme=LabelScheme.VERSE, source="spinebq MRI phantom")
    body = sig["body"]
    csf = sig["csf"]
    lumbar = ["L1", "L2", "L3", "L4"]
    truth = {
        "weighting": weighting,
        "signal_csf": csf,
        "body_signal": dict(body),
        "pedicle_signal": dict(sig["pedicle"]),
        "vbq": float(np.median([body[lv] for lv in lumbar]) / csf),
        "s1_vbq": float(body["S1"] / csf),
        "pbq": float(np.mean([sig["pedicle"][lv] for lv in lumbar]) / csf),
        "muscle": muscle_truth,
        "lesion_level": lesion_level,
        "levels": list(LEVELS),
    }
    return image, labels, truth


def axial_series(image: Volume, *, pixel_mm: float = 0.8, slice_mm: float = 4.0, tilt_deg: float = 0.0,
                 z_range_mm: tuple[float, float] | None = None) -> Volume:
    """The phantom re-sliced as an axial stack of the same exam (same patient coordinates).

    Nearest-neighbour sampling: every axial voxel takes one phantom voxel's value, so the muscles keep
    their fat fractions (an ideal thin-slice acquisition, no partial volume).

    Parameters
    ----------
    image : Volume
        A sagittal phantom from :func:`make_mri_phantom`.
    pixel_mm, slice_mm : float
        In-plane pixel size and slice spacing of the axial stack.
    tilt_deg : float
        Rotation of the stack about the left-right axis (an axial block angled along the discs).
    z_range_mm : tuple of float, optional
        Head-to-foot range (patient S coordinate, mm) the stack covers; default the whole phantom.

    Returns
    -------
    Volume
        float32, canonical axes (axis 2 is the slice index), ``metadata["modality"] = "MR"``.
    """
    from scipy import ndimage

    t = np.radians(tilt_deg)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), -np.sin(t)], [0.0, np.sin(t), np.cos(t)]])
    corners = np.array([[i, j, k] for i in (0, image.shape[0] - 1) for j in (0, image.shape[1] - 1)
                        for k in (0, image.shape[2] - 1)], float)
    local = image.index_to_mm(corners) @ rotation  # corners in the stack's own axes
    lo, hi = local.min(axis=0), local.max(axis=0)
    if z_range_mm is not None:
        lo[2], hi[2] = z_range_mm
    steps = np.array([pixel_mm, pixel_mm, slice_mm])
    shape = tuple(int(np.floor((h - l) / s)) + 1 for l, h, s in zip(lo, hi, steps))
    affine = np.eye(4)
    affine[:3, :3] = rotation * steps
    affine[:3, 3] = rotation @ lo
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), axis=-1)
    source = image.mm_to_index(grid.reshape(-1, 3) @ affine[:3, :3].T + affine[:3, 3])
    values = ndimage.map_coordinates(image.array, source.T, order=0, mode="constant", cval=0.0)
    meta = {**image.metadata, "source": "spinebq MRI phantom, axial stack"}
    return Volume(values.reshape(shape).astype(np.float32), affine, meta)


def _dicom_slice(image: Volume, k: int, plane: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple, float]:
    """Pixels, ImageOrientationPatient, ImagePositionPatient, PixelSpacing and SliceThickness of slice ``k``."""
    a = image.affine
    step = [float(np.linalg.norm(a[:3, i])) for i in range(3)]
    if plane == "axial":  # rows run posterior (down), columns left
        pixels = image.array[:, :, k].T
        orientation = np.concatenate([a[:3, 0] / step[0], a[:3, 1] / step[1]])
        return pixels, orientation, a[:3, :3] @ np.array([0, 0, k]) + a[:3, 3], (step[1], step[0]), step[2]
    pixels = image.array[k, :, ::-1].T  # rows run inferior (down), columns posterior
    orientation = np.concatenate([a[:3, 1] / step[1], -a[:3, 2] / step[2]])
    position = a[:3, :3] @ np.array([k, 0, image.shape[2] - 1]) + a[:3, 3]
    return pixels, orientation, position, (step[2], step[1]), step[0]


def write_dicom_series(image: Volume, folder: str | Path, *, series_description: str = "T1 TSE SAG",
                       tr_ms: float | None = 550.0, te_ms: float | None = 12.0, field_strength_t: float | None = 1.5,
                       manufacturer: str = "spinebq phantom", modality: str = "MR", plane: str = "sagittal",
                       **extra) -> Path:
    """Write a canonical volume as a sagittal DICOM series (one file per axis-0 slice) with MR headers, or with
    ``plane="axial"`` as axial slices (one file per axis-2 slice, e.g. a stack of :func:`axial_series`).

    Used by the tests to exercise header checks (T2, fat suppression, contrast, field strength).
    Pixel values are stored as uint16 after rounding; ``extra`` sets further DICOM keywords.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = generate_uid(entropy_srcs=[series_description, "series"]), generate_uid(entropy_srcs=["study"])
    a = image.affine
    n0, n1, n2 = image.shape
    for k in range(n2 if plane == "axial" else n0):
        pixels, orientation, position, pixel_spacing, thickness = _dicom_slice(image, k, plane)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[series_description, str(k)])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"slice{k:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.StudyInstanceUID = series_uid, study_uid
        ds.Modality = modality
        ds.Manufacturer = manufacturer
        ds.SeriesDescription = series_description
        if tr_ms is not None:
            ds.RepetitionTime = tr_ms
        if te_ms is not None:
            ds.EchoTime = te_ms
        if field_strength_t is not None:
            ds.MagneticFieldStrength = field_strength_t
        for key, value in extra.items():
            setattr(ds, key, value)
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.ImagePositionPatient = [float(v) for v in position]
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
        ds.SliceThickness = float(thickness)
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.InstanceNumber = k + 1
        ds.PixelData = np.clip(np.round(pixels), 0, 65535).astype(np.uint16).tobytes()
        ds.save_as(folder / f"slice{k:04d}.dcm", enforce_file_format=True)
    return folder

"""Thresholds that more than one module uses, each defined once with its source.

A stage imports the value from here and names it in its default arguments, so a change (or a user's
override such as ``metal_hu``) reaches every ROI. Constants one module alone uses stay in that module.
Published risk cutoffs live in the model registry (``spinebq/data/models.json``), not here.
"""
from __future__ import annotations

#: HU above which a voxel is metal (screws, rods, cement). Metal never enters a bone-density ROI (DESIGN.md,
#: configurable with ``metal_hu=``) and is clipped to this value before segmentation. Source: Löffler et al.,
#: Front Endocrinol 2021 ([loeffler2021], the ``bonescreen`` preset) excluded voxels > 1400 HU.
METAL_HU = 1400.0

#: CT: a trabecular ROI smaller than this (ml) is too small to trust: QC flag ``roi_too_small`` and the value is
#: reported missing (README, QC flags). spinebq's choice [M].
MIN_ROI_ML = 0.3

#: MRI: the smallest ROI, in voxels of the sagittal slice(s), whose mean signal is trusted (MR voxels are thick
#: and anisotropic, so the MRI rule counts voxels rather than ml). spinebq's choice [M].
MIN_ROI_VOXELS = 20

#: Genant semiquantitative grades by height reduction: >= 20 % grade 1 (mild), >= 25 % grade 2, >= 40 % grade 3.
#: The first value is also the reduction at which the MRI side calls a body "possible fracture".
GENANT_THRESHOLDS = (0.20, 0.25, 0.40)
GENANT_REFERENCE = "Genant et al., J Bone Miner Res 1993;8:1137-48 (semiquantitative grades 0-3 by height reduction)"

#: Step of the point clouds that sample ROIs off the voxel grid (region A, screw cylinders and shells,
#: the ST-HU rectangle), mm: well below a CT voxel, so an ROI's shape does not depend on the grid.
ROI_STEP_MM = 0.5

#: Grey-level window of the CT figures (bone and soft tissue both readable), HU.
BONE_WINDOW_HU = (-250.0, 1250.0)

#: The patient identifier of an assessment, a report and its DICOM SR (Patient's Name and Patient ID) when the user
#: gives none (``--id``): a pseudonym that says it is one.
DEFAULT_PATIENT_ID = "anonymous"

#: Said by every output and report: spinebq is a research tool.
RESEARCH_NOTICE = "spinebq is a research tool, not a medical device: results are not for clinical decisions on their own."

#: Resource guard of every image loader: an image larger than this many voxels, or longer than this along any
#: axis, cannot be a patient's CT or MR (a whole-body CT is about 2000 mm, 512 x 512 x 2000 voxels); it is refused
#: before any voxel is read. Voxel edges outside VOXEL_SIZE_RANGE_MM are refused as well. spinebq's choice [M].
MAX_IMAGE_VOXELS = 1_500_000_000
MAX_IMAGE_EXTENT_MM = 2500.0
VOXEL_SIZE_RANGE_MM = (0.05, 50.0)

#: A label map holding more distinct ids than this is an image, not a label map (TotalSegmentator ``total`` has
#: 117 classes). spinebq's choice [M].
MAX_LABEL_IDS = 1000

#: HU above which a CT voxel counts as bone at the outer surface of a vertebra (partial volume of the cortex
#: included): the built-in segmentation grows vertebrae through it, and a screw's "inside bone" is measured against
#: it (with the marrow the cortex encloses). spinebq's choice [M].
BONE_EDGE_HU = 100.0

#: Tube voltages (kV) an equations file may hold and ``spinebq calibrate --kvp`` accepts: clinical CT runs at
#: 70-150 kV; the margins are spinebq's choice [M].
KVP_RANGE_KV = (40.0, 200.0)

#: ``spinebq batch``: a study running longer than this (s) is stopped; a routine CT takes well under a minute.
DEFAULT_TIMEOUT_S = 1800.0

#: Encoding of the CSV tables researchers open in Excel (``cohort.csv``, its dictionary, the key map, ``spinebq
#: stats``' tables): UTF-8 with a byte-order mark, which Excel on Windows needs to read UTF-8 (without it a clinical
#: cell such as "é" shows as "Ã©"); pandas, R's readr, and every reader in spinebq drop the mark.
EXCEL_CSV_ENCODING = "utf-8-sig"

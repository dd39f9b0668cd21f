"""Measurement by modality: ``ct/`` (trabecular ROIs, three-slice ellipses, pedicles, screw trajectories, regions,
heights, implants) and ``mri/`` (body, pedicle and CSF ROIs, VBQ/PBQ, paraspinal muscle fat)."""

"""MRI bone quality from a sagittal T1-weighted lumbar MRI: VBQ, S1-VBQ, PBQ and paraspinal muscle fat.

Research use only, not a medical device.

Modules
-------
rois     body, pedicle and CSF regions of interest and their robust statistics
vbq      VBQ, S1-VBQ, PBQ and the published cutoffs with their provenance
muscle   multifidus / erector spinae fat fraction and the Goutallier grade
measure  the measurement that returns the JSON-ready ``spinebq.mri/1`` dictionary

The MR header checks and label schemes are loaded by :mod:`spinebq.io.mr_header` and :mod:`spinebq.io.mr_labels`,
the automatic vertebra detection is :mod:`spinebq.segment.mri`, the pictures :mod:`spinebq.report.mri_figures`.
"""
from spinebq.measure.mri.measure import SCHEMA, measure_mri

__all__ = ["SCHEMA", "measure_mri"]

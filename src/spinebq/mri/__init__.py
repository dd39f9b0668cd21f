"""MRI bone quality from a sagittal T1-weighted lumbar MRI: VBQ, S1-VBQ, PBQ and paraspinal muscle fat.

Research use only, not a medical device.

Modules
-------
header   sequence checks (T1 or not, field strength, TR/TE, fat suppression, contrast)
labels   MR label schemes (VerSe, TotalSegmentator ``total_mr``/``vertebrae_mr``, TotalSpineSeg, SPINEPS)
rois     body, pedicle and CSF regions of interest and their robust statistics
vbq      VBQ, S1-VBQ, PBQ and the published cutoffs with their provenance
muscle   multifidus / erector spinae fat fraction and the Goutallier grade
auto     automatic vertebral-body and canal detection on the T1 image (image analysis, no weights)
figures  pictures of every ROI on the image
measure  the pipeline that returns the JSON-ready ``spinebq.mri/1`` dictionary
"""
from spinebq.mri.measure import SCHEMA, measure_mri

__all__ = ["SCHEMA", "measure_mri"]

"""Built-in vertebra segmentation and labelling that needs no downloaded model.

``segment_ct(ct)`` finds the spine's axis, splits the vertebral bodies at the intervertebral
discs, grows each body into its posterior elements, names the levels from anatomical landmarks
(the last rib-bearing vertebra is T12, the sacrum is S1) and says how sure it is per level.
See :mod:`spinebq.segment.ct.core`.
"""
from spinebq.segment.ct.core import SEGMENTERS, SegmentationResult, run_segmenter, segment_ct

__all__ = ["SEGMENTERS", "SegmentationResult", "run_segmenter", "segment_ct"]

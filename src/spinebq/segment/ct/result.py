"""Build a :class:`~spinebq.segment.ct.core.SegmentationResult` from a label map made elsewhere."""
from __future__ import annotations

import numpy as np

from spinebq.anatomy import VERSE_NAMES, sort_levels
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.segment.posterior import separate_body


def result_from_labels(ct: Volume, labels: LabelMap, *, segmenter: str):
    """Wrap VerSe labels (whole vertebrae) into a result with bodies cut at the canal and levels described."""
    from spinebq.segment.ct.core import SegmentationResult
    from spinebq.segment.ct.subregions import SUBREGION_NAMES

    sub = np.zeros(labels.shape, np.uint8)
    levels = {}
    for v in (int(i) for i in np.unique(labels.array) if i > 0 and int(i) in VERSE_NAMES):
        mask = labels.array == v
        body = separate_body(mask, ct.spacing_mm).body
        sub[body] = 1
        sub[mask & ~body] = 4
        idx = np.argwhere(body if body.any() else mask)
        levels[VERSE_NAMES[v]] = {
            "verse_id": v, "confidence": None, "qc": [f"from {segmenter}: no confidence available"],
            "centroid_mm": [round(float(c), 1) for c in ct.index_to_mm(idx.mean(axis=0))],
            "body_volume_ml": round(float(body.sum()) * ct.voxel_volume_ml, 2),
            "vertebra_volume_ml": round(float(mask.sum()) * ct.voxel_volume_ml, 2),
        }
    levels = {n: levels[n] for n in sort_levels(levels)}
    subregions = ct.with_array(sub)
    subregions.metadata = {"content": "subregions", "names": SUBREGION_NAMES}
    return SegmentationResult(vertebrae=labels, subregions=subregions, levels=levels,
                              info={"segmenter": segmenter, "method": f"{segmenter} labels", "qc": []})

"""What the CT segmentation returns (:class:`SegmentationResult`), also built from a label map made elsewhere."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinebq.anatomy import VERSE_NAMES, sort_levels
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.segment.ct.subregions import SUBREGION_NAMES
from spinebq.segment.posterior import separate_body

SCHEMA = "spinebq.segment/1"


@dataclass
class SegmentationResult:
    """What :func:`~spinebq.segment.ct.core.segment_ct` returns.

    Attributes
    ----------
    vertebrae : LabelMap
        int16 VerSe ids (whole vertebrae: body and posterior elements) on the CT's grid.
    subregions : Volume
        uint8 sub-regions on the CT's grid: 1 body, 2 left pedicle, 3 right pedicle, 4 posterior
        arch, 5 spinal canal.
    levels : dict
        Name -> ``{"verse_id", "confidence", "qc", "centroid_mm" (LPS, body), "body_volume_ml",
        "vertebra_volume_ml"}``, cranial to caudal.
    info : dict
        Method, global QC flags, landmarks, timings (s).
    """

    vertebrae: LabelMap
    subregions: Volume
    levels: dict[str, dict]
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The content of ``labels.json``: names travel with the label ids."""
        return {
            "schema": SCHEMA,
            "segmenter": self.info.get("segmenter", "builtin"),
            "label_scheme": "verse",
            "labels": {str(v["verse_id"]): name for name, v in self.levels.items()},
            "subregions": {str(k): v for k, v in SUBREGION_NAMES.items()},
            "levels": self.levels,
            "qc": list(self.info.get("qc", [])),
            "method": self.info.get("method"),
            "landmarks": self.info.get("landmarks", {}),
        }


def result_from_labels(ct: Volume, labels: LabelMap, *, segmenter: str):
    """Wrap VerSe labels (whole vertebrae) into a result with bodies cut at the canal and levels described."""
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

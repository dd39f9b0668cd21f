"""Do label names fit the image? A cross-check of labels made elsewhere against the built-in segmentation.

A label map shifted by one level (every vertebra named as its neighbour) has bodies, pedicles and densities
that all look right; only counting the vertebrae in the image shows it. The built-in segmentation
(:func:`spinebq.segment.ct.core.segment_ct`) counts them from the sacrum; where it found the sacrum and each
labelled vertebra overlaps one of its vertebrae, a different name there flags the level ``labels_implausible``
with the reason, and the level is kept out of the summary. Where the built-in segmentation finds no sacrum (or
no spine), nothing is claimed: the check says it could not be made.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spinebq.anatomy import VERSE_NAMES
from spinebq.errors import SpinebqError
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume

#: QC flag of a level whose label does not fit the image.
LABELS_IMPLAUSIBLE = "labels_implausible"
#: Share of a label's voxels that must fall in one built-in vertebra for the names to be compared.
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class NameCheck:
    """What :func:`check_level_names` found.

    Attributes
    ----------
    implausible : dict
        Level -> reason, for the levels whose name disagrees with the vertebra counted in the image.
    method : str
        How the check was made, or why it could not be.
    """

    implausible: dict[str, str] = field(default_factory=dict)
    method: str = ""


def check_level_names(ct: Volume, labels: LabelMap) -> NameCheck:
    """Compare the names of ``labels`` with the vertebrae the built-in segmentation counts from the sacrum.

    Parameters
    ----------
    ct : Volume
        The CT in HU.
    labels : LabelMap
        VerSe ids on ``ct``'s grid (whole vertebrae or bodies).

    Returns
    -------
    NameCheck
    """
    from spinebq.segment.ct.core import segment_ct
    from spinebq.segment.ct.labelling import LEVEL_UNCONFIRMED

    try:
        ours = segment_ct(ct)
    except SpinebqError as exc:
        return NameCheck(method=f"not checked: the built-in segmentation found no spine ({exc})")
    if not ours.info.get("landmarks", {}).get("sacrum"):
        return NameCheck(method="not checked: the built-in segmentation found no sacrum to count from")
    # a vertebra cut by the field of view may hold parts of two (the few voxels of a neighbour's label)
    confirmed = {level["verse_id"] for level in ours.levels.values()
                 if LEVEL_UNCONFIRMED not in level["qc"] and not any("cut by the field" in q for q in level["qc"])}
    implausible = {}
    for vid in (int(v) for v in np.unique(labels.array) if v > 0 and int(v) in VERSE_NAMES):
        name = VERSE_NAMES[vid]
        inside = ours.vertebrae.array[labels.array == vid]
        found = inside[inside > 0]
        if found.size < MIN_OVERLAP * inside.size:
            continue
        ids, counts = np.unique(found, return_counts=True)
        best = int(ids[np.argmax(counts)])
        if best in confirmed and best != vid and counts.max() >= MIN_OVERLAP * inside.size:
            implausible[name] = (f"labelled {name}, but the vertebra there is {VERSE_NAMES[best]} counted from the "
                                 "sacrum in the image (built-in segmentation): the labels may be shifted")
    return NameCheck(implausible, "names compared with the built-in segmentation's vertebrae counted from the sacrum "
                                  f"(a label must lie {100 * MIN_OVERLAP:.0f} % in one of them)")


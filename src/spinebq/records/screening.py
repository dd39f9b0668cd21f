"""The opportunistic-screening reading of one CT: L1 trabecular HU against published screening thresholds."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ScreeningReading:
    """One CT read against one set of published L1 HU thresholds (``models.json`` ``screening``).

    Attributes
    ----------
    key : str
        The registry entry (``pickhardt2013_L1``).
    reference : str
        Bibliography key of the thresholds' paper.
    level : str
        The vertebra the thresholds were published for (``L1``).
    value_hu : float or None
        The value compared: ``hu_2d`` of the level (mean of the three ellipses, on planes perpendicular to the
        vertebra's own axis), HU; None with ``reason``.
    mid_slice_hu : float or None
        The mid-body ellipse alone (``hu_2d_slices[1]``), closest to the paper's single axial ROI, HU.
    reading : str or None
        The band the value falls in (``osteoporosis likely`` ...); None when not read.
    band : str or None
        The band's limits in words (``at or below 110 HU``).
    thresholds_hu : tuple of float
        The published thresholds, ascending.
    reason : str or None
        Why there is no reading.
    caveats : tuple of str
        Conditions that change the interpretation (kVp, contrast, fracture at the level, QC).
    method : str
        How the spinebq value relates to the paper's ROI.
    """

    key: str
    reference: str
    level: str
    value_hu: float | None
    mid_slice_hu: float | None
    reading: str | None
    band: str | None
    thresholds_hu: tuple[float, ...]
    reason: str | None
    caveats: tuple[str, ...]
    method: str

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["thresholds_hu"] = list(self.thresholds_hu)
        document["caveats"] = list(self.caveats)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "ScreeningReading":
        fields = dict(document)
        fields["thresholds_hu"] = tuple(fields.get("thresholds_hu") or ())
        fields["caveats"] = tuple(fields.get("caveats") or ())
        return cls(**fields)

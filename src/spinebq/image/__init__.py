"""The image types: :class:`Volume` and :class:`LabelMap`."""
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume

__all__ = ["LabelMap", "Volume"]

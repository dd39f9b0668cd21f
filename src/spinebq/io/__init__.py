"""Loading CT/MR images, label maps and user files (image types: :mod:`spinebq.image`)."""
from spinebq.io.volume import load_volume

__all__ = ["load_volume"]

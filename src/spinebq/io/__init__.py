"""Loading CT/MR images and label maps into :class:`~spinebq.io.volume.Volume` objects."""
from spinebq.io.volume import Volume, load_volume

__all__ = ["Volume", "load_volume"]

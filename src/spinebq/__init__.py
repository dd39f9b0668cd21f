"""spinebq: spine bone quality from routine CT and MRI.

Research use only; not a medical device.
"""
import logging

from spinebq.errors import SpinebqError
from spinebq.image.volume import Volume

__version__ = "0.1.0"
__all__ = ["SpinebqError", "Volume", "__version__"]

logging.getLogger("spinebq").addHandler(logging.NullHandler())

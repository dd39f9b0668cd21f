"""The built-in CT segmenter: spine axis, bone, canal, discs, vertebrae, sub-regions and level names, no model."""

"""Published prediction models (the registry, shipped as data) and one patient's assessment against them.

registry   load the registry of published models and cutoffs (``spinebq/data/models.json``), print it
values     the patient's predictor values gathered from measurements.json, mri.json and clinical data
assess     place those values against every model: value, cutoff, side, discrimination, or why not applicable
"""

"""Regions of interest and their statistics (CT: body, trabecular volume, three-slice ellipses)."""

"""Measurement on CT: trabecular ROIs, three-slice ellipses, pedicles, screw trajectories, regions, heights."""

"""Synthetic images with known ground truth, for the demo and for tests."""

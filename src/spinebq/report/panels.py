"""Margins of the per-level pictures, in inches.

``spinebq ct`` draws two pictures per level (its screw trajectories, its three-slice ellipses), each of a fixed size
with fixed fonts. ``Figure.tight_layout`` measured every tick label and title of each one again to find the same
margins, a third of the time the pictures take; :func:`place_panels` sets the margins it found (matplotlib 3.10,
the real CT) directly, with room for the title lines a panel has.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Height of one title line at 8 points (matplotlib's line spacing 1.2), inches.
TITLE_LINE_IN = 8 * 1.2 / 72


@dataclass(frozen=True)
class Margins:
    """Space around and between the panels of a figure, inches; ``top_in`` and ``gap_down_in`` hold titles of
    ``title_lines`` lines."""

    left_in: float
    right_in: float
    bottom_in: float
    top_in: float
    gap_across_in: float
    gap_down_in: float = 0.0
    title_lines: int = 1


#: A trajectory figure: an axial and a sagittal plane (rows) per side (columns), titles of two lines.
TRAJECTORY = Margins(left_in=0.56, right_in=0.15, bottom_in=0.49, top_in=0.77, gap_across_in=0.56, gap_down_in=0.82,
                     title_lines=2)
#: The three planes of the three-slice method side by side, titles of one line.
ELLIPSES = Margins(left_in=0.71, right_in=0.15, bottom_in=0.24, top_in=0.43, gap_across_in=0.71)


def place_panels(fig, margins: Margins, title_lines: int | None = None) -> None:
    """Place the panels of ``fig`` (one grid of subplots) with ``margins``, each title ``title_lines`` long."""
    extra_in = TITLE_LINE_IN * max(0, (title_lines or margins.title_lines) - margins.title_lines)
    width_in, height_in = fig.get_size_inches()
    rows, cols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    top_in, gap_down_in = margins.top_in + extra_in, margins.gap_down_in + extra_in
    panel_width_in = (width_in - margins.left_in - margins.right_in - (cols - 1) * margins.gap_across_in) / cols
    panel_height_in = (height_in - top_in - margins.bottom_in - (rows - 1) * gap_down_in) / rows
    fig.subplots_adjust(left=margins.left_in / width_in, right=1 - margins.right_in / width_in,
                        bottom=margins.bottom_in / height_in, top=1 - top_in / height_in,
                        wspace=margins.gap_across_in / panel_width_in, hspace=gap_down_in / panel_height_in)

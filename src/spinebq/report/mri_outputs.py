"""The outputs of ``spinebq mri``: mri.json (schema ``spinebq.mri/1``), mri.csv, the ROI pictures and labels."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from spinebq.records.mri import MriRecord
from spinebq.report.files import write_atomic, write_json

#: Columns of mri.csv (one row per level).
CSV_COLUMNS = ("level", "body_signal", "body_voxels", "body_slice", "pedicle_signal_left", "pedicle_signal_right",
               "signal_csf", "csf_level", "vbq", "pbq", "qc")


def write_mri_outputs(out_dir: str | Path, record: MriRecord, *, figures: bool = True) -> MriRecord:
    """Write mri.json, mri.csv, the ROI pictures and (automatic mode) ``vertebrae.nii.gz`` of ``record``.

    The pictures and the label map need ``record.images`` (as :func:`spinebq.pipeline.analyse_mri` returns
    it). The JSON is written last. Returns the record naming the files written (its ``outputs``).
    """
    from spinebq.io.volume import save_nifti

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = record.images
    written: list[Path] = []
    if images is not None and record.roi_method == "automatic" and images.labels is not None:
        written.append(save_nifti(images.labels, out / "vertebrae.nii.gz", dtype=np.int16))
    if figures and images is not None:
        from spinebq.report.mri_figures import save_axial_muscle_figure, save_figures

        document = record.to_json()
        labels_array = None if images.labels is None else images.labels.array
        written += save_figures(images.image.array, images.image.spacing_mm, document, images.rois, out,
                                labels=labels_array, title=images.title)
        if images.axial is not None and images.axial_rois:
            written.append(save_axial_muscle_figure(images.axial.array, images.axial.spacing_mm, document,
                                                    images.axial_rois, out, title=images.axial_title))
    written.append(write_atomic(out / "mri.csv", _csv_text(record)))
    record = record.with_outputs([p.name for p in written] + ["mri.json"])
    write_json(out / "mri.json", record.to_json())
    return record


def _csv_text(record: MriRecord) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for level in record.levels:
        entry = level.to_json()
        writer.writerow([level.level, level.body_signal, level.body_voxels, entry.get("body_slice"),
                         level.pedicle_signal_left, level.pedicle_signal_right, record.csf.signal, record.csf.level,
                         record.vbq, record.pbq, "; ".join(level.qc)])
    return buffer.getvalue()

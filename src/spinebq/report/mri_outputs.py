"""The outputs of ``spinebq mri``: mri.json (schema ``spinebq.mri/1``), mri.csv, the ROI pictures and labels."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from spinebq.image.volume import Volume
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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = record.images
    written: list[Path] = []
    if images is not None and record.roi_method == "automatic" and images.labels is not None:
        written.append(save_labels_on_input_grid(images.labels, images.image, out / "vertebrae.nii.gz"))
    if figures and images is not None:
        from spinebq.report.mri_figures import save_axial_muscle_figure, save_figures

        document = record.to_json()
        labels_array = None if images.labels is None else images.labels.array
        written += save_figures(images.image, document, images.rois, out,
                                labels=labels_array, title=images.title)
        if images.axial is not None and images.axial_rois:
            written.append(save_axial_muscle_figure(images.axial, document,
                                                    images.axial_rois, out, title=images.axial_title))
    written.append(write_atomic(out / "mri.csv", _csv_text(record)))
    record = record.with_outputs([p.name for p in written] + ["mri.json"])
    write_json(out / "mri.json", record.to_json())
    return record


def save_labels_on_input_grid(labels: Volume, image: Volume, path: str | Path) -> Path:
    """Write a label map found on ``image`` on the input's own voxel grid, as TotalSegmentator and nnU-Net do.

    For a NIfTI input the array is put back in the file's stored axis order and written with a copy of its
    header (affine, qform/sform and their codes, voxel size, units), int16 without scaling: a user can compare
    the label array with the input's array voxel for voxel. Other inputs (DICOM) have no NIfTI grid: the
    canonical LPS grid is written, with its affine.
    """
    import nibabel as nib

    from spinebq.image.volume import RAS_TO_LPS, to_source_orientation

    from spinebq.io.volume import save_nifti

    path = Path(path)
    on_grid = to_source_orientation(labels, image)
    source = image.metadata.get("source")
    if image.metadata.get("format") == "NIfTI" and source and Path(source).is_file():
        reference = nib.load(str(source))
        array = np.asarray(on_grid.array, np.int16)
        if array.shape == tuple(reference.shape[:3]) and np.allclose(RAS_TO_LPS @ on_grid.affine, reference.affine,
                                                                     atol=1e-3):
            header = reference.header.copy()
            header.set_data_dtype(np.int16)
            header.set_slope_inter(1.0, 0.0)
            header["cal_min"], header["cal_max"] = 0.0, float(array.max())
            if len(reference.shape) > 3:
                header.set_data_shape(array.shape)
            result = nib.Nifti1Image(array, reference.affine, header=header)
            result.set_qform(reference.get_qform(), code=int(reference.header["qform_code"]))
            result.set_sform(reference.get_sform(), code=int(reference.header["sform_code"]))
            nib.save(result, str(path))
            return path
    return save_nifti(on_grid, path, dtype=np.int16)


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

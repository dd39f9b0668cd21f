"""Loading: DICOM series (real and synthetic quirks) and NIfTI in any orientation."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from pydicom.uid import JPEGLSLossless, RLELossless

from spinebq.errors import SpinebqError
from spinebq.io.labels import load_labels
from spinebq.image.volume import RAS_TO_LPS
from spinebq.io.volume import load_volume, save_nifti

from tests.conftest import DATA, need
from tests.dicom_writer import cylinder_ct, write_ct_series


def test_real_dicom_series_geometry_and_metadata(ts_dir):
    ct = load_volume(ts_dir / "ct_dicom", expect_modality="CT")
    assert ct.shape == (512, 512, 20)
    np.testing.assert_allclose(ct.spacing_mm, (0.9765625, 0.9765625, 2.0))
    assert ct.orientation == "LPS"
    meta = ct.metadata
    assert meta["kvp"] == 120.0 and meta["manufacturer"] == "SIEMENS"
    assert meta["kernel"].startswith("Br38f") and meta["contrast_agent"] == "APPLIED"
    assert "JPEG 2000" in meta["transfer_syntax"]
    # air outside the patient, bone in the vertebra: the values are HU after rescale
    assert ct.array.min() <= -1000 and ct.array.max() > 1000


def test_real_dicom_labels_line_up_voxel_for_voxel(ts_dir):
    ct = load_volume(ts_dir / "ct_dicom")
    seg = nib.load(str(ts_dir / "ct_dicom_seg.nii.gz"))
    # the label file's own grid, converted to LPS, is the DICOM grid up to axis order/flips
    lps = RAS_TO_LPS @ seg.affine
    corner_seg = lps[:3, 3]
    corners_ct = ct.index_to_mm(np.array([[i, j, k] for i in (0, 511) for j in (0, 511) for k in (0, 19)]))
    assert np.min(np.linalg.norm(corners_ct - corner_seg, axis=1)) < 1e-3
    labels = load_labels(ts_dir / "ct_dicom_seg.nii.gz", ct)
    t12 = labels.array == 19
    mean_on = ct.array[t12].mean()
    mean_shifted = ct.array[np.roll(t12, 6, axis=1)].mean()
    assert mean_on > 200  # bone
    assert mean_shifted < mean_on - 50  # a misregistration of 6 mm would show


def test_nifti_any_orientation_gives_the_same_canonical_array(ts_dir, tmp_path):
    image = nib.load(str(ts_dir / "ct.nii.gz"))
    data = np.asanyarray(image.dataobj)
    reference = load_volume(ts_dir / "ct.nii.gz")
    flipped = data[::-1, :, ::-1]
    flip_affine = image.affine @ np.array([[-1, 0, 0, data.shape[0] - 1], [0, 1, 0, 0], [0, 0, -1, data.shape[2] - 1], [0, 0, 0, 1]])
    permuted = np.transpose(data, (2, 0, 1))
    perm_affine = image.affine[:, [2, 0, 1, 3]]
    for n, (arr, aff) in enumerate([(flipped, flip_affine), (permuted, perm_affine)]):
        path = tmp_path / f"v{n}.nii.gz"
        nib.save(nib.Nifti1Image(arr, aff), str(path))
        volume = load_volume(path)
        np.testing.assert_array_equal(volume.array, reference.array)
        np.testing.assert_allclose(volume.affine, reference.affine, atol=1e-4)


def test_a_nifti_without_orientation_is_read_with_a_warning(ts_dir, tmp_path, capsys):
    """The real CT and MRI saved with qform and sform codes 0 (as ANALYZE-era tools write them): nibabel reads such a
    file in radiological order, so the real CT (stored RAS) came out mirrored left to right, its pedicles and screws
    named on the wrong side, without a word. The loaded volume carries a warning, `spinebq ct` prints it, and the
    MRI, whose head-to-foot axis is then unknown, is refused saying why."""
    from spinebq.cli import main
    from spinebq.io.nifti import NO_ORIENTATION
    from tests.conftest import DATA, need

    for source, name in ((ts_dir / "ct.nii.gz", "ct.nii.gz"), (need(DATA / "lumbar_mri_t1" / "case02_t1.nii.gz"), "t1.nii.gz")):
        image = nib.load(str(source))
        bare = nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine)
        bare.set_qform(None, code=0)
        bare.set_sform(None, code=0)
        nib.save(bare, str(tmp_path / name))
    ct = load_volume(tmp_path / "ct.nii.gz")
    assert ct.metadata["warnings"] == [f"ct.nii.gz: {NO_ORIENTATION}"]
    np.testing.assert_array_equal(ct.array, load_volume(ts_dir / "ct.nii.gz").array[::-1])  # mirrored, as warned
    assert "warnings" not in load_volume(ts_dir / "ct.nii.gz").metadata
    assert main(["mri", str(tmp_path / "t1.nii.gz"), "--out", str(tmp_path / "mri")]) == 2
    assert "the NIfTI header holds no orientation" in capsys.readouterr().err


def test_a_float_ct_saved_as_int16_is_rounded_not_truncated(ts_dir, tmp_path):
    """The real CT moved by 0.6 HU (as a resampled CT holds fractions) and saved as int16 reads back rounded to the
    nearest HU on both sides of zero (a cast truncated every value towards zero); values beyond int16 are clipped."""
    ct = load_volume(ts_dir / "ct.nii.gz")
    moved = ct.array.astype(np.float32) + 0.6
    moved[0, 0, 0] = 40000.0
    back = load_volume(save_nifti(ct.with_array(moved), tmp_path / "ct.nii.gz", dtype=np.int16)).array
    expected = np.rint(moved)
    expected[0, 0, 0] = np.iinfo(np.int16).max
    np.testing.assert_array_equal(back, expected)
    assert (ct.array < 0).any() and (ct.array > 0).any()  # both signs are read


def test_synthetic_series_rle_and_jpegls_decode_to_the_same_hu(tmp_path):
    hu = cylinder_ct()
    for name, syntax in [("plain", None), ("rle", RLELossless), ("jpegls", JPEGLSLossless)]:
        write_ct_series(tmp_path / name, hu, transfer_syntax=syntax)
        volume = load_volume(tmp_path / name)
        # canonical axes: columns -> axis 0, rows -> axis 1
        np.testing.assert_array_equal(volume.array, np.transpose(hu, (1, 0, 2)).astype(np.float32))


def test_spacing_comes_from_positions_and_gaps_are_reported(tmp_path):
    hu = cylinder_ct(slices=10)
    z = [0, 2, 4, 6, 10, 12, 14, 16, 18, 20]  # one slice missing between 6 and 10
    write_ct_series(tmp_path / "gap", hu, z_positions_mm=z)
    volume = load_volume(tmp_path / "gap")
    assert volume.spacing_mm[2] == pytest.approx(2.0)
    assert volume.shape[2] == 11  # regular grid through the gap
    assert any("missing" in w for w in volume.metadata["warnings"])
    assert volume.metadata["slice_gaps_mm"] == [[6.0, 10.0]]


def test_gantry_tilt_is_resampled_onto_an_orthogonal_grid(tmp_path):
    hu = cylinder_ct(slices=12)
    write_ct_series(tmp_path / "tilt", hu, tilt_deg=15.0)
    volume = load_volume(tmp_path / "tilt")
    assert volume.metadata["gantry_tilt_deg"] == pytest.approx(15.0, abs=0.1)
    assert any("tilt" in w for w in volume.metadata["warnings"])
    np.testing.assert_allclose(np.abs(volume.affine[:3, :3]), np.diag(volume.spacing_mm), atol=1e-6)
    # each written slice was shifted by z * tan(15 deg) along y: the resampled cylinder sits where the
    # slices put it in patient space
    ks = range(2, volume.shape[2] - 2)
    centres_mm = [volume.index_to_mm([0, np.argwhere(volume.array[:, :, k] > 150)[:, 1].mean(), k]) for k in ks]
    z = np.array([c[2] for c in centres_mm])
    y = np.array([c[1] for c in centres_mm])
    slope = np.polyfit(z - z[0], y, 1)[0]
    assert slope == pytest.approx(np.tan(np.radians(15.0)), abs=0.03)


def test_several_series_most_slices_wins_localizer_ignored(tmp_path):
    hu = cylinder_ct(slices=12)
    study = "1.2.826.0.1.3680043.8.498.1"  # several series of one study: the most slices wins, said
    big = write_ct_series(tmp_path, hu, prefix="big", study_uid=study)
    write_ct_series(tmp_path, hu[:, :, :5], prefix="small", study_uid=study)
    write_ct_series(tmp_path, hu[:, :, :20], prefix="loc", image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                    study_uid=study)
    (tmp_path / "notes.txt").write_text("not dicom")
    volume = load_volume(tmp_path, expect_modality="CT")
    assert volume.metadata["series_uid"] == big
    assert "chose" in volume.metadata["series_choice"]
    other = write_ct_series(tmp_path / "x", hu[:, :, :4])
    with pytest.raises(SpinebqError, match="no image series"):
        load_volume(tmp_path, series_uid="1.2.3.4")
    assert load_volume(tmp_path / "x", series_uid=other).shape[2] == 4


def test_qrm_phantom_other_vendor_loads():
    folder = need(DATA / "qrm_phantom_ct" / "dicom")
    ct = load_volume(folder, expect_modality="CT")
    assert ct.shape == (512, 512, 47)
    assert ct.metadata["manufacturer"] == "TOSHIBA" and ct.metadata["kernel"] == "FC12"
    np.testing.assert_allclose(ct.spacing_mm[2], 3.0)


def test_reference_datasets_of_an_anonymised_series(ts_dir, tmp_path):
    """The real series has blank Study/Series/SOP Instance UIDs in its data sets: the SOP Instance UIDs come from
    the file meta, one derived Study and Series UID (the same on every call) is filled in; a slice with no SOP
    Instance UID anywhere is refused, naming the file."""
    import pydicom

    from spinebq.io.dicom import reference_datasets

    first, note = reference_datasets(ts_dir / "ct_dicom")
    again, _ = reference_datasets(ts_dir / "ct_dicom")
    assert note == "source lacked Study, Series UID: derived"
    assert len({str(ds.SOPInstanceUID) for ds in first}) == len(first) == 20
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
        assert len({str(ds.get(keyword)) for ds in first}) == 1 and str(first[0].get(keyword))
        assert str(again[0].get(keyword)) == str(first[0].get(keyword))

    source = sorted((ts_dir / "ct_dicom").iterdir())[0]
    ds = pydicom.dcmread(source)
    ds.file_meta.MediaStorageSOPInstanceUID = ""
    ds.save_as(tmp_path / "slice.dcm")
    with pytest.raises(SpinebqError, match="slice.dcm: the slice has no SOP Instance UID"):
        reference_datasets(tmp_path / "slice.dcm")


def test_a_series_without_a_frame_of_reference_is_segmented_into_a_seg(ts_dir, tmp_path):
    """The real series with its Frame of Reference UID removed (as tests/dicom_writer.py and some anonymisers write
    it): ``spinebq segment`` measured it, then ended in an internal error (highdicom's ValueError, exit 1) writing the
    DICOM SEG. One Frame of Reference UID is derived from the slices, the same on every run, and said in the note."""
    import pydicom

    from spinebq.cli import main
    from spinebq.io.dicom import reference_datasets

    series = tmp_path / "series"
    series.mkdir()
    for source in sorted((ts_dir / "ct_dicom").iterdir()):
        ds = pydicom.dcmread(source)
        del ds.FrameOfReferenceUID
        ds.save_as(series / source.name)
    datasets, note = reference_datasets(series)
    assert note == "source lacked Study, Series, Frame of Reference UID: derived" and len(note) <= 64
    assert len({str(ds.FrameOfReferenceUID) for ds in datasets}) == 1
    assert str(reference_datasets(series)[0][0].FrameOfReferenceUID) == str(datasets[0].FrameOfReferenceUID)
    assert main(["segment", str(series), "--out", str(tmp_path / "seg")]) == 0
    seg = pydicom.dcmread(tmp_path / "seg" / "vertebrae_seg.dcm")
    assert str(seg.FrameOfReferenceUID) == str(datasets[0].FrameOfReferenceUID)
    assert seg.ContentDescription == note


def test_a_zip_of_the_real_dicom_series_is_read_as_the_folder(tmp_path, capsys):
    """A DICOM series is often exchanged as a zip (TotalSegmentator's -i takes one): `spinebq ct series.zip` said
    "not a DICOM file". The zip of the real 20-slice series loads as its folder does (same voxels and grid), spinebq
    segment writes its DICOM SEG referencing the slices, a truncated zip or one without DICOM files is refused in one
    sentence naming the zip, never the temporary folder it was unpacked into."""
    import shutil

    from spinebq.cli import main
    from spinebq.io.dicom import reference_datasets

    folder = need(DATA / "totalsegmentator_example" / "ct_dicom")
    archive = shutil.make_archive(str(tmp_path / "series"), "zip", root_dir=folder.parent, base_dir=folder.name)
    zipped, plain = load_volume(archive), load_volume(folder)
    assert zipped.shape == plain.shape and np.array_equal(zipped.array, plain.array)
    assert np.allclose(zipped.affine, plain.affine) and zipped.metadata["source"] == archive
    assert [ds.SOPInstanceUID for ds in reference_datasets(archive)[0]] == \
        [ds.SOPInstanceUID for ds in reference_datasets(folder)[0]]
    assert main(["segment", archive, "--out", str(tmp_path / "S")]) == 0
    assert (tmp_path / "S" / "vertebrae_seg.dcm").is_file()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(open(archive, "rb").read()[:-100])
    readme = shutil.make_archive(str(tmp_path / "readme"), "zip", root_dir=folder.parent.parent,
                                 base_dir="totalsegmentator_example/README.md")
    for bad, words in ((truncated, "cannot be read"), (readme, "no DICOM file found among 1 files")):
        capsys.readouterr()
        assert main(["ct", str(bad), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and words in err and "spinebq-zip-" not in err, err

"""``spinebq segment`` end to end (in-process)."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np

from spinebq.cli import main

from .conftest import DATA, need


def test_segment_command_writes_named_files(tmp_path, capsys):
    """The real CT read from a folder named after the patient: labels.json names it "the CT input", not its path."""
    export = tmp_path / "DOE^JANE_19600101"
    export.mkdir()
    ct = export / "ct.nii.gz"
    ct.symlink_to(need(DATA / "ct.nii.gz"))
    assert main(["segment", str(ct), "--out", str(tmp_path)]) == 0
    assert not [p.name for p in tmp_path.glob("*.json") if "DOE" in p.read_text()]
    for name in ("vertebrae.nii.gz", "subregions.nii.gz", "labels.json", "preview.png"):
        assert (tmp_path / name).exists(), name
    doc = json.loads((tmp_path / "labels.json").read_text())
    assert {"T12", "L1", "L2", "L3", "L4", "L5"} <= set(doc["levels"])
    img = nib.load(str(tmp_path / "vertebrae.nii.gz"))
    ref = nib.load(str(ct))
    assert img.shape == ref.shape and np.allclose(img.affine, ref.affine, atol=1e-3)
    screen = capsys.readouterr().out
    assert "L3" in screen
    # the T12 ribs (left 107 mm, right 84 mm followed through bone) are said beside T12, and only there
    assert [line.split()[0] for line in screen.splitlines() if " rib L " in line] == ["T12"]
    assert doc["levels"]["T12"]["lateral_processes"]["left"]["kind"] == "rib"


def test_segment_bad_input_is_one_sentence(tmp_path, capsys):
    assert main(["segment", str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_level_at(tmp_path, capsys):
    ct = need(DATA / "ct.nii.gz")
    assert main(["segment", str(ct), "--out", str(tmp_path), "--level-at", "1,2=L3"]) == 2
    assert "--level-at" in capsys.readouterr().err


def test_level_at_naming_no_vertebra_is_refused_before_segmenting(tmp_path, capsys):
    ct = need(DATA / "ct.nii.gz")
    assert main(["segment", str(ct), "--out", str(tmp_path), "--level-at", "1,2,3=X9"]) == 2
    err = capsys.readouterr().err
    assert "error: --level-at: 'X9' names no vertebra" in err and err.count("\n") == 1


def test_totalsegmentator_backend_never_downloads(tmp_path, capsys):
    ct = need(DATA / "ct.nii.gz")
    code = main(["segment", str(ct), "--out", str(tmp_path), "--segmenter", "totalsegmentator"])
    err = capsys.readouterr().err
    if code == 2:
        assert "error: --segmenter: " in err and "totalsegmentator" in err.lower() and err.count("\n") == 1
        assert not (tmp_path / "vertebrae.nii.gz").exists()
    else:
        assert code == 0


def test_dicom_series_t12_named_and_seg_reloads(tmp_path, capsys, caplog):
    folder = need(DATA / "ct_dicom")
    from spinebq.io.labels import load_labels
    from spinebq.io.volume import load_volume
    from spinebq.io.dicom_seg import read_dicom_seg

    assert main(["segment", str(folder), "--out", str(tmp_path)]) == 0
    assert not [r.getMessage() for r in caplog.records if not r.name.startswith("spinebq")], "a library logged"
    _check_references(tmp_path / "vertebrae_seg.dcm", folder)
    doc = json.loads((tmp_path / "labels.json").read_text())
    assert "T12" in doc["levels"]
    ct = load_volume(folder)
    ours = nib.load(str(tmp_path / "vertebrae.nii.gz"))
    from spinebq.io.nifti import load_nifti

    ours = load_nifti(tmp_path / "vertebrae.nii.gz", dtype=None).array
    ref = load_labels(need(DATA / "ct_dicom_seg.nii.gz"), ct, scheme="total").array
    t12 = 19
    dice = 2 * ((ours == t12) & (ref == t12)).sum() / max(1, (ours == t12).sum() + (ref == t12).sum())
    print(f"DICOM T12 whole-vertebra Dice vs TotalSegmentator: {dice:.3f}")
    assert dice > 0.5
    reloaded = read_dicom_seg(tmp_path / "vertebrae_seg.dcm", ct)
    assert ((reloaded > 0) == (ours > 0)).mean() > 0.999
    assert set(np.unique(reloaded)) == set(np.unique(ours))


def _check_references(seg_path, folder):
    """The SEG of an anonymised series (blank Study/Series/SOP Instance UIDs in the data sets) references every
    source slice by the SOP Instance UID its file meta keeps, under non-empty study and series UIDs."""
    import pydicom

    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.iterdir())]
    seg = pydicom.dcmread(seg_path)
    assert str(seg.StudyInstanceUID)
    (series,) = seg.ReferencedSeriesSequence
    assert str(series.SeriesInstanceUID)
    referenced = [str(item.ReferencedSOPInstanceUID) for item in series.ReferencedInstanceSequence]
    assert sorted(referenced) == sorted(str(ds.file_meta.MediaStorageSOPInstanceUID) for ds in sources)


def test_modality_flag_named_by_the_refusal_is_accepted(tmp_path, capsys):
    """The real CT exported in a soft-tissue window (nothing below -25 HU: no air, no fat) is refused by the value
    check, whose sentence says to give --modality CT; segment accepts that flag and then segments the CT."""
    source = nib.load(str(need(DATA / "ct.nii.gz")))
    windowed = tmp_path / "windowed.nii.gz"
    nib.save(nib.Nifti1Image(np.maximum(np.asarray(source.dataobj), -25).astype(np.int16), source.affine), windowed)
    assert main(["segment", str(windowed), "--no-preview", "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert "--modality CT" in err and len(err.strip().splitlines()) == 1
    assert main(["segment", str(windowed), "--modality", "CT", "--no-preview", "--out", str(tmp_path / "seg")]) == 0
    doc = json.loads((tmp_path / "seg" / "labels.json").read_text())
    assert {"L1", "L2", "L3", "L4", "L5"} <= set(doc["levels"])


def test_out_never_replaces_labels_spinebq_did_not_write(tmp_path, capsys):
    """A label map in --out that no run wrote (TotalSegmentator's, named vertebrae.nii.gz) and one corrected by
    hand after a run are refused in one sentence and stay as they were; --overwrite replaces them."""
    import hashlib
    import shutil

    ct = str(need(DATA / "ct.nii.gz"))
    out = tmp_path / "case"
    out.mkdir()
    shutil.copy(need(DATA / "seg_v2" / "total.nii.gz"), out / "vertebrae.nii.gz")
    theirs = hashlib.sha256((out / "vertebrae.nii.gz").read_bytes()).hexdigest()
    assert main(["segment", ct, "--no-preview", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "vertebrae.nii.gz" in err and "no spinebq run wrote it" in err and len(err.strip().splitlines()) == 1
    assert hashlib.sha256((out / "vertebrae.nii.gz").read_bytes()).hexdigest() == theirs
    assert sorted(p.name for p in out.iterdir()) == ["vertebrae.nii.gz"]

    assert main(["segment", ct, "--no-preview", "--out", str(out), "--overwrite"]) == 0
    labels = nib.load(str(out / "vertebrae.nii.gz"))
    corrected = np.asarray(labels.dataobj).copy()
    corrected[corrected == 20] = 21  # a level renamed by hand in a label editor
    nib.save(nib.Nifti1Image(corrected, labels.affine), str(out / "vertebrae.nii.gz"))
    edited = hashlib.sha256((out / "vertebrae.nii.gz").read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["segment", ct, "--no-preview", "--out", str(out)]) == 2
    assert "changed after spinebq wrote it" in capsys.readouterr().err
    assert hashlib.sha256((out / "vertebrae.nii.gz").read_bytes()).hexdigest() == edited


def test_the_dicom_seg_segment_writes_is_read_back_by_spinebq_ct(tmp_path, capsys):
    """A PACS user feeds ``spinebq segment``'s DICOM SEG back (the real CT written as a DICOM series): `spinebq ct
    --labels S/vertebrae_seg.dcm` was refused ("sizeof_hdr is 0 ... not NIfTI"). It now reads the SEG, with the
    sub-regions beside it, and gives every level the numbers of no labels and of ``vertebrae.nii.gz`` fed back.
    A DICOM file that is no SEG is refused in one sentence."""
    from spinebq.io.volume import load_volume
    from tests.dicom_writer import write_ct_series

    ct = load_volume(need(DATA / "ct.nii.gz"))
    sp = ct.spacing_mm
    series = tmp_path / "series"
    write_ct_series(series, np.clip(np.round(ct.array), -1024, 3000).astype(np.int16).transpose(1, 0, 2),
                    spacing_mm=(sp[1], sp[0]), z_positions_mm=list(np.arange(ct.shape[2]) * sp[2]))
    assert main(["segment", str(series), "--out", str(tmp_path / "S")]) == 0
    runs = {}
    for name, labels in (("none", []), ("nifti", ["--labels", str(tmp_path / "S" / "vertebrae.nii.gz")]),
                         ("seg", ["--labels", str(tmp_path / "S" / "vertebrae_seg.dcm")])):
        out = tmp_path / name
        assert main(["ct", str(series), *labels, "--out", str(out), "--no-pictures", "--trajectory", "none"]) == 0
        runs[name] = json.loads((out / "measurements.json").read_text())
    levels = {name: {level: (v["hu_3d"], v["heights_mm"], v["genant_grade"]) for level, v in doc["vertebrae"].items()}
              for name, doc in runs.items()}
    assert {"L1", "L2", "L3", "L4", "L5"} <= set(levels["seg"])
    assert levels["seg"] == levels["none"] == levels["nifti"]
    capsys.readouterr()
    assert main(["ct", str(series), "--labels", str(next(series.glob("*.dcm"))), "--out", str(tmp_path / "x")]) == 2
    assert "not a segmentation (DICOM SEG)" in capsys.readouterr().err

"""Outputs: staged and moved into place on success, never stale, never mixed between patients, never written over an
input; a manifest of inputs, options and files; files with the user's umask; no network socket."""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinebq.cli import main
from spinebq.io.output import UNRECORDED_PATH, fingerprint, manifest_name
from tests.conftest import TS, need
from tests.inputs import malformed as m


def _crop(tmp: Path, margin: int = 2) -> tuple[Path, Path]:
    """The real CT and its labels cropped to the lumbar spine (L1-S1) with ``margin`` voxels: no air."""
    ct = nib.load(str(need(TS / "ct.nii.gz")))
    labels = nib.load(str(need(TS / "seg_v2" / "total.nii.gz")))
    ids = np.asarray(labels.dataobj)
    where = np.argwhere((ids > 0) & (ids <= 31))  # S1 (26) .. L1 (31)
    lo, hi = np.maximum(where.min(0) - margin, 0), np.minimum(where.max(0) + 1 + margin, ct.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    tmp.mkdir(parents=True, exist_ok=True)
    nib.save(ct.slicer[box], str(tmp / "crop_ct.nii.gz"))
    nib.save(labels.slicer[box], str(tmp / "crop_labels.nii.gz"))
    return tmp / "crop_ct.nii.gz", tmp / "crop_labels.nii.gz"


def _embedded_pngs(html: str) -> set[str]:
    import re

    return set(re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html))


def test_manifest_keeps_a_patients_name_in_a_folder_name_out_unless_asked(tmp_path):
    """A PACS export names its folders after the patient; the manifest of ``spinebq ct`` wrote the input's path and
    ``--out`` into the output folder. Without ``--include-phi`` neither is written (the input's fingerprint is, so a
    second patient into the same ``--out`` is still refused, naming the new input); with it both are."""
    export = tmp_path / "DOE^JANE_19600101"
    export.mkdir()
    ct = export / "ct.nii.gz"
    ct.symlink_to(TS / "ct.nii.gz")
    out = tmp_path / "DOE^JANE_results"
    assert main(["ct", str(ct), "--out", str(out), "--trajectory", "none", "--no-pictures"]) == 0
    text = (out / manifest_name("ct")).read_text()
    assert "DOE" not in text and UNRECORDED_PATH in text
    assert json.loads(text)["inputs"]["ct"]["fingerprint"] == fingerprint(ct)
    assert main(["ct", str(ct), "--out", str(out), "--trajectory", "none", "--no-pictures"]) == 0  # the same input
    assert main(["ct", str(ct), "--out", str(out), "--trajectory", "none", "--no-pictures", "--include-phi",
                 "--overwrite"]) == 0
    manifest = json.loads((out / manifest_name("ct")).read_text())
    assert manifest["inputs"]["ct"]["path"] == str(ct) and manifest["options"]["out"] == str(out)


def test_reused_out_never_mixes_two_inputs(real_ct_dir, tmp_path, capsys):
    """spinebq ct A --out X; spinebq ct B --out X; spinebq report --ct X: the report never shows A's pictures."""
    out = tmp_path / "X"
    shutil.copytree(real_ct_dir, out)  # spinebq ct A --out X: real_ct_dir is that command's folder
    a_pictures = {p.name: base64.b64encode(p.read_bytes()).decode() for p in out.glob("*.png")}
    assert len(a_pictures) >= 5
    before = m.snapshot(out)
    crop_ct, crop_labels = _crop(tmp_path / "b")
    capsys.readouterr()
    # another input into the same folder: refused, the folder as it was
    assert main(["ct", str(crop_ct), "--labels", str(crop_labels), "--out", str(out), "--no-pictures"]) == 2
    err = capsys.readouterr().err
    assert "already holds the results of spinebq ct for another input" in err and "--overwrite" in err
    assert m.snapshot(out) == before
    # with --overwrite the previous files go first: none of A's pictures is left
    assert main(["ct", str(crop_ct), "--labels", str(crop_labels), "--out", str(out), "--no-pictures",
                 "--trajectory", "none", "--overwrite"]) == 0
    assert not list(out.glob("*.png"))
    manifest = json.loads((out / manifest_name("ct")).read_text())
    assert manifest["inputs"]["ct"]["fingerprint"] == fingerprint(crop_ct)
    assert {f["path"] for f in manifest["files"]} == {p.name for p in out.iterdir()} - {manifest_name("ct")}
    assert main(["report", "--ct", str(out), "--no-pdf", "--out", str(tmp_path / "report")]) == 0
    html = (tmp_path / "report" / "report.html").read_text()
    assert not _embedded_pngs(html) & set(a_pictures.values())
    assert main(["report", "--ct", str(real_ct_dir), "--no-pdf", "--out", str(tmp_path / "control")]) == 0
    assert _embedded_pngs((tmp_path / "control" / "report.html").read_text())  # the check does see pictures
    # a picture of another patient dropped into the folder by hand is never shown either
    (out / "overlay_L1_ellipses.png").write_bytes(base64.b64decode(a_pictures["overlay_L1_ellipses.png"]))
    assert main(["report", "--ct", str(out), "--no-pdf", "--out", str(tmp_path / "report2")]) == 0
    assert not _embedded_pngs((tmp_path / "report2" / "report.html").read_text()) & set(a_pictures.values())


def test_report_shows_exactly_its_own_pictures(real_ct_dir, tmp_path):
    assert main(["report", "--ct", str(real_ct_dir), "--no-pdf", "--out", str(tmp_path / "r")]) == 0
    own = {base64.b64encode(p.read_bytes()).decode() for p in real_ct_dir.glob("*.png")}
    assert _embedded_pngs((tmp_path / "r" / "report.html").read_text()) == own


def test_report_refuses_ct_and_dicom_of_different_patients(tmp_path, capsys):
    need(TS / "ct_dicom")
    folder = m.two_patient_folder(tmp_path / "two")
    labels = str(TS / "ct_dicom_seg.nii.gz")
    assert main(["ct", str(folder / "A"), "--labels", labels, "--out", str(tmp_path / "ctA"), "--no-pictures",
                 "--trajectory", "none"]) == 0
    patient = json.loads((tmp_path / "ctA" / manifest_name("ct")).read_text())["patient"]
    assert patient["key"] and "PAT-A" not in json.dumps(patient)  # pseudonymous
    capsys.readouterr()
    assert main(["report", "--ct", str(tmp_path / "ctA"), "--dicom", str(folder / "B"), "--no-pdf",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "different patients" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
    assert main(["report", "--ct", str(tmp_path / "ctA"), "--dicom", str(folder / "A"), "--no-pdf",
                 "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "measurements_sr.dcm").is_file()


def test_report_says_when_the_patient_cannot_be_checked(tmp_path, capsys):
    """The real DICOM series saved as a NIfTI and measured: the NIfTI names no patient, so --dicom with that series is
    taken with a note that the patient could not be checked; its SR references that series."""
    need(TS / "ct_dicom")
    from spinebq.io.volume import load_volume, save_nifti

    save_nifti(load_volume(TS / "ct_dicom"), tmp_path / "ct.nii.gz")
    assert main(["ct", str(tmp_path / "ct.nii.gz"), "--labels", str(TS / "ct_dicom_seg.nii.gz"), "--no-pictures",
                 "--trajectory", "none", "--out", str(tmp_path / "ct")]) == 0
    capsys.readouterr()
    assert main(["report", "--ct", str(tmp_path / "ct"), "--dicom", str(TS / "ct_dicom"), "--no-pdf",
                 "--out", str(tmp_path / "r")]) == 0
    assert "could not check that the inputs are of one patient" in capsys.readouterr().err
    assert (tmp_path / "r" / "measurements_sr.dcm").is_file()


def test_report_refuses_an_sr_on_a_series_that_was_not_measured(real_ct_dir, tmp_path, capsys):
    """The real CT measured from its NIfTI (122 x 101 x 112 voxels of 3 mm) with --dicom naming the real DICOM series
    of another scan (512 x 512 pixels, 20 slices): the SR would have referenced images that were never measured, in
    that series' study; it is refused, naming both grids, and nothing is written."""
    need(TS / "ct_dicom")
    capsys.readouterr()
    assert main(["report", "--ct", str(real_ct_dir), "--dicom", str(TS / "ct_dicom"), "--no-pdf",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "is not the CT that was measured" in err and "512 x 512" in err and "122 x 101 x 112" in err, err
    assert not (tmp_path / "r").exists()


def test_report_refuses_folders_without_manifest_or_with_changed_files(real_ct_dir, tmp_path, capsys):
    legacy = tmp_path / "legacy"
    shutil.copytree(real_ct_dir, legacy)
    (legacy / manifest_name("ct")).unlink()
    assert main(["report", "--ct", str(legacy), "--no-pdf", "--out", str(tmp_path / "r")]) == 2
    assert "no spinebq-manifest-ct.json" in capsys.readouterr().err
    changed = tmp_path / "changed"
    shutil.copytree(real_ct_dir, changed)
    doc = json.loads((changed / "measurements.json").read_text())
    doc["summary"]["hu"] = 999
    (changed / "measurements.json").write_text(json.dumps(doc))
    assert main(["assess", "--ct", str(changed)]) == 2
    assert "changed or missing since spinebq ct wrote it" in capsys.readouterr().err
    # a folder that does not exist is named as missing (not as its parent, which exists, without a manifest)
    missing = tmp_path / "demo" / "mri"
    missing.parent.mkdir()
    assert main(["report", "--ct", str(real_ct_dir), "--mri", str(missing), "--no-pdf", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == f"spinebq report: error: {missing}: no such folder (give the folder written by spinebq mri)"


def test_failed_run_leaves_out_as_it_was(real_ct_dir, tmp_path, capsys):
    """A refusal that comes after the image was loaded and measured (a bad trajectory file)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user's file\n")
    bad = tmp_path / "screws.json"
    bad.write_text(json.dumps({"screws": [{"level": "L4", "side": "left", "entry": [0, 0, 0], "target": [0, 0, 0.1]}]}))
    before = m.snapshot(out)
    assert main(["ct", str(TS / "ct.nii.gz"), "--labels", str(TS / "seg_v2" / "total.nii.gz"), "--trajectory",
                 str(bad), "--out", str(out)]) == 2
    assert m.snapshot(out) == before and not list(tmp_path.glob(".spinebq-staging-*"))


@pytest.mark.parametrize("where", ["file", "under_file", "input", "inside_input"])
def test_out_that_cannot_be_written_is_one_sentence(where, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    dicom = tmp_path / "dicom"
    dicom.mkdir()
    (dicom / "slice.dcm").write_bytes(b"not really")
    ct = TS / "ct.nii.gz"
    out, source = {"file": (a_file, ct), "under_file": (a_file / "o", ct), "input": (dicom, dicom),
                   "inside_input": (dicom / "o", dicom)}[where]
    before = m.snapshot(tmp_path)
    capsys.readouterr()
    assert main(["ct", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err
    assert m.snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_one_sentence(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["phantom", "--out", str(ro / "p")]) == 2
        assert "read-only" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


def test_rerun_removes_its_stale_files_and_files_follow_the_umask(tmp_path):
    out = tmp_path / "out"
    ct, labels = _crop(tmp_path / "in")
    old = os.umask(0o002)
    try:
        assert main(["ct", str(ct), "--labels", str(labels), "--out", str(out), "--trajectory", "none"]) == 0
        assert list(out.glob("*.png"))
        modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
        assert set(modes.values()) == {0o664}, modes  # measurements.json was 0600 before
        # the same input again without pictures: no --overwrite needed, and the old pictures go
        assert main(["ct", str(ct), "--labels", str(labels), "--out", str(out), "--no-pictures",
                     "--trajectory", "none"]) == 0
        assert not list(out.glob("*.png"))
    finally:
        os.umask(old)


def test_manifest_lists_inputs_options_and_files(real_ct_dir):
    manifest = json.loads((real_ct_dir / manifest_name("ct")).read_text())
    assert manifest["schema"] == "spinebq.manifest/1" and manifest["command"] == "ct"
    assert manifest["inputs"]["ct"]["fingerprint"].startswith("sha256:")
    assert manifest["options"]["preset"] and manifest["options"]["metal_hu"] == 1400.0
    import hashlib

    for entry in manifest["files"]:
        assert hashlib.sha256((real_ct_dir / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert {f["path"] for f in manifest["files"]} >= {"measurements.json", "measurements.csv"}


def test_no_run_opens_a_network_socket(tmp_path, monkeypatch):
    """ct, report (with PDF) and assess on real data with every way of opening a connection blocked."""
    opened = []

    def refuse(*args, **kwargs):
        opened.append(args)
        raise OSError("spinebq must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket.socket, "bind", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    ct, labels = _crop(tmp_path / "in")
    assert main(["ct", str(ct), "--labels", str(labels), "--out", str(tmp_path / "ct")]) == 0
    assert main(["report", "--ct", str(tmp_path / "ct"), "--out", str(tmp_path / "r")]) == 0
    assert main(["assess", "--ct", str(tmp_path / "ct"), "--json"]) == 0
    assert opened == []


def test_tightly_cropped_ct_matches_the_whole_ct(real_ct_dir, tmp_path):
    """The real CT cropped to the lumbar spine with 6 mm around it (no air: the old value check refused it) gives
    the same 3D HU at every level as the whole CT, within 1 HU."""
    ct, labels = _crop(tmp_path / "in")
    values = np.asarray(nib.load(str(ct)).dataobj)
    assert np.percentile(values, 1) > -500  # no air: the 1st percentile the old check needed below -500 HU
    out = tmp_path / "crop"
    assert main(["ct", str(ct), "--labels", str(labels), "--out", str(out), "--no-pictures", "--trajectory", "none"]) == 0
    whole = json.loads((real_ct_dir / "measurements.json").read_text())["vertebrae"]
    cropped = json.loads((out / "measurements.json").read_text())["vertebrae"]
    levels = ["L1", "L2", "L3", "L4", "L5"]
    for level in levels:
        assert cropped[level]["hu_3d"] == pytest.approx(whole[level]["hu_3d"], abs=1.0), level


def test_cropped_ct_modality_override(tmp_path, capsys):
    """A CT of soft tissue only (no air, no fat) is refused as not CT-like, and --modality CT overrides."""
    ct = nib.load(str(need(TS / "ct.nii.gz")))
    soft = np.clip(np.asarray(ct.dataobj), 0, 100).astype(np.int16)
    path = tmp_path / "soft.nii.gz"
    nib.save(nib.Nifti1Image(soft, ct.affine), str(path))
    assert main(["ct", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "--modality CT" in capsys.readouterr().err
    from spinebq.pipeline import CtOptions, load_ct

    assert load_ct(path, CtOptions(modality="CT")).metadata["modality"] == "CT"


def test_the_readme_commands_run_twice_and_a_changed_result_is_still_refused(tmp_path, capsys):
    """The README's first command run a second time stopped at its last step: "demo/report: already holds the results
    of spinebq report for another input (demo/ct)", because writing the same results again into demo/ct changed
    the folder's file times. A folder of spinebq results is the same input when its manifests list the same files;
    results that differ (another summary range) are still another input."""
    demo = tmp_path / "demo"

    def readme(*extra: str) -> int:
        assert main(["phantom", "--out", str(demo), "--rods"]) == 0
        assert main(["ct", str(demo / "ct.nii.gz"), "--labels", str(demo / "labels.nii.gz"), "--no-pictures",
                     "--trajectory", "none", "--out", str(demo / "ct"), *extra]) == 0
        return main(["report", "--ct", str(demo / "ct"), "--no-pdf", "--out", str(demo / "report")])

    assert readme() == 0
    assert readme() == 0
    capsys.readouterr()
    assert readme("--levels", "L3-L5", "--overwrite") == 2
    assert "already holds the results of spinebq report for another input" in capsys.readouterr().err

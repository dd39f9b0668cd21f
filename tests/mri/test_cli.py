"""``spinebq mri`` end to end: outputs, summary, and wrong-kind inputs ending in one sentence and exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spinebq.cli import main
from spinebq.io.volume import save_nifti

from .conftest import TS_DIR, need_ts_data


@pytest.fixture(scope="module")
def phantom_files(phantom, tmp_path_factory):
    image, labels, truth = phantom
    folder = tmp_path_factory.mktemp("mri_phantom")
    save_nifti(image, folder / "t1.nii.gz")
    save_nifti(labels, folder / "vertebrae.nii.gz", dtype=np.int16)
    return folder, truth


def test_cli_with_labels(phantom_files, tmp_path, capsys):
    folder, truth = phantom_files
    out = tmp_path / "out"
    code = main(["mri", str(folder / "t1.nii.gz"), "--labels", str(folder / "vertebrae.nii.gz"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "research use only" in captured.out.lower()
    assert "[wu2025]" in captured.out and "Ehresman" in captured.out
    data = json.loads((out / "mri.json").read_text())
    assert data["schema"] == "spinebq.mri/1"
    assert data["vbq"] == pytest.approx(truth["vbq"], rel=0.01)
    assert (out / "mri.csv").read_text().count("\n") == 1 + len(data["levels"])
    for name in ("mri_sagittal.png", "mri_levels.png", "mri_pedicles.png", "mri_muscle.png"):
        assert (out / name).stat().st_size > 10_000
    # determinism: the same input gives byte-identical JSON
    out2 = tmp_path / "out2"
    assert main(["mri", str(folder / "t1.nii.gz"), "--labels", str(folder / "vertebrae.nii.gz"), "--out", str(out2),
                 "--no-figures"]) == 0
    a, b = json.loads((out / "mri.json").read_text()), json.loads((out2 / "mri.json").read_text())
    a.pop("outputs"), b.pop("outputs")
    assert a == b


def test_cli_points(phantom, phantom_files, tmp_path, capsys):
    image, labels, truth = phantom
    folder, _ = phantom_files
    from spinebq.anatomy import VERSE_IDS

    pts = {}
    for lv in ("L1", "L2", "L3", "L4", "S1"):
        ijk = np.argwhere(labels.array == VERSE_IDS[lv])
        c = ijk.mean(axis=0)
        c[1] = ijk[ijk[:, 0] == round(c[0])][:, 1].min() + 12  # centre of the body depth, in front of the vein
        pts[lv] = [float(v) for v in image.index_to_mm(c)]
    l3 = np.argwhere(labels.array == VERSE_IDS["L3"])
    pts["CSF"] = [float(v) for v in image.index_to_mm([45, 102, l3[:, 2].mean()])]
    (tmp_path / "p.json").write_text(json.dumps(pts))
    code = main(["mri", str(folder / "t1.nii.gz"), "--points", str(tmp_path / "p.json"), "--out", str(tmp_path / "o")])
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "o" / "mri.json").read_text())
    assert data["roi_source"]["method"] == "points"
    assert data["vbq"] == pytest.approx(truth["vbq"], rel=0.01)
    assert "mri_levels.png" in data["outputs"]  # drawn without vertebra labels too


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_refuses_ct(tmp_path, capsys):
    need_ts_data()
    code = main(["mri", str(TS_DIR / "ct.nii.gz"), "--out", str(tmp_path)])
    assert code == 2
    assert "CT" in _error(capsys)


def test_refuses_t2_by_header(tmp_path, capsys):
    from spinebq.synthetic.mri import make_mri_phantom, write_dicom_series

    image, labels, _ = make_mri_phantom(weighting="T2", noise_sd=0, lesion_level=None, spacing_mm=(3.0, 1.0, 1.0))
    folder = write_dicom_series(image, tmp_path / "t2", series_description="T2 TSE SAG", tr_ms=3500.0, te_ms=100.0)
    code = main(["mri", str(folder), "--out", str(tmp_path / "o")])
    assert code == 2
    err = _error(capsys)
    assert "T1" in err and "T2" in err


def test_refuses_t2_by_image(tmp_path, capsys):
    from spinebq.synthetic.mri import make_mri_phantom

    image, labels, _ = make_mri_phantom(weighting="T2", noise_sd=0, lesion_level=None)
    save_nifti(image, tmp_path / "t2.nii.gz")
    save_nifti(labels, tmp_path / "lab.nii.gz", dtype=np.int16)
    code = main(["mri", str(tmp_path / "t2.nii.gz"), "--labels", str(tmp_path / "lab.nii.gz"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "T2-weighted" in _error(capsys)


def test_refuses_no_csf(tmp_path, capsys):
    from spinebq.synthetic.mri import make_mri_phantom

    image, labels, _ = make_mri_phantom(csf_visible=False, noise_sd=0, lesion_level=None)
    save_nifti(image, tmp_path / "nocsf.nii.gz")
    save_nifti(labels, tmp_path / "lab.nii.gz", dtype=np.int16)
    code = main(["mri", str(tmp_path / "nocsf.nii.gz"), "--labels", str(tmp_path / "lab.nii.gz"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no CSF visible" in _error(capsys)


def test_refuses_single_slice(phantom, tmp_path, capsys):
    image = phantom[0]
    one = image.with_array(image.array[:, :, :])
    one = type(image)(image.array[45:46].copy(), image.affine.copy(), {})
    save_nifti(one, tmp_path / "one.nii.gz")
    code = main(["mri", str(tmp_path / "one.nii.gz"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "single slice" in _error(capsys)


def test_refuses_abdominal_mr(tmp_path, capsys):
    need_ts_data()
    code = main(["mri", str(TS_DIR / "mr_small.nii.gz"), "--out", str(tmp_path / "o")])
    assert code == 2
    _error(capsys)


def test_header_reading_and_flags(phantom, tmp_path):
    from spinebq.io.volume import load_volume
    from spinebq.io.mr_header import check_sequence, read_mr_header
    from spinebq.synthetic.mri import write_dicom_series
    from spinebq.vocabulary import QcFlag

    image = phantom[0]
    small = type(image)(image.array[30:60].copy(), image.affine.copy(), {})
    folder = write_dicom_series(small, tmp_path / "t1fs", series_description="T1 TSE SAG FS", tr_ms=600.0, te_ms=10.0,
                                field_strength_t=1.5, ContrastBolusAgent="Gadovist")
    vol = load_volume(folder)
    assert np.allclose(vol.array, np.round(np.clip(small.array, 0, None)), atol=0.5)
    header = read_mr_header(folder)
    assert header["field_strength_t"] == 1.5 and header["tr_ms"] == 600.0 and header["te_ms"] == 10.0
    info = check_sequence(vol, header, folder)
    assert info["weighting"] == "T1"
    # one vocabulary: codes, with the sentence beside each
    assert set(info["flags"]) >= {"fat_suppressed", "contrast_enhanced", "field_strength_other"}
    assert info["flag_notes"]["field_strength_other"].startswith("measured at 1.5 T")
    assert info["flag_notes"]["fat_suppressed"] == QcFlag.FAT_SUPPRESSED.sentence
    assert all(QcFlag(code) for code in info["flags"])


def test_signals_on_screen_have_the_reports_decimals(tmp_path, capsys):
    """Real T1 case08: the screen printed mri.json's raw numbers, so one list mixed 79.97, 62.75 and 72.248; each
    signal now has the decimals of the quantities table, as the report's MRI table shows it."""
    import re

    from tests.conftest import DATA, need

    t1 = DATA / "lumbar_mri_t1"
    out = tmp_path / "out"
    assert main(["mri", str(need(t1 / "case08_t1.nii.gz")), "--labels", str(need(t1 / "case08_bodies_verse.nii.gz")),
                 "--out", str(out), "--no-figures"]) == 0
    screen = capsys.readouterr().out
    data = json.loads((out / "mri.json").read_text())
    for level, e in data["levels"].items():
        shown = f"{level}: body SI {e['body_signal']:.1f}, pedicles (left / right) {e['pedicle_signal_left']:.1f} / " \
                f"{e['pedicle_signal_right']:.1f}"
        assert shown in screen, (shown, screen)
    assert f"CSF signal {data['csf']['signal']:.1f} at" in screen
    signals = re.findall(r"(?:SI|signal|/) (\d+\.\d+)", screen)
    assert signals and {len(s.split(".")[1]) for s in signals} == {1}, signals


@pytest.mark.parametrize("name", ["L7", "L3_pedicle_L", "CSF_L3", "L3 body"])
def test_points_with_a_name_spinebq_does_not_know_are_refused(phantom, phantom_files, tmp_path, capsys, name):
    """A misspelt or unknown point name was left out without a word (a pedicle point "L3_pedicle_L" gave no PBQ,
    "L7" vanished); it is refused naming the point and the names spinebq reads."""
    image, labels, _ = phantom
    folder, _ = phantom_files
    from spinebq.anatomy import VERSE_IDS

    l3 = np.argwhere(labels.array == VERSE_IDS["L3"]).mean(axis=0)
    centre = [float(v) for v in image.index_to_mm(l3)]
    points = {"L3": centre, "CSF": [float(v) for v in image.index_to_mm([45, 102, l3[2]])], name: centre}
    (tmp_path / "p.json").write_text(json.dumps(points))
    code = main(["mri", str(folder / "t1.nii.gz"), "--points", str(tmp_path / "p.json"), "--out", str(tmp_path / "o")])
    assert code == 2
    err = _error(capsys)
    assert "p.json" in err and repr(name) in err and "L1_pedicle_left" in err, err
    assert not (tmp_path / "o").exists()


def _points_on_l1_l2(phantom, tmp_path, *, csf_behind: str) -> Path:
    """A reader's points file, tmp_path / "p.json": the phantom's L1 and L2 body centres and the CSF behind
    ``csf_behind``."""
    from spinebq.anatomy import VERSE_IDS

    image, labels, _ = phantom

    def centre(lv):
        return np.argwhere(labels.array == VERSE_IDS[lv]).mean(axis=0)

    points = {lv: [float(v) for v in image.index_to_mm(centre(lv))] for lv in ("L1", "L2")}
    points["CSF"] = [float(v) for v in image.index_to_mm([45, 102, centre(csf_behind)[2]])]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(points))
    return path


def test_points_name_the_csf_level_it_lies_behind(phantom, phantom_files, tmp_path, capsys):
    """A reader clicked L1 and L2 and the CSF behind L3: mri.json and the screen said "CSF ... at L2" (the nearest
    clicked body, a whole level away); the level is read from where the clicked bodies lie."""
    folder, _ = phantom_files
    _points_on_l1_l2(phantom, tmp_path, csf_behind="L3")
    code = main(["mri", str(folder / "t1.nii.gz"), "--points", str(tmp_path / "p.json"), "--out", str(tmp_path / "o"),
                 "--no-figures"])
    printed = capsys.readouterr().out
    assert code == 0
    assert json.loads((tmp_path / "o" / "mri.json").read_text())["csf"]["level"] == "L3"
    assert "at L3" in printed and "at L2" not in printed


def test_vbq_of_fewer_levels_says_which_on_screen(phantom, phantom_files, tmp_path, capsys):
    """Points on L1 and L2 only: the screen said "median L1-L4 body SI" for a median of two levels (mri.json said
    "L3, L4 not measured (median of 2)"); it now names the levels in the median and the reason."""
    folder, _ = phantom_files
    _points_on_l1_l2(phantom, tmp_path, csf_behind="L2")
    assert main(["mri", str(folder / "t1.nii.gz"), "--points", str(tmp_path / "p.json"), "--out", str(tmp_path / "o"),
                 "--no-figures"]) == 0
    vbq_line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("VBQ"))
    assert "median L1-L4" not in vbq_line and "median of L1, L2" in vbq_line and "L3, L4 not measured" in vbq_line


def test_automatic_mode_is_named_in_words_on_screen(phantom_files, tmp_path, capsys):
    """The first line said "(ROIs from automatic)"."""
    folder, _ = phantom_files
    assert main(["mri", str(folder / "t1.nii.gz"), "--out", str(tmp_path / "o"), "--no-figures", "--no-muscle"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "ROIs from automatic" not in first and "vertebrae found automatically" in first, first


def test_picture_titles_give_scores_with_their_decimals_and_never_none(phantom, phantom_files, tmp_path, monkeypatch):
    """Points on L1-L2 (no S1, no pedicles): mri_sagittal.png's title read "VBQ 3.1541 (median L1-L4 ...), S1-VBQ
    None" and mri_pedicles.png's "PBQ None": scores now carry the quantity table's decimals (as the screen and the
    report), a missing one says so, and the median names its levels."""
    import matplotlib.figure

    titles = {}
    save = matplotlib.figure.Figure.savefig

    def capture(fig, path, *args, **kwargs):
        texts = [fig._suptitle.get_text()] if fig._suptitle else []
        texts += [ax.get_title() for ax in fig.axes]
        titles[Path(path).name] = " | ".join(texts)
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", capture)
    folder, _ = phantom_files
    _points_on_l1_l2(phantom, tmp_path, csf_behind="L2")
    assert main(["mri", str(folder / "t1.nii.gz"), "--points", str(tmp_path / "p.json"), "--out", str(tmp_path / "o")]) == 0
    vbq = json.loads((tmp_path / "o" / "mri.json").read_text())["vbq"]
    sagittal = titles["mri_sagittal.png"]
    assert "None" not in sagittal and f"VBQ {vbq:.2f} (median of L1, L2" in sagittal and "S1-VBQ not measured" in sagittal
    if "mri_pedicles.png" in titles:
        assert "None" not in titles["mri_pedicles.png"] and "PBQ not measured" in titles["mri_pedicles.png"]


def test_every_panel_of_the_levels_picture_names_its_axes(phantom_files, tmp_path, monkeypatch):
    """mri_levels.png: the axial row had no vertical-axis label (anterior -> posterior, mm)."""
    import matplotlib.figure

    labels = {}
    save = matplotlib.figure.Figure.savefig

    def capture(fig, path, *args, **kwargs):
        labels[Path(path).name] = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.get_images()]
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", capture)
    folder, _ = phantom_files
    assert main(["mri", str(folder / "t1.nii.gz"), "--labels", str(folder / "vertebrae.nii.gz"), "--out",
                 str(tmp_path / "o"), "--no-muscle"]) == 0
    panels = labels["mri_levels.png"]
    assert panels and all(x and y for x, y in panels), panels


def test_outputs_name_inputs_by_role_not_by_a_patients_folder(tmp_path, capsys):
    """A PACS export's folder named after the patient: the real case02 T1 and its masks read from there. mri.json held
    both paths (``input.source``, ``roi_source.labels`` and the weighting warning) and the manifest too; now each
    input is named by its role unless ``--include-phi`` is given. The screen, the user's own, still shows the path."""
    from .conftest import T1_DIR, need_t1_data

    need_t1_data()
    export = tmp_path / "DOE^JANE_19600101"
    export.mkdir()
    for name in ("case02_t1.nii.gz", "case02_bodies_verse.nii.gz"):
        (export / name).symlink_to(T1_DIR / name)
    args = ["mri", str(export / "case02_t1.nii.gz"), "--labels", str(export / "case02_bodies_verse.nii.gz"),
            "--no-figures", "--no-muscle"]
    assert main(args + ["--out", str(tmp_path / "out")]) == 0
    assert "DOE^JANE" in capsys.readouterr().out
    written = {p.name: p.read_text() for p in (tmp_path / "out").iterdir() if p.suffix in (".json", ".csv")}
    assert {"mri.json", "mri.csv", "spinebq-manifest-mri.json"} <= set(written)
    assert not [name for name, text in written.items() if "DOE" in text]
    document = json.loads(written["mri.json"])
    assert document["input"]["source"] == "the MR image" and document["roi_source"]["labels"] == "the label map"
    assert main(args + ["--out", str(tmp_path / "phi"), "--include-phi"]) == 0
    document = json.loads((tmp_path / "phi" / "mri.json").read_text())
    assert document["input"]["source"] == str(export / "case02_t1.nii.gz")

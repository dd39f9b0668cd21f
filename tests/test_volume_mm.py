"""Volume in millimetres: crop, sub-volume and sampling keep every voxel at its patient coordinates; typed label maps."""
from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from spinebq.image.labelmap import LabelMap
from spinebq.io.labels import load_labels
from spinebq.io.mr_labels import load_mr_labels
from spinebq.image.volume import Volume, to_source_orientation
from spinebq.io.volume import load_volume
from spinebq.vocabulary import LabelContent, LabelScheme, MrLabelScheme

from .conftest import DATA, TS, need


@pytest.fixture(scope="module")
def real_ct() -> Volume:
    return load_volume(need(TS / "ct.nii.gz"))


def _oblique(shape=(20, 24, 16)) -> Volume:
    """A volume with an oblique, anisotropic affine (rotation about two axes) and distinct voxel values."""
    a, b = np.deg2rad(17.0), np.deg2rad(-8.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ rx @ np.diag([0.7, 0.9, 2.5])
    affine[:3, 3] = [-101.3, 57.2, 310.9]
    array = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    return Volume(array, affine, {"modality": "CT"})


def _corners(shape) -> np.ndarray:
    return np.array(list(itertools.product(*[(0, n - 1) for n in shape])), dtype=float)


def test_crop_of_the_real_ct_keeps_every_corner_in_place(real_ct):
    box = (slice(17, 90), slice(5, 77), slice(30, 101))
    part = real_ct.crop(box)
    assert part.shape == (73, 72, 71)
    assert np.shares_memory(part.array, real_ct.array)  # a view unless asked for a copy
    assert not np.shares_memory(real_ct.crop(box, copy=True).array, real_ct.array)
    starts = np.array([b.start for b in box])
    for corner in _corners(part.shape):
        np.testing.assert_array_equal(part.index_to_mm(corner), real_ct.index_to_mm(corner + starts))
        assert part.array[tuple(corner.astype(int))] == real_ct.array[tuple((corner + starts).astype(int))]
    assert part.spacing_mm == real_ct.spacing_mm and part.orientation == real_ct.orientation
    assert part.metadata == real_ct.metadata and part.metadata is not real_ct.metadata


def test_crop_resolves_open_and_negative_bounds_and_refuses_steps(real_ct):
    part = real_ct.crop((slice(None, 10), slice(-20, None)))
    assert part.shape == (10, 20, real_ct.shape[2])
    np.testing.assert_array_equal(part.index_to_mm([0, 0, 0]), real_ct.index_to_mm([0, real_ct.shape[1] - 20, 0]))
    with pytest.raises(ValueError, match="step"):
        real_ct.crop((slice(0, 10, 2),))
    with pytest.raises(ValueError, match="empty"):
        real_ct.crop((slice(5, 5),))


def test_crop_of_an_oblique_volume_keeps_patient_coordinates():
    volume = _oblique()
    box = (slice(3, 11), slice(7, 24), slice(2, 9))
    part = volume.crop(box)
    starts = np.array([b.start for b in box])
    for corner in _corners(part.shape):
        np.testing.assert_allclose(part.index_to_mm(corner), volume.index_to_mm(corner + starts), rtol=0, atol=1e-9)


def test_crop_affine_equals_the_hand_made_sub_affine_it_replaced(real_ct):
    """measure/ct/regional.py built ``A[:3, :3] @ start + A[:3, 3]`` by hand; crop gives the same bits."""
    rng = np.random.default_rng(0)
    for volume in (real_ct, _oblique()):
        for _ in range(200):
            start = [int(rng.integers(0, n)) for n in volume.shape]
            box = tuple(slice(s, n) for s, n in zip(start, volume.shape))
            hand = volume.affine.copy()
            hand[:3, 3] = volume.affine[:3, :3] @ np.array(start, dtype=float) + volume.affine[:3, 3]
            np.testing.assert_array_equal(volume.crop(box).affine, hand)


def test_sample_mm_at_voxel_centres_equals_the_array(real_ct):
    rng = np.random.default_rng(1)
    index = np.stack([rng.integers(0, n, 500) for n in real_ct.shape], axis=1)
    index = np.vstack([index, _corners(real_ct.shape).astype(int)])
    points = real_ct.index_to_mm(index)
    expected = real_ct.array[tuple(index.T)].astype(float)
    for order in (0, 1, 3):
        np.testing.assert_allclose(real_ct.sample_mm(points, order=order), expected, rtol=0, atol=1e-3)
    oblique = _oblique()
    index = np.stack([rng.integers(0, n, 200) for n in oblique.shape], axis=1)
    np.testing.assert_allclose(oblique.sample_mm(oblique.index_to_mm(index)), oblique.array[tuple(index.T)], atol=1e-5)


def test_sample_mm_is_linear_between_centres_and_nan_outside(real_ct):
    a, b = np.array([40, 50, 60]), np.array([41, 50, 60])
    halfway = real_ct.index_to_mm((a + b) / 2.0)
    value = real_ct.sample_mm(halfway[None])[0]
    assert value == pytest.approx((float(real_ct.array[tuple(a)]) + float(real_ct.array[tuple(b)])) / 2.0, abs=1e-3)
    n = np.array(real_ct.shape)
    outside = real_ct.index_to_mm(np.array([[-0.6, 10, 10], [10, n[1] - 0.4, 10], [10, 10, 1e6]]))
    assert np.isnan(real_ct.sample_mm(outside)).all()
    edge = real_ct.index_to_mm(np.array([[-0.4, 10, 10]]))  # inside the first voxel, beyond its centre
    assert real_ct.sample_mm(edge)[0] == pytest.approx(float(real_ct.array[0, 10, 10]))
    grid = real_ct.sample_mm(real_ct.index_to_mm(np.zeros((2, 5, 3))))
    assert grid.shape == (2, 5)
    with pytest.raises(ValueError, match="shape"):
        real_ct.sample_mm(np.zeros((4, 2)))


def test_sub_volume_is_the_box_around_a_point_and_clipped_at_the_border(real_ct):
    spacing = np.array(real_ct.spacing_mm)  # 3 mm
    centre_index = np.array([60, 50, 56])
    part = real_ct.sub_volume(real_ct.index_to_mm(centre_index), 30.0)
    assert part.shape == (11, 11, 11)  # centres within 15 mm: 5 voxels each side
    np.testing.assert_allclose(part.index_to_mm([5, 5, 5]), real_ct.index_to_mm(centre_index), atol=1e-9)
    # at the first voxel of axis 0 and the last of axis 2: the box is cut by the image
    corner = real_ct.index_to_mm([0, 50, real_ct.shape[2] - 1])
    cut = real_ct.sub_volume(corner, (30.0, 12.0, 30.0))
    assert cut.shape == (6, 5, 6)
    np.testing.assert_array_equal(cut.index_to_mm([0, 0, 0]), real_ct.index_to_mm([0, 48, real_ct.shape[2] - 6]))
    np.testing.assert_array_equal(cut.array, real_ct.array[0:6, 48:53, -6:])
    far = real_ct.index_to_mm([-50, 50, 50])
    with pytest.raises(ValueError, match="outside the image"):
        real_ct.sub_volume(far, 30.0)
    assert real_ct.sub_volume(real_ct.index_to_mm(centre_index), spacing / 4).shape == (1, 1, 1)


def test_label_maps_from_the_loaders_say_what_they_hold(real_ct):
    labels = load_labels(need(TS / "seg_v2" / "total.nii.gz"), real_ct)
    assert isinstance(labels, LabelMap)
    assert labels.content is LabelContent.WHOLE and labels.scheme is LabelScheme.TOTAL
    assert labels.source.endswith("total.nii.gz") and "file name" in labels.scheme_note
    # the metadata entries the documents were written from, as before the type
    assert {k: labels.metadata[k] for k in ("label_scheme", "content")} == {"label_scheme": "total", "content": "whole"}
    bodies = load_labels(need(TS / "seg_v2" / "total.nii.gz"), real_ct, scheme="verse")
    assert bodies.scheme is LabelScheme.VERSE
    mr = load_volume(need(DATA / "lumbar_mri_t1" / "case02_t1.nii.gz"))
    mr_labels = load_mr_labels(need(DATA / "lumbar_mri_t1" / "case02_bodies_verse.nii.gz"), mr)
    assert isinstance(mr_labels, LabelMap) and mr_labels.scheme is MrLabelScheme.VERSE
    assert mr_labels.content is None and "content" not in mr_labels.metadata  # a VerSe map does not say


def test_label_map_keeps_its_type_through_with_array_crop_orientation_and_pickle(real_ct):
    labels = load_labels(need(TS / "seg_v2" / "total.nii.gz"), real_ct, scheme="vertebrae_pp")
    assert labels.content is LabelContent.BODY
    same_grid = labels.with_array(np.zeros(labels.shape, np.int16))
    part = labels.crop((slice(10, 50),))
    back = to_source_orientation(labels, labels)
    shipped = pickle.loads(pickle.dumps(labels))
    for other in (same_grid, part, back, shipped):
        assert isinstance(other, LabelMap)
        assert (other.content, other.scheme, other.source, other.scheme_note) == (
            labels.content, labels.scheme, labels.source, labels.scheme_note)
        assert other.metadata == labels.metadata
    np.testing.assert_array_equal(shipped.array, labels.array)
    assert "content=body" in repr(labels) and "scheme=vertebrae_pp" in repr(labels)


def test_label_map_of_a_plain_volume_reads_its_metadata_once():
    plain = Volume(np.zeros((3, 3, 3), np.int16), np.eye(4), {"content": "body", "label_scheme": "total", "source": "x"})
    labels = LabelMap.of(plain)
    assert (labels.content, labels.scheme, labels.source) == (LabelContent.BODY, LabelScheme.TOTAL, "x")
    assert LabelMap.of(labels) is labels
    assert LabelMap.of(labels, content="whole").content is LabelContent.WHOLE
    with pytest.raises(ValueError, match="content"):
        LabelMap(np.zeros((3, 3, 3), np.int16), np.eye(4), content="bodies")

"""Labels reach the isotropic processing grid by shape-based interpolation, so rings stay in mm.

A thick-slice sphere phantom (0.8 x 0.8 x 3 mm) is brought to the 1 mm grid the pipeline
works on; its rings are then compared with the exact shell volume 4/3 pi ((R + d)^3 - R^3).
"""

import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_core.cohorts.layouts import read_cohort
from radiomics_core.files.images import read_image
from radiomics_core.imaging.preprocessing import (PreprocessConfig, preprocess_case, reference_grid, resample_labels,
                                          resample_like, zscore_in_mask)
from radiomics_core.imaging.rings import mask_volume, ring_masks
from radiomics_core.cohorts.synthetic import DemoConfig
from tests.builders import small_case_volumes, write_volume
from tests.test_rings import shell_volume, sphere

THICK_SLICES = (0.8, 0.8, 3.0)


def _ratios(voi_on_grid: sitk.Image, radius: float) -> dict[int, float]:
    rings = ring_masks(voi_on_grid, [3, 4, 5, 10, 15])
    return {d: mask_volume(rings[d], d).volume_mm3 / shell_volume(radius, d) for d in (3, 4, 5, 10, 15)}


@pytest.mark.parametrize("radius, center", [(20.0, (0.3, 0.1, 0.2)), (30.0, (1.1, 0.2, -0.3)),
                                            (15.0, (0.4, 0.4, 1.4))])
def test_rings_of_a_thick_slice_phantom_match_the_exact_shell_within_3_percent(radius, center):
    voi = sphere(THICK_SLICES, radius, center=center)
    on_grid = resample_labels(voi, reference_grid(voi, 1.0))
    for d, ratio in _ratios(on_grid, radius).items():
        assert abs(ratio - 1) <= 0.03, (d, ratio)


def test_nearest_neighbour_labels_would_make_those_rings_too_large():
    # Why labels are not resampled by nearest neighbour: each 3 mm voxel becomes a 3 mm box.
    voi = sphere(THICK_SLICES, 20.0)
    boxes = resample_like(voi, reference_grid(voi, 1.0), sitk.sitkNearestNeighbor, sitk.sitkUInt8)
    assert min(_ratios(boxes, 20.0).values()) > 1.04


def test_labels_already_on_the_grid_are_returned_unchanged():
    voi = sphere((1.0, 1.0, 1.0), 10.0, extent=40)
    same = resample_labels(voi, reference_grid(voi, 1.0))
    assert np.array_equal(sitk.GetArrayViewFromImage(same), sitk.GetArrayViewFromImage(voi))


def test_every_label_keeps_its_volume_and_nesting():
    core = sphere(THICK_SLICES, 10.0)
    edema = sphere(THICK_SLICES, 20.0)
    labels = sitk.GetArrayFromImage(edema) * 2
    labels[sitk.GetArrayViewFromImage(core) > 0] = 1  # core (1) inside edema (2)
    image = sitk.GetImageFromArray(labels.astype(np.uint8))
    image.CopyInformation(core)
    on_grid = sitk.GetArrayFromImage(resample_labels(image, reference_grid(image, 1.0)))
    assert set(np.unique(on_grid)) == {0, 1, 2}
    core_volume = np.count_nonzero(on_grid == 1)
    tumor_volume = np.count_nonzero(on_grid > 0)
    assert core_volume == pytest.approx(4 / 3 * np.pi * 10.0**3, rel=0.03)
    assert tumor_volume == pytest.approx(4 / 3 * np.pi * 20.0**3, rel=0.03)


def test_a_thick_slice_case_lands_on_one_1mm_grid_with_its_tumor_volume_kept(tmp_path):
    volumes = small_case_volumes(5, config=DemoConfig(shape=(48, 48, 12), spacing=(1.0, 1.0, 3.0)))
    for role, array in volumes.items():
        write_volume(array, tmp_path / "UCSF-PDGM-0005_nifti" / f"UCSF-PDGM-0005_{role}.nii.gz", spacing=(1.0, 1.0, 3.0))
    case = preprocess_case(read_cohort(tmp_path).cases[0])
    for volume in [case.brain, *case.images.values()]:
        assert volume.GetSpacing() == case.labels.GetSpacing() == (1.0, 1.0, 1.0)
        assert volume.GetSize() == case.labels.GetSize() == (48, 48, 36)
    tumor_mm3 = 3.0 * np.count_nonzero(volumes["tumor_segmentation"])
    labels = sitk.GetArrayViewFromImage(case.labels)
    assert np.count_nonzero(labels) == pytest.approx(tumor_mm3, rel=0.05)
    assert set(np.unique(labels)) == set(np.unique(volumes["tumor_segmentation"]))


def test_sequences_already_on_the_1mm_grid_keep_their_own_values(tmp_path):
    volumes = small_case_volumes(6)
    for role, array in volumes.items():
        write_volume(array, tmp_path / "UCSF-PDGM-0006_nifti" / f"UCSF-PDGM-0006_{role}.nii.gz")
    case = read_cohort(tmp_path).cases[0]
    prepared = preprocess_case(case)
    brain = sitk.GetArrayViewFromImage(prepared.brain).astype(bool)
    clip = PreprocessConfig().clip_percentiles
    for sequence, path in case.images.items():
        source = read_image(path, sitk.sitkFloat32)
        expected = sitk.GetArrayFromImage(zscore_in_mask(source, brain, clip))
        assert np.array_equal(sitk.GetArrayViewFromImage(prepared.images[sequence]), expected), sequence
        # Resampling onto the identical grid is the identity up to ITK's rounding: skipping it
        # changes nothing but that rounding.
        resampled = resample_like(source, source, sitk.sitkBSpline, sitk.sitkFloat32)
        np.testing.assert_allclose(sitk.GetArrayFromImage(zscore_in_mask(resampled, brain, clip)), expected,
                                   rtol=0, atol=1e-5)


def test_normalized_images_are_float32_z_scores_of_the_brain():
    rng = np.random.default_rng(3)
    array = (500 + 80 * rng.standard_normal((20, 30, 30))).astype(np.float32)
    brain = np.zeros(array.shape, dtype=bool)
    brain[2:18, 5:25, 5:25] = True
    out = zscore_in_mask(sitk.GetImageFromArray(array), brain, (0.5, 99.5))
    assert out.GetPixelID() == sitk.sitkFloat32
    # The same z-score in float64, written out: clip to the brain's percentiles, centre, scale.
    low, high = np.percentile(array[brain], (0.5, 99.5))
    clipped = np.clip(array.astype(np.float64), low, high)
    expected = (clipped - clipped[brain].mean()) / clipped[brain].std()
    np.testing.assert_allclose(sitk.GetArrayViewFromImage(out), expected, rtol=0, atol=1e-5)
    assert abs(float(sitk.GetArrayViewFromImage(out)[brain].astype(np.float64).mean())) < 1e-6

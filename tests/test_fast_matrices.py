"""Our texture matrices and shape mesh equal PyRadiomics' C functions element for element."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk
from radiomics import cMatrices, cShape

from radiomics_core.features.extraction import ExtractionParams, extract_case_features
from radiomics_core.features.fast.shape_mesh import mesh_coefficients
from radiomics_core.features.fast.voxel_matrices import VoxelMatrices, log_fallback


def random_volumes(seed: int, count: int):
    """Binned images and masks: random boxes, sparse to full masks, and smoothed (blob-like) ones."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        shape = tuple(int(v) for v in rng.integers(2, 12, 3))
        levels = int(rng.integers(1, 6))
        image = rng.integers(1, levels + 1, shape)
        mask = rng.random(shape) < rng.choice([0.1, 0.5, 0.9, 1.0])
        if index % 3 == 0:
            mask = ndi.binary_closing(mask)
        if not mask.any():
            mask.flat[0] = True
        yield image, mask, levels
    # Degenerate: no two VOI voxels adjacent, yet two on one line (GLRLM keeps such an angle).
    mask = np.zeros((5, 5, 5), bool)
    mask[0, 0, 0] = mask[2, 0, 0] = mask[4, 2, 2] = True
    yield np.ones((5, 5, 5), int), mask, 1


def c_or_none(function, *args):
    try:
        return function(*args)
    except RuntimeError:  # e.g. too few voxels along a dimension for the distance: no angles
        return None


@pytest.mark.parametrize("force2d", [False, True])
def test_neighbour_matrices_equal_pyradiomics_c(force2d):
    for image, mask, levels in random_volumes(0, 40):
        for distances in ([1], [1, 2], [2]):
            distances = np.array(distances)
            expected = c_or_none(cMatrices.calculate_glcm, image, mask, distances, levels, force2d, 0)
            if expected is None:
                continue
            got = VoxelMatrices().calculate_glcm(image, mask, distances, levels, force2d, 0)
            np.testing.assert_array_equal(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])
            np.testing.assert_array_equal(VoxelMatrices().calculate_ngtdm(image, mask, distances, levels, force2d, 0),
                                          cMatrices.calculate_ngtdm(image, mask, distances, levels, force2d, 0))
            for alpha in (0, 1):
                np.testing.assert_array_equal(
                    VoxelMatrices().calculate_gldm(image, mask, distances, levels, alpha, force2d, 0),
                    cMatrices.calculate_gldm(image, mask, distances, levels, alpha, force2d, 0))


@pytest.mark.parametrize("force2d", [False, True])
def test_run_and_zone_matrices_equal_pyradiomics_c(force2d):
    checked = 0
    for image, mask, levels in random_volumes(1, 40):
        voxels = int(mask.sum())
        expected = c_or_none(cMatrices.calculate_glszm, image, mask.copy(), levels, voxels, force2d, 0)
        if expected is None:
            continue
        np.testing.assert_array_equal(VoxelMatrices().calculate_glszm(image, mask, levels, voxels, force2d, 0), expected)
        runs = max(image.shape)
        got = VoxelMatrices().calculate_glrlm(image, mask, levels, runs, force2d, 0)
        expected = cMatrices.calculate_glrlm(image, mask, levels, runs, force2d, 0)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        checked += 1
    assert checked > 20


def test_voxel_based_calls_go_to_pyradiomics_c(monkeypatch):
    calls = []
    monkeypatch.setattr(cMatrices, "calculate_glcm", lambda *args: calls.append(args) or "c")
    assert VoxelMatrices().calculate_glcm(np.ones((3, 3, 3), int), np.ones((3, 3, 3), bool), np.array([1]), 1, False, 0,
                                        1, np.zeros((3, 1), int)) == "c"
    assert len(calls) == 1


def test_mesh_coefficients_equal_pyradiomics_c():
    rng = np.random.default_rng(2)
    masks = []
    for index in range(40):
        mask = rng.random(tuple(int(v) for v in rng.integers(1, 14, 3))) < rng.choice([0.05, 0.3, 0.7])
        masks.append(ndi.binary_closing(mask) if index % 2 else mask)
    z, y, x = np.mgrid[:40, :40, :40]
    radius = np.sqrt((z - 20) ** 2 + (y - 19.5) ** 2 + (x - 21) ** 2)
    masks.append((radius < 17) & (radius > 11))  # a ring: two surfaces
    for index, mask in enumerate(masks):
        spacing = np.array([(1.0, 1.0, 1.0), (0.8, 0.8, 3.0), (1.3, 0.7, 2.1)][index % 3])
        padded = np.pad(mask, 1)  # as RadiomicsShape pads its mask
        area, volume, diameters = mesh_coefficients(padded, spacing)
        expected = cShape.calculate_coefficients(padded, spacing)
        assert area == pytest.approx(expected[0], rel=1e-12, abs=1e-12)
        assert volume == pytest.approx(expected[1], rel=1e-12, abs=1e-12)
        np.testing.assert_array_equal(diameters, expected[2])


def test_a_one_bin_shift_moves_every_texture_class_beyond_the_parity_tolerance(pyradiomics_data, monkeypatch,
                                                                                 tmp_path):
    """The parity tests compare at 1e-6: a single voxel one gray level off must fail them."""
    from radiomics_core.features.fast import feature_classes

    image = sitk.ReadImage(str(pyradiomics_data / "brain1_image.nrrd"))
    mask = sitk.ReadImage(str(pyradiomics_data / "brain1_label.nrrd"), sitk.sitkUInt8)
    path = tmp_path / "params.yaml"
    path.write_text("imageType: {Original: {}}\nfeatureClass: {firstorder: , glcm: , glrlm: , glszm: , gldm: , "
                    "ngtdm: }\nsetting: {binWidth: 25, label: 1}\n")
    params = ExtractionParams.load(path)

    def values():
        result = extract_case_features({"T1": image}, {0.0: mask}, params)
        return {row.feature: row.value for row in result.rows}

    reference = values()
    original = feature_classes._binned_image

    def shifted(matrix, voi, settings):
        binned = original(matrix, voi, settings)
        first = tuple(index[0] for index in np.nonzero(voi))
        binned[first] += 1
        return binned

    monkeypatch.setattr(feature_classes, "_binned_image", shifted)
    moved = values()
    for feature_class in ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"):
        worst = max(abs(moved[name] - value) / max(abs(value), 1e-12) for name, value in reference.items()
                    if f"_{feature_class}_" in name)
        assert worst > 1e-6, feature_class


def test_glcm_by_level_is_calculate_glcm_without_the_absent_levels():
    for image, mask, levels in random_volumes(3, 30):
        present = np.unique(image[mask])
        expected = c_or_none(cMatrices.calculate_glcm, image, mask, np.array([1]), levels, False, 0)
        if expected is None:
            continue
        got = VoxelMatrices().glcm_by_level(image, mask, np.array([1]), present, False, 0)
        np.testing.assert_array_equal(got, expected[0][0][np.ix_(present - 1, present - 1)])


@pytest.mark.parametrize("force2d", [False, True])
def test_glcm_gldm_and_ngtdm_counted_in_one_pass_equal_pyradiomics_c(force2d):
    checked = 0
    for image, mask, levels in random_volumes(4, 40):
        present = np.unique(image[mask])
        ng = int(present[-1])
        for distances in ([1], [1, 2]):
            distances = np.array(distances)
            expected = c_or_none(cMatrices.calculate_glcm, image, mask, distances, ng, force2d, 0)
            if expected is None:
                continue
            for alpha in (0, 1):
                fused = VoxelMatrices({}, {}, fuse_alpha=alpha)  # GLDM and NGTDM counted by GLCM's call
                glcm = fused.glcm_by_level(image, mask, distances, present, force2d, 0)
                np.testing.assert_array_equal(glcm, expected[0][0][np.ix_(present - 1, present - 1)])
                assert any(isinstance(key, tuple) and key[0] == "gldm" for key in fused.store)
                np.testing.assert_array_equal(fused.calculate_gldm(image, mask, distances, ng, alpha, force2d, 0),
                                              cMatrices.calculate_gldm(image, mask, distances, ng, alpha, force2d, 0))
                np.testing.assert_array_equal(fused.calculate_ngtdm(image, mask, distances, ng, force2d, 0),
                                              cMatrices.calculate_ngtdm(image, mask, distances, ng, force2d, 0))
                checked += 1
    assert checked > 40


def test_glszm_of_the_present_zone_sizes_is_pyradiomics_matrix_after_its_deletions():
    from radiomics.glszm import RadiomicsGLSZM

    from radiomics_core.features.fast.feature_classes import texture_classes

    checked = 0
    for image, mask, _ in random_volumes(5, 30):
        if mask.sum() < 2 or min(image.shape) < 2:
            continue
        values = sitk.GetImageFromArray(image.astype(np.float32) * 0.1)
        labels = sitk.GetImageFromArray(mask.astype(np.uint8))
        ours = texture_classes()["glszm"](values, labels, binWidth=0.1)
        theirs = RadiomicsGLSZM(values, labels, binWidth=0.1)
        ours.enableAllFeatures()
        theirs.enableAllFeatures()
        got, expected = ours.execute(), theirs.execute()
        np.testing.assert_array_equal(ours.P_glszm, theirs.P_glszm)
        for name in ("ps", "pg", "ivector", "jvector", "Nz", "Np"):
            np.testing.assert_array_equal(ours.coefficients[name], theirs.coefficients[name])
        # Same arrays; numpy sums PyRadiomics' (non-contiguous, after numpy.delete) in another order.
        assert {k: float(v) for k, v in got.items()} == pytest.approx({k: float(v) for k, v in expected.items()}, rel=1e-12)
        checked += 1
    assert checked > 10


def test_settings_we_did_not_rewrite_match_pyradiomics_and_are_logged(tmp_path, caplog):
    """GLCM/GLRLM weighting goes through PyRadiomics' own post-processing, with a log line."""
    from tests.builders import small_case_volumes

    volumes = small_case_volumes(seed=3)
    image = sitk.GetImageFromArray(volumes["FLAIR"] / volumes["FLAIR"].std())
    mask = sitk.GetImageFromArray((volumes["tumor_segmentation"] > 0).astype(np.uint8))
    path = tmp_path / "weighted.yaml"
    path.write_text("imageType: {Original: {}}\nfeatureClass: {glcm: , glrlm: }\n"
                    "setting: {binWidth: 0.1, label: 1, weightingNorm: manhattan}\n")
    params = ExtractionParams.load(path)
    log_fallback.cache_clear()  # it logs once per process
    with caplog.at_level("INFO", logger="radiomics_core"):
        ours = {r.feature: r.value for r in extract_case_features({"FLAIR": image}, {0.0: mask}, params).rows}
    reference = {k: float(v) for k, v in params.extractor().execute(image, mask).items()
                 if k.startswith("original_") and "_shape_" not in k}
    assert set(ours) == set(reference)
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, rel=1e-6, abs=1e-12), name
    assert "weightingNorm" in caplog.text


def test_even_digitize_equals_numpy_digitize():
    from radiomics_core.features.fast.feature_classes import _digitize_evenly

    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        values = (rng.normal(size=5000) * 3).astype(dtype)
        width = 0.1
        minimum = values.min()
        edges = np.arange(minimum - (minimum % width), values.max() + 2 * width, width)
        values = np.concatenate([values, edges[:-1].astype(dtype), np.nextafter(edges[1:-1], -np.inf).astype(dtype)])
        np.testing.assert_array_equal(_digitize_evenly(values, edges), np.digitize(values, edges))


def test_mcc_when_the_largest_eigenvalue_after_perron_is_negative():
    """MCC is the second largest |eigenvalue| of the symmetric weighted GLCM W; here it is negative.

    Two groups of gray levels on a 3D checkerboard (15% of voxels swapped): along axis and body
    diagonals neighbours mostly switch groups, so W is nearly bipartite and its eigenvalue of
    largest magnitude after the Perron 1 is about -0.5. PyRadiomics squares them (W W^T) and
    takes the second largest; so must we.
    """
    from radiomics.glcm import RadiomicsGLCM

    from radiomics_core.features.fast.glcm import FastGLCM, _mcc_weights

    rng = np.random.default_rng(0)
    shape = (12, 12, 12)
    odd = np.indices(shape).sum(0) % 2 == 1
    swapped = rng.random(shape) < 0.15
    array = np.where(odd ^ swapped, rng.integers(5, 9, shape), rng.integers(1, 5, shape)).astype(np.float32)
    image, mask = sitk.GetImageFromArray(array), sitk.GetImageFromArray(np.ones(shape, np.uint8))
    values = {}
    for klass in (FastGLCM, RadiomicsGLCM):
        glcm = klass(image, mask, binWidth=1)
        glcm._initCalculation()
        values[klass] = float(np.squeeze(glcm.getMCCFeatureValue()))
    ours = FastGLCM(image, mask, binWidth=1)
    ours._initCalculation()
    weighted = _mcc_weights(np.ascontiguousarray(ours.P_glcm[0]), ours.coefficients["px"][0, :, 0, :],
                            ours.coefficients["py"][0, 0, :, :])
    eigenvalues = np.linalg.eigvalsh(weighted)
    assert np.sum(-eigenvalues[:, 0] > eigenvalues[:, -2]) >= 6  # the negative one decides these angles
    assert values[FastGLCM] == pytest.approx(values[RadiomicsGLCM], rel=1e-6)
    assert 0.3 < values[FastGLCM] < 0.7

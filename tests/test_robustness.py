"""Ring-feature robustness: VOI_T perturbations, ICC across patients x perturbations (against
pingouin), the min_icc task key, and the Dagster assets writing feature_robustness."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pingouin
import pytest
import SimpleITK as sitk
from scipy import ndimage

from radiomics_core.features.extraction import ExtractionParams
from radiomics_core.robustness.icc import icc, keep_robust, robustness_table
from radiomics_core.robustness.perturbations import (DEFAULT_PERTURBATIONS, Perturbation, perturb_voi_t,
                                                     perturbed_case_features)
from radiomics_core.settings import rings_with_voi_t
from radiomics_core.tasks.config import preset, preset_files, task_from_dict

FIRSTORDER = ExtractionParams("phantom", {"imageType": {"Original": {}},
                                          "featureClass": {"firstorder": ["Mean", "Variance"]},
                                          "setting": {"binWidth": 0.25, "label": 1}})
N_PHANTOMS = 8
SHAPE = (36, 36, 36)
FACE = ndimage.generate_binary_structure(3, 1)


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.0, 1.0))
    return image


def _sphere(radius: float) -> np.ndarray:
    z, y, x = np.indices(SHAPE)
    return np.sqrt((z - 18) ** 2 + (y - 18) ** 2 + (x - 18) ** 2) <= radius


def _phantom(k: int) -> tuple[dict[str, sitk.Image], sitk.Image]:
    """Patient k of N_PHANTOMS: a sphere VOI_T of noise with a patient-specific SD (bulk texture:
    VOI_T's Variance), a one-voxel shell just outside it at a patient-specific level b (the
    boundary detail: the 1 mm ring's Mean is b), and patient-specific levels inside and beyond
    drawn independently of b, so a ring moved by a voxel reads another patient-specific value."""
    levels = np.linspace(-2, 2, N_PHANTOMS)
    sd, b = np.linspace(1, 5, N_PHANTOMS)[k], levels[(3 * k) % N_PHANTOMS]
    beyond, inner = levels[(5 * k + 2) % N_PHANTOMS], levels[(7 * k + 5) % N_PHANTOMS]
    rng = np.random.default_rng(k)
    inside = _sphere(11)
    shell = ndimage.binary_dilation(inside, FACE) & ~inside
    array = rng.normal(beyond, 0.2, SHAPE)
    array[inside] = rng.normal(inner, sd, inside.sum())
    array[shell] = b + rng.normal(0, 0.05, shell.sum())
    return {"FLAIR": _image(array.astype(np.float32))}, _image(inside.astype(np.uint8))


@pytest.fixture(scope="module")
def phantom_rows() -> pd.DataFrame:
    frames = []
    for k in range(N_PHANTOMS):
        images, voi_t = _phantom(k)
        rows = perturbed_case_features(images, voi_t, None, [1.0], FIRSTORDER, patient_id=f"P{k}")
        frames.append(rows.assign(patient_id=f"P{k}"))
    return pd.concat(frames, ignore_index=True)


def _icc_of(table: pd.DataFrame, ring_mm: float, feature: str) -> pd.Series:
    return table[(table.ring_mm == ring_mm) & (table.feature == feature)].iloc[0]


def test_a_feature_of_a_one_voxel_boundary_detail_is_not_robust_and_bulk_texture_is(phantom_rows):
    table = robustness_table(phantom_rows, [p.name for p in DEFAULT_PERTURBATIONS])
    boundary = _icc_of(table, 1.0, "original_firstorder_Mean")
    bulk = _icc_of(table, 0.0, "original_firstorder_Variance")
    assert boundary.icc < 0.5 and boundary.icc_high < 0.9
    assert bulk.icc > 0.9 and bulk.icc_low > 0.75
    assert (table.n_patients == N_PHANTOMS).all() and (table.n_perturbations == 6).all()


def test_our_icc_equals_pingouins_on_the_same_table(phantom_rows):
    table = robustness_table(phantom_rows, [p.name for p in DEFAULT_PERTURBATIONS])
    for (ring_mm, feature), rows in phantom_rows.groupby(["ring_mm", "feature"]):
        reference = pingouin.intraclass_corr(rows, targets="patient_id", raters="perturbation",
                                             ratings="value").set_index("Type")
        ours = _icc_of(table, ring_mm, feature)
        # pingouin 0.7 names Shrout & Fleiss' ICC2 and ICC3 by McGraw & Wong's A,1 and C,1.
        assert ours.icc == pytest.approx(reference.loc["ICC(A,1)", "ICC"], abs=1e-9)
        assert ours.icc_consistency == pytest.approx(reference.loc["ICC(C,1)", "ICC"], abs=1e-9)
        low, high = reference.loc["ICC(A,1)", "CI95"]  # pingouin rounds its interval to 2 decimals
        assert ours.icc_low == pytest.approx(low, abs=0.005) and ours.icc_high == pytest.approx(high, abs=0.005)


def test_icc_leaves_out_a_patient_missing_a_perturbation_as_pingouin_does():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(10, 1)) * 3 + rng.normal(size=(10, 4))
    values[2, 1] = np.nan
    long = pd.DataFrame([(i, j, values[i, j]) for i in range(10) for j in range(4)], columns=["s", "r", "x"])
    reference = pingouin.intraclass_corr(long, targets="s", raters="r", ratings="x", nan_policy="omit")
    result = icc(values[None])
    assert result.n_subjects[0] == 9
    assert result.icc2[0] == pytest.approx(reference.set_index("Type").loc["ICC(A,1)", "ICC"], abs=1e-9)


def test_dilation_and_erosion_move_the_outline_by_one_face_connected_voxel():
    inside = _sphere(8)
    voi_t = _image(inside.astype(np.uint8))
    dilated = sitk.GetArrayFromImage(perturb_voi_t(voi_t, Perturbation("d", "dilate"))).astype(bool)
    eroded = sitk.GetArrayFromImage(perturb_voi_t(voi_t, Perturbation("e", "erode"))).astype(bool)
    assert np.array_equal(dilated, ndimage.binary_dilation(inside, FACE))
    assert np.array_equal(eroded, ndimage.binary_erosion(inside, FACE))
    assert eroded.sum() < inside.sum() < dilated.sum()


def test_a_randomized_contour_is_seeded_moves_by_about_a_voxel_and_stays_in_the_brain():
    inside = _sphere(10)
    brain = _sphere(10.5)  # the tumor touches the brain's edge: nothing may grow past it
    voi_t, brain_image = _image(inside.astype(np.uint8)), _image(brain.astype(np.uint8))

    def contour(seed: int, patient: str = "A") -> np.ndarray:
        return sitk.GetArrayFromImage(perturb_voi_t(voi_t, Perturbation(f"c{seed}", "contour", seed),
                                                    brain_image, patient)).astype(bool)

    first = contour(1)
    assert np.array_equal(first, contour(1))
    assert not np.array_equal(first, contour(2)) and not np.array_equal(first, contour(1, "B"))
    assert not (first & ~brain).any()
    # Every change lies within three voxels of the outline (the field's SD is one), both ways.
    from_outline = np.where(inside, ndimage.distance_transform_edt(inside), ndimage.distance_transform_edt(~inside))
    changed = first ^ inside
    assert changed.any() and from_outline[changed].max() <= 3
    assert (first & ~inside).any() and (inside & ~first).any()


def test_min_icc_drops_the_features_below_it_before_selection():
    matrices = {0.0: pd.DataFrame({"FLAIR__a": [1.0], "FLAIR__b": [2.0], "T1__a": [3.0]}),
                1.0: pd.DataFrame({"FLAIR__a": [1.0], "FLAIR__b": [2.0]})}
    robustness = pd.DataFrame({"ring_mm": [0.0, 0.0, 0.0, 1.0, 1.0], "sequence": ["FLAIR", "FLAIR", "T1", "FLAIR", "FLAIR"],
                               "feature": ["a", "b", "a", "a", "b"], "icc": [0.9, 0.5, np.nan, 0.2, 0.8]})
    kept = keep_robust(matrices, robustness, 0.75)
    assert list(kept[0.0].columns) == ["FLAIR__a"] and list(kept[1.0].columns) == ["FLAIR__b"]
    with pytest.raises(ValueError, match="3 mm has no feature_robustness rows"):
        keep_robust({3.0: matrices[1.0]}, robustness, 0.75)
    with pytest.raises(ValueError, match="no feature of 1 mm has an ICC of at least 0.95"):
        keep_robust({1.0: matrices[1.0]}, robustness, 0.95)


def test_min_icc_is_a_task_key_off_in_every_shipped_preset():
    assert all(preset(name).min_icc is None for name in ("grade", "mgmt"))
    from radiomics_core.tasks.config import load_task
    assert all(load_task(name).min_icc is None for name in preset_files())
    base = {"name": "grade", "label": {"column": "who_grade", "classes": [{"values": [2]}, {"values": [4]}]}}
    assert task_from_dict({**base, "min_icc": 0.75}).min_icc == 0.75
    with pytest.raises(ValueError, match="min_icc must be a number from 0 to 1"):
        task_from_dict({**base, "min_icc": 1.5})


@pytest.mark.slow
def test_the_robustness_assets_write_an_icc_for_every_ring_and_feature(tmp_path):
    from orchestration.definitions import assets
    from orchestration.partitions import patients_partitions
    from orchestration.resources import PipelineResource
    from tests.builders import write_ucsf_cohort
    from warehouse import queries

    cohort = write_ucsf_cohort(tmp_path / "cohort", n=3)
    pipeline = PipelineResource(cohort_dir=str(cohort), data_dir=str(tmp_path / "data"), params="demo",
                                rings_mm=[1.0], tasks=[], sequences=["FLAIR"], robustness=True)
    graph = {a.key.to_user_string(): a for a in assets(pipeline)}
    instance = dg.DagsterInstance.ephemeral()
    patients = [case.patient_id for case in pipeline.settings.cohort().cases]
    instance.add_dynamic_partitions(patients_partitions.name, patients)
    per_patient = [graph["raw_scans"], graph["normalized_images"], graph["perturbed_features"]]
    for patient in patients:
        assert dg.materialize(per_patient, partition_key=patient, instance=instance,
                              resources={"pipeline": pipeline}).success
    assert dg.materialize([graph["feature_robustness"]], instance=instance, resources={"pipeline": pipeline}).success

    root = pipeline.warehouse().root
    perturbed = queries.perturbed_features(root, pipeline.settings.feature_identity)
    assert set(perturbed.perturbation) == {p.name for p in DEFAULT_PERTURBATIONS}
    table = queries.feature_robustness(root, pipeline.settings.feature_identity)
    assert set(table.ring_mm) == {0.0, 1.0} and set(table.sequence) == {"FLAIR"}
    per_ring = table.groupby("ring_mm").feature.nunique()
    assert per_ring.nunique() == 1 and per_ring.iloc[0] > 50
    assert (table.n_patients == 3).all() and table.icc.notna().mean() > 0.9


def test_dice_is_twice_the_overlap_over_the_sizes():
    from radiomics_core.robustness.raters import dice

    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[:2], b[1:3] = True, True
    assert dice(a, b) == pytest.approx(2 * 16 / 64) and dice(a, a) == 1.0
    assert dice(a, np.zeros_like(a)) == 0.0


def test_each_rater_gets_its_own_rings_and_identical_segmentations_agree_perfectly():
    from radiomics_core.robustness.raters import dice_table, feature_cv, rater_features, rater_vois

    labels = _image(_sphere(8).astype(np.uint8) * 2)
    shifted = _image(np.roll(_sphere(8), 2, axis=2).astype(np.uint8))
    vois = rater_vois({"a": labels, "a_again": labels, "b": shifted}, labels, None, [1.0, 3.0])
    table = dice_table(vois).set_index(["ring_mm", "rater_a", "rater_b"]).dice
    assert (table.xs(("a", "a_again"), level=["rater_a", "rater_b"]) == 1.0).all()
    shift = table.xs(("a", "b"), level=["rater_a", "rater_b"])
    assert list(shift.index) == [0.0, 1.0, 3.0] and shift[1.0] < shift[0.0] < 1.0  # a thin ring agrees least
    images, _ = _phantom(0)
    cv = feature_cv(rater_features(images, vois, FIRSTORDER))
    assert set(cv.ring_mm) == {0.0, 1.0, 3.0} and (cv.n_raters == 3).all() and (cv.cv.dropna() >= 0).all()


def test_a_rater_manifest_without_a_column_or_with_a_missing_file_names_the_problem(tmp_path):
    from radiomics_core.robustness.raters import read_rater_manifest

    (tmp_path / "a.csv").write_text("patient_id,seg\nP1,x.nii.gz\n")
    with pytest.raises(ValueError, match=r"a.csv: rater manifest lacks the columns \['rater'\]"):
        read_rater_manifest(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("patient_id,rater,seg\nP1,isen,missing.nii.gz\n")
    with pytest.raises(ValueError, match="b.csv, line 2: patient P1, rater isen: no file"):
        read_rater_manifest(tmp_path / "b.csv")


@pytest.mark.slow
def test_the_shared_tcga_lgg_cases_get_dice_and_cv_for_every_ring(tcga_raters_run):
    from tests.builders import TCGA_RATERS
    from warehouse import queries

    pipeline, results = tcga_raters_run
    assert all(result.success for result in results.values()) and len(results) == 2
    root = pipeline.warehouse().root
    dice = queries.table(root, "rater_dice")
    cv = queries.table(root, "rater_feature_cv")
    pairs = len(TCGA_RATERS) * (len(TCGA_RATERS) - 1) // 2
    every_voi = {ring.mm for ring in rings_with_voi_t(pipeline.settings.rings_mm)}
    assert every_voi == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0}
    for table in (dice, cv):
        assert set(table.patient_id) == set(results)
        assert set(table.ring_mm) == every_voi
    assert (dice.groupby(["patient_id", "ring_mm"]).size() == pairs).all()
    assert dice.dice.between(0, 1).all()
    # Every VOI has the same features of both sequences, each across all seven segmentations.
    assert set(cv.sequence) == {"T1c", "FLAIR"} and (cv.n_raters == len(TCGA_RATERS)).all()
    per_voi = cv.groupby(["patient_id", "ring_mm"]).size()
    assert per_voi.nunique() == 1 and per_voi.iloc[0] > 150
    # The two fusions of these cases are the same file; the algorithms agree far better on VOI_T
    # than on its 1 mm ring, which the edema outline alone defines, and each wider ring (it
    # holds the narrower ones) agrees better than the last.
    median = dice.groupby(["patient_id", "ring_mm"]).dice.median().unstack("patient_id")
    assert (median.loc[0.0] > 0.9).all() and (median.loc[1.0] < median.loc[0.0] - 0.15).all()
    assert median.drop(index=0.0).apply(lambda rings: rings.is_monotonic_increasing).all()


def test_the_robustness_page_draws_the_icc_share_and_distribution_per_voi(phantom_rows, tmp_path):
    from tests.test_dashboard import run_app
    from warehouse import records
    from warehouse.store import Warehouse

    warehouse = Warehouse(tmp_path / "warehouse").initialize()
    warehouse.write_partition("patients", "all", pd.DataFrame({
        "patient_id": ["P0"], "source_id": ["P0"], "layout": ["ucsf-pdgm"], "folder": ["-"], "usable": [True],
        "updated_at": [pd.Timestamp("2026-01-01")]}))
    table = robustness_table(phantom_rows, [p.name for p in DEFAULT_PERTURBATIONS])
    warehouse.write_partition("feature_robustness", "all", records.robustness_rows(table, "x"))
    app = run_app(warehouse.root, {"page": "Robustness"})
    assert not app.exception, [e.value for e in app.exception]
    assert any("8 patients x 6 outlines" in c.value for c in app.caption)
    assert len(app.get("vega_lite_chart")) == 2  # the share and the distribution
    assert any("rater_manifest" in i.value for i in app.info)  # no inter-rater tables in this warehouse


def test_the_robustness_assets_join_the_graph_only_when_the_settings_turn_them_on(tmp_path):
    from orchestration.definitions import assets
    from orchestration.resources import PipelineResource

    raters = tmp_path / "raters.csv"
    raters.write_text("patient_id,rater,seg\n")
    base = {"cohort_dir": str(tmp_path), "data_dir": str(tmp_path / "data"), "params": "demo"}

    def graph(**changes):
        return {a.key.to_user_string(): a for a in assets(PipelineResource(**base, **changes))}

    assert not {"perturbed_features", "feature_robustness", "rater_agreement"} & set(graph())
    on = graph(robustness=True, rater_manifest=str(raters))
    assert {"perturbed_features", "feature_robustness", "rater_agreement"} <= set(on)
    # A task's min_icc reads feature_robustness: the models wait for it.
    assert dg.AssetKey("feature_robustness") in on["fitted_models"].asset_deps[dg.AssetKey("fitted_models")]

"""Real patients' scans (../shared/data/real, README there) arranged the way a user downloads
them: a BraTS 2023 folder, a BraTS 2021 folder (the TCGA-LGG cases), and a manifest of the
BraTS 2013 cases. They ingest, run through the real pipeline, and their rings stay in the brain:
BraTS ships no brain mask, so the pipeline derives one from the skull-stripped sequences."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import SimpleITK as sitk

from cli.launcher import run_cohort
from cli.main import main
from orchestration.resources import PipelineResource
from radiomics_core.files.images import read_image
from radiomics_core.imaging.brain import DERIVED, LAYOUT_MASK, border_background, derive_brain
from radiomics_core.imaging.rings import distance_outside_mm
from warehouse import queries

pytestmark = pytest.mark.slow

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
BRATS23 = REAL / "brats2023" / "BraTS-GLI-00001-000"
BROKEN = "BraTS-GLI-00001-001"  # the same images with the mis-written seg-BraTS23_1_mapped.nii.gz
LGG = {"BraTS2021_06692": REAL / "tcga-lgg" / "TCGA-FG-6692", "BraTS2021_07294": REAL / "tcga-lgg" / "TCGA-DU-7294"}
BRATS13 = {"brats_2013_pat0001_1": REAL / "brats2013" / "brats_2013_pat0001_1",
           "brats_2013_pat0002_1": REAL / "brats2013" / "brats_2013_pat0002_1"}


def _link(target: Path, link: Path) -> None:
    # Copied, not linked: a link leaving the cohort folder is refused (unsafe_path), as it should be.
    link.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target, link)


def _brats2023(root: Path) -> Path:
    for case, seg in (("BraTS-GLI-00001-000", "seg-BraTS23_1.nii.gz"), (BROKEN, "seg-BraTS23_1_mapped.nii.gz")):
        for suffix in ("t1n", "t1c", "t2w", "t2f"):
            _link(BRATS23 / f"BraTS-GLI-00001-000-{suffix}.nii.gz", root / case / f"{case}-{suffix}.nii.gz")
        _link(BRATS23 / seg, root / case / f"{case}-seg.nii.gz")
    return root


def _brats2021(root: Path) -> Path:
    for case, source in LGG.items():
        files = {p.name.split("_")[-2]: p for p in (source / "coregistered").glob("*_bet.nii.gz")}
        for ours, theirs in (("t1", "t1"), ("t1ce", "t1c"), ("t2", "t2"), ("flair", "fla")):
            _link(files[theirs], root / case / f"{case}_{ours}.nii.gz")
        _link(source / "segmentations" / "fusion-mav.nii.gz", root / case / f"{case}_seg.nii.gz")
    return root


def _brats2013_manifest(root: Path) -> Path:
    root.mkdir(parents=True)
    lines = ["patient_id,T1c,FLAIR,seg,brain_mask,labels"]
    for case, source in BRATS13.items():
        for name in ("T1c_subtrMeanDivStd.nii.gz", "Flair_subtrMeanDivStd.nii.gz", "OTMultiClass.nii.gz",
                     "brainmask.nii.gz"):
            _link(source / name, root / case / name)
        lines.append(f"{case},{case}/T1c_subtrMeanDivStd.nii.gz,{case}/Flair_subtrMeanDivStd.nii.gz,"
                     f"{case}/OTMultiClass.nii.gz,{case}/brainmask.nii.gz,brats-legacy")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    return {"brats2023": _brats2023(root / "brats2023"), "brats2021": _brats2021(root / "brats2021"),
            "manifest": _brats2013_manifest(root / "brats2013")}


@pytest.fixture(scope="module")
def runs(cohorts, tmp_path_factory):
    """Each real cohort through the real graph (demo parameters: the geometry is what is tested)."""
    done = {}
    with dg.instance_for_test() as instance:
        for name, cohort in cohorts.items():
            sequences = ["T1c", "FLAIR"] if name == "manifest" else ["T1", "T1c", "T2", "FLAIR"]
            pipeline = PipelineResource(cohort_dir=str(cohort), data_dir=str(tmp_path_factory.mktemp(name)),
                                        params="demo", rings_mm=[1.0, 5.0, 15.0], sequences=sequences,
                                        tasks=["grade"])
            done[name] = (pipeline, run_cohort(pipeline, instance, workers=1))
    return done


def _usable(name: str, capsys, *options: str) -> dict[str, dict]:
    main(["ingest", name, "--json", *options])
    report = json.loads(capsys.readouterr().out)
    return {case["patient_id"]: case for case in report["cases"]}


def test_every_real_layout_ingests(cohorts, capsys):
    brats23 = _usable(str(cohorts["brats2023"]), capsys)
    assert brats23["BraTS-GLI-00001-000"]["usable"]
    assert all(case["usable"] for case in _usable(str(cohorts["brats2021"]), capsys).values())
    assert all(case["usable"] for case in _usable(str(cohorts["manifest"]), capsys, "--sequences", "T1c,FLAIR").values())


def test_the_mis_written_segmentation_fails_its_case_naming_the_file_and_both_origins(cohorts, capsys):
    broken = _usable(str(cohorts["brats2023"]), capsys)[BROKEN]
    assert not broken["usable"]
    text = json.dumps(broken["issues"])
    assert f"{BROKEN}-seg.nii.gz" in text and "origin" in text
    assert "(0, 0, 0)" in text.replace(".0", "") and "-239" in text


def _stored(pipeline: PipelineResource, patient: str, *parts: str) -> np.ndarray:
    return sitk.GetArrayFromImage(read_image(pipeline.settings.work_dir(*parts))).astype(bool)


@pytest.mark.parametrize("name", ["brats2023", "brats2021", "manifest"])
def test_no_ring_voxel_of_a_real_case_lies_outside_its_brain(runs, name):
    pipeline, summary = runs[name]
    volumes = queries.table(pipeline.warehouse().root, "ring_volumes")
    patients = sorted(set(volumes.patient_id))
    assert patients and BROKEN not in patients
    for patient in patients:
        brain = _stored(pipeline, patient, "normalized", patient, "brain.nii.gz")
        for ring in pipeline.settings.rings[1:]:
            mask = _stored(pipeline, patient, "rings", patient, ring.mask_file)
            assert mask.any() and not np.any(mask & ~brain), (patient, ring.label)


@pytest.mark.parametrize("name", ["brats2023", "brats2021"])
def test_a_brats_15_mm_ring_is_the_distance_maps_voxels_inside_the_derived_brain(runs, name):
    pipeline, _ = runs[name]
    root = pipeline.warehouse().root
    for patient in sorted(set(queries.table(root, "ring_volumes").patient_id)):
        meta = json.loads(queries.table(root, "preprocessing", {"patient_id": patient}).metadata_json.iloc[0])
        assert meta["brain"]["source"] == DERIVED
        folder = pipeline.settings.work_dir("normalized", patient)
        distance = distance_outside_mm(read_image(folder / "voi_t.nii.gz"))  # unclipped, recomputed
        brain = _stored(pipeline, patient, "normalized", patient, "brain.nii.gz")
        expected = int(np.count_nonzero((distance > 0) & (distance <= 15.0) & brain))
        stored = queries.ring_volumes(root, patient).set_index("ring_mm").voxels
        assert stored[15.0] == expected
        # The brain matters: unclipped, the 15 mm ring reaches into the zero background.
        assert int(np.count_nonzero((distance > 0) & (distance <= 15.0))) > expected


def test_brats_2013_keeps_its_brain_mask_its_label_3_and_its_negative_background(runs):
    pipeline, _ = runs["manifest"]
    root = pipeline.warehouse().root
    for patient, source in BRATS13.items():
        meta = json.loads(queries.table(root, "preprocessing", {"patient_id": patient}).metadata_json.iloc[0])
        assert meta["brain"]["source"] == LAYOUT_MASK
        labels = sitk.GetArrayFromImage(read_image(source / "OTMultiClass.nii.gz"))
        voi_t = _stored(pipeline, patient, "normalized", patient, "voi_t.nii.gz")
        assert 3 in labels and voi_t.sum() == np.count_nonzero(labels)  # 3 (non-enhancing) is tumor
        brain = _stored(pipeline, patient, "normalized", patient, "brain.nii.gz")
        t1c = sitk.GetArrayFromImage(read_image(pipeline.settings.work_dir("normalized", patient, "T1c.nii.gz")))
        # z-scored inside the brain mask, not over the publisher's negative background
        assert abs(float(t1c[brain].mean())) < 0.05 and abs(float(t1c[brain].std()) - 1) < 0.1


def test_a_brain_derived_from_publisher_normalized_images_matches_their_brain_mask():
    # BraTS 2013's background is a negative constant, not 0: derivation must find it.
    source = BRATS13["brats_2013_pat0001_1"]
    images = {s: read_image(source / f"{f}_subtrMeanDivStd.nii.gz") for s, f in (("T1c", "T1c"), ("FLAIR", "Flair"))}
    labels = read_image(source / "OTMultiClass.nii.gz")
    brain = derive_brain(images, labels)
    assert brain.source == DERIVED and all(v < 0 for v in brain.background.values())
    derived = sitk.GetArrayFromImage(brain.mask).astype(bool)
    truth = sitk.GetArrayFromImage(read_image(source / "brainmask.nii.gz")) > 0
    dice = 2 * np.count_nonzero(derived & truth) / (derived.sum() + truth.sum())
    assert dice > 0.95


def test_a_scan_with_its_skull_has_no_derivable_brain():
    native = next((REAL / "tcga-lgg" / "TCGA-FG-6692" / "native").glob("*t1c.nii.gz"))
    image = read_image(native)
    assert border_background(sitk.GetArrayFromImage(image)) is None
    brain = derive_brain({"T1c": image}, sitk.Image(image.GetSize(), sitk.sitkUInt8))
    assert brain.mask is None and "no constant background" in brain.reason


RINGS_MM = (1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0)  # the thesis' rings


def _naive_features(extractor, images: dict, vois: dict) -> dict[tuple, float]:
    """PyRadiomics' own execute() per VOI and sequence, keyed as our rows are."""
    reference = {}
    for sequence, image in images.items():
        for ring, voi in vois.items():
            for name, value in extractor.execute(image, voi).items():
                if not name.startswith("diagnostics_"):
                    reference[(ring, "mask" if "_shape_" in name else sequence, name)] = float(value)
    return reference


def test_extraction_matches_naive_pyradiomics_on_a_real_tumor_and_every_ring(cohorts):
    """TCGA-FG-6692 (co-registered, fusion-mav), default parameters (Original, LoG sigma 1 and 3,
    the 8 wavelet bands; all 7 feature classes): every feature of T1c on VOI_T and every ring
    (1-5, 10, 15 mm: the nested rings, up to 144k voxels, where the large-VOI kernels and the
    crops are exercised), and of T1, T2 and FLAIR on VOI_T and the 1 mm ring, against
    PyRadiomics' own execute() on the same z-scored images and brain-clipped masks (original_*
    within 1e-6 relative, filtered within 1e-3). Naive PyRadiomics on every ring of all four
    sequences takes ~5 minutes of CPU, too long for every CI run; this is ~2."""
    from radiomics_core.cohorts.layouts import CohortConfig, read_cohort
    from radiomics_core.features.extraction import ExtractionParams, extract_case_features
    from radiomics_core.imaging.preprocessing import preprocess_case
    from radiomics_core.imaging.rings import case_vois

    case = read_cohort(cohorts["brats2021"], CohortConfig(layout="brats2021")).case("BraTS2021_06692")
    prepared = preprocess_case(case)
    assert prepared.metadata["brain"]["source"] == DERIVED
    vois = case_vois(prepared.labels, prepared.tumor_labels, RINGS_MM, prepared.brain)
    params = ExtractionParams.load("default")
    extractor = params.extractor()
    every_ring = ({"T1c": prepared.images["T1c"]}, vois)
    others = ({s: i for s, i in prepared.images.items() if s != "T1c"}, {0.0: vois[0.0], 1.0: vois[1.0]})
    for images, subset in (every_ring, others):
        ours = extract_case_features(images, subset, params)
        assert [status.status for status in ours.statuses] == ["ok"] * len(subset)
        got = {(r.ring_mm, r.sequence, r.feature): r.value for r in ours.rows}
        reference = _naive_features(extractor, images, subset)
        assert set(got) == set(reference)
        names = {key[2] for key in reference}
        assert {n.split("_")[1] for n in names} == {"shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
        assert len({n.split("_")[0] for n in names}) == 11  # original, 2 LoG sigmas, 8 wavelet bands
        for key, value in reference.items():
            tolerance = 1e-6 if key[2].startswith("original_") else 1e-3
            assert got[key] == pytest.approx(value, rel=tolerance, abs=1e-9), key


NATIVE = REAL / "tcga-lgg" / "TCGA-FG-6692" / "native"


def _native_manifest(root: Path) -> Path:
    """TCGA-FG-6692 as acquired (every series on its own grid, skull on) as a manifest case, with
    a segmentation on the T1c's grid: a ball of edema around a core at the volume's centre."""
    files = {seq: next(NATIVE.glob(f"*_{suffix}.nii.gz")) for seq, suffix in
             (("T1", "t1"), ("T1c", "t1c"), ("T2", "t2"), ("FLAIR", "fla"))}
    for seq, path in files.items():
        _link(path, root / "TCGA-FG-6692" / f"{seq}.nii.gz")
    t1c = read_image(files["T1c"])
    index = np.indices(t1c.GetSize()[::-1]).reshape(3, -1).T[:, ::-1]  # (x, y, z) per voxel
    centre = np.array(t1c.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in t1c.GetSize()]))
    direction = np.array(t1c.GetDirection()).reshape(3, 3)
    points = (direction @ (index * np.array(t1c.GetSpacing())).T).T + np.array(t1c.GetOrigin())
    radius = np.linalg.norm(points - centre, axis=1).reshape(t1c.GetSize()[::-1])
    seg = sitk.GetImageFromArray(np.where(radius < 8, 1, np.where(radius < 18, 2, 0)).astype(np.uint8))
    seg.CopyInformation(t1c)
    sitk.WriteImage(seg, str(root / "TCGA-FG-6692" / "seg.nii.gz"))
    (root / "manifest.csv").write_text("patient_id,T1,T1c,T2,FLAIR,seg,labels\nTCGA-FG-6692," + ",".join(
        f"TCGA-FG-6692/{seq}.nii.gz" for seq in ("T1", "T1c", "T2", "FLAIR")) + ",TCGA-FG-6692/seg.nii.gz,brats2021\n",
        encoding="utf-8")
    return root


def test_a_native_space_study_ingests_as_usable_and_is_resampled_onto_the_segmentations_grid(tmp_path, capsys):
    from radiomics_core.cohorts.layouts import CohortConfig, read_cohort
    from radiomics_core.imaging.preprocessing import PreprocessConfig, preprocess_case

    cohort = _native_manifest(tmp_path / "native")
    case = _usable(str(cohort), capsys)["TCGA-FG-6692"]
    assert case["usable"]
    resampled = {Path(issue["path"]).name for issue in case["issues"] if issue["kind"] == "resampled"}
    assert resampled == {"T2.nii.gz", "FLAIR.nii.gz"}  # T1 shares the T1c's grid
    prepared = preprocess_case(read_cohort(cohort, CohortConfig()).case("TCGA-FG-6692"),
                               PreprocessConfig(spacing_mm=None))
    for image in prepared.images.values():
        assert image.GetSize() == prepared.labels.GetSize() and image.GetOrigin() == prepared.labels.GetOrigin()
    assert prepared.metadata["brain"]["source"] == "none"  # with its skull: no brain to derive


def test_rigid_registration_recovers_a_known_motion_of_the_real_flair():
    from radiomics_core.imaging.registration import register_rigid, rotation_angle_deg

    flair = read_image(next(NATIVE.glob("*_fla.nii.gz")), sitk.sitkFloat32)
    centre = flair.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in flair.GetSize()])
    motion = sitk.Euler3DTransform(centre, 0.0, 0.0, np.radians(5.0), (2.4, 3.2, 0.0))  # 5 degrees, 4 mm
    moved = sitk.Resample(flair, flair, motion, sitk.sitkLinear, 0.0)
    found = register_rigid(moved, flair)
    assert rotation_angle_deg(found.transform, motion) < 1.0
    assert np.linalg.norm(np.subtract(found.transform.TransformPoint(centre), motion.TransformPoint(centre))) < 1.0
    assert found.describe()["mattes_mi"] < 0

"""The thesis' own cohorts, exactly, from UCSF-PDGM's real metadata sheet (v5, 501 exams).

The default presets reproduce the thesis' sizes: grade 180 (every baseline WHO 2-3 exam without a
biopsy before imaging, 90, and as many WHO 4 exams), 7:3 = 126/54; MGMT 242 (the baseline exams of
the BraTS 2021 MGMT training set, 176 methylated and 66 unmethylated), 8:2. The WHO 2021 presets
(grade-who2021, mgmt-who2021) give 134 and 299. ``glioma-rings select`` reports these from the
sheet alone, before any image is read (docs/method.md, "The thesis' cohorts").
"""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from cli.main import main
from radiomics_core.cohorts.clinical import UCSF_COLUMNS, read_clinical_csv
from radiomics_core.cohorts.ids import safe_partition_key
from radiomics_core.cohorts.layouts import CohortConfig, read_cohort_metadata, ucsf_key
from radiomics_core.tasks.config import assign_splits, load_task, preset
from radiomics_core.tasks.selection import NO_LABEL, select_cases
from warehouse import queries, records
from warehouse.store import Warehouse

# The repository's folder has shared/ beside it (here and in CI).
REAL_SHEET = Path(__file__).resolve().parents[2] / "shared/data/real/ucsf-pdgm/UCSF-PDGM-metadata_v5.csv"


@pytest.fixture(scope="module")
def sheet_only(tmp_path_factory) -> Path:
    """A cohort folder holding the real metadata sheet and nothing else: no image to read."""
    assert REAL_SHEET.is_file(), f"{REAL_SHEET}: the real UCSF-PDGM metadata sheet is missing"
    root = tmp_path_factory.mktemp("ucsf-pdgm-sheet")
    shutil.copy(REAL_SHEET, root / REAL_SHEET.name)
    return root


@pytest.fixture(scope="module")
def clinical(sheet_only) -> pd.DataFrame:
    """The sheet's 501 exams as the warehouse's ``clinical`` rows."""
    rows = read_clinical_csv(sheet_only / REAL_SHEET.name, UCSF_COLUMNS)
    return records.clinical_table({safe_partition_key(ucsf_key(r.source_id)): r for r in rows})


def _select(capsys, *args: str) -> dict:
    """``glioma-rings select ... --json``'s document (its exit status must be 0)."""
    assert main(["select", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _selected(selection, clinical: pd.DataFrame) -> pd.DataFrame:
    return clinical.set_index("patient_id").loc[selection.labels.index]


def test_select_grade_gives_the_thesis_180_cases_90_per_class_split_126_54(sheet_only, capsys):
    doc = _select(capsys, sheet_only, "--task", "grade")
    assert doc["exams"] == 501 and doc["preset"] == "grade"
    assert doc["selected"] == {"WHO 2-3": 90, "WHO 4": 90}
    assert (doc["split"]["n_train"], doc["split"]["n_test"]) == (126, 54)
    assert doc["split"]["train"] == {"WHO 2-3": 63, "WHO 4": 63} and doc["split"]["test"] == {"WHO 2-3": 27, "WHO 4": 27}


def test_select_mgmt_gives_the_thesis_242_cases_176_methylated_and_66_unmethylated(sheet_only, capsys):
    doc = _select(capsys, sheet_only, "--task", "mgmt")
    assert doc["preset"] == "mgmt" and doc["selected"] == {"unmethylated": 66, "methylated": 176}
    # ceil(0.2 x 242) = 49 in test, shared out by the classes' sizes: 13 of 66 and 36 of 176.
    assert (doc["split"]["n_train"], doc["split"]["n_test"]) == (193, 49)
    assert doc["split"]["test"] == {"unmethylated": 13, "methylated": 36}


def test_the_split_counts_are_scikit_learns_stratified_train_test_split(clinical):
    from sklearn.model_selection import train_test_split

    for name in ("grade", "mgmt"):
        task = preset(name)
        labels = select_cases(task, clinical).labels
        ours = assign_splits(labels, task)
        train, test = train_test_split(labels.index, test_size=task.test_fraction, stratify=labels, random_state=0)
        assert (ours == "test").sum() == len(test) and (ours == "train").sum() == len(train)
        assert labels[ours == "test"].value_counts().to_dict() == labels[test].value_counts().to_dict()


def test_the_grade_cohort_keeps_every_baseline_who_2_3_exam_without_a_prior_biopsy_whatever_its_diagnosis(clinical):
    selection = select_cases(preset("grade"), clinical)
    low = _selected(selection, clinical)[lambda rows: rows.who_grade.isin([2, 3])]
    assert low.who_grade.value_counts().to_dict() == {2: 52, 3: 38}
    assert low.diagnosis.value_counts().to_dict() == {"Astrocytoma, IDH-mutant": 54, "Astrocytoma, IDH-wildtype": 23,
                                                      "Oligodendroglioma, IDH-mutant, 1p/19q-codeleted": 13}
    every = clinical[clinical.who_grade.isin([2, 3]) & (clinical.biopsy_prior_to_imaging == False)  # noqa: E712
                     & ~clinical.patient_id.str.contains("_FU")]
    assert set(low.index) == set(every.patient_id)
    excluded = selection.flow.groupby("reason").n_excluded.sum()
    assert excluded["class balancing (seed 0)"] == 336 - 90  # the WHO 4 exams left over by the balance


def test_the_mgmt_cohort_is_the_brats21_mgmt_training_set_with_no_other_exclusion(clinical):
    selection = select_cases(preset("mgmt"), clinical)
    rows = _selected(selection, clinical)
    assert len(rows) == 242 and (rows.who_grade == 4).all() and (rows.brats21_mgmt_cohort == "Training").all()
    assert rows.diagnosis.value_counts().to_dict() == {"Glioblastoma, IDH-wildtype": 223, "Astrocytoma, IDH-mutant": 19}
    assert int((rows.biopsy_prior_to_imaging == True).sum()) == 37  # noqa: E712 (kept, as the thesis did)
    excluded = selection.flow.groupby("criterion", sort=False).n_excluded.sum()
    assert excluded[excluded > 0].to_dict() == {"baseline exam": 6, "BraTS 2021 MGMT cohort: Training": 253}


@pytest.mark.parametrize("task_file, counts, split", [
    ("grade-who2021", {"WHO 2-3": 67, "WHO 4": 67}, (94, 40)),
    ("mgmt-who2021", {"unmethylated": 92, "methylated": 207}, (240, 59)),
])
def test_the_who2021_presets_still_give_134_and_299(sheet_only, capsys, task_file, counts, split):
    doc = _select(capsys, sheet_only, "--task-file", task_file)
    assert doc["preset"] == task_file and doc["selected"] == counts
    assert (doc["split"]["n_train"], doc["split"]["n_test"]) == split


def _refuse_image_reads(monkeypatch):
    import SimpleITK as sitk

    from radiomics_core.files import images

    def refuse(*_, **__):
        raise AssertionError("select read an image")

    for module, name in [(sitk, "ReadImage"), (sitk, "ImageFileReader"), (images, "read_image"),
                         (images, "read_geometry"), (images, "nonfinite_voxels")]:
        monkeypatch.setattr(module, name, refuse)


def test_select_json_prints_the_flow_and_exits_0_without_reading_an_image(sheet_only, capsys, monkeypatch):
    _refuse_image_reads(monkeypatch)
    doc = _select(capsys, sheet_only, "--task", "grade")
    assert doc["exams_with_images"] == 0  # the folder holds the sheet alone
    assert [step["criterion"] for step in doc["flow"]][-2:] == ["balanced classes", "selected"]
    for step in doc["flow"]:
        assert set(step) >= {"step", "reason", "excluded", "n_in", "n_excluded", "n_out"}
        assert set(step["excluded"]) == {"WHO 2-3", "WHO 4", NO_LABEL}
        assert sum(step["excluded"].values()) == step["n_excluded"] == step["n_in"] - step["n_out"]
    biopsy = next(step for step in doc["flow"] if step["reason"] == "biopsy prior to imaging")
    assert biopsy["excluded"] == {"WHO 2-3": 9, "WHO 4": 60, NO_LABEL: 0}
    assert set(doc["split"]["train"]) == set(doc["split"]["test"]) == {"WHO 2-3", "WHO 4"}


def test_select_finds_case_folders_by_name_and_reads_none_of_their_files(tmp_path, capsys, monkeypatch):
    shutil.copy(REAL_SHEET, tmp_path / REAL_SHEET.name)
    for exam in ("UCSF-PDGM-0004", "UCSF-PDGM-0433_FU007d"):
        folder = tmp_path / f"{exam}_nifti"
        folder.mkdir()
        for suffix in ("T1", "T1c", "T2", "FLAIR", "tumor_segmentation"):
            (folder / f"{exam}_{suffix}.nii.gz").write_bytes(b"not an image")  # reading it would fail
    _refuse_image_reads(monkeypatch)
    doc = _select(capsys, tmp_path, "--task", "mgmt")
    assert (doc["exams"], doc["exams_with_images"]) == (501, 2)  # every sheet row counts until ingest
    assert doc["selected"] == {"unmethylated": 66, "methylated": 176}


def test_select_prints_the_flow_and_the_split_sizes(sheet_only, capsys):
    assert main(["select", str(sheet_only), "--task", "grade"]) == 0
    out = capsys.readouterr().out
    assert "task grade (preset grade)" in out and "501 exams" in out
    assert "biopsy prior to imaging" in out and "class balancing (seed 0)" in out
    assert "selected: 180 (90 WHO 2-3, 90 WHO 4)" in out
    assert "train 126 (63 WHO 2-3, 63 WHO 4), test 54 (27 WHO 2-3, 27 WHO 4)" in out


def _grade_with_external(tmp_path, external: dict) -> Path:
    import yaml
    from importlib import resources

    task = yaml.safe_load(resources.files("radiomics_core.tasks.presets").joinpath("grade.yaml").read_text())
    path = tmp_path / "grade-external.yaml"
    path.write_text(yaml.safe_dump({**task, "external": external}))
    return path


def test_select_counts_the_external_exams_apart_and_splits_the_others(sheet_only, clinical, tmp_path, capsys):
    doc = _select(capsys, sheet_only, "--task-file", _grade_with_external(tmp_path, {"patient_id": ["UCSF-PDGM-04*"]}))
    split = doc["split"]
    assert split["n_external"] > 0 and doc["selected"] == {"WHO 2-3": 90, "WHO 4": 90}
    assert split["n_train"] + split["n_test"] + split["n_external"] == 180
    assert {name: split["train"][name] + split["test"][name] + split["external"][name]
            for name in doc["classes"]} == doc["selected"]
    # The same exams the splits asset puts in split "external".
    rule = load_task(str(tmp_path / "grade-external.yaml")).external
    selection = select_cases(preset("grade"), clinical)
    assert split["n_external"] == len(rule.matches(pd.DataFrame(
        {"patient_id": selection.labels.index, "layout": "ucsf-pdgm"})))
    assert main(["select", str(sheet_only), "--task-file", str(tmp_path / "grade-external.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"external (the task's external rule; never used for selection or fitting): {split['n_external']} (" in out
    assert f"split of the others 70%/30% (stratified, seed 0): train {split['n_train']} (" in out
    # A layout rule reads each exam's layout: this sheet's are all UCSF-PDGM's.
    every = _select(capsys, sheet_only, "--task-file", _grade_with_external(tmp_path, {"layout": ["ucsf-pdgm"]}))
    assert (every["split"]["n_external"], every["split"]["n_train"], every["split"]["n_test"]) == (180, 0, 0)


def test_select_reads_a_clinical_sheet_given_as_the_cohort(capsys):
    doc = _select(capsys, REAL_SHEET, "--task", "mgmt")
    assert doc["exams"] == 501 and sum(doc["selected"].values()) == 242


def test_select_refuses_a_task_file_of_another_task(sheet_only, capsys):
    assert main(["select", str(sheet_only), "--task", "grade", "--task-file", "mgmt-who2021"]) == 2
    assert "defines the task mgmt, not grade" in capsys.readouterr().err


def test_a_shipped_preset_is_named_by_its_name_or_its_file_name():
    assert load_task("grade-who2021") == load_task("grade-who2021.yaml") == preset("grade-who2021")
    assert load_task("grade-who2021.yaml").preset == "grade-who2021" and preset("grade-who2021").name == "grade"
    with pytest.raises(ValueError, match="grade, grade-who2021, mgmt, mgmt-who2021"):
        load_task("grade-who2022")


def test_run_takes_a_shipped_preset_as_its_task_file_and_saves_it_by_name(tmp_path):
    from cli.main import build_parser
    from cli.project import pipeline_settings

    args = build_parser().parse_args(["run", str(tmp_path), "--data-dir", str(tmp_path / "data"),
                                      "--task-file", "mgmt-who2021"])
    settings = pipeline_settings(args).settings
    assert settings.task_files == ("mgmt-who2021",)
    assert settings.task("mgmt").preset == "mgmt-who2021" and settings.task("mgmt").idh == "wildtype"
    assert settings.task("grade").preset == "grade"
    saved = type(settings).load(settings.save(tmp_path / "settings.yaml"))
    assert saved.task("mgmt").preset == "mgmt-who2021"


def test_the_stored_flow_names_its_preset_for_the_clinical_page_and_the_report(tmp_path, clinical):
    from reporting.report import _selection_flow_html
    from reporting.table_one import task_definition

    warehouse = Warehouse(tmp_path).initialize()
    warehouse.write_partition("selection_flow", "grade", select_cases(preset("grade-who2021"), clinical).flow)
    assert queries.selection_preset(tmp_path, "grade") == "grade-who2021"
    definition = task_definition("grade-who2021")
    assert definition == f"Task definition: preset grade-who2021 ({preset('grade-who2021').description})"
    assert definition.split(" (")[0] in _selection_flow_html(tmp_path, "grade")
    assert queries.selection_preset(tmp_path, "mgmt") is None and task_definition(None) is None


def test_a_clinical_row_stored_before_the_cohort_column_is_stored_again_by_splits(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from orchestration.assets.imaging import clinical_edits
    from warehouse.store import partition_file_name

    record = read_cohort_metadata(REAL_SHEET, CohortConfig()).records["UCSF-PDGM-0004"]
    case = SimpleNamespace(patient_id="UCSF-PDGM-0004", clinical=record)
    warehouse = Warehouse(tmp_path).initialize()
    warehouse.write_partition("patients", case.patient_id, pd.DataFrame([{
        "patient_id": case.patient_id, "source_id": "UCSF-PDGM-004", "layout": "ucsf-pdgm", "folder": "/c",
        "usable": True, "updated_at": pd.Timestamp("2026-01-01")}]))
    # The partition as schema version 4 wrote it, without the column: the view reads it as NULL.
    old = records.clinical_rows(case).drop(columns="brats21_mgmt_cohort")
    pq.write_table(pa.Table.from_pandas(old, preserve_index=False),
                   warehouse.table_dir("clinical") / partition_file_name(case.patient_id))
    assert queries.table(tmp_path, "clinical").brats21_mgmt_cohort.isna().all()
    pipeline = SimpleNamespace(warehouse=lambda: warehouse)
    edits = clinical_edits(pipeline, SimpleNamespace(cases=[case]))
    assert list(edits) == [case.patient_id] and edits[case.patient_id].brats21_mgmt_cohort.tolist() == ["Training"]
    warehouse.write_partition("clinical", case.patient_id, edits[case.patient_id])
    assert clinical_edits(pipeline, SimpleNamespace(cases=[case])) == {}

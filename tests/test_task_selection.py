"""The shipped task presets (the thesis' cohorts, grade and mgmt, and their WHO 2021 variants): on a
UCSF-PDGM cohort written with the real metadata header and spellings (merged with BraTS 2021
cases), each selects exactly the exams its rules name, the selection flow accounts for every
other exam, and no subject is in train and test. (The real sheet's counts: test_thesis_cohorts.py.)"""

import csv
from dataclasses import replace

import pandas as pd
import pytest

from radiomics_core.cohorts.layouts import CohortConfig, read_cohort
from radiomics_core.tasks.selection import NO_LABEL, SELECTED, select_cases
from radiomics_core.cohorts.synthetic import METADATA_FILE, METADATA_HEADER
from radiomics_core.tasks.config import preset, assign_splits, is_follow_up, load_task, task_from_dict
from tests.builders import write_brats_case, write_ucsf_case
from warehouse import queries, records
from warehouse.store import Warehouse

BRATS21_NAMES = {"T1": "t1", "T1c": "t1ce", "T2": "t2", "FLAIR": "flair"}
GBM, ASTRO = "Glioblastoma, IDH-wildtype", "Astrocytoma, IDH-mutant"
OLIGO = "Oligodendroglioma, IDH-mutant, 1p/19q-codeleted"

# (ID as the CSV spells it, age, grade, diagnosis, MGMT status, IDH, biopsy prior, BraTS21 ID)
ROWS = [
    ("UCSF-PDGM-001", "63", "4", GBM, "positive", "wildtype", "No", "BraTS2021_00097"),
    ("UCSF-PDGM-002", "34", "2", ASTRO, "unknown", "IDH1 p.R132H", "No", ""),
    ("UCSF-PDGM-003", "45", "3", OLIGO, "positive", "IDH2 p.R172K", "No", ""),
    ("UCSF-PDGM-004", "39", "4", ASTRO, "negative", "IDH1 p.Arg132His", "No", ""),  # IDH-mutant grade 4
    ("UCSF-PDGM-005", "17", "4", GBM, "positive", "wildtype", "No", ""),  # not an adult
    ("UCSF-PDGM-006", "70", "4", GBM, "negative", "wildtype", "Yes", "BraTS2021_00101"),  # biopsied first
    ("UCSF-PDGM-007", "58", "4", GBM, "indeterminate", "wildtype", "No", ""),
    ("UCSF-PDGM-008", "66", "4", GBM, "unknown", "wildtype", "No", ""),
    ("UCSF-PDGM-009", "71", "4", GBM, "negative", "wildtype", "No", ""),
    ("UCSF-PDGM-010", "52", "3", "Astrocytoma, IDH-wildtype", "negative", "wildtype", "No", ""),
    ("UCSF-PDGM-011", "49", "4", GBM, "positive", "mutated (NOS)", "No", ""),  # disagrees with its diagnosis
    ("UCSF-PDGM-012", "60", "4", GBM, "positive", "wildtype", "No", "BraTS2021_00120"),
    ("UCSF-PDGM-013", "18", "2", ASTRO, "unknown", "mutated (NOS)", "No", ""),
    ("UCSF-PDGM-014", "55", "4", GBM, "negative", "wildtype", "No", ""),  # its images fail validation
    ("UCSF-PDGM-015", "61", "4", GBM, "positive", "wildtype", "No", "BraTS2021_00130"),  # BraTS MGMT validation set
    ("UCSF-PDGM-433", "62", "4", GBM, "negative", "wildtype", "No", ""),
    # A follow-up in the BraTS 2021 MGMT training set under its own BraTS21 ID, as the real sheet has some.
    ("UCSF-PDGM-0433_FU007d", "62", "4", GBM, "negative", "wildtype", "No", "BraTS2021_00758"),
]
UNUSABLE = "UCSF-PDGM-0014"
MGMT_VALIDATION = {"UCSF-PDGM-015"}  # "BraTS21 MGMT Cohort" = Validation (any other BraTS21 ID: Training)
# BraTS 2021 cases merged in: 00097 is UCSF-PDGM-001's subject (with its own clinical row, as a
# BraTS MGMT label would give it), 00200 is nobody's and has no clinical row.
BRATS = ["BraTS2021_00097", "BraTS2021_00200"]
BRATS_CLINICAL = ("patient_id,age,who_grade,diagnosis,mgmt_methylated,idh,brats21_mgmt_cohort\n"
                  "BraTS2021_00097,63,4,{},true,wildtype,Training\n")

# WHO 2021 rules (grade-who2021, mgmt-who2021).
WHO2021_GRADE_ELIGIBLE = {"UCSF-PDGM-0001": 1, "UCSF-PDGM-0002": 0, "UCSF-PDGM-0003": 0, "UCSF-PDGM-0004": 1,
                          "UCSF-PDGM-0007": 1, "UCSF-PDGM-0008": 1, "UCSF-PDGM-0009": 1, "UCSF-PDGM-0011": 1,
                          "UCSF-PDGM-0012": 1, "UCSF-PDGM-0013": 0, "UCSF-PDGM-0015": 1, "UCSF-PDGM-0433": 1}
WHO2021_MGMT_SELECTED = {"UCSF-PDGM-0001": 1, "UCSF-PDGM-0009": 0, "UCSF-PDGM-0012": 1, "UCSF-PDGM-0015": 1,
                         "UCSF-PDGM-0433": 0}
# The thesis' rules (grade, mgmt): any diagnosis and age for grade; the BraTS 2021 MGMT training set for MGMT.
GRADE_ELIGIBLE = {**WHO2021_GRADE_ELIGIBLE, "UCSF-PDGM-0005": 1, "UCSF-PDGM-0010": 0}
MGMT_SELECTED = {"UCSF-PDGM-0001": 1, "UCSF-PDGM-0006": 0, "UCSF-PDGM-0012": 1}


def _write_metadata(root):
    with open(root / METADATA_FILE, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_HEADER)
        writer.writeheader()
        for ident, age, grade, diagnosis, mgmt, idh, biopsy, brats in ROWS:
            writer.writerow({"ID": ident, "Sex": "F", "Age at MRI": age, "WHO CNS Grade": grade,
                             "Final pathologic diagnosis (WHO 2021)": diagnosis, "MGMT status": mgmt,
                             "MGMT index": "unknown", "1p/19q": "unknown", "IDH": idh, "1-dead 0-alive": "0",
                             "OS": "", "EOR": "GTR", "Biopsy prior to imaging": biopsy, "BraTS21 ID": brats,
                             "BraTS21 Segmentation Cohort": "Training" if brats else "",
                             "BraTS21 MGMT Cohort": ("Validation" if ident in MGMT_VALIDATION else "Training")
                             if brats else ""})


@pytest.fixture(scope="module")
def warehouse_tables(tmp_path_factory):
    """The warehouse's clinical and patients tables after raw_scans would have written them."""
    ucsf, brats = tmp_path_factory.mktemp("ucsf"), tmp_path_factory.mktemp("brats")
    for k, row in enumerate(ROWS):
        number, suffix = row[0].removeprefix("UCSF-PDGM-").partition("_")[::2]
        write_ucsf_case(ucsf, f"UCSF-PDGM-{int(number):04d}" + (f"_{suffix}" if suffix else ""), seed=k)
    _write_metadata(ucsf)
    for k, case_id in enumerate(BRATS):
        write_brats_case(brats, case_id, BRATS21_NAMES, "_", et_label=4, seed=k)
    (brats / "clinical.csv").write_text(BRATS_CLINICAL.format(f'"{GBM}"'), encoding="utf-8")
    cases = read_cohort(ucsf, CohortConfig()).cases + read_cohort(brats, CohortConfig()).cases
    warehouse = Warehouse(tmp_path_factory.mktemp("warehouse")).initialize()
    for case in cases:
        warehouse.write_partition("patients", case.patient_id, records.patient_rows(case, case.patient_id != UNUSABLE))
        warehouse.write_partition("clinical", case.patient_id, records.clinical_rows(case))
    return queries.table(warehouse.root, "clinical"), queries.table(warehouse.root, "patients")


def test_the_clinical_table_keeps_the_fields_the_rules_read(warehouse_tables):
    clinical, patients = warehouse_tables
    row = clinical.set_index("patient_id")
    assert len(patients) == len(ROWS) + len(BRATS) and len(clinical) == len(ROWS) + 1
    assert row.loc["UCSF-PDGM-0001", "brats21_id"] == "BraTS2021_00097"
    assert row.loc["UCSF-PDGM-0003", "diagnosis"] == OLIGO
    assert row.loc["UCSF-PDGM-0006", "biopsy_prior_to_imaging"] == True  # noqa: E712
    assert row.loc["UCSF-PDGM-0002", "biopsy_prior_to_imaging"] == False  # noqa: E712
    assert pd.isna(row.loc["UCSF-PDGM-0007", "mgmt_methylated"]) and pd.isna(row.loc["UCSF-PDGM-0008", "mgmt_methylated"])
    assert row.loc["UCSF-PDGM-0004", "idh"] == "mutant" and row.loc["UCSF-PDGM-0011", "idh"] == "mutant"
    assert row.loc["UCSF-PDGM-0001", "brats21_mgmt_cohort"] == "Training"
    assert row.loc["UCSF-PDGM-0015", "brats21_mgmt_cohort"] == "Validation"
    assert pd.isna(row.loc["UCSF-PDGM-0009", "brats21_mgmt_cohort"])


def test_grade_preset_keeps_every_preoperative_baseline_exam_whatever_its_diagnosis_or_age(warehouse_tables):
    clinical, patients = warehouse_tables
    unbalanced = select_cases(replace(preset("grade"), balance_seed=None), clinical, patients)
    assert unbalanced.labels.to_dict() == GRADE_ELIGIBLE  # the IDH-wildtype astrocytoma and the 17-year-old too
    why = unbalanced.decisions.set_index("patient_id").reason
    assert why["UCSF-PDGM-0006"] == "biopsy prior to imaging"
    assert why["UCSF-PDGM-0433_FU007d"] == "follow-up exam"
    assert why["BraTS2021_00097"] == "duplicate subject (BraTS21 ID BraTS2021_00097; UCSF-PDGM-0001 kept)"
    balanced = select_cases(preset("grade"), clinical, patients)  # every WHO 2-3 exam, as many WHO 4 ones
    assert balanced.labels.value_counts().to_dict() == {0: 4, 1: 4} and set(balanced.labels.index) <= set(GRADE_ELIGIBLE)
    _assert_flow_adds_up(balanced, len(patients))


def test_grade_who2021_preset_selects_adult_preoperative_diffuse_gliomas_once_per_subject(warehouse_tables):
    clinical, patients = warehouse_tables
    unbalanced = select_cases(replace(preset("grade-who2021"), balance_seed=None), clinical, patients)
    assert unbalanced.labels.to_dict() == WHO2021_GRADE_ELIGIBLE
    why = unbalanced.decisions.set_index("patient_id").reason
    assert why["UCSF-PDGM-0005"] == "younger than 18"
    assert why["UCSF-PDGM-0006"] == "biopsy prior to imaging"
    assert why["UCSF-PDGM-0010"] == "diagnosis Astrocytoma, IDH-wildtype"
    assert why["UCSF-PDGM-0433_FU007d"] == "follow-up exam"
    assert why[UNUSABLE] == "images not usable (see case_issues)"
    assert why["BraTS2021_00097"] == "duplicate subject (BraTS21 ID BraTS2021_00097; UCSF-PDGM-0001 kept)"
    assert why["BraTS2021_00200"] == "no clinical row"
    assert why[list(WHO2021_GRADE_ELIGIBLE)].isna().all()

    # The preset balances the classes as the thesis did: every WHO 2-3 case, as many WHO 4 ones.
    balanced = select_cases(preset("grade-who2021"), clinical, patients)
    assert balanced.labels.value_counts().to_dict() == {0: 3, 1: 3}
    assert set(balanced.labels.index) <= set(WHO2021_GRADE_ELIGIBLE)
    assert balanced.labels.equals(select_cases(preset("grade-who2021"),
                                               clinical[clinical.patient_id != UNUSABLE]).labels)
    _assert_flow_adds_up(balanced, len(patients))


def test_mgmt_preset_takes_the_baseline_exams_of_the_brats21_mgmt_training_set(warehouse_tables):
    clinical, patients = warehouse_tables
    selection = select_cases(preset("mgmt"), clinical, patients)
    assert selection.labels.to_dict() == MGMT_SELECTED  # biopsied before imaging (0006) or not
    why = selection.decisions.set_index("patient_id").reason
    assert why["UCSF-PDGM-0009"] == "not in the BraTS 2021 MGMT cohort"
    assert why["UCSF-PDGM-0015"] == "BraTS 2021 MGMT Validation set"
    assert why["UCSF-PDGM-0433_FU007d"] == "follow-up exam"  # in the training set, but a follow-up
    assert why["BraTS2021_00097"] == "duplicate subject (BraTS21 ID BraTS2021_00097; UCSF-PDGM-0001 kept)"
    _assert_flow_adds_up(selection, len(patients))


def test_mgmt_who2021_preset_selects_idh_wildtype_glioblastomas_with_known_status(warehouse_tables):
    clinical, patients = warehouse_tables
    selection = select_cases(preset("mgmt-who2021"), clinical, patients)
    assert selection.labels.to_dict() == WHO2021_MGMT_SELECTED
    why = selection.decisions.set_index("patient_id").reason
    assert why["UCSF-PDGM-0004"] == "diagnosis Astrocytoma, IDH-mutant"
    assert why["UCSF-PDGM-0003"] == f"diagnosis {OLIGO}"
    assert why["UCSF-PDGM-0011"] == "IDH not wildtype"
    assert why["UCSF-PDGM-0007"] == why["UCSF-PDGM-0008"] == "mgmt_methylated unknown or outside both classes"
    _assert_flow_adds_up(selection, len(patients))


def _assert_flow_adds_up(selection, exams: int):
    flow = selection.flow
    assert flow.groupby("step").label_class.count().eq(3).all()
    first, last = flow.step.min(), flow.step.max()
    assert flow[flow.step == first].n_in.sum() == exams
    for step in range(first, last):
        out = flow[flow.step == step].set_index("label_class").n_out
        assert out.equals(flow[flow.step == step + 1].set_index("label_class").n_in), step
    final = flow[flow.step == last].set_index("label_class")
    assert final.criterion.eq(SELECTED).all() and final.n_excluded.eq(0).all() and final.loc[NO_LABEL, "n_in"] == 0
    names = dict(enumerate(preset(flow.task.iloc[0]).class_names))
    assert final.n_in.drop(NO_LABEL).to_dict() == {names[k]: v for k, v in selection.labels.value_counts().items()}
    left = selection.decisions.dropna(subset=["step"]).groupby("step").size()
    excluded = flow.groupby("step").n_excluded.sum()
    assert excluded[excluded > 0].to_dict() == {int(k): v for k, v in left.items()}
    assert flow.n_excluded.sum() + len(selection.labels) == exams


def _subject(patient_id: str, clinical: pd.DataFrame) -> str:
    """A person, found independently of the rules: the baseline of a follow-up, the UCSF-PDGM exam of
    a BraTS21 ID."""
    by_brats = dict(zip(clinical.brats21_id.dropna(), clinical.patient_id[clinical.brats21_id.notna()]))
    base = patient_id.split("_FU")[0]
    return by_brats.get(base, base)


@pytest.mark.parametrize("name", ["grade", "mgmt", "grade-who2021", "mgmt-who2021"])
def test_no_subject_is_in_both_train_and_test(warehouse_tables, name):
    clinical, patients = warehouse_tables
    task = replace(preset(name), balance_seed=None, test_fraction=0.5)  # a test share even with 2 per class
    split = assign_splits(select_cases(task, clinical, patients).labels, task)
    subjects = pd.Series([_subject(p, clinical) for p in split.index], index=split.index)
    assert set(split) == {"train", "test"}
    assert split.groupby(subjects).nunique().eq(1).all() and subjects.is_unique

    # Without the one-person rules, the same people come back as separate exams.
    loose = replace(task, include_follow_up=True, one_exam_per_subject=False)
    loose_labels = select_cases(loose, clinical, patients).labels
    assert not pd.Series([_subject(p, clinical) for p in loose_labels.index]).is_unique
    assert "BraTS2021_00097" in loose_labels and any(map(is_follow_up, loose_labels.index))


def test_a_task_file_is_the_preset_format_and_misspelled_keys_are_refused(tmp_path):
    from importlib import resources

    text = resources.files("radiomics_core.tasks.presets").joinpath("mgmt-who2021.yaml").read_text(encoding="utf-8")
    mine = tmp_path / "mgmt-any-age.yaml"
    mine.write_text(text.replace("min_age: 18", "min_age: null"), encoding="utf-8")
    assert load_task(str(mine)) == replace(preset("mgmt-who2021"), min_age=None)
    assert load_task(str(mine)).preset == str(mine) and preset("mgmt-who2021").preset == "mgmt-who2021"
    with pytest.raises(ValueError, match="unknown include keys"):
        task_from_dict({"name": "x", "label": {"column": "a", "classes": [{"values": [0]}, {"values": [1]}]},
                        "include": {"min_ages": 18}})


def test_run_with_a_task_file_uses_it_for_that_task_and_the_preset_for_the_other(tmp_path):
    from importlib import resources

    from cli.main import build_parser
    from cli.project import pipeline_settings

    text = resources.files("radiomics_core.tasks.presets").joinpath("grade.yaml").read_text(encoding="utf-8")
    unbalanced = tmp_path / "grade-unbalanced.yaml"
    # The preset without its balance section (its two lines): every eligible case is kept.
    unbalanced.write_text("\n".join(line for line in text.splitlines() if not line.startswith(("balance:", "  seed: 0 "))),
                          encoding="utf-8")
    args = build_parser().parse_args(["run", str(tmp_path), "--data-dir", str(tmp_path / "data"),
                                      "--task-file", str(unbalanced)])
    pipeline = pipeline_settings(args)
    assert pipeline.settings.task("grade").balance_seed is None and preset("grade").balance_seed == 0
    assert pipeline.settings.task("mgmt") == replace(preset("mgmt"), classifiers=pipeline.settings.task("mgmt").classifiers)
    assert type(pipeline).load(pipeline.settings.save(tmp_path / "settings.yaml")).settings.task("grade").balance_seed is None

    other = tmp_path / "idh.yaml"
    other.write_text(text.replace("name: grade", "name: idh"), encoding="utf-8")
    args = build_parser().parse_args(["run", str(tmp_path), "--task-file", str(other)])
    with pytest.raises(ValueError, match="its name is one of grade, mgmt"):
        pipeline_settings(args)

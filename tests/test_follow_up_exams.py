"""One person, one split: follow-up exams (UCSF-PDGM-0433_FU007d) stay out of the task cohorts."""

from dataclasses import replace

import pandas as pd

from radiomics_core.cohorts.layouts import CohortConfig, read_cohort
from radiomics_core.cohorts.synthetic import write_metadata_csv
from radiomics_core.tasks.config import preset, assign_splits, is_follow_up
from radiomics_core.tasks.selection import select_cases
from tests.builders import demo_patient, write_ucsf_case
from warehouse import records


def _clinical(cohort) -> pd.DataFrame:
    return pd.concat([records.clinical_rows(c) for c in cohort.cases if c.clinical is not None], ignore_index=True)


def test_follow_up_exams_are_left_out_of_both_tasks_by_default(tmp_path):
    patients = [demo_patient(i, i % 2) for i in range(1, 5)]
    # A follow-up of patient 1 and of patient 3, spelled as UCSF-PDGM spells them (CSV: 3 digits).
    follow_ups = [replace(patients[0], source_id="UCSF-PDGM-001_FU007d", folder_id="UCSF-PDGM-0001_FU007d"),
                  replace(patients[2], source_id="UCSF-PDGM-003_FU123d", folder_id="UCSF-PDGM-0003_FU123d")]
    for p in patients + follow_ups:
        write_ucsf_case(tmp_path, p.folder_id, seed=len(p.folder_id), outcome=p.outcome)
    write_metadata_csv(tmp_path / "UCSF-PDGM-metadata_v5.csv", patients + follow_ups)
    clinical = _clinical(read_cohort(tmp_path, CohortConfig()))
    assert sorted(clinical.patient_id) == ["UCSF-PDGM-0001", "UCSF-PDGM-0001_FU007d", "UCSF-PDGM-0002",
                                           "UCSF-PDGM-0003", "UCSF-PDGM-0003_FU123d", "UCSF-PDGM-0004"]

    grade = select_cases(preset("grade"), clinical).labels
    assert sorted(grade.index) == ["UCSF-PDGM-0001", "UCSF-PDGM-0002", "UCSF-PDGM-0003", "UCSF-PDGM-0004"]
    mgmt = select_cases(preset("mgmt"), clinical).labels  # demo patients: odd ones are grade 4 and methylated
    assert sorted(mgmt.index) == ["UCSF-PDGM-0001", "UCSF-PDGM-0003"]
    assert not any(is_follow_up(p) for p in assign_splits(grade, preset("grade")).index)

    # (Unbalanced: the two follow-ups are both WHO 4, and balancing would drop two WHO 4 exams.)
    everything = select_cases(replace(preset("grade"), include_follow_up=True, balance_seed=None), clinical).labels
    assert sorted(everything.index) == sorted(clinical.patient_id)


def test_only_the_follow_up_suffix_marks_a_follow_up():
    assert is_follow_up("UCSF-PDGM-0433_FU007d") and is_follow_up("UCSF-PDGM-0433_FU1")
    assert not any(map(is_follow_up, ["UCSF-PDGM-0433", "BraTS2021_00012", "BraTS-GLI-00012-001", "FU-clinic-7"]))

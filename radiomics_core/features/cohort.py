"""Features for a whole cohort without Dagster: the notebook path (and the science tests')."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from radiomics_core.cohorts.layouts import Case, Cohort
from radiomics_core.features.extraction import ExtractionParams, extract_case_features
from radiomics_core.imaging.preprocessing import PreprocessConfig, preprocess_case
from radiomics_core.imaging.rings import case_vois


def case_feature_frame(case: Case, rings_mm: tuple[float, ...], params: ExtractionParams,
                       preprocess: PreprocessConfig = PreprocessConfig()) -> pd.DataFrame:
    """Long features (patient_id, ring_mm, sequence, feature, value) of one case."""
    prepared = preprocess_case(case, preprocess)
    vois = case_vois(prepared.labels, prepared.tumor_labels, rings_mm, prepared.brain)
    result = extract_case_features(prepared.images, vois, params)
    return pd.DataFrame([(case.patient_id, r.ring_mm, r.sequence, r.feature, r.value) for r in result.rows],
                        columns=["patient_id", "ring_mm", "sequence", "feature", "value"])


def cohort_feature_matrices(cohort: Cohort, rings_mm: tuple[float, ...], params: ExtractionParams,
                            workers: int = 2) -> dict[float, pd.DataFrame]:
    """Wide matrices per ring (0 = VOI_T): a row per patient, a column per ``sequence__feature``."""
    args = [(case, rings_mm, params) for case in cohort.cases]
    with ProcessPoolExecutor(workers) as pool:
        frames = list(pool.map(case_feature_frame, *zip(*args)))
    long = pd.concat(frames, ignore_index=True)
    long["column"] = long["sequence"] + "__" + long["feature"]
    return {ring: part.pivot_table(index="patient_id", columns="column", values="value", aggfunc="first")
            for ring, part in long.groupby("ring_mm")}

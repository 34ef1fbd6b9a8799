"""A TCIA collection pulled from the command line: list, download what is missing, assemble cases.

The same steps as the TCIA sensor and the ``tcia_series`` runs, in one process. A series already
landed is not downloaded again, so a killed pull resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from radiomics_core.tcia.dicom_cases import CaseOutcome, SequenceRule, assemble_cases
from radiomics_core.tcia.client import Series, TciaClient, TciaError


@dataclass(frozen=True)
class PullConfig:
    collection: str
    cohort_dir: Path
    landing_dir: Path
    segmentation_dir: Path
    since: date | None = None  # None: the whole collection
    modality: str = "MR"
    rule: SequenceRule = SequenceRule()


def pull(client: TciaClient, config: PullConfig, on_listed: Callable[[int], None] | None = None,
         on_series: Callable[[Series], None] | None = None) -> list[CaseOutcome]:
    """One outcome per patient: landed, waiting for segmentation, or failed and why."""
    # Only series the rule names a sequence for (a study also holds localizers, DWI, perfusion...)
    # and DICOM-SEGs, which may be the study's segmentation; hence every modality is listed.
    series = [s for s in client.changes_since(config.collection, config.since)
              if config.rule.wanted(s.modality, s.description, config.modality)]
    if on_listed:
        on_listed(len(series))
    failures: dict[str, list[str]] = {}
    for item in series:
        try:
            client.download_series(item, config.landing_dir)
        except TciaError as error:
            failures.setdefault(item.patient_id, []).append(str(error))
        if on_series:
            on_series(item)
    patients = sorted({s.patient_id for s in series})
    outcomes = {p: CaseOutcome(p, "failed", "; ".join(errors)) for p, errors in failures.items()}
    ready = [p for p in patients if p not in outcomes]
    if ready and Path(config.landing_dir).is_dir():
        for outcome in assemble_cases(config.landing_dir, config.cohort_dir, config.segmentation_dir,
                                      config.rule, patients=ready):
            outcomes[outcome.patient_id] = outcome
    return [outcomes.get(p, CaseOutcome(p, "failed", "no series landed")) for p in patients]

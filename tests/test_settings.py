"""One source of settings: ``run`` saves them, later runs start from them, and a resumed run
recomputes exactly the patients whose stored features no longer match them."""

from importlib import resources

import dagster as dg
import pytest
import yaml

from cli.main import main
from orchestration.resources import PipelineResource, settings_path
from radiomics_core.settings import Ring
from tests.builders import write_ucsf_cohort
from warehouse import queries

pytestmark = pytest.mark.slow
PATIENTS = ["UCSF-PDGM-0001", "UCSF-PDGM-0002", "UCSF-PDGM-0003"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    cohort = write_ucsf_cohort(tmp_path / "cohort", n=3)
    data = tmp_path / "data"

    def run(*options: str) -> int:
        return main(["run", str(cohort), "--data-dir", str(data), "--workers", "1", "--in-process", "--task", "grade", *options])

    return run, data


def _ring_runs(data) -> dict[str, int]:
    """How many runs extracted each patient's VOIs."""
    with dg.DagsterInstance.get() as instance:
        counts: dict[str, int] = {}
        for run in instance.get_runs():
            patient = run.tags.get("dagster/partition", "")
            if patient and dg.AssetKey("voi_extraction") in (run.asset_selection or set()):
                counts[patient] = counts.get(patient, 0) + 1
        return counts


def test_adding_a_sequence_extracts_it_for_every_patient(project):
    run, data = project
    assert run("--params", "demo", "--rings", "1", "--sequences", "FLAIR") == 0
    assert run("--sequences", "FLAIR,T2") == 0
    saved = PipelineResource.load(settings_path(data))
    assert saved.sequences == ["FLAIR", "T2"] and saved.params == "demo" and saved.rings_mm == [1.0]
    features = queries.table(data / "warehouse", "features")
    current = features[features.feature_identity == saved.settings.feature_identity]
    assert {(p, s) for p, s in zip(current.patient_id, current.sequence)} == {
        (p, s) for p in PATIENTS for s in ("FLAIR", "T2")}


def test_a_changed_parameter_file_recomputes_each_patient_once(project, tmp_path):
    run, data = project
    assert run("--params", "demo", "--rings", "1", "--sequences", "T1") == 0
    assert _ring_runs(data) == {p: 1 for p in PATIENTS}
    assert run() == 0  # nothing changed: nothing recomputed
    assert _ring_runs(data) == {p: 1 for p in PATIENTS}
    params = yaml.safe_load(resources.files("radiomics_core.features.params").joinpath("demo.yaml").read_text(encoding="utf-8"))
    params["setting"]["binWidth"] = 0.2
    changed = tmp_path / "coarser.yaml"
    changed.write_text(yaml.safe_dump(params), encoding="utf-8")
    assert run("--params", str(changed)) == 0
    assert _ring_runs(data) == {p: 2 for p in PATIENTS}
    assert run() == 0
    assert _ring_runs(data) == {p: 2 for p in PATIENTS}
    identity = PipelineResource.load(settings_path(data)).settings.feature_identity
    tables = queries.feature_matrix(data / "warehouse", Ring.of(1), identity)
    assert sorted(tables.index) == PATIENTS

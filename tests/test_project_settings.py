"""The project settings are validated once, the same way for `run`, `dev` and the UI: a bad
value is refused before any run starts, naming the file (or option) and the key."""

from __future__ import annotations

import pytest
import yaml

from cli.main import main
from orchestration.resources import PipelineResource
from radiomics_core.settings import Ring, Settings, SettingsError, settings_path


def _refused(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    return capsys.readouterr().err


def test_run_refuses_a_misspelled_parameter_preset_before_any_run(tmp_path, capsys):
    error = _refused(capsys, "run", str(tmp_path / "cohort"), "--data-dir", str(tmp_path / "data"),
                     "--params", "defualt")
    assert "no parameter set 'defualt'" in error and "default, demo" in error
    assert not (tmp_path / "data" / "warehouse").exists() and not settings_path(tmp_path / "data").exists()


def test_run_refuses_a_parameter_file_with_a_misspelled_key_naming_file_and_key(tmp_path, capsys):
    params = tmp_path / "my-params.yaml"
    params.write_text("imageType:\n  Original: {}\nsetting:\n  binWidht: 25\nfeatureClass:\n  firstorder:\n",
                      encoding="utf-8")
    error = _refused(capsys, "run", str(tmp_path / "cohort"), "--data-dir", str(tmp_path / "data"),
                     "--params", str(params))
    assert str(params) in error and "'binWidht'" in error and "/setting" in error
    assert not (tmp_path / "data" / "warehouse").exists()


@pytest.mark.parametrize("command", ["run", "dev"])
def test_a_settings_file_with_a_zero_ring_is_refused_by_run_and_dev(tmp_path, capsys, command):
    data = tmp_path / "data"
    data.mkdir()
    path = settings_path(data)
    path.write_text(yaml.safe_dump({"cohort_dir": str(tmp_path / "cohort"), "params": "demo", "rings_mm": [0]}),
                    encoding="utf-8")
    error = _refused(capsys, command, str(tmp_path / "cohort"), "--data-dir", str(data))
    assert str(path) in error and "rings_mm" in error and "positive" in error


def test_the_ui_resource_is_validated_by_the_same_code(tmp_path):
    resource = PipelineResource(cohort_dir=str(tmp_path), params="demo", rings_mm=[3.0, 0.0])
    with pytest.raises(SettingsError, match="rings_mm: ring 0.0 mm"):
        resource.settings


def test_run_refuses_a_zero_ring_option(tmp_path, capsys):
    error = _refused(capsys, "run", str(tmp_path), "--data-dir", str(tmp_path / "data"), "--rings", "1,0,5")
    assert "rings_mm" in error and "'0'" in error


def test_unknown_settings_keys_are_refused_not_ignored(tmp_path):
    with pytest.raises(SettingsError, match=r"unknown settings \['ring_mm'\]"):
        Settings.from_dict({"cohort_dir": str(tmp_path), "ring_mm": [1]}, source="mine.yaml")


def test_settings_survive_their_file_unchanged(tmp_path):
    settings = Settings(cohort_dir=str(tmp_path), data_dir=str(tmp_path / "data"), params="demo",
                        rings_mm=(5, 1, 2.5), classifiers=("svm", "logistic"))
    loaded = Settings.load(settings.save())
    assert loaded == settings and loaded.feature_identity == settings.feature_identity
    assert loaded.rings_mm == (1.0, 2.5, 5.0) and loaded.classifiers == ("logistic", "svm")


def test_a_ring_owns_its_label_partition_key_and_warehouse_key():
    ring = Ring.of("2.5")
    assert (ring.label, ring.key, ring.warehouse_key("P1"), ring.column_prefix) == ("2.5 mm", "2.5", "P1__2.5", "P2.5:")
    assert Ring.from_key(ring.key) == ring and Ring.from_column("P2.5:T1c__original_firstorder_Mean") == ring
    voi_t = Ring.voi_t()
    assert (voi_t.label, voi_t.key, voi_t.mask_file) == ("VOI_T", "T", "ring_T.nii.gz")
    assert Ring.from_key("T") == voi_t and Ring.from_column("T:FLAIR__x") == voi_t
    assert Ring.from_column("FLAIR__x") is None
    with pytest.raises(SettingsError):
        Ring.of(0)


def test_an_edited_parameter_file_is_read_again_by_a_long_lived_process(tmp_path):
    import os

    params = tmp_path / "params.yaml"
    params.write_text("imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n", encoding="utf-8")
    resource = PipelineResource(cohort_dir=str(tmp_path), params=str(params))
    before = resource.settings.feature_identity
    params.write_text("imageType:\n  Original: {}\nsetting:\n  binWidth: 5\nfeatureClass:\n  firstorder:\n",
                      encoding="utf-8")
    os.utime(params, ns=(os.stat(params).st_atime_ns, os.stat(params).st_mtime_ns + 1_000_000_000))
    assert resource.settings.feature_identity != before

"""Values passed between assets live in the data folder: a run with another DAGSTER_HOME (another
node's) loads fitted models an earlier run wrote."""

import dagster as dg
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from orchestration.io_managers import JoblibIOManager

TASKS = dg.StaticPartitionsDefinition(["grade", "mgmt"])


@dg.asset(partitions_def=TASKS, io_manager_key="models_io")
def models(context: dg.AssetExecutionContext) -> list:
    y = np.array([0, 1, 0, 1] if context.partition_key == "grade" else [1, 1, 0, 0])
    return [LogisticRegression().fit(np.arange(8.0).reshape(4, 2), y)]


@dg.asset(partitions_def=TASKS)
def predictions(models: list) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"predicted": str(models[0].predict(np.arange(8.0).reshape(4, 2)).tolist())})


def test_a_run_with_another_dagster_home_loads_the_models_from_the_data_folder(tmp_path):
    resources = {"models_io": JoblibIOManager(folder=str(tmp_path / "data" / "work" / "models"))}
    (tmp_path / "home-a").mkdir()
    (tmp_path / "home-b").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home-a")) as first:
        written = dg.materialize([models], instance=first, partition_key="mgmt", resources=resources)
    [materialization] = written.asset_materializations_for_node("models")
    path = materialization.metadata["path"].value
    assert path == str(tmp_path / "data" / "work" / "models" / "models" / "mgmt.joblib")
    assert joblib.load(path)[0].classes_.tolist() == [0, 1]
    with dg.instance_for_test(temp_dir=str(tmp_path / "home-b")) as other:
        read = dg.materialize([models, predictions], selection=[predictions], instance=other, partition_key="mgmt",
                              resources=resources)
    assert read.success
    [prediction] = read.asset_materializations_for_node("predictions")
    assert prediction.metadata["predicted"].value == str(joblib.load(path)[0].predict(np.arange(8.0).reshape(4, 2)).tolist())


def test_a_partition_never_written_fails_naming_its_file(tmp_path):
    resources = {"models_io": JoblibIOManager(folder=str(tmp_path / "models"))}
    with pytest.raises(dg.Failure, match=r"grade\.joblib does not exist: materialize models"):
        dg.materialize([models, predictions], selection=[predictions], partition_key="grade", resources=resources)

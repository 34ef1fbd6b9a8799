"""Where asset values live between steps.

``FeatureTablesIOManager`` keeps each ring's wide feature table as
``<data_dir>/work/feature_tables/ring_<ring>.parquet`` (written aside and renamed), and hands the
modeling assets every ring's table as one input: ``{ring key: DataFrame}``.
``JoblibIOManager`` keeps fitted models as ``<data_dir>/work/models/<asset>/<task>.joblib``, its
path in the materialization. Both live in the data folder, which every node shares, so a run on
another machine (a Slurm node, a run pod) loads what an earlier run wrote without reading
DAGSTER_HOME's storage.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import joblib
import pandas as pd

from radiomics_core.files.atomic import atomic_write


class FeatureTablesIOManager(dg.ConfigurableIOManager):
    folder: str

    def _path(self, ring: str) -> Path:
        return Path(self.folder) / f"ring_{ring}.parquet"

    def handle_output(self, context: dg.OutputContext, obj: dict[str, pd.DataFrame]) -> None:
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        for ring, frame in obj.items():
            atomic_write(self._path(ring), lambda temp, frame=frame: frame.to_parquet(temp))
        context.add_output_metadata({"paths": ", ".join(str(self._path(r)) for r in obj)})

    def load_input(self, context: dg.InputContext) -> dict[str, pd.DataFrame]:
        rings = context.asset_partition_keys if context.has_asset_partitions else []
        return {ring: pd.read_parquet(self._path(ring)) for ring in rings if self._path(ring).exists()}


class JoblibIOManager(dg.ConfigurableIOManager):
    """Each output (a partition's, for partitioned assets) as one joblib file under ``folder``."""

    folder: str

    def _path(self, asset_key: dg.AssetKey, partition: str | None) -> Path:
        return Path(self.folder, *asset_key.path, f"{partition or 'all'}.joblib")

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        path = self._path(context.asset_key, context.partition_key if context.has_partition_key else None)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda temp: joblib.dump(obj, temp))
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> object:
        path = self._path(context.asset_key, context.asset_partition_key if context.has_asset_partitions else None)
        if not path.exists():
            raise dg.Failure(description=f"{path} does not exist: materialize {context.asset_key.to_user_string()}"
                                         " for this partition first")
        return joblib.load(path)

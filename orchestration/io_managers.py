"""Where asset values live between steps.

``FeatureTablesIOManager`` keeps each ring's wide feature table as
``<data_dir>/work/feature_tables/ring_<ring>.parquet`` (written aside and renamed), and hands the
modeling assets every ring's table as one input: ``{ring key: DataFrame}``. Fitted models go
through Dagster's default IO manager (pickles under DAGSTER_HOME/storage).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
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

"""The warehouse tables as nodes of the lineage graph, downstream of the assets that write them.

Each asset names the tables it writes (``metadata["warehouse_tables"]``); here each table becomes
an asset spec with its columns (from ``warehouse.schema``), so the UI shows where a table comes
from and what it holds. They are not materialized on their own: their producer writes them.
"""

import dagster as dg

from warehouse.schema import TABLES


def warehouse_table_specs(assets: list[dg.AssetsDefinition]) -> list[dg.AssetSpec]:
    producers: dict[str, list[dg.AssetKey]] = {}
    for asset in assets:
        for spec in asset.specs:
            for table in str((spec.metadata or {}).get("warehouse_tables", "")).split(","):
                if table.strip():
                    producers.setdefault(table.strip(), []).append(spec.key)
    return [
        dg.AssetSpec(
            dg.AssetKey(["warehouse", table]), deps=keys, group_name="warehouse", kinds={"duckdb"},
            description=f"DuckDB view `{table}` over data/warehouse/tables/{table}/*.parquet (one file per partition).",
            metadata={"dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, kind) for name, kind in TABLES[table]]),
                "dagster/table_name": table},
        )
        for table, keys in sorted(producers.items())
    ]

"""The warehouse tables as nodes of the lineage graph, downstream of the assets that write them.

Each asset names the tables it writes (``metadata["warehouse_tables"]``); here each table becomes
an asset spec with its columns (from ``warehouse.schema``), so the UI shows where a table comes
from and what it holds. They are not materialized on their own: their producer writes them and
reports each write (``tables_written``), so a table's node shows when and by whom it was last written.
"""

import dagster as dg

from warehouse.schema import TABLES


def _tables(spec: dg.AssetSpec) -> list[str]:
    return [t.strip() for t in str((spec.metadata or {}).get("warehouse_tables", "")).split(",") if t.strip()]


def table_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", table])


def tables_written(context: dg.AssetExecutionContext) -> None:
    """A materialization of each warehouse table the running asset writes, naming the writer."""
    keys = context.partition_keys if context.has_partition_key or context.has_partition_key_range else []
    for spec in context.assets_def.specs:
        for table in _tables(spec):
            context.log_event(dg.AssetMaterialization(
                asset_key=table_key(table),
                metadata={"written_by": spec.key.to_user_string(), "partitions": len(keys),
                          "first_partition": str(keys[0]) if keys else "-"}))


def warehouse_table_specs(assets: list[dg.AssetsDefinition | dg.AssetSpec]) -> list[dg.AssetSpec]:
    producers: dict[str, list[dg.AssetKey]] = {}
    for asset in assets:
        for spec in [asset] if isinstance(asset, dg.AssetSpec) else asset.specs:
            for table in _tables(spec):
                producers.setdefault(table, []).append(spec.key)
    return [
        dg.AssetSpec(
            table_key(table), deps=keys, group_name="warehouse", kinds={"duckdb"},
            description=f"DuckDB view `{table}` over data/warehouse/tables/{table}/*.parquet (one file per partition).",
            metadata={"dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, kind) for name, kind in TABLES[table]]),
                "dagster/table_name": table},
        )
        for table, keys in sorted(producers.items())
    ]

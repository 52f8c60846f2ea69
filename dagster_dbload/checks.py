"""build_table_checks: Dagster asset checks made from what an asset already declares, each one query in the
warehouse: `primary_key` unique and not null, `dagster/column_schema` columns declared `nullable=False` without
nulls, and the rows the last load statement wrote (DESCRIBE HISTORY operationMetrics) equal to the rows staged."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg

from .io_manager import DatabricksIOManager
from .naming import TableRef, quote
from .request import AssetSettings, Declared, declared_keys, unwrap


def build_table_checks(
    assets: Sequence[dg.AssetsDefinition],
    *,
    blocking: bool = False,
    io_manager_key: str = "io_manager",
    io_manager: DatabricksIOManager | None = None,
) -> list[dg.AssetChecksDefinition]:
    """Checks for every asset in `assets` stored by the DatabricksIOManager at `io_manager_key`; `blocking`
    checks stop downstream assets of a run when they fail. Given the `io_manager`, its defaults (`write_mode`)
    decide which checks exist, as its loads use them; otherwise they apply when a check runs."""
    checks: list[dg.AssetChecksDefinition] = []
    for asset in assets:
        for key in asset.keys:
            metadata = asset.metadata_by_key.get(key) or {}
            primary_key, declared = declared_keys(metadata, f"Asset {key.to_user_string()!r}")
            mode = io_manager.settings_for(key.path, metadata).mode if io_manager else metadata.get("write_mode")
            checks += _checks_for(key, metadata, blocking, io_manager_key, primary_key, declared, unwrap(mode))
    return checks


def _checks_for(
    key: dg.AssetKey, metadata: Mapping[str, Any], blocking: bool, io_key: str, primary_key: Sequence[str],
    declared: Mapping[str, Declared], mode: str | None,
) -> list:  # fmt: skip
    made = []
    required = [d.name for d in declared.values() if not d.nullable]

    def check(name: str, description: str, run: Callable[[Any, TableRef, AssetSettings], dg.AssetCheckResult]) -> None:
        @dg.asset_check(asset=key, name=name, description=description, blocking=blocking,
                        required_resource_keys={io_key})  # fmt: skip
        def _check(context) -> dg.AssetCheckResult:  # AssetCheckExecutionContext (unannotated: see dagster)
            io_manager: DatabricksIOManager = getattr(context.resources, io_key)
            settings = io_manager.settings_for(key.path, metadata)  # the IO manager's defaults, as loads use them
            with io_manager.warehouse.session() as connection:
                return run((connection.cursor(), context), settings.ref, settings)

        made.append(_check)

    if primary_key:
        keys = ", ".join(quote(k) for k in primary_key)
        null = " OR ".join(f"{quote(k)} IS NULL" for k in primary_key)

        def unique(handles: Any, ref: TableRef, settings: AssetSettings) -> dg.AssetCheckResult:
            cursor, _ = handles
            # scd2: one current version per key (older versions share it)
            current = f" WHERE {quote(settings.scd2.valid_to)} IS NULL" if settings.mode == "scd2" else ""
            cursor.execute(
                f"SELECT (SELECT count(*) FROM (SELECT 1 FROM {ref.sql}{current} GROUP BY {keys} HAVING count(*) > 1) AS d) "
                f"AS duplicate_keys, (SELECT count(*) FROM {ref.sql} WHERE {null}) AS null_keys"
            )
            duplicates, nulls = cursor.fetchone()
            return dg.AssetCheckResult(
                passed=duplicates == 0 and nulls == 0,
                metadata={"duplicate_keys": duplicates, "null_keys": nulls, "primary_key": list(primary_key)},
            )

        check("primary_key", f"{list(primary_key)} is unique and never null in the table.", unique)
    if required:
        counts = ", ".join(f"count_if({quote(c)} IS NULL) AS {quote(c)}" for c in required)

        def not_null(handles: Any, ref: TableRef, settings: AssetSettings) -> dg.AssetCheckResult:
            cursor, _ = handles
            cursor.execute(f"SELECT {counts} FROM {ref.sql}")
            nulls = dict(zip(required, cursor.fetchone(), strict=True))
            return dg.AssetCheckResult(
                passed=not any(nulls.values()), metadata={f"nulls/{c}": n for c, n in nulls.items()}
            )

        check("not_null", f"Columns declared nullable=False ({required}) hold no nulls.", not_null)
    if mode in (None, "replace", "append"):  # None: the IO manager's write_mode applies when the check runs

        def rows_written(handles: Any, ref: TableRef, settings: AssetSettings) -> dg.AssetCheckResult:
            cursor, context = handles
            if settings.mode not in ("replace", "append"):
                return dg.AssetCheckResult(
                    passed=True,
                    metadata={"write_mode": settings.mode, "checked": "nothing: rows_written checks replace and "
                              "append loads (the IO manager's write_mode applies)"},
                )  # fmt: skip
            event = context.instance.get_latest_materialization_event(key)
            if event is None or event.asset_materialization is None:
                return dg.AssetCheckResult(passed=False, metadata={"reason": "the asset was never materialized"})
            loaded = event.asset_materialization.metadata
            staged = loaded["dbload/staged_rows"].value
            if "dbload/table_version" not in loaded:  # without table_stats: the load statement's own answer
                written = loaded["dbload/rows_inserted"].value if "dbload/rows_inserted" in loaded else -1
                return dg.AssetCheckResult(
                    passed=written == staged,
                    metadata={"rows_staged": staged, "rows_written": written, "source": "the load statement"},
                )
            version = loaded["dbload/table_version"].value
            cursor.execute(f"DESCRIBE HISTORY {ref.sql}")  # by column name: Databricks has more columns
            history = {row.version: row.operationMetrics for row in cursor.fetchall()}
            metrics: dict[str, str] = dict(history.get(version) or {})  # a MAP arrives as (key, value) pairs
            written = int(metrics.get("numOutputRows", metrics.get("numCopiedRows", -1)))
            return dg.AssetCheckResult(
                passed=written == staged,
                metadata={"rows_staged": staged, "rows_written": written, "table_version": version},
            )

        check("rows_written", "The last load statement wrote exactly the rows that were staged.", rows_written)
    return made

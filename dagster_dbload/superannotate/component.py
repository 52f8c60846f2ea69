"""`dagster_dbload.SuperAnnotateToDatabricks`: the SuperAnnotate flow as a Dagster component (YAML with the
SuperAnnotate action's parameter names), registered for `dg` through the `dagster_dg_cli.registry_modules`
entry point. It defines the asset (build_superannotate_asset) and its sensor (build_superannotate_sensor)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from pydantic import Field

from .assets import build_superannotate_asset, build_superannotate_sensor


class SensorSettings(dg.Model):
    """How the sensor polls SuperAnnotate."""

    enabled: bool = Field(default=True, description="Start the sensor running (else it is stopped until turned on).")
    batch_size: int = Field(default=100, description="Items per run the sensor requests.")
    lookback_seconds: int = Field(default=300, description="Look-back behind the updatedAt watermark.")
    minimum_interval_seconds: int = Field(default=30, description="Seconds between ticks.")
    max_attempts: int = Field(default=3, description="Runs per item batch before the sensor gives up.")


class SuperAnnotateToDatabricks(dg.Component, dg.Resolvable, dg.Model):
    """Annotation components of a SuperAnnotate project as typed columns of one Delta table (MERGE on
    sa_item_id), loaded by a sensor-driven asset. Reads items through the resource `superannotate` and writes
    through the IO manager `io_manager` of the code location."""

    sa_component_ids: str | list[str] = Field(description="Component ids, a list or comma-separated.")
    databricks_columns: str | list[str] | None = Field(
        default=None, description="Column names, by position (default: the component ids)."
    )
    db_catalog: str = Field(default="main", description="Catalog of the table.")
    db_schema: str = Field(default="superannotate", description="Schema of the table.")
    db_table: str = Field(default="annotations", description="The table.")
    db_volume: str | None = Field(default=None, description="Unity Catalog Volume (in db_schema) to stage in.")
    create_delta_table: bool | str = Field(default=True, description="Create the table when missing.")
    project: str | None = Field(default=None, description="SuperAnnotate project (default: the resource's).")
    statuses: list[str] = Field(default=["Completed"], description="Item statuses to load.")
    column_types: dict[str, str] | None = Field(default=None, description="Databricks type per column.")
    batch_size: int = Field(default=500, description="Items read from SuperAnnotate per request.")
    on_removed: str = Field(default="keep", description="keep | delete: rows of items no longer in statuses.")
    sensor: SensorSettings | None = Field(
        default_factory=SensorSettings, description="Sensor settings; null for no sensor."
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        asset = build_superannotate_asset(
            sa_component_ids=self.sa_component_ids,
            databricks_columns=self.databricks_columns,
            db_catalog=self.db_catalog,
            db_schema=self.db_schema,
            db_table=self.db_table,
            db_volume=self.db_volume,
            create_delta_table=self.create_delta_table,
            project=self.project,
            statuses=self.statuses,
            batch_size=self.batch_size,
            column_types=self.column_types,
            on_removed=self.on_removed,
        )
        if self.sensor is None:
            return dg.Definitions(assets=[asset])
        sensor = build_superannotate_sensor(
            asset,
            batch_size=self.sensor.batch_size,
            lookback_seconds=self.sensor.lookback_seconds,
            minimum_interval_seconds=self.sensor.minimum_interval_seconds,
            max_attempts=self.sensor.max_attempts,
            default_status=dg.DefaultSensorStatus.RUNNING if self.sensor.enabled else dg.DefaultSensorStatus.STOPPED,
        )
        return dg.Definitions(assets=[asset], sensors=[sensor])


class _Scaffolder(dg.Scaffolder):
    """`dg scaffold defs dagster_dbload.SuperAnnotateToDatabricks <name>` writes a working defs.yaml."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        attributes: Mapping[str, object] = {
            "sa_component_ids": "prompt, answer, score",
            "databricks_columns": "prompt, answer, score",
            "column_types": {"score": "BIGINT"},
            "db_catalog": "main",
            "db_schema": "superannotate",
            "db_table": request.target_path.name,
            "statuses": ["Completed"],
            "sensor": {"batch_size": 100, "minimum_interval_seconds": 30},
        }
        dg.scaffold_component(request, attributes)


dg.scaffold_with(_Scaffolder)(SuperAnnotateToDatabricks)  # marks the class itself (the decorator returns it)
